"""Browser pool vs a browser launched per submission (what the old runner did).

Both modes submit the sandbox's plain form with the same plan, side by side in one
run. Two figures per mode:

* whole submission: from asking for a page to the context being closed;
* browser overhead: the time before the first navigation starts plus teardown
  (launch, context, page, close), i.e. everything that is not the directory's page.

The pool prepares the next context ahead of need (while a worker would wait for its
next task), so that preparation is reported separately and not counted as overhead.

    python bench/browser_pool.py [--n 20]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from directorybolt.cli.seed import DEMO_PROFILE
from directorybolt.core.plans import Plan
from directorybolt.core.profiles import BusinessProfile
from directorybolt.core.settings import get_settings
from directorybolt.execution.browser.pool import BrowserPool
from directorybolt.execution.browser.runner import run_plan
from directorybolt.sandbox import SandboxServer, sandbox_directories


def one(pool: BrowserPool, plan: Plan, profile: BusinessProfile) -> tuple[float, float]:
    t0 = time.perf_counter()
    with pool.page() as page:
        t_nav = time.perf_counter()
        run_plan(page, plan, profile)
        t_done = time.perf_counter()
    t_closed = time.perf_counter()
    return t_closed - t0, (t_nav - t0) + (t_closed - t_done)


def measure(n: int) -> dict[str, dict[str, float]]:
    exe = get_settings().resolved_chromium()
    profile = BusinessProfile.model_validate(DEMO_PROFILE)
    with SandboxServer(port=0) as sandbox:
        sandbox.allow_browser()
        entry = next(d for d in sandbox_directories(sandbox.url) if d["id"] == "plain")
        plan = Plan.model_validate(entry["plan"])
        pooled = BrowserPool(executable=exe, prepared=1)
        pooled.prepare()
        one(pooled, plan, profile)  # warm-up, not counted
        whole, overhead, prep = [], [], []
        for _ in range(n):
            w, o = one(pooled, plan, profile)
            t = time.perf_counter()
            pooled.prepare()
            prep.append(time.perf_counter() - t)
            whole.append(w)
            overhead.append(o)
        pooled.close()
        l_whole, l_over = [], []
        for _ in range(n):
            per = BrowserPool(executable=exe, prepared=0)
            t0 = time.perf_counter()
            with per.page() as page:
                t_nav = time.perf_counter()
                run_plan(page, plan, profile)
                t_done = time.perf_counter()
            per.close()
            t_closed = time.perf_counter()
            l_whole.append(t_closed - t0)
            l_over.append((t_nav - t0) + (t_closed - t_done))
    med = statistics.median
    return {
        "pooled": {"whole_ms": med(whole) * 1000, "overhead_ms": med(overhead) * 1000, "prepare_ms": med(prep) * 1000},
        "launch_per_submission": {"whole_ms": med(l_whole) * 1000, "overhead_ms": med(l_over) * 1000},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--out", type=Path, default=None, help="Append the markdown table to this file.")
    args = ap.parse_args()
    r = measure(args.n)
    p, launch = r["pooled"], r["launch_per_submission"]
    md = (
        f"| mode (median of {args.n}) | whole submission | browser overhead |\n|---|---|---|\n"
        f"| launch per submission (old runner) | {launch['whole_ms']:.0f} ms | {launch['overhead_ms']:.0f} ms |\n"
        f"| pooled browser, context prepared ahead | {p['whole_ms']:.0f} ms | {p['overhead_ms']:.1f} ms |\n"
        f"| **ratio** | **{launch['whole_ms'] / p['whole_ms']:.1f}×** | "
        f"**{launch['overhead_ms'] / p['overhead_ms']:.1f}×** |\n"
        f"\nPreparing the next context ahead of need (off the submission's path): {p['prepare_ms']:.0f} ms median.\n"
    )
    print(md)
    if args.out:
        with args.out.open("a") as f:
            f.write(md)


if __name__ == "__main__":
    main()
