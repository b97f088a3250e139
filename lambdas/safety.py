"""The safety rules every function obeys, and the one loop that applies them.

A run looks before it acts. Each action module turns the resources it lists into
``Proposal``s (a change with its reason, or a skip with its reason); ``execute`` then:

1. filters out protected resources (``finops:protect``, any value) and production ones
   (unless the rule allows production explicitly), whatever the module proposed;
2. counts the changes and checks the blast radius: more than ``max_count`` changes in the
   run, or more than ``max_percent`` of the resources of a kind (when at least
   ``min_population`` were looked at), and the run changes nothing at all and fails;
3. logs the counts, then, only when ``apply`` is set, makes each change; otherwise records
   what it would have done (dry-run changes nothing, not even a tag);
4. records every decision in the audit log. A change that fails is recorded with its AWS
   error code and the run goes on; a resource that is gone (a retry of a change that already
   happened) or taken into use meanwhile is a skip, not a failure. The run fails when any
   change failed or the blast radius stopped it.

Tagging (marks, last-action tags) does not count toward the blast radius: it changes no
resource's state and is undone by removing the tag.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import botocore.exceptions

from lambdas.audit import AuditLog
from lambdas.aws import IN_USE, NOT_FOUND, error_code
from lambdas.config import BlastRadius, Config

logger = logging.getLogger(__name__)

#: Every outcome a decision can have: what the audit and execution logs say about a resource.
OUTCOMES = ("applied", "dry_run", "skipped", "failed", "gone", "pending")


@dataclass
class Resource:
    """One AWS resource as the run sees it. ``type`` uses the action plan's names."""

    type: str
    id: str
    account_id: str
    region: str
    tags: dict[str, str] = field(default_factory=dict)
    state: str | None = None
    created: datetime | None = None
    arn: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


class NotYet(Exception):  # noqa: N818 - a state, not a failure
    """A change that started but finishes on a later run (a snapshot still pending)."""


@dataclass
class Proposal:
    """What a run intends for one resource: a change (``execute`` set) or a skip.

    ``execute`` returns a sentence saying what was done. ``counts`` is False for tag-only
    changes, which the blast radius ignores. ``rule_allows_production`` lets a rule opt in.
    """

    resource: Resource
    action: str
    reason: str
    execute: Callable[[], str] | None = None
    counts: bool = True
    rule_allows_production: bool = False
    plan_action_id: str | None = None
    outcome: str | None = None  # set by ``execute_proposals``
    detail: str | None = None
    code: str | None = None

    @property
    def is_change(self) -> bool:
        return self.execute is not None


@dataclass
class RunReport:
    function: str
    run_id: str
    dry_run: bool
    proposals: list[Proposal]
    problems: list[str]
    audit_location: str | None = None

    @property
    def failed(self) -> bool:
        return bool(self.problems)

    def outcomes(self) -> Counter[str]:
        return Counter(proposal.outcome or "skipped" for proposal in self.proposals)


def iso_utc(instant: datetime) -> str:
    """An aware time as the audit log and the tags write it: 2026-12-03T08:00:00Z."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_run_id(now: datetime) -> str:
    return f"{now.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:8]}"


def protection(resource: Resource, config: Config, *, allow_production: bool) -> str | None:
    """Why the resource must not be touched, or None. Checked before anything else."""
    tags = {key.lower(): (value or "") for key, value in resource.tags.items()}
    if config.protect_tag.lower() in tags:
        return f"protected by tag {config.protect_tag}"
    if not allow_production:
        for key in config.production.tag_keys:
            value = tags.get(key.lower(), "").strip().lower()
            if value and value in config.production.values:
                return f"production ({key}={value}) and the rule does not allow production"
    return None


def blast_radius_problem(
    proposals: list[Proposal], limits: BlastRadius, examined: Counter[str]
) -> str | None:
    """Why this run's changes exceed the blast radius, or None. ``examined`` counts per kind."""
    changes = [p for p in proposals if p.is_change and p.counts]
    if len(changes) > limits.max_count:
        return f"blast radius: {len(changes)} changes exceed max_count {limits.max_count}"
    per_kind = Counter(p.resource.type for p in changes)
    for kind, count in sorted(per_kind.items()):
        population = examined.get(kind, 0)
        if population < limits.min_population or population == 0:
            continue
        percent = 100.0 * count / population
        if percent > limits.max_percent:
            return (
                f"blast radius: {count} of {population} {kind} ({percent:.0f}%) exceed "
                f"max_percent {limits.max_percent:g}"
            )
    return None


