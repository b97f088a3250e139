"""stg_line_items: amortization, charge categories, derived columns and tag normalisation.

Each test writes a few line items and compares staging's rows with values worked out by hand.
"""

from __future__ import annotations

from datetime import date, datetime
from types import MappingProxyType

import pytest
from model_fixtures import line_item, records

from pipelines.config import Config, TagDimension, default_tag_dimensions, fold_tag_key

RI_ARN = "arn:aws:ec2:us-east-1:111111111111:reserved-instances/abcd-1234"
SP_ARN = "arn:aws:savingsplans::111111111111:savingsplan/ef01-2345"


def staged(build_models, rows, *, config=None, columns="*"):
    connection, result = build_models(rows, config=config)
    assert result.ok, result.check_failures
    return records(
        connection, f"SELECT {columns} FROM stg_line_items ORDER BY identity_line_item_id"
    )


def costs_of(build_models, **columns):
    (row,) = staged(build_models, [line_item(identity_line_item_id="only", **columns)])
    return row["unblended_cost"], row["amortized_cost"], row["net_amortized_cost"]


# Amortization: one test per AWS rule.


def test_savings_plan_covered_usage_costs_its_effective_cost(build_models):
    assert costs_of(
        build_models,
        line_item_line_item_type="SavingsPlanCoveredUsage",
        line_item_unblended_cost=0.192,
        savings_plan_savings_plan_a_r_n=SP_ARN,
        savings_plan_savings_plan_effective_cost=0.12,
        savings_plan_net_savings_plan_effective_cost=0.108,
    ) == (0.192, 0.12, 0.108)


def test_savings_plan_recurring_fee_counts_only_unused_commitment(build_models):
    assert costs_of(
        build_models,
        line_item_line_item_type="SavingsPlanRecurringFee",
        line_item_unblended_cost=10.0,
        savings_plan_total_commitment_to_date=10.0,
        savings_plan_used_commitment=7.5,
    ) == (10.0, 2.5, 2.5)


def test_savings_plan_negation_counts_nothing(build_models):
    assert costs_of(
        build_models,
        line_item_line_item_type="SavingsPlanNegation",
        line_item_unblended_cost=-0.192,
    ) == (-0.192, 0.0, 0.0)


def test_savings_plan_upfront_fee_counts_nothing(build_models):
    assert costs_of(
        build_models,
        line_item_line_item_type="SavingsPlanUpfrontFee",
        line_item_unblended_cost=8760.0,
        savings_plan_savings_plan_a_r_n=SP_ARN,
    ) == (8760.0, 0.0, 0.0)


def test_discounted_usage_costs_its_reservation_effective_cost(build_models):
    assert costs_of(
        build_models,
        line_item_line_item_type="DiscountedUsage",
        line_item_unblended_cost=0.0,
        reservation_reservation_a_r_n=RI_ARN,
        reservation_effective_cost=0.062,
        reservation_net_effective_cost=0.059,
    ) == (0.0, 0.062, 0.059)


def test_ri_fee_counts_only_unused_part(build_models):
    assert costs_of(
        build_models,
        line_item_line_item_type="RIFee",
        line_item_unblended_cost=44.64,
        reservation_reservation_a_r_n=RI_ARN,
        reservation_unused_amortized_upfront_fee_for_billing_period=3.0,
        reservation_unused_recurring_fee=5.0,
    ) == (44.64, 8.0, 8.0)


def test_ri_upfront_fee_counts_nothing(build_models):
    assert costs_of(
        build_models,
        line_item_line_item_type="Fee",
        line_item_unblended_cost=1000.0,
        reservation_reservation_a_r_n=RI_ARN,
    ) == (1000.0, 0.0, 0.0)


def test_plain_fee_counts_its_unblended_cost(build_models):
    assert costs_of(
        build_models,
        line_item_line_item_type="Fee",
        line_item_product_code="AmazonRoute53",
        line_item_unblended_cost=12.0,
    ) == (12.0, 12.0, 12.0)


