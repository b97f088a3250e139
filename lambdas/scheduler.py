"""The scheduler: stops and starts tagged resources by the schedules in the configuration.

A resource takes part when it carries the schedule tag (``finops:schedule=<name>``). For each
one, the schedule's last transition (``schedules.last_transition``) is compared with the
resource's last-action tag (``finops:last-action = stop@2026-12-04T19:00:00Z``):

- already recorded: nothing to do (a person may have started it by hand since);
- not yet recorded: stop or start it (unless the schedule is stop-only or start-only, or it
  already is in that state) and record the transition on the resource;
- ``enforce = true``: the state is corrected whenever it differs, transition or not.

Unknown schedule names, protected and production resources (unless the schedule says
``production = true``) are skipped with their reason, like everything else, in the audit log.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime
from types import ModuleType
from typing import Any

from lambdas import scheduled_databases, scheduled_groups, scheduled_instances
from lambdas.audit import AuditLog
from lambdas.aws import Scope, Sessions, error_code
from lambdas.config import Config, Schedule
from lambdas.safety import Proposal, Resource, RunReport, execute_proposals, iso_utc
from lambdas.schedules import Transition, last_transition

logger = logging.getLogger(__name__)

FUNCTION = "scheduler"
LAST_ACTION_TAG = "finops:last-action"
KINDS: tuple[ModuleType, ...] = (scheduled_instances, scheduled_databases, scheduled_groups)
PERMISSIONS = set().union(*(kind.PERMISSIONS for kind in KINDS))


def run(
    config: Config, now: datetime, audit: AuditLog, sessions: Sessions | None = None
) -> RunReport:
    """One scheduler run over every configured account and region at ``now``."""
    sessions = sessions or Sessions(config)
    proposals: list[Proposal] = []
    problems: list[str] = []
    for scope in sessions.scopes():
        for kind in KINDS:
            try:
                resources = kind.find(scope, config.schedule_tag)
            except Exception as error:  # noqa: BLE001 - one kind failing must not stop the rest
                problems.append(_listing_failed(audit, scope, kind, error))
                continue
            proposals.extend(evaluate(scope, kind, resource, config, now) for resource in resources)
    examined = Counter(proposal.resource.type for proposal in proposals)
    return execute_proposals(
        FUNCTION, proposals, config, audit, examined=examined, problems=problems
    )


def evaluate(
    scope: Scope, kind: ModuleType, resource: Resource, config: Config, now: datetime
) -> Proposal:
    """What the schedule wants done to one resource now, and why."""
    name = resource.tags.get(config.schedule_tag, "").strip()
    schedule = config.schedules.get(name)
    if schedule is None:
        known = ", ".join(sorted(config.schedules)) or "none configured"
        return Proposal(resource, "none", f"unknown schedule {name!r} (known: {known})")
    refusal = resource.details.get("not_schedulable")
    if refusal:
        return Proposal(resource, "none", f"schedule {name}: {refusal}")
    transition = last_transition(schedule, now)
    if transition is None:
        return Proposal(resource, "none", f"schedule {name}: no transition in the last weeks")

    recorded = _recorded(resource.tags.get(LAST_ACTION_TAG))
    handled = recorded is not None and recorded >= transition.at
    if handled and not schedule.enforce:
        return Proposal(
            resource,
            "none",
            f"schedule {name}: {transition.action} at {iso_utc(transition.at)} already handled",
        )
    return _proposal(scope, kind, resource, schedule, transition, handled)


def _proposal(
    scope: Scope,
    kind: ModuleType,
    resource: Resource,
    schedule: Schedule,
    transition: Transition,
    handled: bool,
) -> Proposal:
    action = transition.action
    wanted = "running" if transition.running else "stopped"
    because = (
        f"schedule {schedule.name} ({schedule.timezone.key}): {action} at {iso_utc(transition.at)}"
    )
    record = {LAST_ACTION_TAG: f"{action}@{iso_utc(transition.at)}"}

    def tag_only() -> str:
        kind.set_tags(scope, resource, record)
        return f"recorded {record[LAST_ACTION_TAG]}"

    mode_refuses = (schedule.mode == "stop-only" and transition.running) or (
        schedule.mode == "start-only" and not transition.running
    )
    if mode_refuses:
        return Proposal(resource, "none", f"{because}; the schedule is {schedule.mode}")
    if resource.state not in ("running", "stopped"):
        return Proposal(
            resource, "none", f"{because}; state {resource.state}, left for the next run"
        )
    if resource.state == wanted:
        if handled:
            return Proposal(resource, "none", f"{because}; already {wanted}")
        return Proposal(
            resource,
            "record",
            f"{because}; already {wanted}",
            tag_only,
            counts=False,
            rule_allows_production=schedule.production,
        )
    if kind is scheduled_groups and action == "start":
        if not resource.tags.get(scheduled_groups.SAVED_SIZE_TAG):
            return Proposal(resource, "none", f"{because}; no saved size to scale back to")
        try:
            scheduled_groups.saved_size(resource)
        except ValueError as error:
            return Proposal(resource, "none", f"{because}; {error}")

    def act() -> str:
        done = (kind.stop if action == "stop" else kind.start)(scope, resource)
        kind.set_tags(scope, resource, record)
        return done

    return Proposal(resource, action, because, act, rule_allows_production=schedule.production)


def _recorded(value: str | None) -> datetime | None:
    if not value or "@" not in value:
        return None
    try:
        return datetime.fromisoformat(value.split("@", 1)[1].replace("Z", "+00:00"))
    except ValueError:
        return None


def _listing_failed(audit: AuditLog, scope: Scope, kind: Any, error: Exception) -> str:
    code = error_code(error)
    problem = f"{scope.name}: listing {kind.__name__.rsplit('.', 1)[-1]} failed with {code}"
    audit.record(
        account_id=scope.account_id,
        region=scope.region,
        resource_type="listing",
        resource_id=kind.__name__.rsplit(".", 1)[-1],
        action="list",
        outcome="failed",
        reason=problem,
        error_code=code,
    )
    logger.warning(problem)
    return problem
