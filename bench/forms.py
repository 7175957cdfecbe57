"""The form mapper scored on the ten real forms of ``../shared/data/realforms/``.

Same scoring as ``tests/execution/browser/test_realforms.py`` (definitions in
``tests/execution/browser/realforms.py``): mapped right / mappable fields, wrong fills,
traps filled and paid options chosen after running each draft plan up to (not
including) its final click, and the review reason against the expected one. Every
request that leaves loopback is aborted. Prints a Markdown table for docs/benchmarks.md.

    python bench/forms.py [--forms DIR] [--details]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.execution.browser.pages import CHROMIUM, CHROMIUM_ARGS, PageServer, realforms_dir  # noqa: E402
from tests.execution.browser.realforms import FORMS, score_form, table  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--forms", type=Path, help="folder of the forms (default ../shared/data/realforms/)")
    parser.add_argument("--details", action="store_true", help="print misses, fills and review details")
    args = parser.parse_args()
    if args.forms:
        os.environ["DIRECTORYBOLT_REALFORMS_DIR"] = str(args.forms)
    folder = realforms_dir()
    if folder is None:
        print("no FORMS.md in the forms folder (../shared/data/realforms/ or --forms)", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    server = PageServer(folder)
    pw = sync_playwright().start()
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    scores, seconds = [], []
    try:
        for form in FORMS:
            t0 = time.perf_counter()
            scores.append(score_form(browser, server, form))
            seconds.append(time.perf_counter() - t0)
    finally:
        browser.close()
        pw.stop()
        server.close()
    print(table(scores))
    print(f"\nmap + try per form: median {sorted(seconds)[len(seconds) // 2]:.1f} s, max {max(seconds):.1f} s; "
          f"{sum(s.aborted_requests for s in scores)} requests to other hosts aborted, "
          f"{sum(len(s.leaked_requests) for s in scores)} let through")
    if args.details:
        for s in scores:
            print(f"\n{s.file}: review {s.review_got}: {s.review_detail}; tried {s.tried}")
            for line in s.misses + s.wrong_fills + s.traps_filled + s.paid_chosen:
                print(f"  {line}")
    ok = all(s.review_ok and not (s.wrong_fills or s.traps_filled or s.paid_chosen) for s in scores)
    right, total = sum(s.right for s in scores), sum(s.mappable for s in scores)
    return 0 if ok and right / total >= 0.95 else 1


if __name__ == "__main__":
    sys.exit(main())
