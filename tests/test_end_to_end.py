"""The main job end to end on real CUR files: ingest, build, summary, against the raw files."""

from __future__ import annotations

import csv
import math
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from pipelines.ingest import ingest
from pipelines.models import build
from pipelines.summary import summarize
from sample_data.generate import GroundTruth
from tests.conftest import CLOUDACADEMY, DEMO, FOCUS_CONVERTERS_CSV

# Pinned from the raw WorkshopCUR files (math.fsum over every row). Amortized follows AWS:
# Usage at unblended cost, DiscountedUsage at reservation_effective_cost, RIFee only for its
# unused part (unused amortized upfront fee + unused recurring fee). The data has no other
# line item types.
PINNED = {
    "2018-10": {"unblended": 4064.48, "amortized": 4195.96},
    "2018-11": {"unblended": 3505.33, "amortized": 3632.56},
    "2018-12": {"unblended": 408.38, "amortized": 539.85},
}
MONTH_FILES = {"2018-10": "Oct", "2018-11": "Nov", "2018-12": "Dec"}


def raw_totals(period: str) -> dict[str, float]:
    """Totals worked out from the raw Parquet with AWS's rules, independently of our SQL."""
    rows = pq.read_table(
        CLOUDACADEMY / f"{MONTH_FILES[period]}2018-WorkshopCUR-00001.snappy.parquet"
    ).to_pylist()
    types = {row["line_item_line_item_type"] for row in rows}
    assert types == {"Usage", "DiscountedUsage", "RIFee"}

    def amortized(row: dict) -> float:
        kind = row["line_item_line_item_type"]
        if kind == "DiscountedUsage":
            return row["reservation_effective_cost"]
        if kind == "RIFee":
            return (
                row["reservation_unused_amortized_upfront_fee_for_billing_period"]
                + row["reservation_unused_recurring_fee"]
            )
        return row["line_item_unblended_cost"]

    return {
        "unblended": math.fsum(row["line_item_unblended_cost"] for row in rows),
        "amortized": math.fsum(amortized(row) for row in rows),
    }


@pytest.fixture(scope="module")
def workshop_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("workshop")
    source = root / "cur"
    for period, name in MONTH_FILES.items():
        folder = source / "year=2018" / f"month={period[-2:]}"
        folder.mkdir(parents=True)
        (folder / f"{name}.parquet").symlink_to(
            CLOUDACADEMY / f"{name}2018-WorkshopCUR-00001.snappy.parquet"
        )
    warehouse = root / "wh"
    ingest(str(source), warehouse)
    result = build(warehouse)
    assert result.ok, result.check_failures
    return warehouse


@pytest.mark.parametrize("period", sorted(PINNED))
def test_real_monthly_totals_equal_the_raw_files_to_the_cent(workshop_warehouse: Path, period):
    raw = raw_totals(period)
    with duckdb.connect(str(workshop_warehouse / "finops.duckdb"), read_only=True) as db:
        unblended, amortized = db.execute(
            "SELECT sum(unblended_cost), sum(amortized_cost) FROM daily_cost "
            "WHERE billing_period = ?",
            [period],
        ).fetchone()

    assert round(raw["unblended"], 2) == PINNED[period]["unblended"]
    assert round(raw["amortized"], 2) == PINNED[period]["amortized"]
    assert round(unblended, 2) == PINNED[period]["unblended"]
    assert round(amortized, 2) == PINNED[period]["amortized"]
    assert amortized == pytest.approx(raw["amortized"], abs=1e-6)


def test_real_summary_reports_the_same_months(workshop_warehouse: Path):
    sections = {section.name: section for section in summarize(workshop_warehouse)}

    by_month = {row["billing_period"]: row for row in sections["spend_by_month"].rows}
    assert sorted(by_month) == sorted(PINNED)
    for period, pinned in PINNED.items():
        assert round(by_month[period]["unblended_cost"], 2) == pinned["unblended"]
        assert round(by_month[period]["amortized_cost"], 2) == pinned["amortized"]
    # December's largest services per SOURCE.md: EC2 then QuickSight (unblended); amortized
    # adds the RI-covered EC2 hours, so EC2 stays on top.
    assert sections["top_services"].rows[0]["billing_period"] == "2018-12"
    assert "Elastic Compute Cloud" in sections["top_services"].rows[0]["service"]
    showback_total = sum(row["amortized_cost"] for row in sections["showback_by_team"].rows)
    assert round(showback_total, 2) == PINNED["2018-12"]["amortized"]


def test_real_legacy_csv_total_equals_the_raw_sum(tmp_path: Path):
    with FOCUS_CONVERTERS_CSV.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        raw = sum((Decimal(row["lineItem/UnblendedCost"]) for row in reader), Decimal(0))
    warehouse = tmp_path / "wh"

    ingest(str(FOCUS_CONVERTERS_CSV), warehouse)
    build(warehouse)

    [month] = summarize(warehouse)[0].rows
    assert month["billing_period"] == "2023-11"
    assert month["unblended_cost"] == pytest.approx(float(raw), abs=1e-9)
    # Usage and Tax only: amortized equals unblended.
    assert month["amortized_cost"] == pytest.approx(float(raw), abs=1e-9)


def test_generated_sample_ground_truth_equals_what_the_pipeline_reports(tmp_path: Path):
    # The committed demo sample has a superseded assembly in every month: only the manifest's
    # current assembly may count.
    truth = GroundTruth.from_json((DEMO / "ground_truth.json").read_text())
    warehouse = tmp_path / "wh"

    ingest(str(DEMO / "cur"), warehouse)
    build(warehouse)

    with duckdb.connect(str(warehouse / "finops.duckdb"), read_only=True) as db:
        for period, expected in truth.periods.items():
            rows, unblended, amortized = db.execute(
                "SELECT count(*), sum(unblended_cost), sum(amortized_cost) FROM stg_line_items "
                "WHERE billing_period = ?",
                [period],
            ).fetchone()
            assert rows == expected.rows
            assert unblended == pytest.approx(expected.unblended, abs=1e-6)
            assert amortized == pytest.approx(expected.amortized, abs=1e-6)
            for dimension, truth_by_value in (
                ("team", expected.amortized_by_team),
                ("env", expected.amortized_by_env),
            ):
                showback = dict(
                    db.execute(
                        "SELECT value, sum(amortized_cost) FROM showback_monthly "
                        "WHERE billing_period = ? AND dimension = ? GROUP BY 1",
                        [period, dimension],
                    ).fetchall()
                )
                assert showback.keys() == truth_by_value.keys()
                for value, cost in truth_by_value.items():
                    assert showback[value] == pytest.approx(cost, abs=1e-6), (dimension, value)
