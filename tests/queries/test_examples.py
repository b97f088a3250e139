"""The analysts' example queries: each says what it is, is left out of the build, and is right.

That every example runs on the sample warehouse with rows, and transpiles to Athena with the
same result, is tested with every other SQL file in test_athena.py.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pipelines.config import queries_folder
from pipelines.models import find_models
from tests.conftest import line_items
from tests.sample_warehouse import sample_warehouse

EXAMPLES = sorted((queries_folder() / "examples").glob("*.sql"))


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sample_warehouse(tmp_path_factory)


def _run(warehouse: Path, name: str) -> list[dict]:
    sql = (queries_folder() / "examples" / f"{name}.sql").read_text(encoding="utf-8")
    with duckdb.connect(str(warehouse / "finops.duckdb"), read_only=True) as connection:
        cursor = connection.execute(sql)
        columns = [column[0] for column in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def test_there_are_examples_and_none_is_built():
    built = {model.name for model in find_models(queries_folder())}

    assert len(EXAMPLES) >= 6
    assert not built & {path.stem for path in EXAMPLES}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.stem)
def test_example_starts_with_its_header(path: Path):
    header = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("--"):
            break
        header.append(line)

    assert header and header[0].startswith(f"-- {path.stem}: ")
    assert "Grain:" in "\n".join(header)
    assert "Inputs:" in "\n".join(header)


def test_cost_per_team_adds_up_to_each_period_bill(warehouse: Path):
    bill = dict(
        line_items(
            warehouse,
            "SELECT billing_period, sum(line_item_unblended_cost) FROM li GROUP BY billing_period",
        )
    )

    rows = _run(warehouse, "cost_per_team")

    totals: dict[str, float] = {}
    for row in rows:
        totals[row["billing_period"]] = totals.get(row["billing_period"], 0) + row["unblended_cost"]
    assert totals == pytest.approx(bill, abs=1e-6)
    assert "(untagged)" in {row["team"] for row in rows}


def test_top_services_are_the_latest_period_ranked(warehouse: Path):
    ((latest,),) = line_items(warehouse, "SELECT max(billing_period) FROM li")

    rows = _run(warehouse, "top_services_latest_month")

    assert {row["billing_period"] for row in rows} == {latest}
    costs = [row["amortized_cost"] for row in rows]
    assert costs == sorted(costs, reverse=True)
    assert 0 < len(rows) <= 10


def test_untagged_spend_counts_lines_without_a_team(warehouse: Path):
    with duckdb.connect(str(warehouse / "finops.duckdb"), read_only=True) as connection:
        ((expected,),) = connection.execute(
            "SELECT count(*) FROM stg_line_items WHERE team IS NULL"
        ).fetchall()

    rows = _run(warehouse, "untagged_spend_by_account")

    assert sum(row["untagged_line_items"] for row in rows) == expected > 0
    assert all(0 <= (row["untagged_share"] or 0) <= 1 + 1e-9 for row in rows)


def test_month_over_month_movers_compare_the_two_latest_periods(warehouse: Path):
    periods = [
        period
        for (period,) in line_items(
            warehouse, "SELECT DISTINCT billing_period FROM li ORDER BY 1 DESC LIMIT 2"
        )
    ]

    rows = _run(warehouse, "month_over_month_movers")

    with duckdb.connect(str(warehouse / "finops.duckdb"), read_only=True) as connection:
        for row in rows[:3]:
            latest, previous = (
                connection.execute(
                    "SELECT coalesce(sum(amortized_cost), 0) FROM stg_line_items "
                    "WHERE billing_period = ? AND account_id = ? AND service = ?",
                    [period, row["account_id"], row["service"]],
                ).fetchone()[0]
                for period in periods
            )
            assert row["latest_amortized_cost"] == pytest.approx(latest, abs=1e-6)
            assert row["previous_amortized_cost"] == pytest.approx(previous, abs=1e-6)
            assert row["change"] == pytest.approx(latest - previous, abs=1e-6)
