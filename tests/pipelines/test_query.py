"""finops sql and finops check, as an analyst meets them, on the bundled sample warehouse."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.models import build
from pipelines.query import check_warehouse, run_query
from tests.conftest import line_items
from tests.queries.model_fixtures import line_item, write_line_items
from tests.sample_warehouse import sample_warehouse

runner = CliRunner()


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sample_warehouse(tmp_path_factory)


def test_sql_json_gives_the_totals_of_the_raw_line_items(warehouse: Path):
    # The same sums, straight from the Parquet files without any model.
    expected = line_items(
        warehouse,
        "SELECT billing_period, count(*), sum(line_item_unblended_cost) FROM li "
        "GROUP BY billing_period ORDER BY billing_period",
    )

    result = runner.invoke(
        app,
        [
            "sql",
            "SELECT billing_period, count(*) AS line_items, sum(unblended_cost) AS cost "
            "FROM stg_line_items GROUP BY billing_period ORDER BY billing_period",
            "-w",
            str(warehouse),
            "--format",
            "json",
        ],
    )

    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [row["billing_period"] for row in rows] == [period for period, _, _ in expected]
    assert [row["line_items"] for row in rows] == [count for _, count, _ in expected]
    for row, (_, _, cost) in zip(rows, expected, strict=True):
        assert row["cost"] == pytest.approx(cost, abs=1e-6)


def test_sql_csv_writes_a_header_and_every_row(warehouse: Path):
    (count,) = line_items(warehouse, "SELECT count(DISTINCT line_item_product_code) FROM li")[0]

    result = runner.invoke(
        app,
        [
            "sql",
            "SELECT service_code, sum(line_items) AS n FROM daily_cost GROUP BY service_code",
            "-w",
            str(warehouse),
            "-f",
            "csv",
        ],
    )

    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == count
    assert set(rows[0]) == {"service_code", "n"}


def test_sql_parquet_needs_output_and_writes_it(warehouse: Path, tmp_path: Path):
    out = tmp_path / "teams.parquet"
    args = ["sql", "SELECT value, amortized_cost FROM showback_monthly", "-w", str(warehouse)]

    without = runner.invoke(app, [*args, "-f", "parquet"])
    written = runner.invoke(app, [*args, "-f", "parquet", "-o", str(out)])

    assert without.exit_code == 1
    assert "--format parquet needs --output FILE" in without.stderr
    assert written.exit_code == 0, written.output
    (expected,) = run_query(warehouse, "SELECT count(*) AS n FROM showback_monthly").to_pylist()
    assert pq.read_table(out).num_rows == expected["n"] > 0


def test_sql_table_shows_columns_and_values(warehouse: Path):
    result = runner.invoke(
        app,
        ["sql", "SELECT 'payments' AS team, 1234.5 AS cost, NULL AS note", "-w", str(warehouse)],
    )

    assert result.exit_code == 0, result.output
    assert "team" in result.stdout and "payments" in result.stdout
    assert "1,234.50" in result.stdout
    assert "NULL" in result.stdout
    assert "1 row" in result.stdout


def test_sql_table_too_wide_for_the_terminal_shows_one_record_at_a_time(warehouse: Path):
    # Squeezed into 80 columns, SELECT * of line_items drew an empty grid of 1-letter columns.
    query = (
        "SELECT line_item_line_item_type, line_item_unblended_cost, line_item_resource_id, * "
        "FROM line_items WHERE line_item_unblended_cost > 1 "
        "ORDER BY line_item_unblended_cost DESC LIMIT 2"
    )
    (expected,) = run_query(warehouse, query.replace("LIMIT 2", "LIMIT 1")).slice(0, 1).to_pylist()

    result = runner.invoke(app, ["sql", query, "-w", str(warehouse)], terminal_width=80)

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "-- row 1 --"
    assert "-- row 2 --" in lines
    first = lines[1 : lines.index("-- row 2 --")]
    assert first[0].split() == ["line_item_line_item_type", expected["line_item_line_item_type"]]
    assert first[1].split() == [
        "line_item_unblended_cost",
        f"{expected['line_item_unblended_cost']:,.2f}",
    ]
    assert all(len(line) <= 80 for line in lines)
    assert lines[-1] == "2 rows"


def test_sql_reads_a_query_file(warehouse: Path):
    example = Path(__file__).resolve().parents[2] / "queries" / "examples" / "cost_per_team.sql"

    result = runner.invoke(app, ["sql", f"@{example}", "-w", str(warehouse), "-f", "json"])

    assert result.exit_code == 0, result.output
    assert {"billing_period", "team", "amortized_cost"} <= set(json.loads(result.stdout)[0])


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT * FROM dail_cost", "Did you mean 'daily_cost'? The views and tables of"),
        ("SELEC 1", 'Parser Error: syntax error at or near "SELEC"'),
        ("SELECT nope FROM daily_cost", 'Referenced column "nope" not found'),
        ("CREATE TABLE scratch AS SELECT 1 AS x", "CREATE statements are refused"),
        ("SELECT 1; SELECT 2", "finops sql runs one query; got 2 statements"),
        ("   ", "no SQL given"),
    ],
)
def test_sql_errors_are_one_clear_line_and_exit_1(warehouse: Path, sql: str, message: str):
    result = runner.invoke(app, ["sql", sql, "-w", str(warehouse)])

    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_sql_cannot_write_into_the_warehouse_or_read_outside_it(warehouse: Path, tmp_path: Path):
    # A new-user review duplicated a line item this way, and read /etc/passwd.
    (before,) = run_query(warehouse, "SELECT count(*) AS n FROM line_items")["n"].to_pylist()
    partition = next((warehouse / "line_items").iterdir())
    outside = tmp_path / "outside.csv"
    outside.write_text("a\n1\n")

    copied = runner.invoke(
        app,
        [
            "sql",
            f"COPY (SELECT * FROM line_items LIMIT 1) TO '{partition}/extra.parquet'",
            "-w",
            str(warehouse),
        ],
    )
    read = runner.invoke(app, ["sql", f"SELECT * FROM read_csv('{outside}')", "-w", str(warehouse)])

    assert copied.exit_code == 1
    assert "COPY statements are refused" in copied.stderr
    assert not (partition / "extra.parquet").exists()
    assert run_query(warehouse, "SELECT count(*) AS n FROM line_items")["n"].to_pylist() == [before]
    assert read.exit_code == 1
    assert "Permission Error" in read.stderr


@pytest.mark.parametrize("command", ["sql", "report"])
def test_output_over_a_file_of_the_warehouse_is_refused(warehouse: Path, command: str):
    # A new-user review replaced a line-item part with a CSV this way.
    part = next((warehouse / "line_items").rglob("*.parquet"))
    before = part.read_bytes()
    arguments = (
        ["sql", "SELECT 1 AS a", "-f", "csv"] if command == "sql" else ["report", "-m", "2026-10"]
    )

    result = runner.invoke(app, [*arguments, "-w", str(warehouse), "-o", str(part)])

    assert result.exit_code == 2
    assert "is inside the warehouse" in result.output
    assert part.read_bytes() == before


def test_sql_that_is_not_utf8_is_a_clear_error(
    warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    latin1 = "SELECT 1 -- café\n".encode("latin-1")
    (tmp_path / "q.sql").write_bytes(latin1)
    monkeypatch.chdir(tmp_path)  # a short name: the usage error's box wraps long lines

    from_file = runner.invoke(app, ["sql", "@q.sql", "-w", str(warehouse)])
    from_stdin = runner.invoke(app, ["sql", "-", "-w", str(warehouse)], input=latin1)

    assert from_file.exit_code == 2
    assert "q.sql: not UTF-8 text (byte 15)" in from_file.output
    assert from_stdin.exit_code == 2
    assert "stdin is not UTF-8 text (byte 15)" in from_stdin.output
    assert "Traceback" not in from_file.output + from_stdin.output


def test_sql_output_into_a_missing_folder_is_one_clear_line(warehouse: Path, tmp_path: Path):
    target = tmp_path / "missing" / "out.csv"
    result = runner.invoke(
        app, ["sql", "SELECT 1", "-w", str(warehouse), "-f", "csv", "-o", str(target)]
    )

    assert result.exit_code == 1
    assert f"{target}: cannot write the result (No such file or directory)" in result.stderr


def test_sql_without_a_build_says_to_build(tmp_path: Path):
    result = runner.invoke(app, ["sql", "SELECT 1", "-w", str(tmp_path)])

    assert result.exit_code == 1
    assert "finops.duckdb: no such file; run `finops build` first" in result.stderr


def test_check_passes_on_the_sample(warehouse: Path):
    result = runner.invoke(app, ["check", "-w", str(warehouse)])

    assert result.exit_code == 0, result.output
    for check in ("reconciliation", "showback_reconciles", "known_line_item_types"):
        assert check in result.stdout
    assert "failed" not in result.stdout


def test_check_exits_1_and_prints_the_reason(tmp_path: Path):
    warehouse = tmp_path / "warehouse"
    warehouse.mkdir()
    write_line_items(warehouse, [line_item(line_item_line_item_type="BrandNewType")])
    build(warehouse)

    result = runner.invoke(app, ["check", "-w", str(warehouse)])

    assert result.exit_code == 1
    assert "known_line_item_types" in result.stdout
    assert "'BrandNewType'" in result.stdout
    assert "1 of" in result.stderr and "checks failed: known_line_item_types" in result.stderr


def test_check_runs_the_check_files_against_the_built_views(warehouse: Path, tmp_path: Path):
    checks = tmp_path / "queries" / "checks"
    checks.mkdir(parents=True)
    (checks / "no_big_days.sql").write_text(
        "SELECT usage_date, 'over 300 on ' || CAST(usage_date AS VARCHAR) AS reason\n"
        "FROM daily_cost GROUP BY usage_date HAVING sum(amortized_cost) > 300\n"
    )
    expected = run_query(
        warehouse,
        "SELECT count(*) AS n FROM (SELECT usage_date FROM daily_cost GROUP BY usage_date "
        "HAVING sum(amortized_cost) > 300)",
    ).to_pylist()[0]["n"]

    report = check_warehouse(warehouse, tmp_path / "queries")

    assert report.checks == ("no_big_days",)
    assert len(report.failures) == expected > 0
    assert all(failure.reason.startswith("over 300 on ") for failure in report.failures)
