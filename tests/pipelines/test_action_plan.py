"""The action plan: which recommendations become actions, its schema, and writing it to S3."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import boto3
import jsonschema
import pytest

from pipelines.errors import FinopsError
from pipelines.recommend import action_plan, totals_by_currency, write_plan
from tests.conftest import REPO

SCHEMA = json.loads((REPO / "lambdas" / "action_plan.schema.json").read_text())


def row(kind: str, resource_id: str, *, saving: float, **overrides) -> dict:
    action = {
        "idle": ("release_elastic_ip", "ec2:elastic-ip", {}),
        "gp3": ("modify_volume_type", "ec2:volume", {"target_type": "gp3"}),
        "graviton": ("review", "ec2:instance", {"target_instance_type": "m8g.large"}),
    }[kind]
    values = {
        "recommendation_id": f"{kind}:111111111111:us-east-1:{resource_id}",
        "kind": kind,
        "account_id": "111111111111",
        "region": "us-east-1",
        "resource_id": resource_id,
        "resource_type": action[1],
        "team": "payments",
        "env": "dev",
        "currency": "USD",
        "current_monthly_cost": 10.0,
        "estimated_monthly_saving": saving,
        "saving_low": saving / 2,
        "saving_high": saving,
        "co2e_kg_monthly_saved": 0.5,
        "evidence": "billed as idle",
        "action": json.dumps(
            {
                "action": action[0],
                "resource_type": action[1],
                "parameters": action[2],
                "conditions": {"not_tagged": ["finops:protect"]},
            }
        ),
        "counts_in_total": True,
        "total_monthly_saving": saving,
        "total_saving_low": saving / 2,
        "total_saving_high": saving,
        "co2e_kg_total_saved": 0.5,
    }
    return values | overrides


ROWS = [
    row("idle", "203.0.113.10", saving=3.6),
    row("graviton", "i-1", saving=2.0),
    # Moot once the volume is deleted: not an action.
    row(
        "gp3",
        "vol-1",
        saving=1.0,
        counts_in_total=False,
        total_monthly_saving=0.0,
        total_saving_low=0.0,
        total_saving_high=0.0,
    ),
    # The executor has no ElastiCache resource type: stays in the view only.
    row("graviton", "cache-1", saving=1.5, resource_type="elasticache:cluster"),
    # Another currency: its own total, not in a USD plan.
    row("idle", "198.51.100.7", saving=9.0, currency="EUR"),
]


def test_plan_holds_counted_known_actions_of_the_main_currency():
    plan = action_plan(
        ROWS, warehouse="/w", periods=["2024-01"], now=datetime(2024, 2, 1, 9, tzinfo=UTC)
    )

    jsonschema.Draft202012Validator(SCHEMA).validate(plan)
    assert plan["currency"] == "EUR"  # the largest total saving: 9.0 EUR against 7.1 USD
    assert [action["id"] for action in plan["actions"]] == [
        "idle:111111111111:us-east-1:198.51.100.7"
    ]
    usd = action_plan(ROWS[:4], warehouse="/w", periods=["2024-01"])
    assert [action["resource"]["id"] for action in usd["actions"]] == ["203.0.113.10", "i-1"]
    assert usd["actions"][0]["action"] == "release_elastic_ip"
    assert usd["actions"][1]["parameters"] == {"target_instance_type": "m8g.large"}


def test_totals_are_per_currency_and_count_moot_rows_as_zero():
    totals = {total.currency: total for total in totals_by_currency(ROWS)}

    assert totals["USD"].monthly_saving == pytest.approx(3.6 + 2.0 + 1.5)
    assert totals["USD"].saving_low == pytest.approx((3.6 + 2.0 + 1.5) / 2)
    assert totals["EUR"].monthly_saving == pytest.approx(9.0)


def test_plan_is_written_to_s3(aws_env):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="plans-recommend")
    plan = action_plan(ROWS[:2], warehouse="/w", periods=["2024-01"])

    write_plan(plan, "s3://plans-recommend/finops/plan.json")

    body = s3.get_object(Bucket="plans-recommend", Key="finops/plan.json")["Body"].read()
    assert json.loads(body) == plan


def test_plan_to_a_missing_bucket_names_the_destination(aws_env):
    plan = action_plan(ROWS[:1], warehouse="/w", periods=[])

    with pytest.raises(FinopsError, match="s3://no-such-plans/plan.json: cannot write"):
        write_plan(plan, "s3://no-such-plans/plan.json")
