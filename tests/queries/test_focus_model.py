"""The focus model: CUR line items as FOCUS 1.2 charges, and FOCUS's rules on real data.

The fixture pair works each line item type out by hand; the real FOCUS sample (FinOps
Foundation) and the real WorkshopCUR months are checked against sums computed here straight
from the raw files (csv + Decimal, DuckDB over the raw Parquet), not through the pipeline.
"""

from __future__ import annotations

import csv
import shutil
from collections import Counter
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from model_fixtures import line_item, records

from pipelines.config import queries_folder
from pipelines.ingest import ingest
from pipelines.models import build
from tests.conftest import CLOUDACADEMY, REALDATA

SP_ARN = "arn:aws:savingsplans::111111111111:savingsplan/sp-1"
RI_ARN = "arn:aws:ec2:us-east-1:111111111111:reserved-instances/ri-1"

# One of each line item type, invoice INV1 (the refund is on INV2).
FOCUS_ROWS = [
    line_item(
        line_item_unblended_cost=2.0,
        pricing_public_on_demand_cost=2.0,
        line_item_usage_amount=4.0,
        pricing_unit="Hrs",
        line_item_unblended_rate="0.5",
        bill_invoice_id="INV1",
    ),
    line_item(
        line_item_usage_type="USE1-SpotUsage:c5.large",
        line_item_unblended_cost=0.3,
        pricing_public_on_demand_cost=1.0,
        bill_invoice_id="INV1",
    ),
    line_item(
        line_item_line_item_type="SavingsPlanCoveredUsage",
        line_item_unblended_cost=1.0,
        pricing_public_on_demand_cost=1.0,
        savings_plan_savings_plan_effective_cost=0.7,
        savings_plan_savings_plan_a_r_n=SP_ARN,
        bill_invoice_id="INV1",
    ),
    line_item(
        line_item_line_item_type="SavingsPlanNegation",
        line_item_unblended_cost=-1.0,
        savings_plan_savings_plan_a_r_n=SP_ARN,
        bill_invoice_id="INV1",
    ),
    # 5.00 recurring plus 1.00 of upfront amortized into the month; 0.70 of it used.
    line_item(
        line_item_line_item_type="SavingsPlanRecurringFee",
        line_item_product_code="ComputeSavingsPlans",
        line_item_unblended_cost=5.0,
        savings_plan_total_commitment_to_date=6.0,
        savings_plan_used_commitment=0.7,
        savings_plan_amortized_upfront_commitment_for_billing_period=1.0,
        savings_plan_savings_plan_a_r_n=SP_ARN,
        bill_invoice_id="INV1",
    ),
    # 44.64 recurring plus 10.00 upfront this month; 8.00 of it unused.
    line_item(
        line_item_line_item_type="RIFee",
        line_item_unblended_cost=44.64,
        reservation_amortized_upfront_fee_for_billing_period=10.0,
        reservation_unused_amortized_upfront_fee_for_billing_period=3.0,
        reservation_unused_recurring_fee=5.0,
        reservation_reservation_a_r_n=RI_ARN,
        bill_invoice_id="INV1",
    ),
    line_item(
        line_item_line_item_type="DiscountedUsage",
        line_item_unblended_cost=0.0,
        pricing_public_on_demand_cost=70.0,
        reservation_effective_cost=46.64,
        reservation_reservation_a_r_n=RI_ARN,
        bill_invoice_id="INV1",
    ),
    line_item(
        line_item_line_item_type="Fee",
        line_item_unblended_cost=1000.0,
        reservation_reservation_a_r_n=RI_ARN,
        bill_invoice_id="INV1",
    ),
    line_item(
        line_item_line_item_type="Fee",
        line_item_product_code="AWSSupportBusiness",
        line_item_unblended_cost=29.0,
        bill_invoice_id="INV1",
    ),
    line_item(line_item_line_item_type="Tax", line_item_unblended_cost=0.5, bill_invoice_id="INV1"),
    line_item(
        line_item_line_item_type="Credit", line_item_unblended_cost=-2.0, bill_invoice_id="INV1"
    ),
    line_item(
        line_item_line_item_type="EdpDiscount",
        line_item_unblended_cost=-0.25,
        bill_invoice_id="INV1",
    ),
    line_item(
        line_item_line_item_type="Refund", line_item_unblended_cost=-1.0, bill_invoice_id="INV2"
    ),
]

COLUMNS = (
    "x_LineItemType, ChargeCategory, ChargeClass, ChargeFrequency, PricingCategory, "
    "CommitmentDiscountStatus, CommitmentDiscountType, BilledCost, EffectiveCost, ContractedCost"
)

