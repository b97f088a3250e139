"""realized_savings: cost of acted-on resources before and after, from the execution log.

Figures worked out by hand: a window's monthly figure is its daily average x 30.4375.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from pipelines.action_log import ingest_action_log
from pipelines.errors import InputError
from pipelines.models import build
from tests.queries.model_fixtures import line_item, write_line_items


def daily(resource_id: str, first: date, last: date, cost: float) -> list[dict]:
    rows, day = [], first
    while day <= last:
        rows.append(
            line_item(
                line_item_resource_id=resource_id,
                line_item_usage_start_date=datetime.combine(day, datetime.min.time()),
                line_item_usage_end_date=datetime.combine(day, datetime.min.time())
                + timedelta(hours=1),
                bill_billing_period_start_date=datetime(day.year, day.month, 1),
                line_item_unblended_cost=cost,
                billing_period=f"{day:%Y-%m}",
            )
        )
        day += timedelta(days=1)
    return rows


def log_line(action_id: str, action: str, resource_id: str, executed_at: str, **extra) -> dict:  # noqa: ANN003
    return {
        "schema_version": 1,
        "run_id": extra.pop("run_id", "20261203T100000Z-aaaa0000"),
        "executed_at": executed_at,
        "dry_run": False,
        "plan_generated_at": "2026-12-01T06:00:00Z",
        "action_id": action_id,
        "kind": "idle",
        "action": action,
        "step": "act",
        "outcome": "applied",
        "reason": "test",
        "detail": None,
        "resource_type": "ec2:volume",
        "resource_id": resource_id,
        "live_id": resource_id,
        "account_id": "111111111111",
        "region": "us-east-1",
        "estimated_monthly_saving": 50.0,
        "currency": "USD",
        **extra,
    }


def write_log(folder: Path, name: str, lines: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    folder = tmp_path / "warehouse"
    folder.mkdir()
    # vol-1: 2.00 a day until the day before its deletion on 3 December.
    # i-1: 1.00 a day until its schedule on 5 December, 0.50 a day after; data to 10 December.
    write_line_items(
        folder,
        daily("vol-1", date(2026, 11, 1), date(2026, 12, 2), 2.0)
        + daily("vol-1", date(2026, 12, 3), date(2026, 12, 3), 1.0)
        + daily("i-1", date(2026, 11, 1), date(2026, 12, 5), 1.0)
        + daily("i-1", date(2026, 12, 6), date(2026, 12, 10), 0.5),
    )
    return folder


def test_realized_savings_compares_the_30_days_before_with_the_days_after(warehouse, tmp_path):
    logs = tmp_path / "logs"
    write_log(
        logs,
        "run-1.jsonl",
        [
            log_line("idle:vol-1", "delete_volume", "vol-1", "2026-12-03T10:00:00Z"),
            # A mark and a dry run are not actions carried out.
            log_line("idle:vol-9", "delete_volume", "vol-9", "2026-12-03T10:00:00Z", step="mark"),
        ],
    )
    write_log(
        logs,
        "run-2.jsonl",
        [
            log_line(
                "schedule:i-1",
                "apply_schedule_tag",
                "i-1",
                "2026-12-05T09:00:00Z",
                run_id="20261205T090000Z-bbbb0000",
                estimated_monthly_saving=20.0,
                kind="schedule",
            ),
            log_line(
                "idle:vol-8",
                "delete_volume",
                "vol-8",
                "2026-12-05T09:00:00Z",
                run_id="20261205T090000Z-bbbb0000",
                dry_run=True,
            ),
        ],
    )

    loaded = ingest_action_log(str(logs), warehouse)
    build(warehouse)

    assert sorted(log.rows for log in loaded) == [2, 2]
    with duckdb.connect(str(warehouse / "finops.duckdb"), read_only=True) as connection:
        rows = connection.execute(
            "SELECT resource_id, currency, days_before, days_after, cost_before, cost_after, "
            "monthly_cost_before, monthly_cost_after, realized_monthly_saving, realized_share "
            "FROM realized_savings ORDER BY resource_id"
        ).fetchall()
    # i-1: 5 Nov - 4 Dec at 1.00 = 30.00; 6-10 Dec at 0.50 = 2.50 over 5 days.
    # vol-1: 3 Nov - 2 Dec at 2.00 = 60.00; 4-10 Dec nothing over 7 days (3 Dec is left out).
    assert rows == [
        ("i-1", "USD", 30, 5, 30.0, 2.5, 30.4375, 15.21875, 15.21875, pytest.approx(0.7609375)),
        ("vol-1", "USD", 30, 7, 60.0, 0.0, 60.875, 0.0, 60.875, pytest.approx(1.2175)),
    ]


def test_loading_the_same_log_twice_replaces_it(warehouse, tmp_path):
    path = write_log(
        tmp_path / "logs",
        "run.jsonl",
        [log_line("idle:vol-1", "delete_volume", "vol-1", "2026-12-03T10:00:00Z")],
    )
    ingest_action_log(str(path), warehouse)
    ingest_action_log(str(path), warehouse)
    build(warehouse)
    with duckdb.connect(str(warehouse / "finops.duckdb"), read_only=True) as connection:
        assert connection.execute("SELECT count(*) FROM action_log").fetchone() == (1,)
        assert connection.execute("SELECT count(*) FROM realized_savings").fetchone() == (1,)


def test_without_any_log_the_mart_builds_empty(warehouse):
    result = build(warehouse)
    assert result.row_counts["realized_savings"] == 0


def test_a_bad_execution_log_names_the_file_line_and_field(warehouse, tmp_path):
    broken = log_line("idle:vol-1", "delete_volume", "vol-1", "yesterday")
    path = write_log(
        tmp_path / "logs",
        "run.jsonl",
        [log_line("a", "delete_volume", "v", "2026-12-03T10:00:00Z"), broken],
    )
    with pytest.raises(InputError) as raised:
        ingest_action_log(str(path), warehouse)
    assert (
        str(raised.value)
        == f"{path}, row 2, column 'executed_at': not a timestamp (expected ISO 8601)"
    )
    assert not (warehouse / "action_log").exists()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            log_line(
                "a", "delete_volume", "v", "2026-12-03T10:00:00Z", estimated_monthly_saving="lots"
            ),
            "row 2, column 'estimated_monthly_saving': 'lots' is not a number (expected a number)",
        ),
        (
            log_line("a", "delete_volume", "v", "2026-12-03T10:00:00Z", account_id=111111111111),
            "row 2, column 'account_id': 111111111111 is not of type string",
        ),
        (["not", "an", "object"], "row 2: a JSON list (expected an object)"),
        (
            log_line("a", "delete_volume", "v", "2026-12-03T10:00:00Z", outcome="exploded"),
            "row 2, column 'outcome': outcome 'exploded' (expected one of applied, dry_run, "
            "skipped, failed, gone, pending)",
        ),
    ],
)
def test_a_log_line_of_the_wrong_types_loads_nothing(warehouse, tmp_path, line, message):
    # A new-user review got a ValueError traceback from a saving written as text.
    good = log_line("b", "delete_volume", "v", "2026-12-03T10:00:00Z")
    first = write_log(tmp_path / "logs", "a.jsonl", [good])
    second = write_log(tmp_path / "logs", "b.jsonl", [good, line])

    with pytest.raises(InputError) as raised:
        ingest_action_log(str(tmp_path / "logs"), warehouse)

    assert str(raised.value) == f"{second}, {message}"
    assert first.exists()
    assert not (warehouse / "action_log").exists()
