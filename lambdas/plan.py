"""The plan executor: carries out the action plan that ``finops recommend`` wrote, safely.

The plan (``lambdas/action_plan.schema.json``, a local file or ``s3://``) lists actions. For
each one the executor looks the resource up live, in the plan's account and region, and:

- skips it with the reason when the resource is gone, a plan condition no longer holds
  (``not_tagged``, ``env_not``, ``volume_state``, ``address_associated``,
  ``instance_state``, ``min_idle_days``), or the account is not configured;
- ``apply_schedule_tag``: tags the instance, database or group with the schedule (the
  scheduler then does the rest);
- idle resources (``delete_volume``, ``delete_snapshot``, ``release_elastic_ip``,
  ``delete_network_interface``, ``delete_load_balancer``): enter the clean-up's
  mark-then-act path (the kind's own live check applies as well, ``min_idle_days`` standing
  in for its minimum age);
- ``modify_volume_type``: changes the volume type in place (gp2 to gp3; no mark needed:
  nothing is lost and it can be changed back);
- ``review``: records it for a person; nothing changes.

The safety rules of every run apply (safety.py). It writes an execution log, one JSON line
per plan action, to ``execution_log/<run_id>.jsonl``; ``finops act ingest-log`` loads it into
the warehouse, where the ``realized_savings`` mart compares cost before and after.

Execution log line: ``schema_version`` (1), ``run_id``, ``executed_at`` (UTC ISO), ``dry_run``,
``plan_generated_at``, ``action_id``, ``kind``, ``action``, ``step`` (``act``, ``mark``,
``unmark``, ``none``), ``outcome`` (``applied``, ``dry_run``, ``skipped``, ``failed``,
``gone``, ``pending``), ``reason``, ``detail``, ``resource_type``, ``resource_id`` (as the plan
names it, i.e. as the CUR does), ``live_id``, ``account_id``, ``region``,
``estimated_monthly_saving``, ``currency``.

Notes:
    ``delete_nat_gateway`` is not carried out yet: NAT gateway idleness needs CloudWatch
    traffic metrics that the live re-check does not read; such actions are recorded as skipped.
    ``min_idle_days`` is checked against the resource's age where AWS gives one: a necessary
    condition for that many idle days, not proof of it (the plan's evidence is).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import botocore.exceptions

from lambdas import (
    elastic_ips,
    idle_load_balancers,
    marking,
    network_interfaces,
    old_snapshots,
    scheduled_databases,
    scheduled_groups,
    scheduled_instances,
    unattached_volumes,
)
from lambdas.audit import AuditLog
from lambdas.aws import Scope, Sessions, error_code
from lambdas.config import Config
from lambdas.errors import ConfigError
from lambdas.safety import Proposal, Resource, RunReport, execute_proposals
from lambdas.storage import read_text, write_text

logger = logging.getLogger(__name__)

FUNCTION = "plan"
SCHEMA_VERSION = 1
EXECUTION_LOG_VERSION = 1
SCHEMA_FILE = Path(__file__).with_name("action_plan.schema.json")

CLEANUP_ACTIONS: dict[str, ModuleType] = {
    unattached_volumes.ACTION: unattached_volumes,
    old_snapshots.ACTION: old_snapshots,
    elastic_ips.ACTION: elastic_ips,
    network_interfaces.ACTION: network_interfaces,
    idle_load_balancers.ACTION: idle_load_balancers,
}
SCHEDULE_KINDS: dict[str, ModuleType] = {
    scheduled_instances.RESOURCE_TYPE: scheduled_instances,
    scheduled_databases.INSTANCE_TYPE: scheduled_databases,
    scheduled_databases.CLUSTER_TYPE: scheduled_databases,
    scheduled_groups.RESOURCE_TYPE: scheduled_groups,
}
MODIFY_VOLUME_PERMISSIONS = {"ec2:DescribeVolumes", "ec2:ModifyVolume"}
PERMISSIONS = (
    set().union(*(kind.PERMISSIONS for kind in CLEANUP_ACTIONS.values()))
    | {"ec2:DescribeInstances", "ec2:CreateTags"}
    | {"rds:DescribeDBInstances", "rds:DescribeDBClusters", "rds:AddTagsToResource"}
    | {"autoscaling:DescribeAutoScalingGroups", "autoscaling:CreateOrUpdateTags"}
    | MODIFY_VOLUME_PERMISSIONS
)
_REQUIRED = (
    "id",
    "kind",
    "action",
    "resource",
    "parameters",
    "conditions",
    "reason",
    "estimated_monthly_saving",
)


@dataclass(frozen=True)
class PlanAction:
    """One entry of the plan's ``actions``, as the schema defines it."""

    id: str
    kind: str
    action: str
    resource_type: str
    resource_id: str
    account_id: str
    region: str
    parameters: dict[str, Any]
    conditions: dict[str, Any]
    reason: str
    estimated_monthly_saving: float


@dataclass(frozen=True)
class Plan:
    generated_at: str
    currency: str
    actions: tuple[PlanAction, ...]
    location: str


@dataclass
class ExecutionReport:
    run: RunReport
    lines: list[dict[str, Any]]
    log_location: str | None


