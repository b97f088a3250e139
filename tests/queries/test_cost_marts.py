"""The cost and commitment marts: monthly_cost, the commitment marts and invoice_reconciliation.

Each test writes a few line items (and, for the reconciliation, a run log) and compares the
mart's rows with values worked out by hand in the comments.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
from model_fixtures import line_item, records

from pipelines.warehouse import InvoiceTotal, RunRecord, Warehouse

SP_ARN = "arn:aws:savingsplans::111111111111:savingsplan/ef01-2345"
RI_ARN = "arn:aws:ec2:us-east-1:111111111111:reserved-instances/abcd-1234"
RI_SOON = "arn:aws:rds:us-east-1:111111111111:ri:soon"
RI_LATER = "arn:aws:ec2:us-east-1:111111111111:reserved-instances/later"
RI_GONE = "arn:aws:ec2:us-east-1:111111111111:reserved-instances/gone"


def built(build_models, rows):
    connection, result = build_models(rows)
    assert result.ok, result.check_failures
    return connection


def rounded(rows: list[dict]) -> list[dict]:
    return [
        {key: round(value, 10) if isinstance(value, float) else value for key, value in row.items()}
        for row in rows
    ]


# monthly_cost


def test_monthly_cost_has_every_measure_by_usage_type_and_pricing_model(build_models):
    connection = built(
        build_models,
        [
            # Two on-demand m5.large hours at 0.096, 10 % EDP net.
            *[
                line_item(
                    line_item_usage_type="BoxUsage:m5.large",
                    line_item_unblended_cost=0.096,
                    line_item_net_unblended_cost=0.0864,
                    pricing_public_on_demand_cost=0.096,
                    line_item_usage_amount=1.0,
                )
                for _ in range(2)
            ],
            # One m5.xlarge hour under the Savings Plan: billed 0.192 and negated, 0.12 effective.
            line_item(
                line_item_line_item_type="SavingsPlanCoveredUsage",
                line_item_usage_type="BoxUsage:m5.xlarge",
                line_item_unblended_cost=0.192,
                pricing_public_on_demand_cost=0.192,
                savings_plan_savings_plan_effective_cost=0.12,
                line_item_usage_amount=1.0,
            ),
            line_item(
                line_item_line_item_type="SavingsPlanNegation",
                line_item_usage_type="BoxUsage:m5.xlarge",
                line_item_unblended_cost=-0.192,
                line_item_usage_amount=1.0,
            ),
            line_item(
                line_item_line_item_type="Tax",
                line_item_usage_type=None,
                line_item_unblended_cost=0.5,
                line_item_usage_amount=1.0,
            ),
        ],
    )
    rows = records(
        connection,
        """
        SELECT usage_type, charge_category, pricing_model, unblended_cost, amortized_cost,
               net_unblended_cost, net_amortized_cost, public_on_demand_cost, usage_quantity,
               line_items
        FROM monthly_cost ORDER BY usage_type NULLS LAST
        """,
    )
    assert rounded(rows) == [
        {
            "usage_type": "BoxUsage:m5.large",
            "charge_category": "Usage",
            "pricing_model": "on_demand",
            "unblended_cost": 0.192,
            "amortized_cost": 0.192,
            "net_unblended_cost": 0.1728,
            "net_amortized_cost": 0.1728,
            "public_on_demand_cost": 0.192,
            "usage_quantity": 2.0,
            "line_items": 2,
        },
        {
            # The negation cancels the bill but not the hour: 1 hour, 0 unblended, 0.12 amortized.
            "usage_type": "BoxUsage:m5.xlarge",
            "charge_category": "Usage",
            "pricing_model": "savings_plan",
            "unblended_cost": 0.0,
            "amortized_cost": 0.12,
            "net_unblended_cost": 0.0,
            "net_amortized_cost": 0.12,
            "public_on_demand_cost": 0.192,
            "usage_quantity": 1.0,
            "line_items": 2,
        },
        {
            "usage_type": None,
            "charge_category": "Tax",
            "pricing_model": None,
            "unblended_cost": 0.5,
            "amortized_cost": 0.5,
            "net_unblended_cost": 0.5,
            "net_amortized_cost": 0.5,
            "public_on_demand_cost": 0.0,
            "usage_quantity": 0.0,
            "line_items": 1,
        },
    ]


def test_monthly_and_daily_cost_never_add_currencies(build_models):
    connection = built(
        build_models,
        [
            line_item(line_item_currency_code="USD", line_item_unblended_cost=2.0),
            line_item(line_item_currency_code="EUR", line_item_unblended_cost=3.0),
            line_item(
                line_item_currency_code="EUR",
                line_item_unblended_cost=4.0,
                line_item_usage_start_date=datetime(2024, 1, 20),
            ),
        ],
    )
    monthly = records(
        connection, "SELECT currency, unblended_cost FROM monthly_cost ORDER BY currency"
    )
    daily = records(
        connection,
        "SELECT currency, sum(unblended_cost) AS unblended_cost FROM daily_cost "
        "GROUP BY currency ORDER BY currency",
    )
    assert (
        monthly
        == daily
        == [
            {"currency": "EUR", "unblended_cost": 7.0},
            {"currency": "USD", "unblended_cost": 2.0},
        ]
    )


# Commitment utilization


def sp_fee(hour: datetime, used: float, commitment: float = 1.0) -> dict:
    return line_item(
        line_item_line_item_type="SavingsPlanRecurringFee",
        line_item_product_code="ComputeSavingsPlans",
        line_item_usage_start_date=hour,
        line_item_unblended_cost=commitment,
        savings_plan_savings_plan_a_r_n=SP_ARN,
        savings_plan_total_commitment_to_date=commitment,
        savings_plan_used_commitment=used,
    )


def test_savings_plan_utilization_adds_up_the_hours_of_a_day(build_models):
    # 1.00 an hour. Day 15: three hours using 0.8, 1.0 and 0.2 -> 3.0 committed, 2.0 used,
    # 1.0 unused, 2/3 used. Day 16: one hour using 0.5.
    connection = built(
        build_models,
        [
            sp_fee(datetime(2024, 1, 15, 0), 0.8),
            sp_fee(datetime(2024, 1, 15, 1), 1.0),
            sp_fee(datetime(2024, 1, 15, 2), 0.2),
            sp_fee(datetime(2024, 1, 16, 5), 0.5),
        ],
    )
    rows = records(
        connection,
        """
        SELECT usage_date, commitment_type, commitment_arn, account_id, commitment_cost,
               used_commitment_cost, unused_commitment_cost, utilization
        FROM commitment_utilization_daily ORDER BY usage_date
        """,
    )
    assert rounded(rows) == [
        {
            "usage_date": date(2024, 1, 15),
            "commitment_type": "savings_plan",
            "commitment_arn": SP_ARN,
            "account_id": "111111111111",
            "commitment_cost": 3.0,
            "used_commitment_cost": 2.0,
            "unused_commitment_cost": 1.0,
            "utilization": round(2 / 3, 10),
        },
        {
            "usage_date": date(2024, 1, 16),
            "commitment_type": "savings_plan",
            "commitment_arn": SP_ARN,
            "account_id": "111111111111",
            "commitment_cost": 1.0,
            "used_commitment_cost": 0.5,
            "unused_commitment_cost": 0.5,
            "utilization": 0.5,
        },
    ]
    # The unused commitment per day is what amortized cost shows for the plan's fee lines.
    (unused,) = connection.execute(
        "SELECT sum(amortized_cost) FROM stg_line_items "
        "WHERE line_item_type = 'SavingsPlanRecurringFee'"
    ).fetchone()
    assert unused == pytest.approx(1.5)


def test_reservation_utilization_spreads_the_period_cost_over_its_days(build_models):
    # An RI bought 2024-01-30: 48 reserved hours in January at 0.05 recurring + 0.03 amortized
    # upfront an hour -> 3.84 for the period, 1.92 a day over its 2 days. Used: 20 hours on the
    # 30th (1.60 effective), all 24 on the 31st (1.92). Unused: 0.32 on the 30th, none on the
    # 31st, which is the RIFee's 4 unused hours x 0.08.
    rifee = line_item(
        line_item_line_item_type="RIFee",
        line_item_usage_start_date=datetime(2024, 1, 1),
        bill_billing_period_start_date=datetime(2024, 1, 1),
        bill_billing_period_end_date=datetime(2024, 2, 1),
        line_item_usage_amount=48.0,
        line_item_unblended_cost=2.4,
        reservation_reservation_a_r_n=RI_ARN,
        reservation_amortized_upfront_fee_for_billing_period=1.44,
        reservation_unused_amortized_upfront_fee_for_billing_period=0.12,
        reservation_unused_recurring_fee=0.2,
        reservation_start_time="2024-01-30T00:00:00.000Z",
        reservation_end_time="2025-01-30T00:00:00.000Z",
    )
    covered = [
        line_item(
            line_item_line_item_type="DiscountedUsage",
            line_item_usage_account_id="222222222222",  # another account's usage, shared RI
            line_item_usage_start_date=day,
            line_item_unblended_cost=0.0,
            reservation_reservation_a_r_n=RI_ARN,
            reservation_effective_cost=effective,
        )
        for day, effective in ((datetime(2024, 1, 30, 4), 1.6), (datetime(2024, 1, 31), 1.92))
    ]
    connection = built(build_models, [rifee, *covered])
    rows = records(
        connection,
        """
        SELECT usage_date, commitment_type, account_id, commitment_cost, used_commitment_cost,
               unused_commitment_cost, utilization
        FROM commitment_utilization_daily ORDER BY usage_date
        """,
    )
    assert rounded(rows) == [
        {
            "usage_date": date(2024, 1, 30),
            "commitment_type": "reservation",
            "account_id": "111111111111",
            "commitment_cost": 1.92,
            "used_commitment_cost": 1.6,
            "unused_commitment_cost": 0.32,
            "utilization": round(1.6 / 1.92, 10),
        },
        {
            "usage_date": date(2024, 1, 31),
            "commitment_type": "reservation",
            "account_id": "111111111111",
            "commitment_cost": 1.92,
            "used_commitment_cost": 1.92,
            "unused_commitment_cost": 0.0,
            "utilization": 1.0,
        },
    ]
    (unused,) = connection.execute(
        "SELECT amortized_cost FROM stg_line_items WHERE line_item_type = 'RIFee'"
    ).fetchone()
    assert unused == pytest.approx(sum(row["unused_commitment_cost"] for row in rows))


# Coverage


def test_coverage_counts_eligible_usage_in_on_demand_dollars(build_models):
    def usage(**columns):
        return line_item(product_instance_type="m5.large", **columns)

    connection = built(
        build_models,
        [
            usage(line_item_unblended_cost=1.0),  # on demand
            usage(
                line_item_line_item_type="SavingsPlanCoveredUsage",
                line_item_unblended_cost=3.0,
                savings_plan_savings_plan_effective_cost=2.0,
            ),
            usage(line_item_line_item_type="SavingsPlanNegation", line_item_unblended_cost=-3.0),
            usage(
                line_item_line_item_type="DiscountedUsage",
                line_item_unblended_cost=0.0,
                pricing_public_on_demand_cost=2.0,
                reservation_effective_cost=1.2,
            ),
            # Not eligible: EBS storage (no instance), Spot.
            line_item(line_item_usage_type="EBS:VolumeUsage.gp3", line_item_unblended_cost=5.0),
            usage(line_item_usage_type="SpotUsage:m5.large", line_item_unblended_cost=4.0),
            # Lambda duration: a Compute Savings Plan covers it, a reservation cannot.
            line_item(
                line_item_product_code="AWSLambda",
                line_item_usage_type="Lambda-GB-Second",
                line_item_unblended_cost=0.5,
            ),
            line_item(
                line_item_product_code="AWSLambda",
                line_item_usage_type="Lambda-GB-Second",
                line_item_line_item_type="SavingsPlanCoveredUsage",
                line_item_unblended_cost=0.5,
                savings_plan_savings_plan_effective_cost=0.44,
            ),
        ],
    )
    rows = records(
        connection,
        """
        SELECT commitment_type, service_code, covered_on_demand_cost, eligible_on_demand_cost,
               uncovered_on_demand_cost, coverage
        FROM commitment_coverage_daily ORDER BY commitment_type, service_code
        """,
    )
    assert rounded(rows) == [
        # Instance usage an RI could cover: 1.0 on demand + 3.0 under the plan + 2.0 under it.
        {
            "commitment_type": "reservation",
            "service_code": "AmazonEC2",
            "covered_on_demand_cost": 2.0,
            "eligible_on_demand_cost": 6.0,
            "uncovered_on_demand_cost": 4.0,
            "coverage": round(2 / 6, 10),
        },
        {
            "commitment_type": "savings_plan",
            "service_code": "AWSLambda",
            "covered_on_demand_cost": 0.5,
            "eligible_on_demand_cost": 1.0,
            "uncovered_on_demand_cost": 0.5,
            "coverage": 0.5,
        },
        # The RI applied first; the plan covered 3.0 of the 4.0 left.
        {
            "commitment_type": "savings_plan",
            "service_code": "AmazonEC2",
            "covered_on_demand_cost": 3.0,
            "eligible_on_demand_cost": 4.0,
            "uncovered_on_demand_cost": 1.0,
            "coverage": 0.75,
        },
    ]


# Expiring commitments


def test_commitments_expiring_within_90_days_of_the_latest_data(build_models):
    # The latest data is 2024-01-31. Ends: the plan 2024-04-30 (90 days), RI_SOON 2024-02-10
    # (10 days), RI_LATER 2024-05-01 (91 days: not yet), RI_GONE 2024-01-15 (already ended).
    def rifee(arn: str, end: str, recurring: float, upfront: float) -> dict:
        return line_item(
            line_item_line_item_type="RIFee",
            line_item_usage_start_date=datetime(2024, 1, 1),
            line_item_unblended_cost=recurring,
            reservation_reservation_a_r_n=arn,
            reservation_amortized_upfront_fee_for_billing_period=upfront,
            reservation_start_time="2023-02-10T00:00:00.000Z",
            reservation_end_time=end,
        )

    plan_hour = sp_fee(datetime(2024, 1, 31, 23), 0.5)
    plan_hour.update(
        savings_plan_start_time="2023-04-30T00:00:00.000Z",
        savings_plan_end_time="2024-04-30T00:00:00.000Z",
        savings_plan_recurring_commitment_for_billing_period=744.0,
        savings_plan_amortized_upfront_commitment_for_billing_period=0.0,
    )
    connection = built(
        build_models,
        [
            plan_hour,
            rifee(RI_SOON, "2024-02-10T00:00:00.000Z", 7.44, 3.0),
            rifee(RI_LATER, "2024-05-01T00:00:00.000Z", 1.0, 1.0),
            rifee(RI_GONE, "2024-01-15T00:00:00.000Z", 1.0, 1.0),
        ],
    )
    rows = records(
        connection,
        """
        SELECT commitment_type, commitment_arn, end_date, days_to_expiry,
               monthly_commitment_cost, currency
        FROM commitments_expiring ORDER BY days_to_expiry
        """,
    )
    assert rounded(rows) == [
        {
            "commitment_type": "reservation",
            "commitment_arn": RI_SOON,
            "end_date": date(2024, 2, 10),
            "days_to_expiry": 10,
            "monthly_commitment_cost": 10.44,
            "currency": "USD",
        },
        {
            "commitment_type": "savings_plan",
            "commitment_arn": SP_ARN,
            "end_date": date(2024, 4, 30),
            "days_to_expiry": 90,
            "monthly_commitment_cost": 744.0,
            "currency": "USD",
        },
    ]


# Realized savings


def test_realized_savings_are_on_demand_equivalent_minus_amortized_commitment(build_models):
    # Savings Plan: 10.0 of on-demand usage at 7.0 effective, 1.0 of the 8.0 committed unused:
    # 10.0 - (7.0 + 1.0) = 2.0 saved. RI: 5.0 public on demand at 3.0 effective, 0.5 unused,
    # the 100.0 upfront already spread: 5.0 - 3.5 = 1.5 saved.
    connection = built(
        build_models,
        [
            line_item(
                line_item_line_item_type="SavingsPlanCoveredUsage",
                line_item_unblended_cost=10.0,
                savings_plan_savings_plan_a_r_n=SP_ARN,
                savings_plan_savings_plan_effective_cost=7.0,
            ),
            line_item(
                line_item_line_item_type="SavingsPlanNegation",
                line_item_unblended_cost=-10.0,
                savings_plan_savings_plan_a_r_n=SP_ARN,
            ),
            sp_fee(datetime(2024, 1, 15), 7.0, commitment=8.0),
            line_item(
                line_item_line_item_type="DiscountedUsage",
                line_item_unblended_cost=0.0,
                pricing_public_on_demand_cost=5.0,
                reservation_reservation_a_r_n=RI_ARN,
                reservation_effective_cost=3.0,
            ),
            line_item(
                line_item_line_item_type="RIFee",
                line_item_unblended_cost=2.0,
                reservation_reservation_a_r_n=RI_ARN,
                # 2.0 recurring + 1.5 upfront amortized = 3.0 used + 0.5 unused, as AWS bills it.
                reservation_amortized_upfront_fee_for_billing_period=1.5,
                reservation_unused_amortized_upfront_fee_for_billing_period=0.2,
                reservation_unused_recurring_fee=0.3,
            ),
            line_item(
                line_item_line_item_type="Fee",
                line_item_unblended_cost=100.0,
                reservation_reservation_a_r_n=RI_ARN,
            ),
            line_item(line_item_unblended_cost=50.0),  # on demand: no commitment, not here
        ],
    )
    rows = records(
        connection,
        """
        SELECT commitment_type, on_demand_equivalent_cost, covered_amortized_cost,
               unused_commitment_cost, amortized_cost, realized_savings
        FROM commitment_savings_monthly ORDER BY commitment_type
        """,
    )
    assert rounded(rows) == [
        {
            "commitment_type": "reservation",
            "on_demand_equivalent_cost": 5.0,
            "covered_amortized_cost": 3.0,
            "unused_commitment_cost": 0.5,
            "amortized_cost": 3.5,
            "realized_savings": 1.5,
        },
        {
            "commitment_type": "savings_plan",
            "on_demand_equivalent_cost": 10.0,
            "covered_amortized_cost": 7.0,
            "unused_commitment_cost": 1.0,
            "amortized_cost": 8.0,
            "realized_savings": 2.0,
        },
    ]


# Invoice reconciliation


def write_run(warehouse: Path, run_id: str, finished: datetime, outcome: str, invoices) -> None:
    Warehouse(warehouse).append_runs(
        [
            RunRecord(
                run_id=run_id,
                source="/cur",
                outcome=outcome,
                started_at=finished,
                finished_at=finished,
                billing_period="2024-01",
                invoices=[
                    InvoiceTotal(invoice, "USD", rows, cost, cost)
                    for invoice, rows, cost in invoices
                ],
            )
        ]
    )


def test_invoice_reconciliation_compares_the_latest_ingested_run(build_models, tmp_path: Path):
    # Invoice A: 2 lines, 3.0 + 4.5 = 7.5, as the latest run read. Invoice B: 1 line of 2.0,
    # where the latest run read 2.5 (the warehouse no longer holds what was ingested). An
    # older run and a later 'unchanged' one are not the period's figures.
    warehouse = tmp_path / "warehouse"
    write_run(warehouse, "r1-old", datetime(2024, 2, 1), "ingested", [("A", 2, 99.0)])
    write_run(
        warehouse, "r2-latest", datetime(2024, 2, 2), "ingested", [("A", 2, 7.5), ("B", 1, 2.5)]
    )
    write_run(warehouse, "r3-unchanged", datetime(2024, 2, 3), "unchanged", [])
    connection, result = build_models(
        [
            line_item(bill_invoice_id="A", line_item_unblended_cost=3.0),
            line_item(bill_invoice_id="A", line_item_unblended_cost=4.5),
            line_item(bill_invoice_id="B", line_item_unblended_cost=2.0),
        ]
    )
    rows = records(
        connection,
        """
        SELECT billing_period, bill_invoice_id, currency, unblended_cost_line_items,
               unblended_cost_run_log, difference, run_id
        FROM invoice_reconciliation ORDER BY bill_invoice_id
        """,
    )
    assert rounded(rows) == [
        {
            "billing_period": "2024-01",
            "bill_invoice_id": "A",
            "currency": "USD",
            "unblended_cost_line_items": 7.5,
            "unblended_cost_run_log": 7.5,
            "difference": 0.0,
            "run_id": "r2-latest",
        },
        {
            "billing_period": "2024-01",
            "bill_invoice_id": "B",
            "currency": "USD",
            "unblended_cost_line_items": 2.0,
            "unblended_cost_run_log": 2.5,
            "difference": -0.5,
            "run_id": "r2-latest",
        },
    ]
    assert [
        (failure.check, failure.row["bill_invoice_id"]) for failure in result.check_failures
    ] == [("invoice_reconciles", "B")]
    assert "invoice B of 2024-01 in USD" in result.check_failures[0].reason


def test_invoice_reconciliation_without_a_run_log_checks_nothing(build_models):
    connection, result = build_models(
        [line_item(bill_invoice_id=None, line_item_unblended_cost=1.25)]
    )
    rows = records(
        connection,
        "SELECT bill_invoice_id, unblended_cost_line_items, unblended_cost_run_log, difference "
        "FROM invoice_reconciliation",
    )
    assert rows == [
        {
            "bill_invoice_id": None,
            "unblended_cost_line_items": 1.25,
            "unblended_cost_run_log": None,
            "difference": None,
        }
    ]
    assert result.ok
