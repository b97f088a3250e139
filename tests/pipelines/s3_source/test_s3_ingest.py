"""S3 sources over real HTTP (moto's server): every layout, re-runs, re-deliveries, retries."""

from __future__ import annotations

import csv
import gzip
import json
import math
import shutil
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from pipelines.errors import IngestFailed, SourceError
from pipelines.ingest import ingest
from pipelines.s3 import S3Settings
from tests.conftest import DEMO, FOCUS_CONVERTERS_CSV, line_items, tree_digest
from tests.pipelines.s3_source.conftest import upload

august_ids = "SELECT identity_line_item_id FROM li WHERE billing_period = '2026-08'"
TRUTH = json.loads((DEMO / "ground_truth.json").read_text())
REPORT = "finops-demo"


def totals(warehouse: Path) -> dict[str, tuple[int, float]]:
    rows = line_items(
        warehouse,
        "SELECT billing_period, count(*), sum(line_item_unblended_cost) FROM li GROUP BY 1",
    )
    return {period: (count, round(cost, 6)) for period, count, cost in rows}


def truth_totals() -> dict[str, tuple[int, float]]:
    return {
        period: (values["rows"], round(values["unblended"], 6))
        for period, values in TRUTH["periods"].items()
    }


@pytest.fixture
def demo_in_s3(s3, bucket: str) -> str:
    upload(s3, DEMO / "cur", bucket, "cur")
    return f"s3://{bucket}/cur/{REPORT}"


# --- every layout from S3 ----------------------------------------------------------------------


def test_legacy_csv_export_from_s3_gives_the_generators_totals(demo_in_s3: str, tmp_path: Path):
    result = ingest(demo_in_s3, tmp_path / "wh")

    assert totals(tmp_path / "wh") == truth_totals()
    august = next(r for r in result.records if r.billing_period == "2026-08")
    assert august.source == demo_in_s3
    assert august.format == "legacy-csv"
    assert august.assembly_id == TRUTH["periods"]["2026-08"]["assembly_id"]
    assert august.files == [
        f"{demo_in_s3}/20260801-20260901/{august.assembly_id}/{REPORT}-00001.csv.gz"
    ]
    # The mirror of the listing lives in the run's staging folder and is gone afterwards.
    assert not (tmp_path / "wh" / "_staging").exists()


def test_unchanged_s3_source_downloads_no_data_and_changes_nothing(
    demo_in_s3: str, tmp_path: Path, faults
):
    warehouse = tmp_path / "wh"
    ingest(demo_in_s3, warehouse)
    before = tree_digest(warehouse / "line_items")
    downloads = faults.count("GetObject")

    again = ingest(demo_in_s3, warehouse)

    assert [r.outcome for r in again.records] == ["unchanged"] * 3
    assert tree_digest(warehouse / "line_items") == before
    # Only the three period manifests were read again: no data file was downloaded.
    manifests_only = [key for op, key in faults.calls[-20:] if op == "GetObject"]
    assert faults.count("GetObject") - downloads == 3
    assert all(key.endswith("-Manifest.json") for key in manifests_only[-3:])


def test_athena_parquet_from_s3_matches_the_raw_files(
    athena_layout: Path, s3, bucket: str, tmp_path: Path
):
    # The first 5,000 line items of each real month (real schemas and their drift), and the
    # status table AWS writes beside them.
    for month_file in athena_layout.glob("year=2018/month=*/*.parquet"):
        pq.write_table(pq.ParquetFile(month_file).read_row_group(0).slice(0, 5_000), month_file)
    upload(s3, athena_layout, bucket, "athena/workshop")
    expected = {}
    for month_folder in sorted(athena_layout.glob("year=2018/month=*")):
        table = pq.read_table(next(month_folder.glob("*.parquet")))
        cost = math.fsum(table.column("line_item_unblended_cost").to_pylist())
        expected[f"2018-{int(month_folder.name.split('=')[1]):02d}"] = (
            table.num_rows,
            round(cost, 6),
        )

    result = ingest(f"s3://{bucket}/athena/workshop/", tmp_path / "wh")

    assert totals(tmp_path / "wh") == expected
    assert {r.format for r in result.records} == {"legacy-parquet"}