def test_other_line_items_cost_their_unblended_cost(build_models):
    types = ["Usage", "Tax", "Credit", "Refund", "EdpDiscount"]
    rows = staged(
        build_models,
        [
            line_item(
                identity_line_item_id=f"{index}",
                line_item_line_item_type=line_item_type,
                line_item_unblended_cost=-2.5,
            )
            for index, line_item_type in enumerate(types)
        ],
        columns="unblended_cost, amortized_cost, net_amortized_cost",
    )
    assert [tuple(row.values()) for row in rows] == [(-2.5, -2.5, -2.5)] * len(types)


def test_empty_cost_columns_count_as_zero(build_models):
    rows = staged(
        build_models,
        [
            line_item(identity_line_item_id="a", line_item_unblended_cost=None),
            line_item(
                identity_line_item_id="b",
                line_item_line_item_type="SavingsPlanCoveredUsage",
                savings_plan_savings_plan_effective_cost=None,
            ),
            line_item(
                identity_line_item_id="c",
                line_item_line_item_type="RIFee",
                reservation_unused_amortized_upfront_fee_for_billing_period=None,
                reservation_unused_recurring_fee=2.0,
            ),
        ],
        columns="unblended_cost, amortized_cost, net_unblended_cost, net_amortized_cost",
    )
    assert [tuple(row.values()) for row in rows] == [
        (0.0, 0.0, 0.0, 0.0),
        (1.0, 0.0, 1.0, 0.0),
        (1.0, 2.0, 1.0, 2.0),
    ]


def test_net_costs_fall_back_to_gross_where_aws_leaves_them_empty(build_models):
    rows = staged(
        build_models,
        [
            line_item(identity_line_item_id="a", line_item_unblended_cost=10.0),
            line_item(
                identity_line_item_id="b",
                line_item_unblended_cost=10.0,
                line_item_net_unblended_cost=9.0,
            ),
        ],
        columns="net_unblended_cost, net_amortized_cost",
    )
    assert [tuple(row.values()) for row in rows] == [(10.0, 10.0), (9.0, 9.0)]


def test_net_unused_savings_plan_commitment_carries_the_discount(build_models):
    # 2.5 of 10.0 unused; the line's own net/gross ratio is 9/10, so 2.25 after discounts.
    assert costs_of(
        build_models,
        line_item_line_item_type="SavingsPlanRecurringFee",
        line_item_unblended_cost=10.0,
        line_item_net_unblended_cost=9.0,
        savings_plan_total_commitment_to_date=10.0,
        savings_plan_used_commitment=7.5,
    ) == (10.0, 2.5, 2.25)


def test_no_upfront_savings_plan_amortizes_to_its_commitment(build_models):
    # A 1.00/hour plan covers 1.50 of on-demand usage at 0.80; 0.20 of the hour is unused.
    # The bill (unblended) and the amortized view both come to the commitment, 1.00.
    rows = staged(
        build_models,
        [
            line_item(
                identity_line_item_id="covered",
                line_item_line_item_type="SavingsPlanCoveredUsage",
                line_item_unblended_cost=1.5,
                savings_plan_savings_plan_effective_cost=0.8,
            ),
            line_item(
                identity_line_item_id="negation",
                line_item_line_item_type="SavingsPlanNegation",
                line_item_unblended_cost=-1.5,
            ),
            line_item(
                identity_line_item_id="recurring",
                line_item_line_item_type="SavingsPlanRecurringFee",
                line_item_unblended_cost=1.0,
                savings_plan_total_commitment_to_date=1.0,
                savings_plan_used_commitment=0.8,
            ),
        ],
        columns="unblended_cost, amortized_cost",
    )
    assert sum(row["unblended_cost"] for row in rows) == pytest.approx(1.0)
    assert sum(row["amortized_cost"] for row in rows) == pytest.approx(1.0)
    assert [row["amortized_cost"] for row in rows] == pytest.approx([0.8, 0.0, 0.2])


def test_compute_savings_plan_refund_counts_nothing_amortized(build_models):
    # A returned plan: its fees were 0 in amortized cost, so their refund is 0 there too (CUDOS).
    # The bill still shows the refund.
    assert costs_of(
        build_models,
        line_item_line_item_type="Refund",
        line_item_product_code="ComputeSavingsPlans",
        line_item_unblended_cost=-730.0,
        line_item_net_unblended_cost=-657.0,
        savings_plan_savings_plan_a_r_n=SP_ARN,
    ) == (-730.0, 0.0, 0.0)