def load_plan(location: str, s3_client: Any = None) -> Plan:
    """Read and check an action plan; errors name the plan, the action and the field."""
    text = read_text(location, s3_client)
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{location}: the action plan is not JSON ({error})") from None
    return parse_plan(raw, location)


def parse_plan(raw: Any, location: str = "plan") -> Plan:
    """Check the fields the executor relies on against the schema's enums and required keys."""
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    action_schema = schema["$defs"]["action"]["properties"]
    actions_enum = set(action_schema["action"]["enum"])
    types_enum = set(action_schema["resource"]["properties"]["type"]["enum"])
    if not isinstance(raw, dict):
        raise ConfigError(f"{location}: the action plan must be a JSON object")
    if raw.get("schema_version") != SCHEMA_VERSION:
        raise ConfigError(
            f"{location}: schema_version {raw.get('schema_version')!r} (expected {SCHEMA_VERSION})"
        )
    for key in ("generated_at", "currency", "actions"):
        if key not in raw:
            raise ConfigError(f"{location}: missing {key!r}")
    if not isinstance(raw["actions"], list):
        raise ConfigError(f"{location}: actions must be a list")

    actions = []
    for position, item in enumerate(raw["actions"], start=1):
        where = f"{location}: actions[{position}]"
        missing = [key for key in _REQUIRED if key not in item]
        if missing:
            raise ConfigError(f"{where}: missing {missing[0]!r}")
        resource = item["resource"]
        for key in ("type", "id", "account_id", "region"):
            if not resource.get(key):
                raise ConfigError(f"{where} ({item['id']}): resource.{key} is missing")
        if item["action"] not in actions_enum:
            raise ConfigError(f"{where} ({item['id']}): unknown action {item['action']!r}")
        if resource["type"] not in types_enum:
            raise ConfigError(f"{where} ({item['id']}): unknown resource.type {resource['type']!r}")
        actions.append(
            PlanAction(
                id=str(item["id"]),
                kind=item["kind"],
                action=item["action"],
                resource_type=resource["type"],
                resource_id=str(resource["id"]),
                account_id=str(resource["account_id"]),
                region=resource["region"],
                parameters=dict(item["parameters"]),
                conditions=dict(item["conditions"]),
                reason=item["reason"],
                estimated_monthly_saving=float(item["estimated_monthly_saving"]),
            )
        )
    return Plan(raw["generated_at"], raw["currency"], tuple(actions), location)


def run(
    config: Config,
    plan: Plan,
    now: datetime,
    audit: AuditLog,
    sessions: Sessions | None = None,
    *,
    s3_client: Any = None,
) -> ExecutionReport:
    """Execute a plan; write the execution log when ``config.execution_log`` is set."""
    sessions = sessions or Sessions(config)
    proposals: list[Proposal] = []
    pairs: list[tuple[PlanAction, Proposal]] = []
    for action in plan.actions:
        proposal = _proposal(action, config, now, sessions)
        proposal.plan_action_id = action.id
        proposals.append(proposal)
        pairs.append((action, proposal))

    examined = Counter(p.resource.type for p in proposals)
    report = execute_proposals(FUNCTION, proposals, config, audit, examined=examined)
    lines = [_log_line(action, proposal, plan, report, now) for action, proposal in pairs]
    location = None
    if config.execution_log:
        text = "".join(json.dumps(line) + "\n" for line in lines)
        try:
            location = write_text(config.execution_log, f"{report.run_id}.jsonl", text, s3_client)
            logger.info("execution log written to %s", location)
        except Exception as error:  # noqa: BLE001 - the audit log still has every decision
            report.problems.append(
                f"execution log not written to {config.execution_log}: {error_code(error)}"
            )
    return ExecutionReport(report, lines, location)


def _proposal(action: PlanAction, config: Config, now: datetime, sessions: Sessions) -> Proposal:
    placeholder = Resource(
        action.resource_type, action.resource_id, action.account_id, action.region
    )
    if action.action == "review":
        return Proposal(placeholder, "review", f"for a person to review: {action.reason}")
    if action.action == "delete_nat_gateway":
        # Not carried out yet: idleness needs CloudWatch metrics the re-check does not read.
        return Proposal(
            placeholder, "none", "delete_nat_gateway is not carried out by the executor yet"
        )
    try:
        scope = sessions.scope(action.account_id, action.region)
    except ConfigError as error:
        return Proposal(placeholder, "none", str(error))
    if scope is None:
        return Proposal(placeholder, "none", f"account {action.account_id} is not configured")

    try:
        if action.action in CLEANUP_ACTIONS:
            return _cleanup(scope, action, config, now, placeholder)
        if action.action == "apply_schedule_tag":
            return _schedule_tag(scope, action, config, placeholder)
        if action.action == "modify_volume_type":
            return _modify_volume(scope, action, placeholder)
    except botocore.exceptions.ClientError as error:
        code = error_code(error)
        if code.endswith(("NotFound", "NotFoundFault", ".Malformed")) or code in (
            "LoadBalancerNotFound",
            "ValidationError",
            "DBInstanceNotFound",
        ):
            return Proposal(placeholder, "none", f"not found live ({code})")
        proposal = Proposal(placeholder, "none", f"live check failed with {code}")
        proposal.outcome, proposal.code = "failed", code
        return proposal
    return Proposal(
        placeholder, "none", f"action {action.action} is not carried out by the executor"
    )


