"""Screenshots of every dashboard page and of the report, in headless chromium.

    .venv/bin/python bench/screenshots.py [--out /tmp/finops-screens]

Builds two warehouses under OUT: the bundled demo CUR (the marts on main) and the hand-set
marts of tests/dashboard/fixture_marts.sql (every interface mart, June 2026 to the 10th), serves
each with `finops dashboard`, and saves OUT/<warehouse>-<page>.png and OUT/<warehouse>-report.png.
Run by hand to look at the pages; the tests do not use it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import duckdb
from playwright.sync_api import sync_playwright

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipelines.ingest import ingest  # noqa: E402
from pipelines.models import build  # noqa: E402
from pipelines.report import write_report  # noqa: E402

PAGES = ["overview", "showback", "anomalies", "savings", "commitments", "sustainability", "data"]
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def warehouses(out: Path) -> dict[str, tuple[Path, str]]:
    """name -> (warehouse, billing period to show)."""
    sample = out / "warehouses" / "sample"
    if not (sample / "finops.duckdb").is_file():
        ingest(str(REPO / "sample_data" / "demo" / "cur"), sample)
        build(sample)
    hand_set = out / "warehouses" / "hand_set"
    shutil.rmtree(hand_set, ignore_errors=True)
    hand_set.mkdir(parents=True)
    with duckdb.connect(str(hand_set / "finops.duckdb")) as connection:
        connection.execute((REPO / "tests" / "dashboard" / "fixture_marts.sql").read_text())
    return {"sample": (sample, "2026-10"), "handset": (hand_set, "2026-06")}


def serve(warehouse: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    finops = Path(sys.executable).with_name("finops")
    process = subprocess.Popen(
        [str(finops), "dashboard", "-w", str(warehouse), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=os.environ,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1):
                return process, url
        except OSError:
            time.sleep(0.25)
    process.kill()
    raise SystemExit(f"finops dashboard did not answer on {url}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/finops-screens"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
        )
        for name, (warehouse, period) in warehouses(args.out).items():
            process, url = serve(warehouse)
            try:
                page = browser.new_page(viewport={"width": 1500, "height": 2400})
                for page_name in PAGES:
                    path = "" if page_name == "overview" else page_name
                    page.goto(f"{url}/{path}")
                    page.get_by_test_id("stMain").locator("h1").first.wait_for(timeout=60_000)
                    page.wait_for_function(
                        "document.querySelectorAll('[data-testid=stSkeleton]').length === 0",
                        timeout=60_000,
                    )
                    page.wait_for_timeout(2500)  # plotly draws after the page settles
                    target = args.out / f"{name}-{page_name}.png"
                    page.screenshot(path=target, full_page=True)
                    print(target)
            finally:
                process.terminate()
                process.wait(timeout=10)
            report = write_report(warehouse, period, args.out / f"{name}-report.html")
            page = browser.new_page(viewport={"width": 1300, "height": 1000})
            page.goto(report.as_uri())
            page.wait_for_timeout(2000)
            page.screenshot(path=args.out / f"{name}-report.png", full_page=True)
            print(args.out / f"{name}-report.png")
        browser.close()


if __name__ == "__main__":
    main()
