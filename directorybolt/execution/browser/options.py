"""Choosing an option of a ``<select>`` or radio group: best match, never a guess,
never a paid one.

A directory's options rarely spell a value as the customer did ("OR" vs "Oregon",
"United States" vs "USA", "Ontario" vs "Ontario, CA", "Restaurant" vs "Restaurants").
Countries and their subdivisions are matched through ISO 3166 names, codes and
translations (pycountry); other values by words. An option is chosen only when it is
clearly the best one; an option that carries a price is never chosen by matching.
"""

from __future__ import annotations

import gettext
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from directorybolt.execution.browser.synonyms import fold
from directorybolt.execution.browser.vocabulary import has_word

_CURRENCY = r"[$€£¥₹]|\b(?:usd|eur|gbp|chf|huf|brl|cny|rmb|cad|aud|inr|ft)\b|r\$"
_AMOUNT = r"(\d+(?:[.,]\d+)?)"
PRICE = re.compile(rf"(?:{_CURRENCY})\s*{_AMOUNT}|{_AMOUNT}\s*(?:{_CURRENCY})", re.I)
PERIOD = re.compile(r"/\s*(?:mo|month|yr|year|week|wk)\b|\bper\s+(?:month|year|week)\b|\bmonthly\b|\byearly\b", re.I)

#: Languages whose ISO 3166 country names we accept besides English.
COUNTRY_LANGUAGES = ("es", "fr", "de", "pt", "zh_CN", "hu")
STOPWORDS = frozenset({"and", "or", "the", "of", "y", "et", "und", "e", "es", "de", "la", "le", "der", "die"})
MIN_SCORE = 0.6
MARGIN = 0.1


@dataclass(frozen=True)
class Option:
    value: str
    label: str
    disabled: bool = False
    selected: bool = False

    @property
    def placeholder(self) -> bool:
        """"Select a category…": an empty value, or disabled."""
        return self.disabled or not self.value.strip()


def is_paid(label: str) -> bool:
    """Whether choosing this option costs money ("Featured — $49/month", "£39/year")."""
    amounts = [float(a or b) for a, b in (m.groups() for m in PRICE.finditer(label.replace(",", ".")))]
    if amounts:
        return any(a > 0 for a in amounts)
    return bool(PERIOD.search(label)) and not has_word("free", label)


def is_free(label: str) -> bool:
    """A no-cost choice: priced at zero or saying so ("Free — Basic listing (no cost)")."""
    return not is_paid(label) and (bool(PRICE.search(label)) or has_word("free", label))


def carries_prices(labels: Iterable[str]) -> bool:
    """A plan/upgrade choice: at least one option costs money."""
    return any(is_paid(label) for label in labels)


def free_choice(options: Sequence[Option]) -> Option | None:
    """The one free option of a priced choice, or None when there is not exactly one."""
    free = [o for o in options if not o.placeholder and is_free(o.label)]
    return free[0] if len(free) == 1 else None


@lru_cache(maxsize=1)
def _countries() -> dict[str, str]:
    """Every spelling we accept (folded) → ISO alpha-2."""
    import pycountry

    names: dict[str, str] = {}
    translations = [gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[lang], fallback=True)
                    for lang in COUNTRY_LANGUAGES]
    for c in pycountry.countries:
        spellings = {c.alpha_2, c.alpha_3, c.name, getattr(c, "official_name", ""), getattr(c, "common_name", "")}
        spellings |= {t.gettext(c.name) for t in translations}
        for s in spellings:
            if s:
                names.setdefault(fold(s), c.alpha_2)
    names.update({"uk": "GB", "great britain": "GB", "england": "GB", "america": "US", "u s a": "US", "u s": "US"})
    return names


@lru_cache(maxsize=64)
def _subdivisions(country: str) -> dict[str, str]:
    """Folded subdivision names and codes of ``country`` → ISO code (``US-OR``)."""
    import pycountry

    names: dict[str, str] = {}
    for sub in pycountry.subdivisions.get(country_code=country) or []:
        names.setdefault(fold(sub.name), sub.code)
        names.setdefault(fold(sub.code.split("-", 1)[1]), sub.code)
    return names


def _identity(key: str | None, text: str, country: str | None) -> str | None:
    """What a country or state value stands for (an ISO code), so spellings compare equal."""
    folded = fold(text)
    if key == "country":
        return _countries().get(folded)
    if key == "state":
        code = _countries().get(fold(country or "")) or "US"
        return _subdivisions(code).get(folded)
    return None


def _words(text: str) -> set[str]:
    return {w[:-1] if len(w) > 3 and w.endswith("s") else w for w in fold(text).split() if w not in STOPWORDS}


def score(option: Option, wanted: str, key: str | None = None, country: str | None = None) -> float:
    """How surely ``option`` is what ``wanted`` means (0 to 1)."""
    w = fold(wanted)
    texts = [fold(option.label), fold(option.value)]
    if w and w in texts:
        return 1.0
    ident = _identity(key, wanted, country)
    if ident is not None and any(_identity(key, t, country) == ident for t in (option.label, option.value)):
        return 0.95
    mine, theirs = _words(wanted), _words(option.label)
    if not mine or not theirs:
        return 0.0
    if mine == theirs:
        return 0.9
    if mine <= theirs:  # "Ontario" in "Ontario, CA"; "Plumbing" in "Plumbing services"
        return 0.8 if fold(option.label).startswith(w) else 0.7
    if theirs <= mine:  # option "Plumbing" for "Plumbing & Heating"
        return 0.65 * len(theirs) / len(mine) + 0.2
    return 0.5 * len(mine & theirs) / len(mine | theirs)


def best_option(options: Sequence[Option], wanted: str, key: str | None = None,
                country: str | None = None) -> Option | None:
    """The option clearly meant by ``wanted``: scored at least :data:`MIN_SCORE` and by
    :data:`MARGIN` better than the next; placeholders and paid options are never candidates."""
    if not wanted or not wanted.strip():
        return None
    ranked = sorted(
        ((score(o, wanted, key, country), o) for o in options if not o.placeholder and not is_paid(o.label)),
        key=lambda pair: pair[0], reverse=True,
    )
    if not ranked or ranked[0][0] < MIN_SCORE:
        return None
    if len(ranked) > 1 and ranked[0][0] - ranked[1][0] < MARGIN and ranked[0][0] < 1.0:
        return None
    return ranked[0][1]