def test_other_refunds_keep_their_unblended_cost(build_models):
    assert costs_of(
        build_models,
        line_item_line_item_type="Refund",
        line_item_product_code="AmazonEC2",
        line_item_unblended_cost=-2.15,
    ) == (-2.15, -2.15, -2.15)


def test_split_cost_allocation_lines_are_not_counted_twice(build_models):
    # One m5.large hour (0.096, covered by nothing) runs two pods. AWS adds a line per pod that
    # names the instance as its parent and allocates the instance's cost: 0.06 + 0.02 used,
    # with 0.016 of idle capacity spread as unused cost (0.012 + 0.004). Only the instance's
    # line is a charge: every measure adds up to 0.096, and the pods' split + unused to the same.
    pod = "arn:aws:eks:us-east-1:111111111111:pod/prod/payments/api-7d9f/0a1b"
    rows = staged(
        build_models,
        [
            line_item(
                identity_line_item_id="a-instance",
                line_item_resource_id="i-0abc",
                line_item_unblended_cost=0.096,
                line_item_net_unblended_cost=0.0864,
                pricing_public_on_demand_cost=0.096,
            ),
            line_item(
                identity_line_item_id="b-pod-cpu",
                line_item_resource_id=pod,
                line_item_usage_type="USE1-EKS-EC2-vCPU-Hours",
                line_item_operation="EKSPod-EC2",
                line_item_unblended_cost=0.0,
                pricing_public_on_demand_cost=0.06,
                split_line_item_parent_resource_id="i-0abc",
                split_line_item_split_cost=0.06,
                split_line_item_unused_cost=0.012,
            ),
            line_item(
                identity_line_item_id="c-pod-memory",
                line_item_resource_id=pod,
                line_item_usage_type="USE1-EKS-EC2-GB-Hours",
                line_item_operation="EKSPod-EC2",
                line_item_line_item_type="SavingsPlanCoveredUsage",
                line_item_unblended_cost=0.0,  # AWS bills split lines at 0
                savings_plan_savings_plan_effective_cost=0.02,
                split_line_item_parent_resource_id="i-0abc",
                split_line_item_split_cost=0.02,
                split_line_item_unused_cost=0.004,
            ),
        ],
        columns="unblended_cost, amortized_cost, net_unblended_cost, net_amortized_cost, "
        "public_on_demand_cost, parent_resource_id, split_cost, split_unused_cost",
    )
    assert [tuple(row.values()) for row in rows] == [
        (0.096, 0.096, 0.0864, 0.0864, 0.096, None, None, None),
        (0.0, 0.0, 0.0, 0.0, 0.0, "i-0abc", 0.06, 0.012),
        (0.0, 0.0, 0.0, 0.0, 0.0, "i-0abc", 0.02, 0.004),
    ]
    assert sum(row["split_cost"] + row["split_unused_cost"] for row in rows[1:]) == (
        pytest.approx(0.096)
    )


def test_discount_lines_net_cost_is_already_inside_the_discounted_lines(build_models):
    # 100.0 of usage with a 10 % EDP discount: AWS writes 90.0 as the usage's net cost and 0 as
    # the discount line's, so the net total is 90.0, as is the gross total after the discount.
    rows = staged(
        build_models,
        [
            line_item(
                identity_line_item_id="a",
                line_item_unblended_cost=100.0,
                line_item_net_unblended_cost=90.0,
            ),
            line_item(
                identity_line_item_id="b",
                line_item_line_item_type="EdpDiscount",
                line_item_unblended_cost=-10.0,
                line_item_net_unblended_cost=0.0,
            ),
        ],
        columns="unblended_cost, amortized_cost, net_unblended_cost, net_amortized_cost",
    )
    assert [tuple(row.values()) for row in rows] == [
        (100.0, 100.0, 90.0, 90.0),
        (-10.0, -10.0, 0.0, 0.0),
    ]
    assert sum(row["unblended_cost"] for row in rows) == 90.0
    assert sum(row["net_amortized_cost"] for row in rows) == 90.0