def test_cur2_export_from_s3_with_create_new_version_reads_the_manifests_execution(
    cur2_export: Path, s3, bucket: str, tmp_path: Path
):
    # Create-new-version: each execution writes its own folder under the period; the
    # manifest names the current one. A stale execution's file sits beside it in S3.
    data = cur2_export / REPORT / "data" / "BILLING_PERIOD=2026-08"
    manifest_file = cur2_export / REPORT / "metadata" / "BILLING_PERIOD=2026-08"
    manifest_file = next(manifest_file.glob("*-Manifest.json"))
    manifest = json.loads(manifest_file.read_text())
    (data / "exec-new").mkdir()
    (data / "exec-old").mkdir()
    for name in [p.name for p in data.glob("*.parquet")]:
        shutil.copy(data / name, data / "exec-old" / name)
        (data / name).rename(data / "exec-new" / name)
    manifest["dataFiles"] = [
        uri.replace("BILLING_PERIOD=2026-08/", "BILLING_PERIOD=2026-08/exec-new/")
        for uri in manifest["dataFiles"]
    ]
    manifest_file.write_text(json.dumps(manifest))
    expected = {}
    for period_folder in sorted((cur2_export / REPORT / "data").glob("BILLING_PERIOD=*")):
        files = sorted(period_folder.glob("*.parquet")) or sorted(
            (period_folder / "exec-new").glob("*.parquet")
        )
        tables = [pq.read_table(f, columns=["line_item_unblended_cost"]) for f in files]
        costs = [v for t in tables for v in t.column(0).to_pylist()]
        expected[period_folder.name.split("=")[1]] = (len(costs), round(math.fsum(costs), 6))
    upload(s3, cur2_export, bucket, "exports")

    result = ingest(f"s3://{bucket}/exports/{REPORT}", tmp_path / "wh")

    assert totals(tmp_path / "wh") == expected
    assert {r.format for r in result.records} == {"cur2"}
    august = next(r for r in result.records if r.billing_period == "2026-08")
    assert all("/exec-new/" in name for name in august.files)


def test_focus_file_from_s3(s3, bucket: str, tmp_path: Path):
    s3.upload_file(str(FOCUS_CONVERTERS_CSV), bucket, "focus/export.csv")
    local = ingest(str(FOCUS_CONVERTERS_CSV), tmp_path / "local")

    result = ingest(f"s3://{bucket}/focus/export.csv", tmp_path / "wh", source_format="auto")

    assert totals(tmp_path / "wh") == totals(tmp_path / "local")
    assert result.records[0].rows_out == local.records[0].rows_out
    assert result.records[0].files == [f"s3://{bucket}/focus/export.csv"]


# --- re-deliveries ------------------------------------------------------------------------------


def test_new_assembly_in_s3_replaces_the_month_and_its_rows_are_gone(
    demo_in_s3: str, s3, bucket: str, tmp_path: Path
):
    warehouse = tmp_path / "wh"
    ingest(demo_in_s3, warehouse)
    period = "20260801-20260901"
    manifest_key = f"cur/{REPORT}/{period}/{REPORT}-Manifest.json"
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=manifest_key)["Body"].read())
    old_id = manifest["assemblyId"]
    # New-version mode: a new assembly folder holding the first 100 rows of the old one.
    old_key = manifest["reportKeys"][0]
    old_key = old_key[old_key.index(f"{REPORT}/{period}") :]
    text = gzip.decompress(
        s3.get_object(Bucket=bucket, Key=f"cur/{old_key}")["Body"].read()
    ).decode()
    lines = text.splitlines(keepends=True)
    new_key = f"cur/{REPORT}/{period}/new-assembly/{REPORT}-00001.csv.gz"
    s3.put_object(Bucket=bucket, Key=new_key, Body=gzip.compress("".join(lines[:101]).encode()))
    manifest["assemblyId"] = "new-assembly"
    manifest["reportKeys"] = [new_key]
    s3.put_object(Bucket=bucket, Key=manifest_key, Body=json.dumps(manifest).encode())

    result = ingest(demo_in_s3, warehouse)

    assert [r.outcome for r in result.records] == ["ingested", "unchanged", "unchanged"]
    assert result.records[0].assembly_id == "new-assembly" != old_id
    kept = {row["identity/LineItemId"] for row in csv.DictReader(lines[:101])}
    gone = {row["identity/LineItemId"] for row in csv.DictReader(lines)} - kept
    ids = {row[0] for row in line_items(warehouse, august_ids)}
    assert ids == kept
    assert not ids & gone


