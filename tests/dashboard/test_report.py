"""`finops report`: one self-contained HTML file whose figures equal the marts."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines.cli import app as cli
from pipelines.report import write_report
from tests.dashboard.conftest import mart


def figures(html: str) -> dict[str, float]:
    return {
        name: float(value)
        for name, value in re.findall(r'data-figure="([\w-]+)" data-value="([^"]+)"', html)
    }


def test_report_of_a_sample_month_carries_the_marts_totals(sample: Path, tmp_path: Path) -> None:
    ((october, september),) = mart(
        sample,
        "SELECT sum(amortized_cost) FILTER (WHERE billing_period = '2026-10'), "
        "sum(amortized_cost) FILTER (WHERE billing_period = '2026-09') FROM daily_cost",
    )
    html = write_report(sample, "2026-10", tmp_path / "review.html").read_text()
    shown = figures(html)

    assert shown["month-total"] == pytest.approx(october)
    assert shown["previous-total"] == pytest.approx(september)
    assert shown["showback-total"] == pytest.approx(october)
    # plotly.js is inline exactly once and nothing is fetched from elsewhere.
    assert html.count("<script") >= 3
    assert not re.search(r'<script[^>]+src="http', html)
    assert html.count("plotly.js v") <= 2


def test_report_sections_without_marts_say_which_command_makes_them(
    sample: Path, old_build: Path, tmp_path: Path
) -> None:
    sample_html = write_report(sample, "2026-10", tmp_path / "sample.html").read_text()
    old_html = write_report(old_build, "2026-06", tmp_path / "old.html").read_text()

    assert "anomalies is not in" in sample_html and "run `finops anomalies` first" in sample_html
    assert "recommendations is not in" in old_html and "run `finops build` first" in old_html
    assert "carbon_monthly is not in" in old_html


def test_report_on_hand_set_marts_tells_every_section(hand_set: Path, tmp_path: Path) -> None:
    html = write_report(hand_set, "2026-06", tmp_path / "review.html").read_text()
    shown = figures(html)

    assert shown["month-to-date"] == 250
    assert shown["forecast"] == 550
    assert shown["previous-total"] == 410
    assert shown["shared"] == 30
    assert shown["anomalies"] == 2
    assert shown["anomaly-impact"] == 27
    assert shown["savings"] == 84  # each resource once (fixture_marts.sql)
    assert shown["co2e"] == 52
    assert shown["graviton-share"] == 0.25
    assert shown["co2e-saved"] == 8.5
    assert 'class="missing"' not in html
    assert "TimedStorage-ByteHrs" in html  # the S3 spike's root cause


def test_report_in_another_measure_uses_it(hand_set: Path, tmp_path: Path) -> None:
    path = write_report(hand_set, "2026-06", tmp_path / "r.html", measure="unblended")

    assert figures(path.read_text())["month-to-date"] == 270


def test_report_command_writes_the_file(sample: Path, tmp_path: Path) -> None:
    output = tmp_path / "october.html"
    result = CliRunner().invoke(
        cli, ["report", "--month", "2026-10", "-w", str(sample), "-o", str(output)]
    )

    assert result.exit_code == 0, result.output
    assert f"Wrote {output}" in result.output
    assert output.stat().st_size > 1_000_000  # plotly.js inside


def test_report_command_refuses_a_month_without_data(sample: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["report", "--month", "2030-01", "-w", str(sample), "-o", str(tmp_path / "x.html")]
    )

    assert result.exit_code == 1
    assert "no USD cost data for 2030-01 (billing periods: 2026-08, 2026-09, 2026-10)" in (
        result.output
    )
    assert not (tmp_path / "x.html").exists()


def test_report_command_refuses_a_malformed_month(sample: Path) -> None:
    result = CliRunner().invoke(cli, ["report", "--month", "2026-13", "-w", str(sample)])

    assert result.exit_code == 2
    assert "'2026-13' is not YYYY-MM" in result.output


def test_dashboard_command_without_a_build_says_run_finops_build(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["dashboard", "-w", str(tmp_path)])

    assert result.exit_code == 1
    assert "finops.duckdb: not found; run `finops build` first" in result.output


def test_report_in_a_currency_the_warehouse_lacks_or_to_a_missing_folder_is_refused(
    sample: Path, tmp_path: Path
) -> None:
    euro = CliRunner().invoke(
        cli, ["report", "--month", "2026-10", "-w", str(sample), "--currency", "EUR"]
    )
    nowhere = tmp_path / "missing" / "review.html"
    unwritable = CliRunner().invoke(
        cli, ["report", "--month", "2026-10", "-w", str(sample), "-o", str(nowhere)]
    )

    assert euro.exit_code == 1
    assert "no cost data in EUR (currencies: USD)" in euro.stderr
    assert unwritable.exit_code == 1
    assert f"{nowhere}: cannot write the report (No such file or directory)" in unwritable.stderr
    assert "Traceback" not in euro.output + unwritable.output


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--port", "99999"], "--port 99999: expected 1-65535"),
        (["--port", "-1"], "--port -1: expected 1-65535"),
        (["--host", "999.1.1.1"], "--host '999.1.1.1': cannot be resolved"),
        # 192.0.2.0/24 is for documentation (RFC 5737): never an address of this machine.
        (["--host", "192.0.2.1"], "--host 192.0.2.1 --port 8501: cannot listen there"),
    ],
)
def test_dashboard_command_refuses_an_address_it_cannot_listen_on_before_starting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, options: list[str], message: str
) -> None:
    (tmp_path / "finops.duckdb").touch()
    monkeypatch.setattr("pipelines.dashboard.subprocess.Popen", _no_streamlit)

    result = CliRunner().invoke(cli, ["dashboard", "-w", str(tmp_path), *options])

    assert result.exit_code == 1
    assert result.output.startswith(f"error: {message}")
    assert result.output.count("\n") == 1


def test_dashboard_command_on_a_port_in_use_says_so_before_starting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "finops.duckdb").touch()
    monkeypatch.setattr("pipelines.dashboard.subprocess.Popen", _no_streamlit)

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["dashboard", "-w", str(tmp_path), "--port", str(port)])

    assert result.exit_code == 1
    assert result.output == (
        f"error: --host 127.0.0.1 --port {port}: cannot listen there (Address already in use)\n"
    )


def _no_streamlit(*args, **kwargs):
    raise AssertionError("Streamlit was started")