def test_savings_plan_negation_has_no_public_on_demand_cost(build_models):
    # The covered line carries the 0.192 public price; a negation that repeats it is not
    # usage at public prices a second time.
    rows = staged(
        build_models,
        [
            line_item(
                identity_line_item_id="a",
                line_item_line_item_type="SavingsPlanCoveredUsage",
                line_item_unblended_cost=0.192,
                pricing_public_on_demand_cost=0.192,
                savings_plan_savings_plan_effective_cost=0.12,
            ),
            line_item(
                identity_line_item_id="b",
                line_item_line_item_type="SavingsPlanNegation",
                line_item_unblended_cost=-0.192,
                pricing_public_on_demand_cost=0.192,
            ),
        ],
        columns="public_on_demand_cost",
    )
    assert [row["public_on_demand_cost"] for row in rows] == [0.192, 0.0]


def test_commitment_arn_and_type_name_the_plan_or_reservation(build_models):
    rows = staged(
        build_models,
        [
            line_item(identity_line_item_id="a", savings_plan_savings_plan_a_r_n=SP_ARN),
            line_item(identity_line_item_id="b", reservation_reservation_a_r_n=RI_ARN),
            line_item(identity_line_item_id="c"),
        ],
        columns="commitment_type, commitment_arn",
    )
    assert [tuple(row.values()) for row in rows] == [
        ("savings_plan", SP_ARN),
        ("reservation", RI_ARN),
        (None, None),
    ]


# Charge category and pricing model.


CHARGE_CATEGORY_AND_PRICING_MODEL = {
    "Usage": ("Usage", "on_demand"),
    "DiscountedUsage": ("Usage", "reserved"),
    "SavingsPlanCoveredUsage": ("Usage", "savings_plan"),
    "SavingsPlanNegation": ("Usage", "savings_plan"),
    "Fee": ("Purchase", None),
    "RIFee": ("Purchase", None),
    "SavingsPlanUpfrontFee": ("Purchase", None),
    "SavingsPlanRecurringFee": ("Purchase", None),
    "Tax": ("Tax", None),
    "Credit": ("Credit", None),
    "EdpDiscount": ("Credit", None),
    "BundledDiscount": ("Credit", None),
    "PrivateRateDiscount": ("Credit", None),
    "Refund": ("Adjustment", None),
}


def test_charge_category_and_pricing_model_follow_the_line_item_type(build_models):
    rows = staged(
        build_models,
        [
            line_item(
                identity_line_item_id=line_item_type,
                line_item_line_item_type=line_item_type,
                pricing_term="OnDemand",
            )
            for line_item_type in CHARGE_CATEGORY_AND_PRICING_MODEL
        ],
        columns="line_item_type, charge_category, pricing_model",
    )
    assert {
        row["line_item_type"]: (row["charge_category"], row["pricing_model"]) for row in rows
    } == CHARGE_CATEGORY_AND_PRICING_MODEL


def test_spot_usage_is_priced_as_spot(build_models):
    rows = staged(
        build_models,
        [
            line_item(identity_line_item_id="a", line_item_usage_type="SpotUsage:c5.large"),
            line_item(identity_line_item_id="b", pricing_term="Spot"),
        ],
        columns="pricing_model",
    )
    assert [row["pricing_model"] for row in rows] == ["spot", "spot"]


# Derived columns.


def test_region_prefers_region_code_then_product_region_then_zone(build_models):
    rows = staged(
        build_models,
        [
            line_item(identity_line_item_id="a", product_region_code="eu-west-1"),
            line_item(
                identity_line_item_id="b", product_region_code=None, product={"region": "us-west-2"}
            ),
            line_item(
                identity_line_item_id="c",
                product_region_code=None,
                line_item_availability_zone="ap-southeast-2b",
            ),
            line_item(
                identity_line_item_id="d",
                product_region_code=None,
                line_item_availability_zone="us-east-1-bos-1a",
            ),
            line_item(
                identity_line_item_id="e",
                product_region_code=None,
                line_item_availability_zone="us-gov-west-1a",
            ),
            line_item(identity_line_item_id="f", product_region_code=None),
        ],
        columns="region",
    )
    assert [row["region"] for row in rows] == [
        "eu-west-1",
        "us-west-2",
        "ap-southeast-2",
        "us-east-1",
        "us-gov-west-1",
        "global",
    ]