def execute_proposals(
    function: str,
    proposals: list[Proposal],
    config: Config,
    audit: AuditLog,
    *,
    examined: Counter[str] | None = None,
    problems: list[str] | None = None,
) -> RunReport:
    """Apply the safety rules to the proposals, act on those allowed, audit every decision."""
    problems = list(problems or [])
    examined = examined if examined is not None else Counter(p.resource.type for p in proposals)

    for proposal in proposals:
        if proposal.is_change:
            refusal = protection(
                proposal.resource, config, allow_production=proposal.rule_allows_production
            )
            if refusal:
                proposal.execute, proposal.reason = None, refusal

    limits = config.limits(function)
    too_many = blast_radius_problem(proposals, limits, examined)
    changes = [p for p in proposals if p.is_change]
    logger.info(
        "%s: %d resources examined, %d changes planned (%d counted), %s",
        function,
        sum(examined.values()),
        len(changes),
        sum(1 for p in changes if p.counts),
        "applying"
        if config.apply and not too_many
        else "dry-run"
        if not config.apply
        else "stopped",
    )
    audit.record(
        resource_type="run",
        resource_id=audit.run_id,
        action="start",
        outcome="blocked" if too_many else "started",
        reason=too_many
        or f"{len(changes)} changes planned over {sum(examined.values())} resources",
        examined=dict(examined),
        planned=len(changes),
        evaluated_at=audit.evaluated_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    )
    if too_many:
        problems.append(too_many)

    for proposal in proposals:
        _decide(proposal, config, audit, too_many, problems)
        if proposal.outcome == "failed" and not proposal.is_change:
            # A live check that failed before any change was planned (set by the caller).
            resource = proposal.resource
            problems.append(f"{resource.type} {resource.id}: {proposal.reason}")

    outcomes = Counter(p.outcome for p in proposals)
    audit.record(
        resource_type="run",
        resource_id=audit.run_id,
        action="finish",
        outcome="failed" if problems else "succeeded",
        reason="; ".join(problems) if problems else "every decision recorded",
        outcomes=dict(outcomes),
    )
    return RunReport(function, audit.run_id, not config.apply, proposals, problems)


def _decide(
    proposal: Proposal,
    config: Config,
    audit: AuditLog,
    too_many: str | None,
    problems: list[str],
) -> None:
    if not proposal.is_change:
        proposal.outcome = proposal.outcome or "skipped"
    elif too_many:
        # Not even a tag: a run past its blast radius is a rule gone wrong, not a big day.
        proposal.outcome, proposal.reason = "skipped", f"{too_many}; {proposal.reason}"
    elif not config.apply:
        proposal.outcome = "dry_run"
    else:
        _apply(proposal, problems)
    _audit(proposal, audit)


def _apply(proposal: Proposal, problems: list[str]) -> None:
    assert proposal.execute is not None
    resource = proposal.resource
    try:
        proposal.detail = proposal.execute()
        proposal.outcome = "applied"
    except NotYet as pending:
        proposal.outcome, proposal.detail = "pending", str(pending)
    except botocore.exceptions.ClientError as error:
        code = error_code(error)
        proposal.code = code
        if code in NOT_FOUND:
            proposal.outcome, proposal.detail = "gone", f"already gone ({code})"
        elif code in IN_USE:
            proposal.outcome, proposal.detail = "skipped", f"in use or changed meanwhile ({code})"
        else:
            proposal.outcome, proposal.detail = "failed", f"{code}: {_message(error)}"
            where = f"{resource.type} {resource.id} ({resource.region})"
            problems.append(f"{where}: {proposal.action} failed with {code}")
    except botocore.exceptions.BotoCoreError as error:
        # Retries spent on a connection error, a timeout: a failure of this resource only.
        proposal.code = type(error).__name__
        proposal.outcome, proposal.detail = "failed", str(error)
        problems.append(f"{resource.type} {resource.id}: {proposal.action} failed ({error})")
    except Exception as error:  # noqa: BLE001 - one resource's bug must not stop the others
        proposal.code = type(error).__name__
        proposal.outcome, proposal.detail = "failed", f"{type(error).__name__}: {error}"
        problems.append(f"{resource.type} {resource.id}: {proposal.action} failed ({error})")


def _audit(proposal: Proposal, audit: AuditLog) -> None:
    resource = proposal.resource
    fields: dict[str, Any] = {
        "account_id": resource.account_id,
        "region": resource.region,
        "resource_type": resource.type,
        "resource_id": resource.id,
        "action": proposal.action,
        "outcome": proposal.outcome,
        "reason": proposal.reason,
    }
    if proposal.detail:
        fields["detail"] = proposal.detail
    if proposal.code:
        fields["error_code"] = proposal.code
    if proposal.plan_action_id:
        fields["plan_action_id"] = proposal.plan_action_id
    audit.record(**fields)


def _message(error: botocore.exceptions.ClientError) -> str:
    return str(error.response.get("Error", {}).get("Message", ""))[:300]


def tag_value(tags: list[dict[str, str]] | None) -> dict[str, str]:
    """AWS's ``[{"Key": k, "Value": v}]`` as a dict."""
    return {item["Key"]: item.get("Value", "") for item in tags or []}
