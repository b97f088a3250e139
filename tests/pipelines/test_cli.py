"""The finops command as a user meets it: exit codes, one-line errors, the main job's summary."""

from __future__ import annotations

import csv
import dataclasses
import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines.cli import _money, app
from tests.conftest import DEMO, FOCUS_CONVERTERS_CSV, tree_digest

runner = CliRunner()


def test_help_lists_the_commands():
    result = runner.invoke(app, ["--help"])

    assert result.exit_code == 0
    for command in ("ingest", "build", "summary", "run", "sample"):
        assert command in result.stdout


def test_bad_file_exits_1_with_the_file_named_and_nothing_committed(tmp_path: Path):
    warehouse = tmp_path / "wh"
    first = runner.invoke(app, ["ingest", str(FOCUS_CONVERTERS_CSV), "-w", str(warehouse)])
    assert first.exit_code == 0
    before = tree_digest(warehouse / "line_items")
    broken = tmp_path / "cur.csv.gz"
    broken.write_bytes(gzip.compress(FOCUS_CONVERTERS_CSV.read_bytes())[:4000])

    result = runner.invoke(app, ["ingest", str(broken), "-w", str(warehouse)])

    assert result.exit_code == 1
    assert str(broken) in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert tree_digest(warehouse / "line_items") == before


def test_installed_command_exits_non_zero_on_a_cost_that_is_not_a_number(tmp_path: Path):
    with FOCUS_CONVERTERS_CSV.open(newline="", encoding="utf-8") as handle:
        header, *rows = list(csv.reader(handle))
    rows[0][header.index("lineItem/UnblendedCost")] = "n/a"
    source = tmp_path / "cur.csv"
    with source.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([header, *rows])
    finops = Path(sys.executable).with_name("finops")

    completed = subprocess.run(
        [str(finops), "ingest", str(source), "--warehouse", str(tmp_path / "wh")],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert completed.returncode == 1
    assert f"{source}, row 1, column 'lineItem/UnblendedCost': 'n/a' is not a number" in (
        completed.stderr
    )


@pytest.mark.parametrize("command", ["ingest", "run"])
def test_missing_source_is_one_clear_line(tmp_path: Path, command: str):
    result = runner.invoke(app, [command, str(tmp_path / "nope"), "-w", str(tmp_path / "wh")])

    assert result.exit_code == 1
    assert "no such file or folder" in result.stderr


def test_paths_the_system_refuses_are_one_clear_line(tmp_path: Path):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    too_long = tmp_path / ("a" * 300)

    looping_source = runner.invoke(app, ["ingest", str(loop), "-w", str(tmp_path / "wh")])
    looping_warehouse = runner.invoke(app, ["ingest", str(FOCUS_CONVERTERS_CSV), "-w", str(loop)])
    long_name = runner.invoke(app, ["summary", "-w", str(too_long)])

    for result in (looping_source, looping_warehouse):
        assert result.exit_code == 1
        assert result.stderr.startswith("error: ")
        assert str(loop) in result.stderr
    assert long_name.exit_code == 1
    assert "File name too long" in long_name.stderr
    assert "Traceback" not in looping_source.output + looping_warehouse.output + long_name.output


def test_empty_source_is_refused_not_read_as_the_current_folder(tmp_path: Path):
    result = runner.invoke(app, ["ingest", "", "-w", str(tmp_path / "wh")])

    assert result.exit_code == 1
    assert "error: the source is empty; name a folder, a file or s3://bucket/prefix" in (
        result.stderr
    )
    assert not (tmp_path / "wh").exists()


def test_build_in_a_folder_that_is_not_a_warehouse_writes_nothing(tmp_path: Path):
    other = tmp_path / "documents"
    other.mkdir()
    (other / "notes.txt").write_text("mine")

    result = runner.invoke(app, ["build", "-w", str(other)])

    assert result.exit_code == 1
    assert f"{other}: not a finops warehouse" in " ".join(result.stderr.split())
    assert sorted(path.name for path in other.iterdir()) == ["notes.txt"]


def test_run_on_the_demo_sample_prints_the_generators_totals(tmp_path: Path):
    truth = json.loads((DEMO / "ground_truth.json").read_text())
    warehouse = tmp_path / "wh"

    result = runner.invoke(app, ["run", str(DEMO / "cur"), "-w", str(warehouse)])

    assert result.exit_code == 0, result.stderr
    for section in ("Spend by month", "Top services", "Showback by team", "Tag coverage"):
        assert section in result.stdout
    for period, figures in truth["periods"].items():
        assert period in result.stdout
        assert f"${figures['unblended']:,.2f}" in result.stdout
        assert f"${figures['amortized']:,.2f}" in result.stdout
    assert (warehouse / "finops.duckdb").is_file()

    again = runner.invoke(app, ["run", str(DEMO / "cur"), "-w", str(warehouse)])

    assert again.exit_code == 0
    assert again.stdout.count("unchanged") == len(truth["periods"])


def test_brackets_in_a_path_are_printed_as_they_are(tmp_path: Path):
    folder = tmp_path / "[old]" / "[/x]"
    folder.mkdir(parents=True)
    source = folder / "invoice.csv"
    source.write_text("date,amount\n2026-01-01,3\n")

    result = runner.invoke(app, ["ingest", str(source), "-w", str(tmp_path / "wh")])

    assert result.exit_code == 1
    assert str(source) in result.stderr


def test_ingest_of_a_month_the_source_does_not_hold_exits_1_naming_those_it_does(tmp_path: Path):
    source = str(DEMO / "cur")
    warehouse = str(tmp_path / "wh")

    result = runner.invoke(app, ["ingest", source, "-w", warehouse, "--periods", "2025-01"])

    assert result.exit_code == 1
    assert result.stderr == (
        f"error: {source}: --periods: no billing period 2025-01 in the source "
        "(the source holds 2026-08, 2026-09, 2026-10)\n"
    )
    assert not (tmp_path / "wh" / "line_items").exists()


def test_run_with_a_broken_config_ingests_nothing(tmp_path: Path):
    config = tmp_path / "finops.toml"
    config.write_text("[tags\n")
    warehouse = tmp_path / "wh"

    result = runner.invoke(
        app, ["run", str(FOCUS_CONVERTERS_CSV), "-w", str(warehouse), "-c", str(config)]
    )

    assert result.exit_code == 1
    assert str(config) in result.stderr
    assert not (warehouse / "line_items").exists()


def test_sample_with_too_few_rows_is_a_usage_error(tmp_path: Path):
    result = runner.invoke(app, ["sample", str(tmp_path / "out"), "--rows", "100"])

    assert result.exit_code == 2
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("start", "message"),
    [
        ("26-01", "start must be YYYY-MM, got '26-01'"),  # numpy reads it as the year 26
        ("2026-1", "start must be YYYY-MM, got '2026-1'"),
        ("9999-11", "end after 9999-12"),  # three months: the last would end in the year 10000
    ],
)
def test_sample_start_must_be_a_four_digit_month(tmp_path: Path, start: str, message: str):
    result = runner.invoke(app, ["sample", str(tmp_path / "out"), "--start", start])

    assert result.exit_code == 2
    assert message in " ".join(result.output.replace("│", " ").split())
    assert not (tmp_path / "out").exists()


