"""The generator's CUR 2.0 layout: AWS Data Exports' folders, manifest, types and tag keys."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sample_data.generate import cur2_tag_key, generate, main

EXPORT = "finops-demo"


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory):
    out_dir = tmp_path_factory.mktemp("cur2")
    truth = generate(out_dir, rows=4_000, months=2, seed=11, redeliveries=1, layout="cur2")
    return out_dir, truth


def tree_bytes(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_files_follow_the_data_exports_layout(export):
    out_dir, _ = export

    files = sorted(tree_bytes(out_dir))

    assert files == [
        f"cur/{EXPORT}/data/BILLING_PERIOD=2026-08/{EXPORT}-00001.snappy.parquet",
        f"cur/{EXPORT}/data/BILLING_PERIOD=2026-09/{EXPORT}-00001.snappy.parquet",
        f"cur/{EXPORT}/metadata/BILLING_PERIOD=2026-08/{EXPORT}-Manifest.json",
        f"cur/{EXPORT}/metadata/BILLING_PERIOD=2026-09/{EXPORT}-Manifest.json",
        "ground_truth.json",
    ]


def test_manifest_names_the_execution_and_its_files(export):
    out_dir, truth = export
    folder = out_dir / "cur" / EXPORT / "metadata" / "BILLING_PERIOD=2026-08"

    manifest = json.loads((folder / f"{EXPORT}-Manifest.json").read_text())

    assert manifest["executionId"] == truth.periods["2026-08"].assembly_id
    assert manifest["billingPeriod"] == "2026-08"
    assert manifest["exportName"] == EXPORT
    assert manifest["dataFiles"] == [
        f"s3://finops-sample-cur/cur/{EXPORT}/data/BILLING_PERIOD=2026-08/"
        f"{EXPORT}-00001.snappy.parquet"
    ]
    schema = {column["name"]: column["type"] for column in manifest["schema"]}
    assert schema["resource_tags"] == "map<string,string>"
    assert schema["discount"] == "map<string,double>"
    assert schema["line_item_unblended_cost"] == "double"
    # Overwrite mode: an older execution of the month leaves nothing behind.
    assert truth.periods["2026-08"].superseded_assembly_ids == []


def test_parquet_has_cur2_types_and_the_ground_truth_rows(export):
    out_dir, truth = export
    path = out_dir / "cur" / EXPORT / "data" / "BILLING_PERIOD=2026-08"

    table = pq.read_table(path / f"{EXPORT}-00001.snappy.parquet")

    assert table.num_rows == truth.periods["2026-08"].rows
    assert table.schema.field("resource_tags").type == pa.map_(pa.string(), pa.string())
    assert table.schema.field("discount").type == pa.map_(pa.string(), pa.float64())
    assert table.schema.field("line_item_usage_start_date").type == pa.timestamp("ms", tz="UTC")
    unblended = math.fsum(table.column("line_item_unblended_cost").to_pylist())
    assert unblended == pytest.approx(truth.periods["2026-08"].unblended, abs=1e-6)
    keys = {key for row in table.column("resource_tags").to_pylist() for key, _ in row}
    assert keys <= {
        "aws_created_by",
        "user_env",
        "user_environment",
        "user_owner_team",
        "user_project",
        "user_team",
    }
    assert "user_team" in keys


@pytest.mark.parametrize(
    ("legacy", "cur2"),
    [
        ("user:Team", "user_team"),
        ("user:owner_team", "user_owner_team"),
        ("aws:createdBy", "aws_created_by"),
        ("user:Cost Center", "user_cost_center"),
    ],
)
def test_tag_keys_are_named_as_athena_names_them(legacy, cur2):
    assert cur2_tag_key(legacy) == cur2


def test_same_seed_gives_identical_bytes(export, tmp_path):
    out_dir, _ = export
    generate(tmp_path, rows=4_000, months=2, seed=11, redeliveries=1, layout="cur2")
    assert tree_bytes(tmp_path) == tree_bytes(out_dir)


def test_same_seed_gives_the_same_ground_truth_in_both_layouts(export, tmp_path):
    _, truth = export
    legacy = generate(tmp_path, rows=4_000, months=2, seed=11, redeliveries=1)
    for period, expected in legacy.periods.items():
        expected.superseded_assembly_ids = []
        assert truth.periods[period] == expected


def test_cli_layout_option(tmp_path, capsys):
    args = [str(tmp_path), "--rows", "2000", "--months", "1", "--layout", "cur2"]
    assert main(args) == 0
    assert capsys.readouterr().out.startswith("wrote ")
    assert list((tmp_path / "cur" / EXPORT / "data").iterdir()) == [
        tmp_path / "cur" / EXPORT / "data" / "BILLING_PERIOD=2026-08"
    ]


def test_unknown_layout_is_refused(tmp_path):
    with pytest.raises(ValueError, match="layout must be one of legacy, cur2"):
        generate(tmp_path, rows=2_000, months=1, layout="cur3")