def test_overwrite_mode_rewrite_at_the_same_key_is_read_by_its_new_etag(
    s3, bucket: str, tmp_path: Path
):
    # Overwrite mode: the files sit in the period folder and are rewritten in place; the
    # manifest is rewritten too. Nothing but the ETag tells the new file from the old one.
    header, *rows = FOCUS_CONVERTERS_CSV.read_text(encoding="utf-8").splitlines(keepends=True)
    key = "cur/ow/20231101-20231201/ow-00001.csv.gz"
    manifest_key = "cur/ow/20231101-20231201/ow-Manifest.json"
    manifest = {
        "assemblyId": "same-id",  # legacy overwrite-mode manifests may keep the same id
        "billingPeriod": {"start": "20231101T000000.000Z", "end": "20231201T000000.000Z"},
        "reportKeys": [key],
    }
    s3.put_object(Bucket=bucket, Key=key, Body=gzip.compress("".join([header, *rows]).encode()))
    s3.put_object(Bucket=bucket, Key=manifest_key, Body=json.dumps(manifest).encode())
    warehouse = tmp_path / "wh"
    ingest(f"s3://{bucket}/cur/ow", warehouse)
    assert totals(warehouse)["2023-11"][0] == len(rows)

    s3.put_object(Bucket=bucket, Key=key, Body=gzip.compress("".join([header, *rows[:7]]).encode()))
    result = ingest(f"s3://{bucket}/cur/ow", warehouse)

    assert [r.outcome for r in result.records] == ["ingested"]
    assert totals(warehouse)["2023-11"][0] == 7


# --- retries and errors -------------------------------------------------------------------------


def test_throttled_download_is_retried_and_succeeds(demo_in_s3: str, tmp_path: Path, faults):
    faults.fail("GetObject", 503, "SlowDown", times=2)

    result = ingest(demo_in_s3, tmp_path / "wh")

    assert totals(tmp_path / "wh") == truth_totals()
    # The first GetObject (a manifest) was answered SlowDown twice, then read: 3 attempts.
    first_key = faults.calls[[op for op, _ in faults.calls].index("GetObject")][1]
    assert faults.count("GetObject", first_key) == 3
    assert len(result.ingested) == 3


def test_dropped_connection_mid_download_is_retried(demo_in_s3: str, tmp_path: Path, faults):
    key = (
        f"cur/{REPORT}/20260901-20261001/{TRUTH['periods']['2026-09']['assembly_id']}/"
        f"{REPORT}-00001.csv.gz"
    )
    faults.drop_body(key, times=2)

    ingest(demo_in_s3, tmp_path / "wh")

    assert faults.count("GetObject", key) == 3
    assert totals(tmp_path / "wh") == truth_totals()


@pytest.mark.parametrize(
    ("status", "code"), [(403, "AccessDenied"), (404, "NoSuchKey"), (404, "NoSuchBucket")]
)
def test_error_a_retry_cannot_fix_is_not_retried_and_keeps_the_warehouse(
    demo_in_s3: str, tmp_path: Path, faults, status: int, code: str
):
    warehouse = tmp_path / "wh"
    ingest(demo_in_s3, warehouse, periods=["2026-08"])
    before = tree_digest(warehouse / "line_items")
    calls_before = faults.count("GetObject")
    # The manifests are read first (3), then September's data file is refused.
    key = (
        f"cur/{REPORT}/20260901-20261001/{TRUTH['periods']['2026-09']['assembly_id']}/"
        f"{REPORT}-00001.csv.gz"
    )
    faults.fail_key(key, status, code)

    with pytest.raises(IngestFailed) as caught:
        ingest(demo_in_s3, warehouse, periods=["2026-09"])

    message = str(caught.value)
    assert f"s3://{demo_in_s3.split('/')[2]}/{key}" in message
    assert f"GetObject failed with {code}" in message
    assert faults.count("GetObject", key) == 1  # not retried
    assert faults.count("GetObject") - calls_before == 3 + 1  # the manifests, September
    assert tree_digest(warehouse / "line_items") == before
    assert not (warehouse / "_staging").exists()