def test_summary_on_a_garbage_analyst_file_says_what_to_do(tmp_path: Path):
    warehouse = tmp_path / "wh"
    warehouse.mkdir()
    (warehouse / "finops.duckdb").write_bytes(b"not a database" * 100)

    result = runner.invoke(app, ["summary", "-w", str(warehouse)])

    assert result.exit_code == 1
    assert "finops build" in result.stderr


@pytest.mark.parametrize(
    ("value", "currencies", "shown"),
    [
        (-19.29, None, "-$19.29"),
        (1234.5, ["USD"], "$1,234.50"),
        (-0.001, None, "$0.00"),
        (10.0, ["EUR"], "EUR 10.00"),
    ],
)
def test_money_is_formatted_with_sign_and_currency(value, currencies, shown):
    assert _money(value, currencies) == shown


def test_mixed_currencies_are_never_added_up(tmp_path: Path):
    with FOCUS_CONVERTERS_CSV.open(newline="", encoding="utf-8") as handle:
        header, *rows = list(csv.reader(handle))
    currency = header.index("lineItem/CurrencyCode")
    cost = header.index("lineItem/UnblendedCost")
    rows[0][currency], rows[0][cost] = "EUR", "1000000"
    source = tmp_path / "cur.csv"
    with source.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([header, *rows])

    result = runner.invoke(app, ["run", str(source), "-w", str(tmp_path / "wh")])

    assert result.exit_code == 0, result.stderr
    assert "mixed" in result.stdout
    assert "EUR 1,000,000.00" in result.stdout  # the EUR line on its own row
    assert "$1.68" in result.stdout  # the USD lines without it
    assert "1,000,001" not in result.stdout


def test_build_exits_1_when_a_data_check_fails(tmp_path: Path, monkeypatch):
    import pipelines.models as models

    warehouse = tmp_path / "wh"
    assert (
        runner.invoke(app, ["ingest", str(FOCUS_CONVERTERS_CSV), "-w", str(warehouse)]).exit_code
        == 0
    )
    real_build = models.build

    def build_with_a_failing_check(*args, **kwargs):
        result = real_build(*args, **kwargs)
        failure = models.CheckFailure("reconciliation", "2023-11: staging lost 1 line item", {})
        return dataclasses.replace(result, check_failures=(failure,))

    monkeypatch.setattr(models, "build", build_with_a_failing_check)

    result = runner.invoke(app, ["build", "-w", str(warehouse)])

    assert result.exit_code == 1
    assert "check failed: reconciliation: 2023-11: staging lost 1 line item" in result.stderr
    assert (warehouse / "finops.duckdb").is_file()


def test_periods_option_takes_a_comma_separated_list(tmp_path: Path):
    result = runner.invoke(
        app,
        ["ingest", str(DEMO / "cur"), "-w", str(tmp_path / "wh"), "--periods", "2026-08,2026-10"],
    )

    assert result.exit_code == 0, result.stderr
    assert "2026-08" in result.stdout and "2026-10" in result.stdout
    assert "2026-09" not in result.stdout


def test_with_json_logs_the_final_error_is_a_json_line_too(tmp_path: Path):
    result = runner.invoke(
        app,
        [
            "--log-format",
            "json",
            "ingest",
            str(DEMO),
            "-w",
            str(tmp_path / "wh"),
            "--periods",
            "2025-01",
        ],
    )

    lines = [json.loads(line) for line in result.stderr.splitlines()]
    assert result.exit_code == 1
    assert lines[-1]["level"] == "ERROR"
    assert "--periods: no billing period 2025-01 in the source" in lines[-1]["message"]
