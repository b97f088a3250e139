"""The three Lambda handlers: read the configuration once, run, fail loudly when the run failed.

The configuration comes from ``FINOPS_ACT_CONFIG`` (an ``s3://`` URL, a file in the package,
or JSON text) and is read at cold start, once per container. Each handler returns a summary
and raises ``RunFailed`` after the audit log is saved when anything failed, so the function's
Errors metric (and an alarm on it) sees it.
"""

from __future__ import annotations

import logging
import urllib.parse
from typing import Any

from lambdas import config as config_module
from lambdas.errors import RunFailed
from lambdas.runs import run_cleanup, run_plan, run_scheduler
from lambdas.safety import RunReport

logging.getLogger().setLevel(logging.INFO)
_CONFIG: config_module.Config | None = None


def _config() -> config_module.Config:
    global _CONFIG
    if _CONFIG is None:
        _CONFIG = config_module.load()
    return _CONFIG


def _summary(report: RunReport) -> dict[str, Any]:
    if report.failed:
        raise RunFailed(report.function, report.run_id, report.problems)
    return {
        "function": report.function,
        "run_id": report.run_id,
        "dry_run": report.dry_run,
        "outcomes": dict(report.outcomes()),
        "audit_log": report.audit_location,
    }


def scheduler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _summary(run_scheduler(_config()))


def cleanup(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _summary(run_cleanup(_config()))


def plan(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # An S3 event (a new plan object) names the plan; a schedule uses the configured one.
    location = None
    records = (event or {}).get("Records") or []
    if records and "s3" in records[0]:
        s3 = records[0]["s3"]
        # S3 events carry the key URL-encoded: "p/action plan.json" arrives as "p/action+plan.json".
        key = urllib.parse.unquote_plus(s3["object"]["key"])
        location = f"s3://{s3['bucket']['name']}/{key}"
    report = run_plan(_config(), location)
    summary = _summary(report.run)
    summary["execution_log"] = report.log_location
    return summary