# line type, category, class, frequency, pricing, status, commitment type, billed, effective,
# contracted; ordered as the query below orders them (NULLs last).
EXPECTED = [
    ("Credit", "Credit", None, "One-Time", None, None, None, -2.0, -2.0, -2.0),
    ("DiscountedUsage", "Usage", None, "Usage-Based", "Committed", "Used", "Reservation",
     0.0, 46.64, 70.0),
    ("EdpDiscount", "Credit", None, "Usage-Based", None, None, None, -0.25, -0.25, -0.25),
    ("Fee", "Purchase", None, "One-Time", "Standard", None, "Reservation", 1000.0, 0.0, 1000.0),
    ("Fee", "Purchase", None, "One-Time", "Standard", None, None, 29.0, 29.0, 29.0),
    ("RIFee", "Purchase", None, "Recurring", "Standard", None, "Reservation", 44.64, 0.0, 44.64),
    ("RIFee", "Usage", None, "Usage-Based", "Committed", "Unused", "Reservation", 0.0, 8.0, 0.0),
    ("Refund", "Adjustment", "Correction", "One-Time", None, None, None, -1.0, -1.0, -1.0),
    ("SavingsPlanCoveredUsage", "Usage", None, "Usage-Based", "Committed", "Used",
     "Savings Plan", 1.0, 0.7, 1.0),
    ("SavingsPlanNegation", "Usage", None, "Usage-Based", "Committed", "Used", "Savings Plan",
     -1.0, 0.0, 0.0),
    ("SavingsPlanRecurringFee", "Purchase", None, "Recurring", "Standard", None, "Savings Plan",
     5.0, 0.0, 5.0),
    ("SavingsPlanRecurringFee", "Usage", None, "Usage-Based", "Committed", "Unused",
     "Savings Plan", 0.0, 5.3, 0.0),
    ("Tax", "Tax", None, "One-Time", None, None, None, 0.5, 0.5, 0.5),
    ("Usage", "Usage", None, "Usage-Based", "Dynamic", None, None, 0.3, 0.3, 0.3),
    ("Usage", "Usage", None, "Usage-Based", "Standard", None, None, 2.0, 2.0, 2.0),
]  # fmt: skip


def test_each_line_item_type_becomes_its_focus_charges(build_models):
    connection, result = build_models(FOCUS_ROWS)
    assert result.ok, result.check_failures

    rows = connection.execute(f"SELECT {COLUMNS} FROM focus ORDER BY ALL").fetchall()
    assert [row[:7] for row in rows] == [row[:7] for row in EXPECTED]
    assert [tuple(round(value, 6) for value in row[7:]) for row in rows] == [
        row[7:] for row in EXPECTED
    ]


def test_focus_totals_are_the_bill_and_the_amortized_cost(build_models):
    connection, _ = build_models(FOCUS_ROWS)
    focus = records(
        connection,
        "SELECT InvoiceId, sum(BilledCost) AS billed, sum(EffectiveCost) AS effective "
        "FROM focus GROUP BY 1 ORDER BY 1",
    )
    staged = records(
        connection,
        "SELECT bill_invoice_id AS InvoiceId, sum(unblended_cost) AS billed, "
        "sum(amortized_cost) AS effective FROM stg_line_items GROUP BY 1 ORDER BY 1",
    )
    # INV1: 2 + 0.3 + 1 - 1 + 5 + 44.64 + 1000 + 29 + 0.5 - 2 - 0.25 = 1079.19.
    assert focus[0]["billed"] == pytest.approx(1079.19)
    assert [(row["billed"], row["effective"]) for row in focus] == [
        (pytest.approx(row["billed"]), pytest.approx(row["effective"])) for row in staged
    ]


def test_commitment_rows_carry_their_ids_and_the_period(build_models):
    connection, _ = build_models(FOCUS_ROWS)
    rows = records(
        connection,
        """
        SELECT CommitmentDiscountId AS id, CommitmentDiscountCategory AS category,
               sum(EffectiveCost) FILTER (WHERE ChargeCategory = 'Usage') AS used_and_unused,
               sum(BilledCost + x_AmortizedUpfrontCost) FILTER (
                   WHERE ChargeFrequency = 'Recurring') AS period_cost,
               min(BillingPeriodStart) AS starts, max(BillingPeriodEnd) AS ends
        FROM focus WHERE CommitmentDiscountId IS NOT NULL GROUP BY 1, 2 ORDER BY 1
        """,
    )
    # The RI: 44.64 + 10 = 46.64 used + 8 unused; the Savings Plan: 5 + 1 = 0.7 + 5.3.
    assert [(r["id"], r["category"]) for r in rows] == [(RI_ARN, "Usage"), (SP_ARN, "Spend")]
    assert [r["used_and_unused"] for r in rows] == pytest.approx([54.64, 6.0])
    assert [r["period_cost"] for r in rows] == pytest.approx([54.64, 6.0])
    assert {(str(r["starts"]), str(r["ends"])) for r in rows} == {
        ("2024-01-01 00:00:00", "2024-02-01 00:00:00")
    }


