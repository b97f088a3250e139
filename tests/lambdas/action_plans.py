"""Action plans for the tests, in the shape of lambdas/action_plan.schema.json.

``plan_standing_in_for_finops_recommend`` is the one place that writes a plan: it stands in for
``finops recommend`` (being built on another branch). When that lands, the end-to-end test
swaps this function for a call to it on the warehouse; the plans are checked against the
JSON schema either way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "lambdas" / "action_plan.schema.json").read_text()
)

# What each idle action re-checks live, as recommend is expected to write it.
_CONDITIONS = {
    "delete_volume": {"volume_state": "available"},
    "release_elastic_ip": {"address_associated": False},
}
_KINDS = {"apply_schedule_tag": "schedule", "modify_volume_type": "gp3", "review": "graviton"}


def action(
    action_name: str,
    resource_type: str,
    resource_id: str,
    *,
    saving: float = 10.0,
    account_id: str = "123456789012",
    region: str = "eu-west-1",
    parameters: dict[str, Any] | None = None,
    conditions: dict[str, Any] | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    return {
        "id": f"{_KINDS.get(action_name, 'idle')}:{resource_id}",
        "kind": _KINDS.get(action_name, "idle"),
        "action": action_name,
        "resource": {
            "type": resource_type,
            "id": resource_id,
            "arn": None,
            "account_id": account_id,
            "region": region,
        },
        "parameters": parameters or {},
        "conditions": {
            "not_tagged": ["finops:protect"],
            "env_not": ["prod", "production"],
            **_CONDITIONS.get(action_name, {}),
            **(conditions or {}),
        },
        "reason": reason or f"{resource_id}: idle in the CUR for the last 30 days",
        "estimated_monthly_saving": saving,
    }


def plan_standing_in_for_finops_recommend(actions: list[dict[str, Any]]) -> dict[str, Any]:
    """The action plan `finops recommend` would write for these actions (schema-checked)."""
    plan = {
        "schema_version": 1,
        "generated_at": "2026-12-01T06:00:00Z",
        "source": {"warehouse": "warehouse", "periods": ["2026-11"]},
        "currency": "USD",
        "actions": actions,
    }
    jsonschema.validate(plan, SCHEMA)
    return plan
