"""The dashboard and the report in a real browser: Debian's chromium driven by Playwright.

`finops dashboard` serves the sample warehouse on a free loopback port; the Overview's month
total must equal the mart, a filter must change it (and the link), and a screenshot is saved.
The report of the same month must open with no console error and no network, with its totals
equal to the marts. .ci/run installs chromium (apt-get); no browser is downloaded.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from pipelines.report import write_report
from pipelines.review import money
from tests.dashboard.conftest import mart

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install -y chromium` (.ci/run does)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def dashboard(served: tuple[str, subprocess.Popen]) -> str:
    return served[0]


@pytest.fixture
def served(sample: Path, review_cache: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    """`finops dashboard -w SAMPLE --port N` on 127.0.0.1; yields its URL and process."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    finops = Path(sys.executable).with_name("finops")
    command = [str(finops)] if finops.is_file() else [sys.executable, "-m", "pipelines.cli"]
    process = subprocess.Popen(
        [*command, "dashboard", "-w", str(sample), "--port", str(port)],
        env={**os.environ, "FINOPS_REVIEW_CACHE": str(review_cache)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as answer:
                if answer.read() == b"ok":
                    break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            output = process.stdout.read().decode(errors="replace") if process.stdout else ""
            pytest.fail(f"finops dashboard did not answer on {url}: {output[-2000:]}")
        time.sleep(0.25)
    try:
        yield url, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def test_a_dashboard_stopped_by_sigterm_takes_its_server_with_it(
    served: tuple[str, subprocess.Popen],
) -> None:
    url, process = served

    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)

    with pytest.raises(OSError):
        urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).close()


def metric_value(page: Page, label: str):
    return page.get_by_test_id("stMetric").filter(has_text=label).get_by_test_id("stMetricValue")


def test_overview_in_chromium_shows_the_mart_and_follows_a_filter(
    browser: Browser, dashboard: str, sample: Path, tmp_path: Path
) -> None:
    ((october,),) = mart(
        sample, "SELECT sum(amortized_cost) FROM daily_cost WHERE billing_period = '2026-10'"
    )
    ((account, account_october),) = mart(
        sample,
        "SELECT account_id, sum(amortized_cost) FROM daily_cost "
        "WHERE billing_period = '2026-10' GROUP BY account_id ORDER BY 2 DESC LIMIT 1",
    )
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    page.goto(dashboard)
    expect(metric_value(page, "Month total")).to_have_text(money(october, "USD"), timeout=60_000)

    page.get_by_test_id("stSelectbox").filter(has_text="Account").click()
    page.get_by_role("option", name=account, exact=True).click()
    expect(metric_value(page, "Month total")).to_have_text(
        money(account_october, "USD"), timeout=30_000
    )
    expect(page).to_have_url(f"{dashboard}/?account={account}")
    page.screenshot(path=tmp_path / "overview.png", full_page=True)

    assert (tmp_path / "overview.png").stat().st_size > 10_000
    assert errors == []


def test_report_opens_offline_without_console_errors(
    browser: Browser, sample: Path, tmp_path: Path
) -> None:
    rows = mart(
        sample,
        "SELECT billing_period, sum(amortized_cost) FROM daily_cost "
        "WHERE billing_period IN ('2026-09', '2026-10') GROUP BY 1 ORDER BY 1",
    )
    ((untagged,),) = mart(
        sample,
        "SELECT sum(amortized_cost) FROM showback_monthly "
        "WHERE billing_period = '2026-10' AND dimension = 'team' AND value = '(untagged)'",
    )
    report = write_report(sample, "2026-10", tmp_path / "review.html")
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    problems: list[str] = []
    page.on("console", lambda line: problems.append(line.text) if line.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    requests: list[str] = []
    page.route("**/*", lambda route: _file_only(route, requests))

    page.goto(report.as_uri())
    page.wait_for_load_state("load")
    expect(page.locator(".js-plotly-plot").first).to_be_visible()

    def figure(name: str) -> float:
        return float(page.locator(f'[data-figure="{name}"]').get_attribute("data-value"))

    assert figure("month-total") == pytest.approx(rows[1][1])
    assert figure("previous-total") == pytest.approx(rows[0][1])
    assert figure("untagged") == pytest.approx(untagged)
    assert page.locator('[data-figure="month-total"] .value').inner_text() == money(
        rows[1][1], "USD"
    )
    assert page.locator(".js-plotly-plot").count() >= 3
    assert requests == []
    assert problems == []
    page.screenshot(path=tmp_path / "report.png", full_page=True)


def _file_only(route, requests: list[str]) -> None:
    """Let the report load itself; note and refuse anything that would need a network."""
    url = route.request.url
    if url.startswith(("file:", "data:", "blob:")):
        route.continue_()
    else:
        requests.append(url)
        route.abort()
