"""Walking a form one step at a time, and knowing its buttons.

A wizard shows a step, validates it and reveals the next when Next/Continue is pressed
(by script, or by posting the step to the server). The walk answers each step as the
plan will, presses Next, and waits until new inputs show; it stops at the first step
that shows the button that sends the form. It never presses that button, a Back, or a
reset/clear.
"""

from __future__ import annotations

import time
from typing import Any

from directorybolt.execution.browser import fieldmap as fm
from directorybolt.execution.browser import options as opts
from directorybolt.execution.browser import pagescan
from directorybolt.execution.browser.pagescan import Button, Control, PageScan
from directorybolt.execution.browser.vocabulary import has_word

MAX_STEPS = 8
STEP_WAIT_S = 3.0


def _is_reset(b: Button) -> bool:
    return b.type == "reset" or has_word("reset", b.text)


def final_submit(buttons: list[Button]) -> Button | None:
    """The button that sends the form: never a reset/clear, a Back or a Next."""
    usable = [b for b in buttons if b.visible and not b.disabled and not _is_reset(b)
              and not has_word("next", b.text) and not has_word("back", b.text)]
    submits = [b for b in usable if b.type in ("submit", "image")]
    worded = [b for b in submits if has_word("submit", b.text)] or submits
    if worded:
        return worded[0]
    scripted = [b for b in usable if has_word("submit", b.text)]
    return scripted[0] if scripted else None


def next_button(buttons: list[Button]) -> Button | None:
    steps = [b for b in buttons if b.visible and not b.disabled and not _is_reset(b)
             and has_word("next", b.text) and not has_word("back", b.text)]
    return steps[0] if steps else None


class Walk:
    """Reads a form step by step, clicking Next until the sending button shows."""

    def __init__(self, page: Any, scan: PageScan, form: int, values: dict[str, str]) -> None:
        self.page, self.scan, self.form, self.values = page, scan, form, values
        self.seen: dict[str, tuple[Control, int]] = {}
        self.nexts: list[tuple[int, Button]] = []
        self.submit: Button | None = None
        self.stuck: str | None = None
        self.form_selector = scan.forms[form].selector if form >= 0 else "body"

    def run(self) -> None:
        for step in range(MAX_STEPS):
            fresh = [c for c in self.scan.controls_of(self.form) if c.visible and c.selector not in self.seen]
            for c in fresh:
                self.seen[c.selector] = (c, step)
            buttons = self.scan.buttons_of(self.form)
            self.submit, nxt = final_submit(buttons), next_button(buttons)
            if self.submit is not None or nxt is None:
                return
            self._answer(fresh)
            if not self._advance(nxt):
                self.stuck = f"the {nxt.text!r} button of step {step + 1} revealed no further fields"
                return
            self.nexts.append((step, nxt))
        self.stuck = f"the form has more than {MAX_STEPS} steps"

    def _answer(self, controls: list[Control]) -> None:
        """Fill this step as the plan will, so the site lets us see the next one."""
        readings = [fm.read(c) for c in controls]
        fm.resolve_generic(readings, any(c.kind == "password" for c in controls))
        for r in readings:
            c = r.control
            loc = self.page.locator(c.selector)
            try:
                if c.kind == "checkbox" and fm.consent(c):
                    loc.check(timeout=2000)
                elif r.key in fm.FILLABLE and self.values.get(r.key) and not (c.readonly or c.disabled):
                    if c.kind == "select":
                        chosen = opts.best_option(c.options, self.values[r.key], r.key, self.values.get("country"))
                        if chosen is not None and not fm.priced(c):
                            loc.select_option(value=chosen.value, timeout=2000)
                    elif c.kind == "text":
                        loc.fill(self.values[r.key], timeout=2000)
            except Exception:  # noqa: BLE001 - a step we cannot fill shows up as "revealed nothing"
                continue

    def _advance(self, nxt: Button) -> bool:
        before = {c.selector for c in self.scan.controls if c.visible}
        self.page.evaluate("() => { window.__dboltStep = true; }")
        try:
            self.page.locator(nxt.selector).click(timeout=3000)
            self.page.wait_for_load_state("domcontentloaded", timeout=int(STEP_WAIT_S * 1000))
        except Exception:  # noqa: BLE001 - not advancing is the answer, whatever the cause
            return False
        deadline = time.monotonic() + STEP_WAIT_S
        while time.monotonic() < deadline:
            try:
                same_document = self.page.evaluate("() => window.__dboltStep === true")
                scan = pagescan.scan(self.page)
            except Exception:  # noqa: BLE001 - the next document is still loading
                time.sleep(0.2)
                continue
            form = self.form if same_document else _busiest_form(scan)
            visible = {c.selector for c in scan.controls_of(form) if c.visible}
            if (visible - before) if same_document else visible:
                if not same_document:
                    self.seen = {s: v for s, v in self.seen.items() if s not in visible}
                self.scan, self.form = scan, form
                self.form_selector = scan.forms[form].selector if form >= 0 else "body"
                return True
            time.sleep(0.2)
        return False


def _busiest_form(scan: PageScan) -> int:
    counts = {f.index: sum(1 for c in scan.controls_of(f.index) if c.visible) for f in scan.forms}
    return max(counts, key=lambda k: counts[k]) if counts else -1
