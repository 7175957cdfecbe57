"""Screenshots of every staff console page, for docs/console.md.

Starts what the demo starts (services, sandbox, a real worker, the API serving the
console), runs one pro job over the sandbox directories so every page has something
to show (submitted rows with screenshots, CAPTCHA and changed-form rows waiting for
staff, a dead letter from the always-failing directory), then signs in with headless
Chromium at 1280 px and saves one PNG per page under docs/console/.

    python bench/console_screenshots.py [--out docs/console] [--port 18099]

Uses DIRECTORYBOLT_DATABASE_URL / REDIS_URL when set, else the embedded servers
(a throwaway state dir). Retries are shortened so the failing directory reaches the
dead-letter queue within seconds.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FAST = {"DIRECTORYBOLT_RETRY_BASE_S": "0.5", "DIRECTORYBOLT_RETRY_MAX_S": "2", "DIRECTORYBOLT_RETRY_JITTER": "0.1",
        "DIRECTORYBOLT_BASE_PACING_MS": "50", "DIRECTORYBOLT_ALLOW_PRIVATE_WEBSITES": "true"}
JOB_DIRECTORIES = ["plain", "wizard", "select", "slow", "broken", "captcha", "changed", "nomap", "catalogstyle"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "console"))
    parser.add_argument("--port", type=int, default=18099)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    os.environ.update(FAST)
    os.environ.setdefault("DIRECTORYBOLT_STATE_DIR", tempfile.mkdtemp(prefix="dbolt-shots-"))

    from directorybolt.cli import seed
    from directorybolt.cli.stack import children, migrate_head, self_command
    from directorybolt.core.settings import get_settings, reload_settings
    from directorybolt.queueing import intake
    from directorybolt.sandbox import SandboxServer
    from directorybolt.store import staff
    from directorybolt.store.services import ensure_services

    reload_settings()
    ensure_services()
    migrate_head()
    base = f"http://127.0.0.1:{args.port}"
    with SandboxServer(port=0) as sandbox:
        sandbox.allow_browser()
        seed.seed_sandbox(sandbox.url)
        customer = seed.customer()
        log = get_settings().state_dir / "logs" / "console-screenshots.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        procs = [self_command("worker", "-c", "2", "-n", f"shots-{os.getpid()}@%h"),
                 self_command("api", "--host", "127.0.0.1", "--port", str(args.port), "--no-access-log")]
        with children(procs, log=log):
            job = intake.accept(intake.Order(tier="pro", customer_id=customer, directories=JOB_DIRECTORIES))
            _wait_finished(str(job.job_id))
            name = f"docs-{int(time.time())}"
            password = staff.create(name)
            _shoot(base, name, password, str(job.job_id), out)
    print(f"screenshots in {out}")
    return 0


def _wait_finished(job_id: str, timeout_s: float = 180) -> None:
    from directorybolt.lifecycle.reports import job_report

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if job_report(job_id)["status"] in ("completed", "partial", "failed"):
            return
        time.sleep(0.5)
    raise SystemExit(f"job {job_id} did not finish in {timeout_s} s")


def _shoot(base: str, name: str, password: str, job_id: str, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    from directorybolt.core.settings import get_settings
    from directorybolt.execution.browser.pool import CHROMIUM_ARGS

    def wait_for_server() -> None:
        import httpx

        for _ in range(150):
            try:
                httpx.get(f"{base}/api/openapi.json", timeout=2)
                return
            except httpx.TransportError:
                time.sleep(0.2)
        raise SystemExit("the API did not start")

    wait_for_server()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=get_settings().resolved_chromium(), args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 1280, "height": 860}).new_page()

        def snap(file: str, path: str | None = None) -> None:
            if path:
                page.goto(base + path)
            page.screenshot(path=str(out / file), full_page=True)
            print(f"  {file}: {page.url}")

        snap("sign-in.png", "/console/sign-in")
        page.fill("input[name=name]", name)
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        page.wait_for_url(base + "/console")
        snap("dashboard.png")
        snap("jobs.png", "/console/jobs")
        snap("job.png", f"/console/jobs/{job_id}")
        snap("reviews.png", "/console/reviews")
        page.goto(f"{base}/console/reviews?state=open")
        page.click("table.list a >> nth=0")
        page.click("text=Claim this item")
        snap("review-item.png")
        snap("dead-letters.png", "/console/dead-letters")
        entry = page.locator("table.list a").first
        if entry.count():
            entry.click()
            page.click("text=Replay…")
            snap("dead-letter-confirm.png")
        snap("workers.png", "/console/workers")
        browser.close()


if __name__ == "__main__":
    sys.exit(main())
