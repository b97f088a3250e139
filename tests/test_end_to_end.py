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
    "2018-10": {"unblended": 4064.48, "amortized": 4195.96, "public_on_demand": 4237.68},
    "2018-11": {"unblended": 3505.33, "amortized": 3632.56, "public_on_demand": 3671.20},
    "2018-12": {"unblended": 408.38, "amortized": 539.85, "public_on_demand": 580.76},
}
# Per account and per service (lineItem/ProductCode), (unblended, amortized, public on-demand)
# in USD, from the raw files with Decimal arithmetic (raw_cents below). Account 836060457634 is
# the payer, with the Reserved Instances; all services are pinned where they reach a dollar.
PINNED_BY_ACCOUNT = {
    ("2018-10", "011254002932"): ("71.46", "77.90", "62.66"),
    ("2018-10", "836060457634"): ("3993.03", "4118.06", "4175.02"),
    ("2018-11", "011254002932"): ("60.49", "68.98", "43.43"),
    ("2018-11", "836060457634"): ("3444.84", "3563.58", "3627.77"),
    ("2018-12", "011254002932"): ("38.28", "39.14", "14.35"),
    ("2018-12", "836060457634"): ("370.09", "500.71", "566.42"),
}
PINNED_BY_SERVICE = {
    ("2018-10", "AWSBudgets"): ("0.24", "0.24", "1.48"),
    ("2018-10", "AWSConfig"): ("12.28", "12.28", "12.28"),
    ("2018-10", "AWSGlue"): ("2389.33", "2389.33", "2389.33"),
    ("2018-10", "AmazonCloudWatch"): ("0.00", "0.00", "2.10"),
    ("2018-10", "AmazonEC2"): ("737.50", "868.97", "907.29"),
    ("2018-10", "AmazonQuickSight"): ("3.37", "3.37", "3.37"),
    ("2018-10", "AmazonRDS"): ("920.75", "920.75", "920.75"),
    ("2018-11", "AWSBudgets"): ("0.30", "0.30", "1.54"),
    ("2018-11", "AWSConfig"): ("11.10", "11.10", "11.10"),
    ("2018-11", "AWSGlue"): ("2005.38", "2005.38", "2005.39"),
    ("2018-11", "AmazonCloudWatch"): ("0.00", "0.00", "1.39"),
    ("2018-11", "AmazonEC2"): ("735.00", "862.24", "897.80"),
    ("2018-11", "AmazonQuickSight"): ("36.92", "36.92", "36.92"),
    ("2018-11", "AmazonRDS"): ("715.27", "715.27", "715.27"),
    ("2018-12", "AWSBudgets"): ("0.00", "0.00", "1.06"),
    ("2018-12", "AWSConfig"): ("2.11", "2.11", "2.11"),
    ("2018-12", "AmazonEC2"): ("364.69", "496.17", "535.97"),
    ("2018-12", "AmazonQuickSight"): ("40.58", "40.58", "40.58"),
}
MONTH_FILES = {"2018-10": "Oct", "2018-11": "Nov", "2018-12": "Dec"}


