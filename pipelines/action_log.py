"""The plan executor's execution logs, loaded into the warehouse for the realized_savings mart.

The executor (``lambdas/plan.py``) writes one JSON-lines file per run, ``<run_id>.jsonl``, to
S3 or a folder. ``ingest_action_log`` reads such files (a file, a folder of them, or an
``s3://`` prefix) and writes each as ``WAREHOUSE/action_log/<run_id>.parquet`` with the fixed
schema below; a file already loaded is replaced, so loading twice is a no-op. ``finops build``
exposes the files as the ``action_log`` view (an empty view with these columns when none was
loaded yet), which ``queries/marts/realized_savings.sql`` reads.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from lambdas.safety import OUTCOMES
from pipelines.errors import InputError

logger = logging.getLogger(__name__)

FOLDER = "action_log"
#: The execution log's columns, as lambdas/plan.py writes them (schema_version 1).
SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("executed_at", pa.timestamp("us")),
        ("dry_run", pa.bool_()),
        ("plan_generated_at", pa.string()),
        ("action_id", pa.string()),
        ("kind", pa.string()),
        ("action", pa.string()),
        ("step", pa.string()),
        ("outcome", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("resource_type", pa.string()),
        ("resource_id", pa.string()),
        ("live_id", pa.string()),
        ("account_id", pa.string()),
        ("region", pa.string()),
        ("estimated_monthly_saving", pa.float64()),
        ("currency", pa.string()),
    ]
)
_REQUIRED = ("run_id", "executed_at", "action_id", "action", "step", "outcome", "resource_id")
_RUN_ID = re.compile(r"^[A-Za-z0-9T:_.-]+$")


@dataclass(frozen=True)
class LoadedLog:
    source: str
    run_id: str
    rows: int
    target: Path


def ingest_action_log(source: str, warehouse: Path) -> list[LoadedLog]:
    """Load every ``*.jsonl`` execution log under ``source`` into ``warehouse/action_log/``.

    Raises:
        InputError: a file that is not an execution log (names the file, line and field).
    """
    files = _read_sources(source)
    if not files:
        raise InputError(source, "no execution log found", expected="<run_id>.jsonl files")
    # Every file is checked before any is written: a bad one loads nothing.
    parsed = []
    for name, text in files:
        table = _parse(name, text)
        run_ids = set(table.column("run_id").to_pylist())
        if len(run_ids) != 1:
            raise InputError(name, f"holds {len(run_ids)} runs", expected="one run per file")
        (run_id,) = run_ids
        if not _RUN_ID.match(run_id):
            raise InputError(name, f"run_id {run_id!r} cannot name a file")
        parsed.append((name, run_id, table))

    loaded = []
    folder = warehouse / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    for name, run_id, table in parsed:
        target = folder / f"{run_id}.parquet"
        partial = target.with_name(f".{target.name}.partial")
        pq.write_table(table, partial, compression="zstd")
        os.replace(partial, target)
        loaded.append(LoadedLog(name, run_id, table.num_rows, target))
        logger.info("loaded %d execution log rows of run %s from %s", table.num_rows, run_id, name)
    return loaded


def _read_sources(source: str) -> list[tuple[str, str]]:
    if source.startswith("s3://"):
        from pipelines import s3

        bucket, prefix = s3.parse_url(source)
        client = s3.client()
        found = []
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                if item["Key"].endswith(".jsonl"):
                    body = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
                    found.append((f"s3://{bucket}/{item['Key']}", body.decode("utf-8")))
        return found
    path = Path(source)
    if path.is_file():
        return [(str(path), path.read_text(encoding="utf-8"))]
    if not path.is_dir():
        raise InputError(source, "no such file or folder")
    return [(str(p), p.read_text(encoding="utf-8")) for p in sorted(path.rglob("*.jsonl"))]


def _parse(name: str, text: str) -> pa.Table:
    rows, numbers = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as error:
            raise InputError(name, f"not JSON ({error.msg})", row=number) from None
        if not isinstance(raw, dict):
            raise InputError(name, f"a JSON {type(raw).__name__}", row=number, expected="an object")
        if raw.get("schema_version") != 1:
            raise InputError(
                name, f"schema_version {raw.get('schema_version')!r}", row=number, expected="1"
            )
        for field in _REQUIRED:
            if not raw.get(field):
                raise InputError(name, "missing value", row=number, column=field)
        # realized_savings picks the actions carried out by outcome: an unknown one is a log
        # that was not written by the executor, or was edited.
        if raw["outcome"] not in OUTCOMES:
            raise InputError(
                name,
                f"outcome {raw['outcome']!r}",
                row=number,
                column="outcome",
                expected=f"one of {', '.join(OUTCOMES)}",
            )
        row = {field.name: raw.get(field.name) for field in SCHEMA}
        try:
            stamp = datetime.fromisoformat(str(raw["executed_at"]).replace("Z", "+00:00"))
        except ValueError:
            raise InputError(
                name, "not a timestamp", row=number, column="executed_at", expected="ISO 8601"
            ) from None
        row["executed_at"] = stamp.replace(tzinfo=None)  # UTC, as the warehouse keeps times
        saving = raw.get("estimated_monthly_saving")
        try:
            row["estimated_monthly_saving"] = None if saving is None else float(saving)
        except (TypeError, ValueError):
            raise InputError(
                name,
                f"{saving!r} is not a number",
                row=number,
                column="estimated_monthly_saving",
                expected="a number",
            ) from None
        row["dry_run"] = bool(raw.get("dry_run"))
        rows.append(row)
        numbers.append(number)
    try:
        return pa.Table.from_pylist(rows, schema=SCHEMA)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        for number, row in zip(numbers, rows, strict=True):
            _check_types(name, number, row)
        raise


def _check_types(name: str, number: int, row: dict) -> None:
    """Name the line and field of a value of the wrong type (a number as an id...)."""
    for field in SCHEMA:
        try:
            pa.array([row[field.name]], type=field.type)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            raise InputError(
                name,
                f"{row[field.name]!r} is not of type {field.type}",
                row=number,
                column=field.name,
            ) from None
