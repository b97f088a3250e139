"""One entry point per function, shared by the Lambda handlers and ``finops act``.

``run_scheduler``, ``run_cleanup`` and ``run_plan`` open the audit log, run the function at
``now`` (the caller's clock: tests freeze it), save the audit log and return the report. They
raise nothing for a failed resource: the report says it, and the caller decides (the handlers
raise ``RunFailed``, the CLI exits 1).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TextIO

from lambdas import cleanup, plan, scheduler
from lambdas.audit import AuditLog
from lambdas.aws import Sessions, error_code
from lambdas.config import Config
from lambdas.errors import ConfigError
from lambdas.safety import RunReport, new_run_id


def _audit(function: str, config: Config, now: datetime, stream: TextIO | None) -> AuditLog:
    # Lines carry the wall-clock time they were written; the run id and the S3 key carry the
    # time the run evaluated its rules at (``now``, which tests and `finops act --at` set).
    return AuditLog(
        function,
        new_run_id(now),
        dry_run=not config.apply,
        location=config.audit_log,
        stream=stream,
        evaluated_at=now,
    )


def _save(audit: AuditLog, report: RunReport, s3_client: Any) -> None:
    try:
        report.audit_location = audit.save(s3_client)
    except Exception as error:  # noqa: BLE001 - the lines are on stdout already; the run fails
        report.problems.append(f"audit log not saved to {audit.location}: {error_code(error)}")


def run_scheduler(
    config: Config,
    now: datetime | None = None,
    *,
    sessions: Sessions | None = None,
    stream: TextIO | None = None,
    s3_client: Any = None,
) -> RunReport:
    now = now or datetime.now(UTC)
    audit = _audit(scheduler.FUNCTION, config, now, stream)
    report = scheduler.run(config, now, audit, sessions)
    _save(audit, report, s3_client)
    return report


def run_cleanup(
    config: Config,
    now: datetime | None = None,
    *,
    sessions: Sessions | None = None,
    stream: TextIO | None = None,
    s3_client: Any = None,
    sns_client: Any = None,
) -> RunReport:
    now = now or datetime.now(UTC)
    audit = _audit(cleanup.FUNCTION, config, now, stream)
    report = cleanup.run(config, now, audit, sessions, sns_client=sns_client)
    _save(audit, report, s3_client)
    return report


def run_plan(
    config: Config,
    location: str | None = None,
    now: datetime | None = None,
    *,
    sessions: Sessions | None = None,
    stream: TextIO | None = None,
    s3_client: Any = None,
) -> plan.ExecutionReport:
    now = now or datetime.now(UTC)
    location = location or config.plan_location
    if not location:
        raise ConfigError("no action plan given (set [plan] location or pass --plan)")
    action_plan = plan.load_plan(location, s3_client)
    audit = _audit(plan.FUNCTION, config, now, stream)
    report = plan.run(config, action_plan, now, audit, sessions, s3_client=s3_client)
    _save(audit, report.run, s3_client)
    return report
