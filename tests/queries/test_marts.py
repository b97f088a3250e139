"""The marts: daily_cost, showback_monthly and tag_coverage, with numbers worked out by hand."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from model_fixtures import line_item, records

ACCOUNT_A = "111111111111"
ACCOUNT_B = "222222222222"


def test_daily_cost_adds_up_per_day_account_service_and_region(build_models):
    connection, _ = build_models(
        [
            line_item(line_item_unblended_cost=1.25, pricing_public_on_demand_cost=2.0),
            line_item(
                line_item_unblended_cost=0.75,
                line_item_usage_start_date=datetime(2024, 1, 15, 23),
                pricing_public_on_demand_cost=1.0,
            ),
            line_item(
                line_item_unblended_cost=4.0, line_item_usage_start_date=datetime(2024, 1, 16)
            ),
            line_item(line_item_unblended_cost=3.0, line_item_usage_account_id=ACCOUNT_B),
            line_item(line_item_unblended_cost=5.0, product_region_code="eu-west-1"),
            line_item(
                line_item_line_item_type="DiscountedUsage",
                line_item_unblended_cost=0.0,
                reservation_effective_cost=0.5,
            ),
        ]
    )
    rows = records(
        connection,
        """
        SELECT usage_date, account_id, region, sum(unblended_cost) AS unblended_cost,
               sum(amortized_cost) AS amortized_cost,
               sum(public_on_demand_cost) AS public_on_demand_cost,
               sum(line_items) AS line_items
        FROM daily_cost GROUP BY usage_date, account_id, region
        ORDER BY usage_date, account_id, region
        """,
    )
    assert rows == [
        {
            "usage_date": date(2024, 1, 15),
            "account_id": ACCOUNT_A,
            "region": "eu-west-1",
            "unblended_cost": 5.0,
            "amortized_cost": 5.0,
            "public_on_demand_cost": 0.0,
            "line_items": 1,
        },
        {
            "usage_date": date(2024, 1, 15),
            "account_id": ACCOUNT_A,
            "region": "us-east-1",
            "unblended_cost": 2.0,
            "amortized_cost": 2.5,
            "public_on_demand_cost": 3.0,
            "line_items": 3,
        },
        {
            "usage_date": date(2024, 1, 15),
            "account_id": ACCOUNT_B,
            "region": "us-east-1",
            "unblended_cost": 3.0,
            "amortized_cost": 3.0,
            "public_on_demand_cost": 0.0,
            "line_items": 1,
        },
        {
            "usage_date": date(2024, 1, 16),
            "account_id": ACCOUNT_A,
            "region": "us-east-1",
            "unblended_cost": 4.0,
            "amortized_cost": 4.0,
            "public_on_demand_cost": 0.0,
            "line_items": 1,
        },
    ]


SHOWBACK_ROWS = [
    line_item(
        line_item_unblended_cost=10.0, resource_tags={"user:Team": "Payments", "user:Env": "prd"}
    ),
    line_item(
        line_item_unblended_cost=5.0, resource_tags={"user_team": "payments", "user_env": "dev"}
    ),
    line_item(line_item_unblended_cost=3.0, resource_tags={"user:Team": "Search"}),
    line_item(line_item_unblended_cost=2.0, resource_tags=None),
    line_item(line_item_unblended_cost=0.5, line_item_line_item_type="Tax", resource_tags={}),
    # An RI that is a quarter unused: its fee counts 1.5 amortized, none of it tagged.
    line_item(
        line_item_line_item_type="RIFee",
        line_item_unblended_cost=6.0,
        reservation_unused_recurring_fee=1.5,
    ),
    line_item(
        line_item_unblended_cost=7.0,
        billing_period="2024-02",
        line_item_usage_start_date=datetime(2024, 2, 1),
        resource_tags={"user:Team": "Search", "user:Env": "production"},
    ),
]


def test_untagged_spend_is_its_own_showback_row_in_each_dimension(build_models):
    connection, _ = build_models(SHOWBACK_ROWS)
    rows = records(
        connection,
        """
        SELECT billing_period, dimension, value, unblended_cost, amortized_cost, line_items
        FROM showback_monthly ORDER BY billing_period, dimension, value
        """,
    )
    # No shared-cost rule is configured: every line is direct spend of its own value.
    assert [tuple(row.values()) for row in rows] == [
        ("2024-01", "env", "(untagged)", 11.5, 7.0, 4),
        ("2024-01", "env", "dev", 5.0, 5.0, 1),
        ("2024-01", "env", "prod", 10.0, 10.0, 1),
        ("2024-01", "team", "(untagged)", 8.5, 4.0, 3),
        ("2024-01", "team", "payments", 15.0, 15.0, 2),
        ("2024-01", "team", "search", 3.0, 3.0, 1),
        ("2024-02", "env", "prod", 7.0, 7.0, 1),
        ("2024-02", "team", "search", 7.0, 7.0, 1),
    ]


def test_showback_sums_back_to_the_period_total(build_models):
    connection, result = build_models(SHOWBACK_ROWS)
    assert result.ok, result.check_failures
    totals = records(
        connection,
        """
        SELECT billing_period, dimension, sum(amortized_cost) AS amortized,
               sum(share_of_period) AS share
        FROM showback_monthly GROUP BY billing_period, dimension ORDER BY billing_period, dimension
        """,
    )
    # 10 + 5 + 3 + 2 + 0.5 + 1.5 in January; February is one line; in each dimension.
    assert [(row["dimension"], row["amortized"]) for row in totals] == [
        ("env", 22.0),
        ("team", 22.0),
        ("env", 7.0),
        ("team", 7.0),
    ]
    assert [row["share"] for row in totals] == pytest.approx([1.0] * 4, abs=1e-12)


def test_share_of_period_is_null_when_the_period_costs_nothing(build_models):
    connection, _ = build_models(
        [
            line_item(line_item_unblended_cost=1.0, resource_tags={"user:Team": "a"}),
            line_item(line_item_unblended_cost=-1.0, line_item_line_item_type="Credit"),
        ]
    )
    rows = records(
        connection,
        "SELECT value, share_of_period FROM showback_monthly WHERE dimension = 'team' ORDER BY 1",
    )
    assert rows == [
        {"value": "(untagged)", "share_of_period": None},
        {"value": "a", "share_of_period": None},
    ]


def test_tag_coverage_per_account_and_for_the_whole_period(build_models):
    connection, _ = build_models(
        [
            line_item(
                line_item_unblended_cost=6.0, resource_tags={"user:Team": "a", "user:Env": "prod"}
            ),
            line_item(line_item_unblended_cost=2.0, resource_tags={"user:Team": "a"}),
            line_item(line_item_unblended_cost=2.0),
            line_item(
                line_item_usage_account_id=ACCOUNT_B,
                line_item_unblended_cost=5.0,
                resource_tags={"user:Env": "dev"},
            ),
        ]
    )
    rows = records(
        connection,
        """
        SELECT account_id, dimension, tagged_amortized_cost, total_amortized_cost, coverage
        FROM tag_coverage WHERE service = '(all)' ORDER BY account_id, dimension
        """,
    )
    assert [tuple(row.values()) for row in rows] == [
        ("(all)", "env", 11.0, 15.0, pytest.approx(11 / 15)),
        ("(all)", "team", 8.0, 15.0, pytest.approx(8 / 15)),
        (ACCOUNT_A, "env", 6.0, 10.0, 0.6),
        (ACCOUNT_A, "team", 8.0, 10.0, 0.8),
        (ACCOUNT_B, "env", 5.0, 5.0, 1.0),
        (ACCOUNT_B, "team", 0.0, 5.0, 0.0),
    ]


def test_tag_coverage_by_account_and_service(build_models):
    connection, result = build_models(
        [
            line_item(line_item_unblended_cost=6.0, resource_tags={"user:Team": "a"}),
            line_item(line_item_unblended_cost=2.0),
            line_item(
                line_item_product_code="AmazonS3",
                line_item_unblended_cost=4.0,
                resource_tags={"user:Team": "a"},
            ),
            line_item(
                line_item_usage_account_id=ACCOUNT_B,
                line_item_product_code="AmazonS3",
                line_item_unblended_cost=1.0,
            ),
        ]
    )
    assert result.ok, result.check_failures
    rows = records(
        connection,
        """
        SELECT account_id, service, tagged_amortized_cost, total_amortized_cost, coverage
        FROM tag_coverage WHERE dimension = 'team' ORDER BY account_id, service
        """,
    )
    assert [tuple(row.values()) for row in rows] == [
        ("(all)", "(all)", 10.0, 13.0, pytest.approx(10 / 13)),
        ("(all)", "AmazonEC2", 6.0, 8.0, 0.75),
        ("(all)", "AmazonS3", 4.0, 5.0, 0.8),
        (ACCOUNT_A, "(all)", 10.0, 12.0, pytest.approx(10 / 12)),
        (ACCOUNT_A, "AmazonEC2", 6.0, 8.0, 0.75),
        (ACCOUNT_A, "AmazonS3", 4.0, 4.0, 1.0),
        (ACCOUNT_B, "(all)", 0.0, 1.0, 0.0),
        (ACCOUNT_B, "AmazonS3", 0.0, 1.0, 0.0),
    ]


def test_tag_coverage_is_null_when_nothing_was_spent(build_models):
    connection, _ = build_models([line_item(line_item_unblended_cost=0.0)])
    rows = records(
        connection, "SELECT DISTINCT coverage FROM tag_coverage WHERE billing_period = '2024-01'"
    )
    assert rows == [{"coverage": None}]


def test_tag_coverage_covers_configured_dimensions(build_models):
    from pipelines.config import Config, TagDimension, default_tag_dimensions

    config = Config(
        tag_dimensions=(*default_tag_dimensions(), TagDimension("cost_center", ("costcenter",)))
    )
    connection, _ = build_models(
        [line_item(resource_tags={"user:CostCenter": "CC1"}), line_item()], config=config
    )
    rows = records(
        connection,
        """
        SELECT dimension, coverage FROM tag_coverage
        WHERE account_id = '(all)' AND service = '(all)' ORDER BY dimension
        """,
    )
    assert rows == [
        {"dimension": "cost_center", "coverage": 0.5},
        {"dimension": "env", "coverage": 0.0},
        {"dimension": "team", "coverage": 0.0},
    ]


# A period that mixes currencies: AWS bills account B in EUR. No mart adds USD to EUR.

MIXED_CURRENCY_ROWS = [
    line_item(
        line_item_currency_code="USD",
        line_item_unblended_cost=6.0,
        resource_tags={"user:Team": "a", "user:Env": "prod"},
    ),
    line_item(line_item_currency_code="USD", line_item_unblended_cost=2.0),
    line_item(
        line_item_usage_account_id=ACCOUNT_B,
        line_item_currency_code="EUR",
        line_item_unblended_cost=3.0,
        resource_tags={"user:Team": "a", "user:Env": "prod"},
    ),
    line_item(
        line_item_usage_account_id=ACCOUNT_B,
        line_item_currency_code="EUR",
        line_item_unblended_cost=1.0,
        resource_tags={"user:Team": "b"},
    ),
]


def test_daily_cost_keeps_each_currency_in_its_own_row(build_models):
    connection, _ = build_models(
        [
            line_item(line_item_currency_code="USD", line_item_unblended_cost=1.0),
            line_item(line_item_currency_code="USD", line_item_unblended_cost=2.0),
            line_item(line_item_currency_code="EUR", line_item_unblended_cost=5.0),
        ]
    )
    rows = records(
        connection,
        """
        SELECT usage_date, account_id, region, currency, unblended_cost, line_items
        FROM daily_cost ORDER BY currency
        """,
    )
    assert [tuple(row.values()) for row in rows] == [
        (date(2024, 1, 15), ACCOUNT_A, "us-east-1", "EUR", 5.0, 1),
        (date(2024, 1, 15), ACCOUNT_A, "us-east-1", "USD", 3.0, 2),
    ]


def test_showback_shares_add_up_to_one_within_each_currency(build_models):
    connection, result = build_models(MIXED_CURRENCY_ROWS)
    assert result.ok, result.check_failures
    rows = records(
        connection,
        """
        SELECT billing_period, value, currency, amortized_cost, share_of_period, line_items
        FROM showback_monthly WHERE dimension = 'team' ORDER BY value, currency
        """,
    )
    # USD: 6 of 8 is team a, 2 untagged; EUR: 3 of 4 is team a, 1 is team b.
    assert [tuple(row.values()) for row in rows] == [
        ("2024-01", "(untagged)", "USD", 2.0, 0.25, 1),
        ("2024-01", "a", "EUR", 3.0, 0.75, 1),
        ("2024-01", "a", "USD", 6.0, 0.75, 1),
        ("2024-01", "b", "EUR", 1.0, 0.25, 1),
    ]
    shares = records(
        connection,
        """
        SELECT currency, sum(share_of_period) AS share FROM showback_monthly
        WHERE dimension = 'env' GROUP BY billing_period, currency ORDER BY currency
        """,
    )
    assert shares == [{"currency": "EUR", "share": 1.0}, {"currency": "USD", "share": 1.0}]


def test_tag_coverage_is_worked_out_within_each_currency(build_models):
    connection, _ = build_models(MIXED_CURRENCY_ROWS)
    rows = records(
        connection,
        """
        SELECT account_id, dimension, currency, tagged_amortized_cost, total_amortized_cost,
               coverage
        FROM tag_coverage WHERE service = '(all)' ORDER BY account_id, dimension, currency
        """,
    )
    # Account A bills only in USD and account B only in EUR, so each '(all)' row of a currency
    # has the numbers of that currency's one account.
    assert [tuple(row.values()) for row in rows] == [
        ("(all)", "env", "EUR", 3.0, 4.0, 0.75),
        ("(all)", "env", "USD", 6.0, 8.0, 0.75),
        ("(all)", "team", "EUR", 4.0, 4.0, 1.0),
        ("(all)", "team", "USD", 6.0, 8.0, 0.75),
        (ACCOUNT_A, "env", "USD", 6.0, 8.0, 0.75),
        (ACCOUNT_A, "team", "USD", 6.0, 8.0, 0.75),
        (ACCOUNT_B, "env", "EUR", 3.0, 4.0, 0.75),
        (ACCOUNT_B, "team", "EUR", 4.0, 4.0, 1.0),
    ]


@pytest.mark.parametrize("mart", ["daily_cost", "showback_monthly", "tag_coverage"])
def test_every_mart_has_a_currency_column(build_models, mart):
    connection, _ = build_models([line_item(line_item_currency_code="EUR")])
    (currencies,) = connection.execute(f"SELECT list(DISTINCT currency) FROM {mart}").fetchone()
    assert currencies == ["EUR"]