def test_a_commitment_whose_usage_does_not_add_up_is_reported(build_models):
    rows = [
        {**row, "reservation_effective_cost": 40.0}
        if row["line_item_line_item_type"] == "DiscountedUsage"
        else row
        for row in FOCUS_ROWS
    ]
    _, result = build_models(rows)
    (failure,) = result.check_failures
    assert failure.check == "focus_effective_cost_matches_commitments"
    assert failure.reason == (
        f"commitment {RI_ARN} costs 54.64 USD in 2024-01 (recurring plus amortized upfront fee) "
        "but the EffectiveCost of its usage, used and unused, is 48.0"
    )


def test_a_charge_billed_twice_is_reported_against_its_invoice(build_models, tmp_path: Path):
    # A model that bills the unused part of a commitment again, as a wrong split would.
    queries = tmp_path / "queries"
    shutil.copytree(queries_folder(), queries)
    path = queries / "marts" / "focus.sql"
    path.write_text(
        path.read_text().replace(
            "        WHEN classified.charge_part = 'unused' THEN 0\n        ELSE classified."
            "unblended_cost\n    END AS BilledCost,",
            "        ELSE classified.unblended_cost\n    END AS BilledCost,",
        )
    )
    _, result = build_models(FOCUS_ROWS, queries=queries)
    (failure,) = result.check_failures
    # The RI's 44.64 and the Savings Plan's 5.00 billed a second time on their unused rows.
    assert failure.check == "focus_billed_cost_matches_invoices"
    assert failure.reason.startswith("focus BilledCost of invoice INV1 in 2024-01 is 1128.83")
    assert failure.row["billed_cost"] == pytest.approx(1079.19 + 44.64 + 5.0)
    assert failure.row["invoice_cost"] == pytest.approx(1079.19)


# --- the FinOps Foundation's FOCUS sample -----------------------------------------------------

FOCUS_SAMPLE = REALDATA / "focus-sample-data" / "focus_sample.csv"


