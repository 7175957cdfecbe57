"""What a page shows, read in one pass inside the browser.

The mapper decides in Python; this module only gathers the evidence a person would
use: for every control its label (``for``, wrapping, ``aria-*``), the text just before
it (an orphan label, a heading, the previous table cell), placeholder, name, id,
autocomplete, whether it can be seen, and the signs of a honeypot; every button; the
CAPTCHA widgets and scripts; ``mailto:`` links. Each element gets a CSS selector that
is unique in the document, so a plan can find it again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from directorybolt.execution.browser.options import Option


@cache
def _script() -> str:
    """The page-side half, kept as JavaScript (``pagescan.js``) so it reads as such."""
    return Path(__file__).with_name("pagescan.js").read_text(encoding="utf-8")


@dataclass
class Control:
    selector: str
    form: int
    tag: str
    type: str
    name: str = ""
    id: str = ""
    placeholder: str = ""
    autocomplete: str = ""
    label: str = ""
    aria: str = ""
    preceding: str = ""
    title: str = ""
    required: bool = False
    visible: bool = True
    disabled: bool = False
    readonly: bool = False
    value: str = ""
    checked: bool = False
    options: list[Option] = field(default_factory=list)
    traps: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        """text, select, checkbox, radio, file or password."""
        if self.tag == "select":
            return "select"
        if self.type in ("checkbox", "radio", "file", "password"):
            return self.type
        return "text"

    @property
    def starred(self) -> bool:
        """Marked required the way people read it: a trailing asterisk on the label."""
        return any(t.rstrip(" :").endswith("*") for t in (self.label, self.preceding) if t)

    @property
    def must(self) -> bool:
        return self.required or self.starred

    @property
    def empty(self) -> bool:
        """Nothing chosen or typed yet (a select on its placeholder counts as empty)."""
        if self.kind == "select":
            chosen = [o for o in self.options if o.selected]
            return not chosen or chosen[0].placeholder
        if self.kind in ("checkbox", "radio"):
            return not self.checked
        return not self.value.strip()

    def describe(self) -> str:
        return self.label or self.aria or self.preceding or self.placeholder or self.name or self.id or self.selector


@dataclass
class Button:
    selector: str
    form: int
    tag: str
    type: str
    text: str
    visible: bool
    disabled: bool


@dataclass
class FormInfo:
    index: int
    selector: str
    action: str


@dataclass
class Frame:
    src: str
    width: int
    height: int


@dataclass
class PageScan:
    url: str
    controls: list[Control]
    buttons: list[Button]
    forms: list[FormInfo]
    captcha: list[str]
    mailto: int
    text: str
    frames: list[Frame] = field(default_factory=list)
    mailto_submit: bool = False  # a script sends the form to a mailto: address

    def controls_of(self, form: int) -> list[Control]:
        return [c for c in self.controls if c.form == form]

    def buttons_of(self, form: int) -> list[Button]:
        return [b for b in self.buttons if b.form == form]


def scan(page: Any) -> PageScan:
    raw = page.evaluate(_script())
    controls = []
    for c in raw["controls"]:
        options = [Option(str(v), str(lbl), bool(d), bool(sel)) for v, lbl, d, sel in c.pop("options")]
        controls.append(Control(**c, options=options))
    return PageScan(
        url=raw["url"], controls=controls, buttons=[Button(**b) for b in raw["buttons"]],
        forms=[FormInfo(**f) for f in raw["forms"]], captcha=list(raw["captcha"]), mailto=int(raw["mailto"]),
        text=raw["text"], frames=[Frame(**f) for f in raw["frames"]], mailto_submit=bool(raw["mailtoSubmit"]),
    )
