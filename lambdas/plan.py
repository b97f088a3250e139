"""The plan executor: carries out the action plan that ``finops recommend`` wrote, safely.

The plan (``lambdas/action_plan.schema.json``, a local file or ``s3://``) lists actions. It
is refused whole, before anything is done, when it does not match the schema (or holds NaN or
Infinity), is older than ``[plan] max_age_days``, asks ``apply_schedule_tag`` for another key
than ``schedule_tag``, repeats an action id, changes one resource twice (any action but
``review``), or names a resource type its action does not act on (``ACTION_RESOURCE_TYPES``).
For each action the executor looks the resource up live, in the plan's account and region, and:

- skips it with the reason when the resource is gone, a plan condition no longer holds
  (``not_tagged``, ``env_not``, ``volume_state``, ``address_associated``,
  ``instance_state``, ``min_idle_days``), or the account or region is not configured;
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

import functools
import json
import logging
import math
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import botocore.exceptions
import jsonschema
from jsonschema.exceptions import ValidationError, best_match

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
from lambdas.safety import Proposal, Resource, RunReport, execute_proposals, iso_utc
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
# The resource types each action is carried out on, from the modules that carry them out: a
# plan pairing an action with another type (modify_volume_type on an instance) is refused.
# ``review`` changes nothing and may name any resource.
ACTION_RESOURCE_TYPES: dict[str, frozenset[str]] = {
    **{name: frozenset({kind.RESOURCE_TYPE}) for name, kind in CLEANUP_ACTIONS.items()},
    "apply_schedule_tag": frozenset(SCHEDULE_KINDS),
    "modify_volume_type": frozenset({unattached_volumes.RESOURCE_TYPE}),
    # Recorded as skipped until the executor carries it out (see Notes above).
    "delete_nat_gateway": frozenset({"ec2:natgateway"}),
}
# The volume type changes the executor makes: to a type that costs less for the same volume.
_CHEAPER_VOLUME_TYPE = {"gp2": ("gp3",)}
# Clocks of the machine that wrote the plan and of this one may differ a little.
_CLOCK_SKEW = timedelta(hours=1)


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

    # Python's json takes NaN, Infinity and 1e999 (as inf), which JSON does not: such a saving
    # passes every comparison's check and makes the execution log invalid JSON.
    def not_finite(token: str) -> float:
        shown = token if len(token) <= 20 else token[:17] + "..."
        raise ConfigError(f"{location}: {shown} is not a finite number (expected e.g. 12.5)")

    def finite(token: str) -> float:
        number = float(token)
        return number if math.isfinite(number) else not_finite(token)

    def whole(token: str) -> int | float:
        # An integer past float's range would overflow where the saving is made a float.
        return int(token) if math.isfinite(float(token)) else not_finite(token)

    try:
        raw = json.loads(text, parse_constant=not_finite, parse_float=finite, parse_int=whole)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{location}: the action plan is not JSON ({error})") from None
    return parse_plan(raw, location)


def parse_plan(raw: Any, location: str = "plan") -> Plan:
    """Check a plan against ``action_plan.schema.json``; the first problem names its JSON path.

    Nothing of an invalid plan is carried out: one wrong field says the file was not written
    by ``finops recommend`` as this executor knows it (tampered, truncated or of another
    version), so the rest of it is not trusted either.
    """
    problem = best_match(_validator().iter_errors(raw))
    if problem is not None:
        raise ConfigError(f"{location}: {_where(problem, raw)}: {_message(problem)}")
    generated_at = _generated_at(raw["generated_at"])
    if generated_at is None:
        raise ConfigError(
            f"{location}: $.generated_at: {raw['generated_at']!r} is not a UTC date and time "
            "(expected ISO 8601 such as 2026-12-01T06:00:00Z)"
        )

    actions = tuple(
        PlanAction(
            id=item["id"],
            kind=item["kind"],
            action=item["action"],
            resource_type=item["resource"]["type"],
            resource_id=item["resource"]["id"],
            account_id=item["resource"]["account_id"],
            region=item["resource"]["region"],
            parameters=dict(item["parameters"]),
            conditions=dict(item["conditions"]),
            reason=item["reason"],
            estimated_monthly_saving=float(item["estimated_monthly_saving"]),
        )
        for item in raw["actions"]
    )
    _check_actions(actions, location)
    return Plan(raw["generated_at"], raw["currency"], actions, location)


def _check_actions(actions: tuple[PlanAction, ...], location: str) -> None:
    """Refuse duplicate ids, two changes to one resource, and an action on a resource it does
    not fit: each would have the executor do more, or other, than the plan's evidence says.
    """
    ids: dict[str, int] = {}
    changes: dict[tuple[str, str, str], int] = {}
    for position, action in enumerate(actions):
        where = f"{location}: $.actions[{position}]"
        if action.id in ids:
            raise ConfigError(
                f"{where}.id: {action.id!r} is the id of $.actions[{ids[action.id]}] as well "
                "(expected unique action ids)"
            )
        ids[action.id] = position
        allowed = ACTION_RESOURCE_TYPES.get(action.action)
        if allowed is not None and action.resource_type not in allowed:
            raise ConfigError(
                f"{where}.resource.type (action {action.id}): {action.action} does not act on "
                f"{action.resource_type!r} (expected one of {sorted(allowed)})"
            )
        if action.action == "review":
            continue
        # The last of two changes would win (two schedules), or both would run on one resource.
        resource = (action.account_id, action.region, action.resource_id)
        if resource in changes:
            first = actions[changes[resource]]
            raise ConfigError(
                f"{where} (action {action.id}): {action.resource_id} is changed by "
                f"$.actions[{changes[resource]}] (action {first.id}) already "
                "(expected one changing action per resource)"
            )
        changes[resource] = position


def check_plan(plan: Plan, config: Config, now: datetime) -> None:
    """Refuse a plan that is too old, from the future, or tags with another key than ours.

    These depend on the configuration and the run's clock, so they are not in the schema.
    """
    generated_at = _generated_at(plan.generated_at)
    if generated_at is None:
        raise ConfigError(f"{plan.location}: $.generated_at: {plan.generated_at!r} is not a time")
    age = now - generated_at
    limit = timedelta(days=config.plan_max_age_days)
    if age > limit:
        raise ConfigError(
            f"{plan.location}: the plan was generated at {plan.generated_at}, "
            f"{age.total_seconds() / 86400:.1f} days before this run; older than "
            f"[plan] max_age_days = {config.plan_max_age_days} (run finops recommend again)"
        )
    if age < -_CLOCK_SKEW:
        raise ConfigError(
            f"{plan.location}: the plan was generated at {plan.generated_at}, after the time "
            f"this run evaluates at ({iso_utc(now)})"
        )
    for position, action in enumerate(plan.actions):
        key = action.parameters.get("tag_key")
        if action.action == "apply_schedule_tag" and key != config.schedule_tag:
            # Any other key would let a plan overwrite any tag (Name, owner, cost centre...).
            raise ConfigError(
                f"{plan.location}: $.actions[{position}].parameters.tag_key: {key!r} is not "
                f"the configured schedule_tag {config.schedule_tag!r}"
            )


@functools.cache
def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema)


def _where(problem: ValidationError, raw: Any) -> str:
    """The JSON path of a schema problem, with the action's id when it is in one."""
    path = problem.json_path
    parts = list(problem.absolute_path)
    if len(parts) >= 2 and parts[0] == "actions" and isinstance(parts[1], int):
        item = raw["actions"][parts[1]]
        if isinstance(item, dict) and isinstance(item.get("id"), str) and item["id"]:
            return f"{path} (action {item['id']})"
    return path


