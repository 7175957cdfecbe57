"""Is a customer's website a public web address? Decided from the text alone.

The website is typed into other people's forms, and a directory (or our own browser)
may fetch it, so an address that points inside a network is refused in every
spelling a URL parser or a resolver would accept: ``http://0x7f000001``,
``http://2130706433``, ``http://127.1``, ``http://0177.0.0.1``, ``http://0``,
``http://%31%32%37.0.0.1``, ``http://ⓛⓞⓒⓐⓛⓗⓞⓢⓣ``, fullwidth digits, a trailing dot.

The host is percent-decoded and mapped with IDNA/UTS-46 (the ``idna`` package, STD3
rules: letters, digits and hyphens, labels of at most 63 characters), which folds
fullwidth, circled and other compatibility forms to what a resolver would look up.
Then: no IP literal in any notation (a public business has a name; WHATWG parsers
read a host whose last label is numeric as an IPv4 address, so that is refused
too), no single-label or reserved name, no trailing dot. Names are never resolved:
validation must not depend on, or leak to, DNS.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import unquote, urlsplit

import idna

MAX_URL_CHARS = 2048
MAX_HOST_CHARS = 253
MAX_LABEL_CHARS = 63

#: Names that never lead to a public website but may lead into a network (RFC 6761,
#: 6762, 7686, 8375, 9476, and common private suffixes); a host equal to one, or
#: under one, is refused. (``.example`` is kept: it is reserved for documentation and
#: resolves, if at all, to IANA's public servers.)
RESERVED_SUFFIXES: tuple[str, ...] = (
    "localhost", "localdomain", "local", "internal", "intranet", "private", "corp", "home", "lan",
    "home.arpa", "arpa", "test", "invalid", "onion", "alt",
)

_NOT_PUBLIC = "website must be a public address, not a private, loopback, link-local or reserved one"
_IPV4_PART = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$", re.I)
_FORBIDDEN_CHARS = re.compile(r"[\s\x00-\x1f\x7f\\]")


class WebsiteError(ValueError):
    """A readable reason, shown to the producer in the 422."""


def is_public_ip(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Globally routable unicast: not private, loopback, link-local, CGNAT (100.64/10),
    multicast, reserved or unspecified; IPv4-mapped IPv6 is judged by its IPv4."""
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return addr.is_global and not addr.is_multicast


def ipv4_in_any_notation(host: str) -> ipaddress.IPv4Address | None:
    """The address a WHATWG parser (and ``inet_aton``) reads from ``host``: 1 to 4
    dot-separated decimal, octal (leading 0) or hex (0x) parts, the last filling the
    remaining bytes. None when the host is a name."""
    parts = host.split(".")
    if parts and parts[-1] == "":
        parts.pop()
    if not parts or len(parts) > 4 or not all(_IPV4_PART.match(p) for p in parts):
        return None
    values = []
    for p in parts:
        if p.lower().startswith("0x"):
            values.append(int(p[2:] or "0", 16))
        elif len(p) > 1 and p.startswith("0"):
            values.append(int(p, 8) if p.isdigit() and set(p) <= set("01234567") else -1)
        else:
            values.append(int(p))
    if any(v < 0 for v in values) or any(v > 255 for v in values[:-1]) or values[-1] >= 256 ** (5 - len(values)):
        return ipaddress.IPv4Address(0)  # not a valid address either way: refused as a literal
    number = 0
    for v in values[:-1]:
        number = number * 256 + v
    number = number * 256 ** (5 - len(values)) + values[-1]
    return ipaddress.IPv4Address(number)


def ascii_host(raw: str) -> str:
    """The host as a resolver would look it up: percent-decoded, IDNA/UTS-46 mapped,
    lower-case ASCII. Raises WebsiteError for what no resolver would accept."""
    host = unquote(raw)
    if _FORBIDDEN_CHARS.search(host) or "%" in host:
        raise WebsiteError("website host contains characters a host name cannot have")
    try:
        mapped = idna.encode(host, uts46=True, std3_rules=True, transitional=False).decode("ascii")
    except (idna.IDNAError, UnicodeError) as exc:
        message = str(exc)
        if "too long" in message.lower():
            raise WebsiteError(
                f"website host is too long (labels of at most {MAX_LABEL_CHARS} characters, "
                f"{MAX_HOST_CHARS} in all)") from None
        raise WebsiteError("website host is not a valid domain name (letters, digits and hyphens)") from None
    return mapped.lower()


def check_host(raw_host: str) -> str:
    """The ASCII host when it names a public website, else WebsiteError."""
    if raw_host.startswith("[") or ":" in raw_host:
        raise WebsiteError("website must use a domain name, not an IP address")
    host = ascii_host(raw_host)
    if host.endswith(".") or host.startswith(".") or ".." in host:
        raise WebsiteError("website host must not start or end with a dot")
    if len(host) > MAX_HOST_CHARS or any(len(label) > MAX_LABEL_CHARS for label in host.split(".")):
        raise WebsiteError(
            f"website host is too long (labels of at most {MAX_LABEL_CHARS} characters, {MAX_HOST_CHARS} in all)")
    literal = ipv4_in_any_notation(host)
    if literal is not None or host.split(".")[-1].isdigit():
        if literal is not None and not is_public_ip(literal):
            raise WebsiteError(_NOT_PUBLIC)
        raise WebsiteError("website must use a domain name, not an IP address")
    if "." not in host:
        raise WebsiteError("website host must be a full domain name (like example.com), not a single label")
    if any(host == s or host.endswith("." + s) for s in RESERVED_SUFFIXES):
        raise WebsiteError(_NOT_PUBLIC)
    tld = host.rsplit(".", 1)[1]
    if not (tld.isalpha() or tld.startswith("xn--")):
        raise WebsiteError("website host must end in a real top-level domain")
    return host


def check_public_url(url: str, *, allow_private: bool = False) -> str:
    """The website, normalised (IDNA host in ASCII, lower case), when it is an http(s)
    URL of a public host without credentials; WebsiteError with a readable reason
    otherwise. ``allow_private`` (the sandbox runs on 127.0.0.1) keeps only the
    syntax rules."""
    url = url.strip()
    if len(url) > MAX_URL_CHARS:
        raise WebsiteError(f"website must have at most {MAX_URL_CHARS} characters")
    if _FORBIDDEN_CHARS.search(url):
        raise WebsiteError("website must not contain spaces, control characters or backslashes")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise WebsiteError("website is not a valid URL (check the host and the port, 1-65535)") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise WebsiteError("website must start with http:// or https://")
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        raise WebsiteError("website must not contain credentials")
    raw_host = parts.netloc.rsplit(":", 1)[0] if port is not None or parts.netloc.endswith(":") else parts.netloc
    if not raw_host:
        raise WebsiteError("website has no host name")
    if port == 0:
        raise WebsiteError("website is not a valid URL (check the host and the port, 1-65535)")
    if allow_private:
        return url
    host = check_host(raw_host)
    netloc = host if port is None else f"{host}:{port}"
    return parts._replace(scheme=parts.scheme.lower(), netloc=netloc).geturl()
