"""The clean-up: every enabled kind, in every account and region, through mark-then-act.

Kinds (one module each): unattached EBS volumes (snapshot, then delete), old snapshots no AMI
uses, unassociated Elastic IPs, unused network interfaces, load balancers with no healthy
target. With ``notify_topic_arn`` set, one SNS message per run lists what was marked.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from datetime import datetime
from types import ModuleType
from typing import Any

from lambdas import (
    elastic_ips,
    idle_load_balancers,
    marking,
    network_interfaces,
    old_snapshots,
    unattached_volumes,
)
from lambdas.audit import AuditLog
from lambdas.aws import Sessions, error_code, home_client
from lambdas.config import Config
from lambdas.safety import Proposal, RunReport, execute_proposals

logger = logging.getLogger(__name__)

FUNCTION = "cleanup"
KINDS: dict[str, ModuleType] = {
    module.KIND: module
    for module in (
        unattached_volumes,
        old_snapshots,
        elastic_ips,
        network_interfaces,
        idle_load_balancers,
    )
}
NOTIFY_PERMISSIONS = {"sns:Publish"}
PERMISSIONS = set().union(*(kind.PERMISSIONS for kind in KINDS.values()))


def run(
    config: Config,
    now: datetime,
    audit: AuditLog,
    sessions: Sessions | None = None,
    *,
    sns_client: Any = None,
) -> RunReport:
    sessions = sessions or Sessions(config)
    proposals: list[Proposal] = []
    problems: list[str] = []
    for scope in sessions.scopes():
        for name, kind in KINDS.items():
            rule = config.rule(name)
            if not rule.enabled:
                continue
            try:
                resources = kind.find(scope)
            except Exception as error:  # noqa: BLE001 - one kind failing must not stop the rest
                code = error_code(error)
                problem = f"{scope.name}: listing {name} failed with {code}"
                audit.record(
                    account_id=scope.account_id,
                    region=scope.region,
                    resource_type="listing",
                    resource_id=name,
                    action="list",
                    outcome="failed",
                    reason=problem,
                    error_code=code,
                )
                problems.append(problem)
                continue
            proposals.extend(marking.evaluate(scope, kind, r, rule, now) for r in resources)

    examined = Counter(proposal.resource.type for proposal in proposals)
    report = execute_proposals(
        FUNCTION, proposals, config, audit, examined=examined, problems=problems
    )
    notify(config, report, sns_client)
    return report


def notify(config: Config, report: RunReport, sns_client: Any = None) -> None:
    """One SNS message listing the resources this run marked, when a topic is configured."""
    marked = [p for p in report.proposals if p.action == "mark" and p.outcome == "applied"]
    if not config.notify_topic_arn or not marked:
        return
    lines = [
        f"{p.resource.account_id} {p.resource.region} {p.resource.type} {p.resource.id}: {p.reason}"
        for p in marked
    ]
    sns = sns_client if sns_client is not None else home_client("sns")
    try:
        sns.publish(
            TopicArn=config.notify_topic_arn,
            Subject=f"finops clean-up: {len(marked)} resources marked"[:100],
            Message="\n".join(lines) + "\n\n" + json.dumps({"run_id": report.run_id}),
        )
    except Exception as error:  # noqa: BLE001 - a failed notice fails the run, not the marks
        report.problems.append(
            f"notification to {config.notify_topic_arn} failed with {error_code(error)}"
        )