def _cleanup(
    scope: Scope, action: PlanAction, config: Config, now: datetime, placeholder: Resource
) -> Proposal:
    kind = CLEANUP_ACTIONS[action.action]
    found = kind.find(scope, ids=[action.resource_id])
    if not found:
        return Proposal(placeholder, "none", "not found live")
    resource = found[0]
    rule = config.rule(kind.KIND)
    if "min_idle_days" in action.conditions:
        rule = replace(rule, min_age_days=int(action.conditions["min_idle_days"]))
    blocked = conditions_problem(action.conditions, resource, config)
    return marking.evaluate(scope, kind, resource, rule, now, blocked=blocked)


def _schedule_tag(
    scope: Scope, action: PlanAction, config: Config, placeholder: Resource
) -> Proposal:
    kind = SCHEDULE_KINDS.get(action.resource_type)
    key = action.parameters.get("tag_key", config.schedule_tag)
    value = action.parameters.get("tag_value")
    if kind is None or not value:
        return Proposal(
            placeholder, "none", "apply_schedule_tag needs a schedulable resource and tag_value"
        )
    found = [
        r for r in kind.find(scope, key, ids=[action.resource_id]) if r.type == action.resource_type
    ]
    if not found:
        return Proposal(placeholder, "none", "not found live")
    resource = found[0]
    blocked = conditions_problem(action.conditions, resource, config)
    if blocked:
        return Proposal(resource, "none", blocked)
    if resource.tags.get(key) == value:
        return Proposal(resource, "none", f"already tagged {key}={value}")
    if value not in config.schedules:
        return Proposal(resource, "none", f"schedule {value!r} is not configured for the scheduler")

    def tag() -> str:
        kind.set_tags(scope, resource, {key: value})
        return f"tagged {key}={value}"

    return Proposal(resource, "apply_schedule_tag", f"{action.reason}; schedule {value}", tag)


def _modify_volume(scope: Scope, action: PlanAction, placeholder: Resource) -> Proposal:
    target = action.parameters.get("target_type")
    found = unattached_volumes.find(scope, ids=[action.resource_id])
    if not found or not target:
        return Proposal(placeholder, "none", "not found live" if not found else "no target_type")
    resource = found[0]
    blocked = conditions_problem(action.conditions, resource, config=None)
    if blocked:
        return Proposal(resource, "none", blocked)
    current = resource.details.get("volume_type")
    if current == target:
        return Proposal(resource, "none", f"already {target}")

    def modify() -> str:
        scope.client("ec2").modify_volume(VolumeId=resource.id, VolumeType=target)
        return f"changed {resource.id} from {current} to {target}"

    return Proposal(
        resource, "modify_volume_type", f"{current} to {target}: {action.reason}", modify
    )


def conditions_problem(
    conditions: dict[str, Any], resource: Resource, config: Config | None
) -> str | None:
    """The first plan condition that no longer holds for the live resource, in words."""
    tags_lower = {key.lower(): value for key, value in resource.tags.items()}
    for key in conditions.get("not_tagged", []):
        if key.lower() in tags_lower:
            return f"condition not_tagged: carries {key}"
    env_not = {value.lower() for value in conditions.get("env_not", [])}
    keys = config.production.tag_keys if config else ("env", "environment", "stage")
    for key in keys:
        value = (tags_lower.get(key.lower()) or "").lower()
        if value and value in env_not:
            return f"condition env_not: {key}={value}"
    live = {
        "ec2:volume": ("volume_state", resource.state),
        "ec2:elastic-ip": ("address_associated", resource.state == "associated"),
        "ec2:instance": ("instance_state", resource.state),
    }.get(resource.type)
    if live and live[0] in conditions and conditions[live[0]] != live[1]:
        expected = conditions[live[0]]
        return f"condition {live[0]}: is {live[1]!r}, the plan expects {expected!r}"
    return None


def _log_line(
    action: PlanAction, proposal: Proposal, plan: Plan, report: RunReport, now: datetime
) -> dict[str, Any]:
    step = {"mark": "mark", "unmark": "unmark", "none": "none", "review": "none", "record": "none"}
    return {
        "schema_version": EXECUTION_LOG_VERSION,
        "run_id": report.run_id,
        "executed_at": now.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "dry_run": report.dry_run,
        "plan_generated_at": plan.generated_at,
        "action_id": action.id,
        "kind": action.kind,
        "action": action.action,
        "step": step.get(proposal.action, "act"),
        "outcome": proposal.outcome,
        "reason": proposal.reason,
        "detail": proposal.detail,
        "resource_type": action.resource_type,
        "resource_id": action.resource_id,
        "live_id": proposal.resource.id,
        "account_id": action.account_id,
        "region": action.region,
        "estimated_monthly_saving": action.estimated_monthly_saving,
        "currency": plan.currency,
    }