def test_throttling_that_never_ends_gives_up_with_the_code_and_attempts(
    demo_in_s3: str, tmp_path: Path, faults, monkeypatch
):
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "4")
    faults.fail("ListObjectsV2", 503, "SlowDown", times=10)

    with pytest.raises(SourceError) as caught:
        ingest(demo_in_s3, tmp_path / "wh")

    assert str(caught.value) == (
        f"{demo_in_s3}/: ListObjectsV2 failed with SlowDown (injected SlowDown) after 4 attempts"
    )
    assert faults.count("ListObjectsV2") == 4
    assert not (tmp_path / "wh" / "line_items").exists()


def test_missing_bucket_is_named_with_its_code(aws_env: str, tmp_path: Path):
    with pytest.raises(SourceError) as caught:
        ingest("s3://no-such-bucket-finops/cur/", tmp_path / "wh")

    assert str(caught.value) == (
        "s3://no-such-bucket-finops/cur/: ListObjectsV2 failed with NoSuchBucket "
        "(The specified bucket does not exist)"
    )
    runs = duckdb.sql(f"SELECT outcome, message FROM '{tmp_path}/wh/_runs/*.parquet'").fetchall()
    assert runs == [("failed", str(caught.value))]


# --- settings -----------------------------------------------------------------------------------


def test_assumed_role_reads_the_bucket(demo_in_s3: str, tmp_path: Path, faults, monkeypatch):
    from pipelines import s3 as s3_module

    keys: list[str] = []
    original = s3_module.client

    def spy(settings=None):  # noqa: ANN001, ANN202
        made = original(settings)
        keys.append(made._request_signer._credentials.access_key)
        return made

    monkeypatch.setattr(s3_module, "client", spy)
    role = "arn:aws:iam::123456789012:role/finops-read"

    ingest(demo_in_s3, tmp_path / "wh", s3=S3Settings(role_arn=role))

    assert totals(tmp_path / "wh") == truth_totals()
    assert keys and keys[0] != "testing"  # STS's temporary key, not the environment's


def test_profile_from_the_aws_config_file(demo_in_s3: str, tmp_path: Path, monkeypatch):
    config = tmp_path / "config"
    config.write_text(
        "[profile cur-reader]\nregion = eu-west-1\n"
        "aws_access_key_id = profilekey\naws_secret_access_key = profilesecret\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)

    ingest(demo_in_s3, tmp_path / "wh", s3=S3Settings(profile="cur-reader"))

    assert totals(tmp_path / "wh") == truth_totals()


def test_file_rewritten_between_listing_and_download_fails_instead_of_mixing(
    demo_in_s3: str, s3, bucket: str, tmp_path: Path, monkeypatch
):
    from pipelines import s3 as s3_module

    key = (
        f"cur/{REPORT}/20260801-20260901/{TRUTH['periods']['2026-08']['assembly_id']}/"
        f"{REPORT}-00001.csv.gz"
    )
    listed = s3_module.mirror

    def then_rewritten(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        found = listed(*args, **kwargs)
        s3.put_object(Bucket=bucket, Key=key, Body=gzip.compress(b"rewritten by AWS"))
        return found

    monkeypatch.setattr(s3_module, "mirror", then_rewritten)

    with pytest.raises(IngestFailed) as caught:
        ingest(demo_in_s3, tmp_path / "wh")

    assert f"s3://{bucket}/{key}: GetObject failed with PreconditionFailed" in str(caught.value)
    assert not (tmp_path / "wh" / "line_items").exists()