@pytest.fixture(scope="module")
def focus_sample_db(tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    if not FOCUS_SAMPLE.is_file():
        pytest.skip("FOCUS sample not present")
    warehouse = tmp_path_factory.mktemp("focus-sample") / "warehouse"
    ingest(str(FOCUS_SAMPLE), warehouse)
    result = build(warehouse)
    assert result.ok, result.check_failures
    connection = duckdb.connect(str(result.database), read_only=True)
    yield connection
    connection.close()


def sample_aws_rows() -> list[dict[str, str]]:
    with FOCUS_SAMPLE.open(newline="", encoding="utf-8") as handle:
        return [row for row in csv.DictReader(handle) if row["ProviderName"] == "AWS"]


def decimal_sum(rows: list[dict[str, str]], column: str) -> Decimal:
    return sum((Decimal(row[column]) for row in rows if row[column] != "NULL"), Decimal(0))


def test_focus_sample_comes_back_with_its_own_costs(focus_sample_db):
    rows = sample_aws_rows()
    ((count, billed, effective, contracted, listed),) = focus_sample_db.execute(
        "SELECT count(*), sum(BilledCost), sum(EffectiveCost), sum(ContractedCost), "
        "sum(ListCost) FROM focus"
    ).fetchall()

    assert count == len(rows) == 942
    for total, column in (
        (billed, "BilledCost"),
        (effective, "EffectiveCost"),
        (contracted, "ContractedCost"),
        (listed, "ListCost"),
    ):
        assert abs(Decimal(repr(total)) - decimal_sum(rows, column)) < Decimal("1e-9"), column
    # The sample's own figures: its credit has EffectiveCost -3 against BilledCost -2.6137.
    assert decimal_sum(rows, "EffectiveCost") == Decimal("13.0")


def test_focus_sample_keeps_its_categories(focus_sample_db):
    rows = sample_aws_rows()
    columns = ("ChargeCategory", "ChargeFrequency", "PricingCategory", "ServiceCategory")
    for column in columns:
        expected = Counter(row[column] for row in rows)
        found = Counter(
            dict(
                focus_sample_db.execute(
                    f"SELECT {column}, count(*) FROM focus GROUP BY 1"
                ).fetchall()
            )
        )
        assert found == expected, column
    expected_used = Counter(
        (row["CommitmentDiscountId"], row["CommitmentDiscountType"])
        for row in rows
        if row["CommitmentDiscountStatus"] == "Used"
    )
    found_used = Counter(
        dict(
            (tuple(key), n)
            for *key, n in focus_sample_db.execute(
                "SELECT CommitmentDiscountId, CommitmentDiscountType, count(*) FROM focus "
                "WHERE CommitmentDiscountStatus = 'Used' GROUP BY 1, 2"
            ).fetchall()
        )
    )
    assert found_used == expected_used
    assert sum(expected_used.values()) == 4


# --- the real WorkshopCUR months --------------------------------------------------------------


@pytest.fixture(scope="module")
def workshop_db(tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    root = tmp_path_factory.mktemp("workshop")
    for month, name in (("10", "Oct"), ("11", "Nov"), ("12", "Dec")):
        folder = root / "cur" / "year=2018" / f"month={month}"
        folder.mkdir(parents=True)
        shutil.copy(CLOUDACADEMY / f"{name}2018-WorkshopCUR-00001.snappy.parquet", folder)
    ingest(str(root / "cur"), root / "warehouse")
    result = build(root / "warehouse")
    assert result.ok, result.check_failures
    connection = duckdb.connect(str(result.database), read_only=True)
    yield connection
    connection.close()


def raw(sql: str) -> list[tuple]:
    """Query the three raw WorkshopCUR files as `cur`, without the pipeline."""
    connection = duckdb.connect()
    files = [
        str(path) for path in sorted(CLOUDACADEMY.glob("*2018-WorkshopCUR-00001.snappy.parquet"))
    ]
    connection.execute(
        f"CREATE VIEW cur AS SELECT *, strftime(bill_billing_period_start_date, '%Y-%m') AS period "
        f"FROM read_parquet({files}, union_by_name = true)"
    )
    return connection.execute(sql).fetchall()


def test_workshop_months_bill_and_amortize_as_the_raw_files_say(workshop_db):
    # AWS's amortization, line item type by type, computed on the raw files.
    expected = raw(
        """
        SELECT period, sum(line_item_unblended_cost),
               sum(CASE line_item_line_item_type
                   WHEN 'DiscountedUsage' THEN reservation_effective_cost
                   WHEN 'RIFee' THEN reservation_unused_amortized_upfront_fee_for_billing_period
                       + reservation_unused_recurring_fee
                   ELSE line_item_unblended_cost END)
        FROM cur GROUP BY 1 ORDER BY 1
        """
    )
    found = workshop_db.execute(
        "SELECT x_BillingPeriod, sum(BilledCost), sum(EffectiveCost) FROM focus "
        "GROUP BY 1 ORDER BY 1"
    ).fetchall()

    assert [row[0] for row in found] == ["2018-10", "2018-11", "2018-12"]
    for (period, billed, effective), (_, raw_billed, raw_effective) in zip(
        found, expected, strict=True
    ):
        assert billed == pytest.approx(raw_billed, abs=1e-6), period
        assert effective == pytest.approx(raw_effective, abs=1e-6), period
    # Pinned: October's bill as SOURCE.md gives it, and its amortized cost.
    assert round(found[0][1], 2) == 4064.48
    assert round(found[0][2], 2) == 4195.96


def test_workshop_reservations_cost_exactly_their_effective_cost(workshop_db):
    # What each RI costs in a month (recurring fee + upfront amortized into it), from the raw
    # RIFee lines, against the EffectiveCost of its FOCUS usage rows.
    expected = {
        (period, arn): cost
        for period, arn, cost in raw(
            """
            SELECT period, reservation_reservation_a_r_n,
                   sum(line_item_unblended_cost
                       + reservation_amortized_upfront_fee_for_billing_period)
            FROM cur WHERE line_item_line_item_type = 'RIFee' GROUP BY 1, 2
            """
        )
    }
    found = {
        (period, arn): cost
        for period, arn, cost in workshop_db.execute(
            "SELECT x_BillingPeriod, CommitmentDiscountId, sum(EffectiveCost) FROM focus "
            "WHERE ChargeCategory = 'Usage' AND CommitmentDiscountId IS NOT NULL GROUP BY 1, 2"
        ).fetchall()
    }
    assert len(expected) == 27  # 9 reservations, 3 months
    assert found.keys() == expected.keys()
    for key, cost in expected.items():
        assert found[key] == pytest.approx(cost, abs=1e-5), key