def raw_totals(period: str) -> dict[str, float]:
    """Totals worked out from the raw Parquet with AWS's rules, independently of our SQL."""
    rows = pq.read_table(
        CLOUDACADEMY / f"{MONTH_FILES[period]}2018-WorkshopCUR-00001.snappy.parquet",
        columns=[
            "line_item_line_item_type",
            "line_item_unblended_cost",
            "reservation_effective_cost",
            "reservation_unused_amortized_upfront_fee_for_billing_period",
            "reservation_unused_recurring_fee",
        ],
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


CENT = Decimal("0.01")


def raw_cents(period: str) -> dict[tuple[str, str], tuple[Decimal, Decimal, Decimal]]:
    """(unblended, amortized, public on-demand) per ("month", ""), ("account", id) and
    ("service", product code), summed exactly (Decimal of each raw double) and rounded to the
    cent: AWS's amortization rules applied here in Python, not by our SQL."""
    rows = pq.read_table(
        CLOUDACADEMY / f"{MONTH_FILES[period]}2018-WorkshopCUR-00001.snappy.parquet",
        columns=[
            "line_item_line_item_type",
            "line_item_usage_account_id",
            "line_item_product_code",
            "line_item_unblended_cost",
            "reservation_effective_cost",
            "reservation_unused_amortized_upfront_fee_for_billing_period",
            "reservation_unused_recurring_fee",
            "pricing_public_on_demand_cost",
        ],
    ).to_pylist()

    def exact(value: float | None) -> Decimal:
        return Decimal(repr(value)) if value is not None else Decimal(0)

    sums: dict[tuple[str, str], list[Decimal]] = {}
    for row in rows:
        kind = row["line_item_line_item_type"]
        unblended = exact(row["line_item_unblended_cost"])
        if kind == "DiscountedUsage":
            amortized = exact(row["reservation_effective_cost"])
        elif kind == "RIFee":
            amortized = exact(
                row["reservation_unused_amortized_upfront_fee_for_billing_period"]
            ) + exact(row["reservation_unused_recurring_fee"])
        else:
            assert kind == "Usage"
            amortized = unblended
        public = exact(row["pricing_public_on_demand_cost"])
        for key in (
            ("month", ""),
            ("account", row["line_item_usage_account_id"]),
            ("service", row["line_item_product_code"]),
        ):
            total = sums.setdefault(key, [Decimal(0)] * 3)
            total[0] += unblended
            total[1] += amortized
            total[2] += public
    return {key: tuple(value.quantize(CENT) for value in values) for key, values in sums.items()}


def cents(*values: float) -> tuple[Decimal, ...]:
    return tuple(Decimal(repr(value)).quantize(CENT) for value in values)


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


@pytest.mark.parametrize("period", sorted(PINNED))
def test_real_measures_per_month_account_and_service_equal_the_raw_files(
    workshop_warehouse: Path, period
):
    raw = raw_cents(period)
    with duckdb.connect(str(workshop_warehouse / "finops.duckdb"), read_only=True) as db:
        measures = "sum(unblended_cost), sum(amortized_cost), sum(public_on_demand_cost)"
        (month,) = db.execute(
            f"SELECT {measures} FROM monthly_cost WHERE billing_period = ?", [period]
        ).fetchall()
        by_account = db.execute(
            f"SELECT account_id, {measures} FROM monthly_cost WHERE billing_period = ? "
            "GROUP BY account_id",
            [period],
        ).fetchall()
        by_service = db.execute(
            f"SELECT service_code, {measures} FROM monthly_cost WHERE billing_period = ? "
            "GROUP BY service_code",
            [period],
        ).fetchall()
    ours = {("month", ""): cents(*month)}
    ours.update({("account", account): cents(*values) for account, *values in by_account})
    ours.update({("service", service): cents(*values) for service, *values in by_service})

    # Every month, account and service, to the cent, against the independent computation...
    assert ours == raw
    # ...and against the pinned figures, so that a change in either side is seen.
    pinned = PINNED[period]
    assert raw[("month", "")] == tuple(
        Decimal(str(pinned[measure])).quantize(CENT)
        for measure in ("unblended", "amortized", "public_on_demand")
    )
    for (pinned_period, account), values in PINNED_BY_ACCOUNT.items():
        if pinned_period == period:
            assert raw[("account", account)] == tuple(map(Decimal, values)), account
    for (pinned_period, service), values in PINNED_BY_SERVICE.items():
        if pinned_period == period:
            assert raw[("service", service)] == tuple(map(Decimal, values)), service


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


def test_generated_sample_every_measure_per_month_equals_the_ground_truth(tmp_path: Path):
    # The generator works out each measure from what it simulated (usage amounts and rates, the
    # reservation hours used, the Savings Plan commitment used each hour, the EDP discount rate),
    # not from the columns it wrote; the pipeline reads only the columns.
    truth = GroundTruth.from_json((DEMO / "ground_truth.json").read_text())
    warehouse = tmp_path / "wh"
    ingest(str(DEMO / "cur"), warehouse)
    result = build(warehouse)
    assert result.ok, result.check_failures

    with duckdb.connect(str(warehouse / "finops.duckdb"), read_only=True) as db:
        measured = {
            period: values
            for period, *values in db.execute(
                "SELECT billing_period, sum(unblended_cost), sum(amortized_cost), "
                "sum(net_unblended_cost), sum(net_amortized_cost), sum(public_on_demand_cost) "
                "FROM monthly_cost GROUP BY billing_period"
            ).fetchall()
        }
        types = {
            row[0]
            for row in db.execute("SELECT DISTINCT line_item_type FROM stg_line_items").fetchall()
        }
        invoices = db.execute(
            "SELECT count(*), max(abs(difference)) FROM invoice_reconciliation "
            "WHERE run_id IS NOT NULL"
        ).fetchone()

    assert sorted(measured) == sorted(truth.periods)
    for period, expected in truth.periods.items():
        assert measured[period] == pytest.approx(
            [
                expected.unblended,
                expected.amortized,
                expected.net_unblended,
                expected.net_amortized,
                expected.public_on_demand,
            ],
            abs=1e-6,
        ), period
        # The EDP discount is real: net differs from gross in every month.
        assert expected.net_amortized != pytest.approx(expected.amortized, abs=1.0)
    # Every line item type the issue lists is in the sample.
    assert {
        "Usage",
        "DiscountedUsage",
        "RIFee",
        "Fee",
        "SavingsPlanCoveredUsage",
        "SavingsPlanNegation",
        "SavingsPlanRecurringFee",
        "Tax",
        "Credit",
        "Refund",
        "EdpDiscount",
    } <= types
    # One invoice a month (the open month's without an id), each equal to the run log's figure.
    assert invoices[0] == len(truth.periods)
    assert invoices[1] < 1e-6
