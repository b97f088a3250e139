"""The audit log: every decision of a run as one JSON object per line.

Each line goes to stdout as it is made (CloudWatch Logs keeps a Lambda's stdout) and the whole
run is written once more, at the end, to ``<audit_log>/audit/<function>/YYYY/MM/DD/<run_id>.jsonl``
(S3 or a local folder). Fields of every line: ``time``, ``run_id``, ``function``, ``dry_run``,
``account_id``, ``region``, ``resource_type``, ``resource_id``, ``action``, ``outcome``
(``applied``, ``dry_run``, ``skipped``, ``failed``, ``gone``, ``pending``), ``reason``, and
where they apply ``error_code`` and ``plan_action_id``. A line with ``resource_type`` ``run``
opens and closes each run with its counts.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from lambdas.storage import write_text


class AuditLog:
    def __init__(
        self,
        function: str,
        run_id: str,
        *,
        dry_run: bool,
        location: str | None = None,
        stream: TextIO | None = None,
        evaluated_at: datetime | None = None,
    ) -> None:
        self.function = function
        self.run_id = run_id
        self.dry_run = dry_run
        self.location = location
        self.stream = stream if stream is not None else sys.stdout
        self.evaluated_at = evaluated_at or datetime.now(UTC)
        self.records: list[dict[str, Any]] = []

    def record(self, **fields: Any) -> dict[str, Any]:
        line = {
            "time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "run_id": self.run_id,
            "function": self.function,
            "dry_run": self.dry_run,
            **fields,
        }
        self.records.append(line)
        self.stream.write(json.dumps(line, default=str, sort_keys=False) + "\n")
        self.stream.flush()
        return line

    def save(self, s3_client: Any = None) -> str | None:
        """Write the run's lines to the audit location; returns where, or None without one."""
        if not self.location:
            return None
        day = self.evaluated_at.astimezone(UTC).strftime("%Y/%m/%d")
        text = "".join(json.dumps(line, default=str) + "\n" for line in self.records)
        return write_text(
            self.location, f"audit/{self.function}/{day}/{self.run_id}.jsonl", text, s3_client
        )