def _message(problem: ValidationError) -> str:
    """jsonschema's message, saying what was found and what was expected, on one short line."""
    found = _short(problem.instance)
    if problem.validator == "type":
        return f"{found} is not of type {problem.validator_value!r}"
    if problem.validator == "const":
        return f"{found} (expected {problem.validator_value!r})"
    message = " ".join(problem.message.split())
    return message if len(message) <= 300 else message[:297] + "..."


def _short(value: Any) -> str:
    text = " ".join(repr(value).split())
    return text if len(text) <= 80 else text[:77] + "..."


def _generated_at(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def run(
    config: Config,
    plan: Plan,
    now: datetime,
    audit: AuditLog,
    sessions: Sessions | None = None,
    *,
    s3_client: Any = None,
) -> ExecutionReport:
    """Execute a plan; write the execution log when ``config.execution_log`` is set.

    Raises:
        ConfigError: the plan fails ``check_plan``; nothing is carried out.
    """
    check_plan(plan, config, now)
    sessions = sessions or Sessions(config)
    proposals: list[Proposal] = []
    pairs: list[tuple[PlanAction, Proposal]] = []
    live: set[tuple[str, str, str, str]] = set()
    for action in plan.actions:
        placeholder = Resource(
            action.resource_type, action.resource_id, action.account_id, action.region
        )
        proposal = _proposal(action, config, now, sessions, placeholder)
        proposal.plan_action_id = action.id
        proposals.append(proposal)
        pairs.append((action, proposal))
        if proposal.resource is not placeholder:
            found = proposal.resource
            live.add((found.type, found.account_id, found.region, found.id))

    # The population of max_percent is the resources found live, each once: counting entries
    # let reviews (or repeats) of the resources a plan changes pad it past the limit.
    examined = Counter(kind for kind, *_ in live)
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


def _proposal(
    action: PlanAction, config: Config, now: datetime, sessions: Sessions, placeholder: Resource
) -> Proposal:
    if action.action == "review":
        return Proposal(placeholder, "review", f"for a person to review: {action.reason}")
    if action.action == "delete_nat_gateway":
        # Not carried out yet: idleness needs CloudWatch metrics the re-check does not read.
        return Proposal(
            placeholder, "none", "delete_nat_gateway is not carried out by the executor yet"
        )
    if action.region not in sessions.regions():
        configured = ", ".join(sessions.regions())
        return Proposal(
            placeholder, "none", f"region {action.region} is not configured (regions: {configured})"
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
    key = action.parameters.get("tag_key")
    value = action.parameters.get("tag_value")
    if kind is None or not value:
        return Proposal(
            placeholder, "none", "apply_schedule_tag needs a schedulable resource and tag_value"
        )
    if key != config.schedule_tag:  # check_plan refuses such a plan; this is the last line
        return Proposal(
            placeholder, "none", f"tag_key {key!r} is not the schedule tag {config.schedule_tag}"
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
    if target not in _CHEAPER_VOLUME_TYPE.get(current, ()):
        # recommend proposes gp2 to gp3 only; another change may cost more or perform worse.
        allowed = ", ".join(f"{a} to {b}" for a, bs in _CHEAPER_VOLUME_TYPE.items() for b in bs)
        return Proposal(resource, "none", f"{current} to {target} is not made (only {allowed})")

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
