"""Hand-made action plans for the executor's unit tests (lambdas/action_plan.schema.json).

``schema_checked_plan`` wraps actions built by ``action`` into a plan and checks it against the
JSON schema, so a unit test can name exactly the resources and conditions it is about. The
end-to-end test (test_end_to_end.py) does not use it: its plan is written by `finops recommend`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "lambdas" / "action_plan.schema.json").read_text()
)

# The live re-checks of each idle action, as queries/recommendations/recommendations.sql writes
# them (it also gives volumes min_idle_days, which the unit tests add where they test it).
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


def schema_checked_plan(
    actions: list[dict[str, Any]], generated_at: datetime | None = None
) -> dict[str, Any]:
    """An action plan holding these actions, checked against the plan's JSON schema.

    It was generated ``generated_at`` (default: now, as the tests' clocks start from now and
    the executor refuses a plan older than ``[plan] max_age_days``).
    """
    plan = {
        "schema_version": 1,
        "generated_at": (generated_at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "source": {"warehouse": "warehouse", "periods": ["2026-11"]},
        "currency": "USD",
        "actions": actions,
    }
    jsonschema.validate(plan, SCHEMA)
    return plan