def test_service_is_the_product_name_else_the_product_code(build_models):
    rows = staged(
        build_models,
        [
            line_item(
                identity_line_item_id="a", product={"product_name": "Amazon Elastic Compute Cloud"}
            ),
            line_item(identity_line_item_id="b", line_item_product_code="AWSGlue"),
        ],
        columns="service, service_code",
    )
    assert [tuple(row.values()) for row in rows] == [
        ("Amazon Elastic Compute Cloud", "AmazonEC2"),
        ("AWSGlue", "AWSGlue"),
    ]


def test_currency_is_the_line_item_currency_code_else_usd(build_models):
    rows = staged(
        build_models,
        [
            line_item(identity_line_item_id="a", line_item_currency_code="EUR"),
            line_item(identity_line_item_id="b", line_item_currency_code="USD"),
            line_item(identity_line_item_id="c", line_item_currency_code=None),
        ],
        columns="currency",
    )
    assert [row["currency"] for row in rows] == ["EUR", "USD", "USD"]


def test_instance_family_comes_from_the_instance_type(build_models):
    rows = staged(
        build_models,
        [
            line_item(identity_line_item_id="a", product_instance_type="m5.large"),
            line_item(identity_line_item_id="b", product_instance_type="db.r5.2xlarge"),
            line_item(identity_line_item_id="c", product_instance_type="cache.t3.micro"),
            line_item(identity_line_item_id="d", line_item_usage_type="SpotUsage:c5.xlarge"),
            line_item(
                identity_line_item_id="e", line_item_usage_type="USE1-BoxUsage:m7i-flex.large"
            ),
            line_item(identity_line_item_id="f", line_item_usage_type="TimedStorage-ByteHrs"),
        ],
        columns="instance_type, instance_family",
    )
    assert [tuple(row.values()) for row in rows] == [
        ("m5.large", "m5"),
        ("db.r5.2xlarge", "db.r5"),
        ("cache.t3.micro", "cache.t3"),
        ("c5.xlarge", "c5"),
        ("m7i-flex.large", "m7i-flex"),
        (None, None),
    ]


def test_processor_architecture_tells_graviton_from_x86(build_models):
    rows = staged(
        build_models,
        [
            line_item(identity_line_item_id="a", product_instance_type="m6g.large"),
            line_item(identity_line_item_id="b", product_instance_type="db.r7g.large"),
            line_item(identity_line_item_id="c", product_instance_type="c7gn.xlarge"),
            line_item(identity_line_item_id="d", product_instance_type="m5.large"),
            line_item(identity_line_item_id="e", product_instance_type="g4dn.xlarge"),
            line_item(identity_line_item_id="f", line_item_usage_type="Lambda-GB-Second-ARM"),
            line_item(identity_line_item_id="g", line_item_usage_type="TimedStorage-ByteHrs"),
        ],
        columns="processor_architecture",
    )
    assert [row["processor_architecture"] for row in rows] == [
        "arm64",
        "arm64",
        "arm64",
        "x86_64",
        "x86_64",
        "arm64",
        None,
    ]


def test_usage_date_is_the_utc_day_usage_started(build_models):
    (row,) = staged(
        build_models,
        [line_item(line_item_usage_start_date=datetime(2024, 1, 31, 23, 0))],
        columns="usage_date, billing_period",
    )
    assert row == {"usage_date": date(2024, 1, 31), "billing_period": "2024-01"}


def test_staging_keeps_every_contract_column(build_models):
    connection, _ = build_models([line_item()])
    columns = {row[0] for row in connection.execute("DESCRIBE stg_line_items").fetchall()}
    from pipelines.contract import LINE_ITEMS_SCHEMA

    assert set(LINE_ITEMS_SCHEMA.names) | {"billing_period", "team", "env", "tags"} <= columns


