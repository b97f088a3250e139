"""The command over S3: JSON logs for machines, one clear line and exit 1 for AWS errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from pipelines.cli import app
from tests.conftest import DEMO, FOCUS_CONVERTERS_CSV, tree_digest
from tests.pipelines.s3_source.conftest import upload

FINOPS = [sys.executable, "-m", "pipelines.cli"]
runner = CliRunner()


def test_json_logs_are_one_object_a_line_and_a_rerun_says_nothing_is_new(
    s3, bucket: str, tmp_path: Path
):
    upload(s3, DEMO / "cur", bucket, "cur")
    source = f"s3://{bucket}/cur/finops-demo"
    warehouse = str(tmp_path / "wh")
    command = [*FINOPS, "--log-format", "json", "-v", "ingest", source, "-w", warehouse]

    first = subprocess.run(command, capture_output=True, text=True, env=os.environ, check=False)
    again = subprocess.run(command, capture_output=True, text=True, env=os.environ, check=False)

    assert first.returncode == 0, first.stderr
    records = [json.loads(line) for line in first.stderr.splitlines()]
    assert {"time", "level", "logger", "message"} <= set(records[0])
    reading = [r["message"] for r in records if r["logger"] == "pipelines.ingest"]
    assert [message[:18] for message in reading] == [
        "2026-08: reading 1",
        "2026-09: reading 1",
        "2026-10: reading 1",
    ]
    assert "ingest" not in first.stderr.split("{", 1)[0]  # nothing but JSON: no progress bar
    assert again.returncode == 0
    assert "Nothing new in the source: the warehouse was left as it was." in again.stdout
    assert again.stdout.count("unchanged") == 3


def test_missing_bucket_exits_1_with_one_line_naming_it(aws_env: str, tmp_path: Path):
    result = runner.invoke(app, ["ingest", "s3://finops-no-such-bucket/cur", "-w", str(tmp_path)])

    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: s3://finops-no-such-bucket/cur/: ListObjectsV2 failed with NoSuchBucket "
        "(The specified bucket does not exist)"
    )


def test_unknown_profile_is_a_clear_error(aws_env: str, tmp_path: Path):
    result = runner.invoke(
        app, ["ingest", "s3://bucket/cur", "-w", str(tmp_path), "--profile", "nobody"]
    )

    assert result.exit_code == 1
    assert result.stderr.strip() == "error: AWS profile not found: nobody"


def test_format_that_does_not_match_the_files_is_refused(tmp_path: Path):
    warehouse = tmp_path / "wh"
    runner.invoke(app, ["ingest", str(DEMO / "cur"), "-w", str(warehouse)])
    before = tree_digest(warehouse / "line_items")

    as_focus = runner.invoke(
        app, ["ingest", str(DEMO / "cur"), "-w", str(warehouse), "--format", "focus"]
    )
    as_cur = runner.invoke(
        app, ["ingest", str(FOCUS_CONVERTERS_CSV), "-w", str(warehouse), "--format", "focus"]
    )
    as_cur2 = runner.invoke(
        app, ["ingest", str(DEMO / "cur"), "-w", str(warehouse), "--format", "cur2"]
    )
    unknown = runner.invoke(
        app, ["ingest", str(DEMO / "cur"), "-w", str(warehouse), "--format", "xml"]
    )

    assert as_focus.exit_code == 1
    assert "not a FOCUS file (no BilledCost, ...), but --format focus was given" in (
        as_focus.stderr
    )
    assert as_cur.exit_code == 1
    assert (
        f"{FOCUS_CONVERTERS_CSV}: not a FOCUS file (no BilledCost, ...), but --format focus was "
        "given (expected focus files, or --format auto)" in as_cur.stderr
    )
    assert as_cur2.exit_code == 1
    assert "looked for cur2 only" in as_cur2.stderr
    assert unknown.exit_code == 1
    assert "--format 'xml': expected one of auto, legacy-csv, legacy-parquet, cur2, focus" in (
        unknown.stderr
    )
    assert tree_digest(warehouse / "line_items") == before


def test_format_given_reads_the_same_as_detected(tmp_path: Path):
    detected = runner.invoke(app, ["ingest", str(DEMO / "cur"), "-w", str(tmp_path / "a")])
    told = runner.invoke(
        app, ["ingest", str(DEMO / "cur"), "-w", str(tmp_path / "b"), "--format", "legacy-csv"]
    )

    assert detected.exit_code == told.exit_code == 0
    assert tree_digest(tmp_path / "a" / "line_items") == tree_digest(tmp_path / "b" / "line_items")
