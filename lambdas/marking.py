"""Mark first, act after the grace period, unmark when the resource no longer qualifies.

The mark is one tag, ``finops:marked-for = <action>@<YYYY-MM-DD>``: the action planned and the
first date it may happen (today + grace days, in UTC). Each run, for each resource of a kind:

- qualifies, no mark: mark it (a tag only; optional SNS notice listing the marks of the run);
- qualifies, marked, date not reached: leave it, and say until when;
- qualifies, marked, date reached: act (the only step that counts toward the blast radius);
- no longer qualifies (attached again, now in use, ...): remove the mark, if there is one.

Protected and production resources are never marked, unmarked or acted on (safety.py).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from types import ModuleType

from lambdas.aws import Scope
from lambdas.config import CleanupRule
from lambdas.safety import Proposal, Resource

MARK_TAG = "finops:marked-for"


def mark_value(action: str, due: date) -> str:
    return f"{action}@{due.isoformat()}"


def parse_mark(value: str | None) -> tuple[str, date] | None:
    if not value or "@" not in value:
        return None
    action, _, day = value.partition("@")
    try:
        return action, date.fromisoformat(day[:10])
    except ValueError:
        return None


def evaluate(
    scope: Scope,
    kind: ModuleType,
    resource: Resource,
    rule: CleanupRule,
    now: datetime,
    *,
    blocked: str | None = None,
    plan_action_id: str | None = None,
) -> Proposal:
    """The next mark-then-act step for one resource. ``blocked``: a plan condition that fails."""
    qualifies, why = kind.check(resource, rule, now)
    if blocked:
        qualifies, why = False, blocked
    mark = parse_mark(resource.tags.get(MARK_TAG))
    common = {"rule_allows_production": rule.production, "plan_action_id": plan_action_id}

    if not qualifies:
        if mark is None:
            return Proposal(resource, "none", why, **common)

        def unmark() -> str:
            kind.remove_tags(scope, resource, [MARK_TAG])
            return f"removed {MARK_TAG}={resource.tags[MARK_TAG]}"

        return Proposal(
            resource, "unmark", f"no longer qualifies: {why}", unmark, counts=False, **common
        )

    if mark is None:
        due = now.date() + timedelta(days=rule.grace_days)
        value = mark_value(kind.ACTION, due)

        def mark_it() -> str:
            kind.set_tags(scope, resource, {MARK_TAG: value})
            return f"tagged {MARK_TAG}={value}"

        return Proposal(
            resource,
            "mark",
            f"{why}; {kind.ACTION} on or after {due} ({rule.grace_days} days' grace)",
            mark_it,
            counts=False,
            **common,
        )

    _, due = mark
    if now.date() < due:
        return Proposal(resource, "none", f"{why}; marked, grace period until {due}", **common)

    def act() -> str:
        return kind.act(scope, resource, rule, now)

    return Proposal(
        resource, kind.ACTION, f"{why}; marked, grace period ended {due}", act, **common
    )


def ec2_set_tags(scope: Scope, resource: Resource, tags: dict[str, str]) -> None:
    scope.client("ec2").create_tags(
        Resources=[resource.id], Tags=[{"Key": k, "Value": v} for k, v in tags.items()]
    )


def ec2_remove_tags(scope: Scope, resource: Resource, keys: list[str]) -> None:
    scope.client("ec2").delete_tags(Resources=[resource.id], Tags=[{"Key": k} for k in keys])


def age_days(created: datetime | None, now: datetime) -> float | None:
    return None if created is None else (now - created).total_seconds() / 86400