# Tags.


def team_and_env(build_models, tag_maps, config=None):
    rows = staged(
        build_models,
        [
            line_item(identity_line_item_id=f"{index:03d}", resource_tags=tags)
            for index, tags in enumerate(tag_maps)
        ],
        config=config,
        columns="team, env",
    )
    return [(row["team"], row["env"]) for row in rows]


def test_tag_keys_match_across_csv_and_athena_spellings(build_models):
    assert (
        team_and_env(
            build_models,
            [
                {"user:Team": "Payments", "user:Env": "prod"},  # legacy CSV
                {"user_team": "payments", "user_env": "prod"},  # Athena Parquet
                {"Team": " Payments ", "ENV": "Prod"},
                {"user:owner_team": "Payments"},
                {"user_owner_team": "payments"},
            ],
        )
        == [("payments", "prod")] * 3 + [("payments", None)] * 2
    )


def test_tag_values_map_through_value_aliases(build_models):
    assert team_and_env(
        build_models,
        [
            {"user:Environment": "PRD"},
            {"user:env": "production"},
            {"user:stage": "Development"},
            {"user:env": "stg"},
            {"user:env": "qa"},
        ],
    ) == [(None, "prod"), (None, "prod"), (None, "dev"), (None, "staging"), (None, "qa")]


def test_empty_tag_value_counts_as_missing(build_models):
    assert team_and_env(
        build_models,
        [
            {"user:Team": ""},
            {"user:Team": "   "},
            {"user:Team": " ", "user:owner": "Search"},
        ],
    ) == [(None, None), (None, None), ("search", None)]


def test_first_alias_by_priority_wins(build_models):
    assert team_and_env(
        build_models,
        [
            {"user:owner": "a", "user:Team": "b", "user:owner_team": "c"},
            {"user:owner": "a", "user:owner_team": "c"},
            {"user:stage": "dev", "user:environment": "prod"},
        ],
    ) == [("b", None), ("c", None), (None, "prod")]


def test_configured_aliases_replace_the_defaults(build_models):
    defaults = {dimension.name: dimension for dimension in default_tag_dimensions()}
    config = Config(
        tag_dimensions=(
            TagDimension("team", ("squad", "team"), MappingProxyType({"core": "platform"})),
            defaults["env"],
        )
    )
    assert team_and_env(
        build_models,
        [{"user:Squad": "Core", "user:Team": "x"}, {"user:owner": "a"}],
        config=config,
    ) == [("platform", None), (None, None)]


def test_tags_map_holds_folded_keys_and_trimmed_values(build_models):
    (row,) = staged(
        build_models,
        [
            line_item(
                resource_tags={
                    "user:Cost Center": " CC-1 ",
                    "aws:createdBy": "IAMUser:x",
                    "user:Team": "",
                }
            )
        ],
        columns="tags, tag_dimensions",
    )
    assert row == {
        "tags": {"costcenter": "CC-1", "awscreatedby": "IAMUser:x"},
        "tag_dimensions": {},
    }


def test_line_items_without_tags_are_kept(build_models):
    rows = staged(
        build_models,
        [
            line_item(identity_line_item_id="a", resource_tags=None),
            line_item(identity_line_item_id="b", resource_tags={}),
            line_item(identity_line_item_id="c", resource_tags={"user:Team": "x"}),
            line_item(identity_line_item_id="d", resource_tags=None),
        ],
        columns="tags, team",
    )
    assert [(row["tags"], row["team"]) for row in rows] == [
        ({}, None),
        ({}, None),
        ({"team": "x"}, "x"),
        ({}, None),
    ]


def test_sql_and_python_fold_tag_keys_alike(build_models):
    keys = ["user:Team", "user_team", "User:Owner-Team", " user:cost center", "aws:createdBy"]
    (row,) = staged(
        build_models,
        [line_item(resource_tags={key: "v" for key in keys})],
        columns="tags",
    )
    assert sorted(row["tags"]) == sorted({fold_tag_key(key) for key in keys})
