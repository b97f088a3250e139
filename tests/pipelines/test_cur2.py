"""CUR 2.0 (AWS Data Exports) as a source: detected by its layout, read as its manifest says."""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import shutil
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from pipelines.errors import ConfigError, IngestFailed, InputError
from pipelines.ingest import ingest
from pipelines.models import build
from pipelines.sources import locate
from sample_data.generate import GroundTruth, generate
from tests.conftest import line_items, tree_digest

EXPORT = "finops-demo"


@pytest.fixture(scope="module")
def cur2_sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GroundTruth]:
    root = tmp_path_factory.mktemp("cur2")
    truth = generate(root, rows=6_000, months=2, seed=7, layout="cur2")
    return root / "cur", truth


@pytest.fixture
def export(tmp_path: Path, cur2_sample: tuple[Path, GroundTruth]) -> Path:
    """A private copy of the generated export, for tests that change it."""
    copy = tmp_path / "cur"
    shutil.copytree(cur2_sample[0], copy)
    return copy


def data_folder(export: Path, period: str) -> Path:
    return export / EXPORT / "data" / f"BILLING_PERIOD={period}"


def manifest_path(export: Path, period: str) -> Path:
    return export / EXPORT / "metadata" / f"BILLING_PERIOD={period}" / f"{EXPORT}-Manifest.json"


# --- detection ---------------------------------------------------------------------------------


def test_data_export_is_detected_with_its_manifests(cur2_sample):
    source, truth = cur2_sample

    located = locate(str(source))

    assert located.failures == []
    assert [d.billing_period for d in located.deliveries] == ["2026-08", "2026-09"]
    for delivery in located.deliveries:
        assert delivery.layout == "cur2_data_export"
        assert delivery.assembly_id == truth.periods[delivery.billing_period].assembly_id
        assert [file.name for file in delivery.files] == [f"{EXPORT}-00001.snappy.parquet"]


def test_one_billing_period_folder_or_its_manifest_can_be_the_source(cur2_sample):
    source, truth = cur2_sample

    by_folder = locate(str(data_folder(source, "2026-09"))).deliveries
    by_manifest = locate(str(manifest_path(source, "2026-09"))).deliveries

    for deliveries in (by_folder, by_manifest):
        assert [d.billing_period for d in deliveries] == ["2026-09"]
        assert deliveries[0].assembly_id == truth.periods["2026-09"].assembly_id
    assert by_folder[0].fingerprint == by_manifest[0].fingerprint


def test_without_a_manifest_every_data_file_of_the_period_is_read(export: Path):
    shutil.rmtree(export / EXPORT / "metadata")
    extra = data_folder(export, "2026-08") / f"{EXPORT}-00002.snappy.parquet"
    extra.write_bytes(b"")

    located = locate(str(export))

    august = located.deliveries[0]
    assert august.layout == "cur2_data_export"
    assert august.assembly_id is None
    assert [file.name for file in august.files] == [
        f"{EXPORT}-00001.snappy.parquet",
        f"{EXPORT}-00002.snappy.parquet",
    ]


def test_legacy_layouts_are_not_taken_for_data_exports(tmp_path: Path):
    generate(tmp_path / "legacy", rows=2_000, months=1, seed=3)

    located = locate(str(tmp_path / "legacy" / "cur"))

    assert [d.layout for d in located.deliveries] == ["legacy_csv_manifest"]


# --- the manifest decides --------------------------------------------------------------------


def test_stray_file_beside_the_manifest_named_files_is_ignored(export: Path, cur2_sample):
    truth = cur2_sample[1]
    folder = data_folder(export, "2026-08")
    # An overwrite-mode export replaces its files in place; anything else there is not current.
    shutil.copy(folder / f"{EXPORT}-00001.snappy.parquet", folder / "old-00007.snappy.parquet")
    warehouse = export.parent / "wh"

    ingest(str(export), warehouse)

    counts = dict(line_items(warehouse, "SELECT billing_period, count(*) FROM li GROUP BY 1"))
    assert counts == {period: p.rows for period, p in truth.periods.items()}


def test_unchanged_rerun_changes_nothing(export: Path):
    warehouse = export.parent / "wh"
    ingest(str(export), warehouse)
    before = tree_digest(warehouse / "line_items")

    again = ingest(str(export), warehouse)

    assert [record.outcome for record in again.records] == ["unchanged", "unchanged"]
    assert tree_digest(warehouse / "line_items") == before


def test_new_execution_replaces_the_month(export: Path, cur2_sample):
    truth = cur2_sample[1]
    warehouse = export.parent / "wh"
    ingest(str(export), warehouse)

    # A mid-month execution: the same file name, only the first ten days, a new execution id.
    file = data_folder(export, "2026-08") / f"{EXPORT}-00001.snappy.parquet"
    table = pq.read_table(file)
    early = table.filter(
        pc.less(
            table.column("line_item_usage_start_date"),
            pa.scalar(datetime(2026, 8, 11), pa.timestamp("ms", tz="UTC")),
        )
    )
    assert 0 < early.num_rows < table.num_rows
    pq.write_table(early, file, compression="snappy")
    manifest = json.loads(manifest_path(export, "2026-08").read_text())
    manifest["executionId"] = "00000000-0000-4000-8000-000000000002"
    manifest_path(export, "2026-08").write_text(json.dumps(manifest))

    result = ingest(str(export), warehouse)

    outcomes = {record.billing_period: record.outcome for record in result.records}
    assert outcomes == {"2026-08": "ingested", "2026-09": "unchanged"}
    rows, cost = line_items(
        warehouse,
        "SELECT count(*), sum(line_item_unblended_cost) FROM li WHERE billing_period = '2026-08'",
    )[0]
    assert rows == early.num_rows
    expected = math.fsum(early.column("line_item_unblended_cost").to_pylist())
    assert cost == pytest.approx(expected, abs=1e-9)
    september = line_items(warehouse, "SELECT count(*) FROM li WHERE billing_period = '2026-09'")
    assert september == [(truth.periods["2026-09"].rows,)]


def test_manifest_naming_a_missing_file_is_refused_and_the_month_kept(export: Path):
    warehouse = export.parent / "wh"
    ingest(str(export), warehouse)
    manifest = json.loads(manifest_path(export, "2026-08").read_text())
    manifest["executionId"] = "00000000-0000-4000-8000-000000000003"
    manifest["dataFiles"].append(manifest["dataFiles"][0].replace("00001", "00002"))
    manifest_path(export, "2026-08").write_text(json.dumps(manifest))
    before = tree_digest(warehouse / "line_items")

    with pytest.raises(IngestFailed) as caught:
        ingest(str(export), warehouse)

    assert f"{EXPORT}-00002.snappy.parquet" in str(caught.value)
    assert "which is missing" in str(caught.value)
    assert tree_digest(warehouse / "line_items") == before


# --- map columns -----------------------------------------------------------------------------

CUR2_FIXED = {
    "identity_line_item_id": ["id-1", "id-2"],
    "bill_billing_period_start_date": ["2026-08-01T00:00:00.000Z"] * 2,
    "line_item_line_item_type": ["Usage", "Usage"],
    "line_item_usage_start_date": ["2026-08-03T10:00:00.000Z", "2026-08-03T11:00:00.000Z"],
    "line_item_unblended_cost": ["1.25", "2.5"],
}
# Row 1 has an empty tag value, which is no tag; row 2 has no tags at all.
TAGS = [{"user_team": "data", "user_env": "", "aws_created_by": "terraform"}, {}]
PRODUCT = [{"region": "us-east-1", "vcpu": "4"}, {"region": "eu-west-1"}]
DISCOUNT = [{"bundled_discount": -0.25}, {}]
COST_CATEGORY = [{}, {"cost_center": "cc-42"}]


def write_cur2_parquet(folder: Path) -> Path:
    folder.mkdir(parents=True)
    columns = {name: pa.array(values) for name, values in CUR2_FIXED.items()}
    columns["line_item_unblended_cost"] = pa.array([1.25, 2.5])
    for name in ("bill_billing_period_start_date", "line_item_usage_start_date"):
        parsed = [datetime.fromisoformat(text.replace("Z", "")) for text in CUR2_FIXED[name]]
        columns[name] = pa.array(parsed, pa.timestamp("ms", tz="UTC"))
    columns["resource_tags"] = pa.array(
        [list(t.items()) for t in TAGS], pa.map_(pa.string(), pa.string())
    )
    columns["product"] = pa.array(
        [list(p.items()) for p in PRODUCT], pa.map_(pa.string(), pa.string())
    )
    columns["discount"] = pa.array(
        [list(d.items()) for d in DISCOUNT], pa.map_(pa.string(), pa.float64())
    )
    columns["cost_category"] = pa.array(
        [list(c.items()) for c in COST_CATEGORY], pa.map_(pa.string(), pa.string())
    )
    path = folder / "mine-00001.snappy.parquet"
    pq.write_table(pa.table(columns), path, compression="snappy")
    return path


def write_cur2_csv(folder: Path, tags: list[str] | None = None) -> Path:
    folder.mkdir(parents=True)
    header = [*CUR2_FIXED, "resource_tags", "product", "discount", "cost_category"]
    tag_cells = tags or [json.dumps(t) for t in TAGS]
    rows = [
        [
            *(CUR2_FIXED[name][i] for name in CUR2_FIXED),
            tag_cells[i],
            json.dumps(PRODUCT[i]),
            json.dumps(DISCOUNT[i]) if DISCOUNT[i] else "",
            json.dumps(COST_CATEGORY[i]),
        ]
        for i in range(2)
    ]
    text = io.StringIO()
    csv.writer(text).writerows([header, *rows])
    path = folder / "mine-00001.csv.gz"
    path.write_bytes(gzip.compress(text.getvalue().encode(), mtime=0))
    return path


MAPS_SQL = """
    SELECT resource_tags, product, discount, cost_category FROM li
    ORDER BY line_item_usage_start_date
"""
EXPECTED_MAPS = [
    (
        {"user_team": "data", "aws_created_by": "terraform"},
        {"region": "us-east-1", "vcpu": "4"},
        {"bundled_discount": "-0.25"},
        {},
    ),
    ({}, {"region": "eu-west-1"}, {}, {"cost_center": "cc-42"}),
]


@pytest.mark.parametrize("write", [write_cur2_parquet, write_cur2_csv], ids=["parquet", "csv"])
def test_map_columns_land_as_string_maps_without_empty_values(tmp_path: Path, write):
    source = tmp_path / "mine"
    write(source / "data" / "BILLING_PERIOD=2026-08")
    warehouse = tmp_path / "wh"

    result = ingest(str(source), warehouse)

    assert [record.layout for record in result.records] == ["cur2_data_export"]
    types = line_items(warehouse, "SELECT DISTINCT typeof(discount), typeof(resource_tags) FROM li")
    assert types == [("MAP(VARCHAR, VARCHAR)", "MAP(VARCHAR, VARCHAR)")]
    assert line_items(warehouse, MAPS_SQL) == EXPECTED_MAPS


def test_generated_tags_are_keyed_as_cur2_keys_them(cur2_sample, tmp_path: Path):
    source, truth = cur2_sample
    warehouse = tmp_path / "wh"
    ingest(str(source), warehouse)

    keys = line_items(
        warehouse, "SELECT DISTINCT unnest(map_keys(resource_tags)) AS key FROM li ORDER BY key"
    )

    assert [key for (key,) in keys] == [
        "aws_created_by",
        "user_env",
        "user_environment",
        "user_owner_team",
        "user_project",
        "user_team",
    ]


def test_bad_json_map_cell_in_cur2_csv_is_refused_and_the_warehouse_kept(tmp_path: Path):
    good = tmp_path / "good"
    write_cur2_parquet(good / "data" / "BILLING_PERIOD=2026-08")
    warehouse = tmp_path / "wh"
    ingest(str(good), warehouse)
    before = tree_digest(warehouse / "line_items")
    bad = tmp_path / "bad"
    path = write_cur2_csv(bad / "data" / "BILLING_PERIOD=2026-08", tags=["{}", "{user_team: data}"])

    with pytest.raises((IngestFailed, InputError)) as caught:
        ingest(str(bad), warehouse)

    assert (
        str(caught.value).count(
            f"{path}, row 2, column 'resource_tags': '{{user_team: data}}' is not a JSON object"
        )
        == 1
    )
    assert tree_digest(warehouse / "line_items") == before
    assert not list((warehouse / "_staging").glob("*/*"))


# --- the same business in both layouts -------------------------------------------------------


def totals_and_showback(warehouse: Path) -> tuple[list[tuple], list[tuple]]:
    with duckdb.connect(str(warehouse / "finops.duckdb"), read_only=True) as db:
        totals = db.execute(
            "SELECT billing_period, count(*), round(sum(unblended_cost), 6), "
            "round(sum(amortized_cost), 6) FROM stg_line_items GROUP BY 1 ORDER BY 1"
        ).fetchall()
        showback = db.execute(
            "SELECT billing_period, value, dimension, round(amortized_cost, 6), line_items "
            "FROM showback_monthly WHERE dimension = 'team' ORDER BY 1, 2, 3"
        ).fetchall()
    return totals, showback


def test_cur2_layout_gives_the_same_totals_and_showback_as_legacy(tmp_path: Path, cur2_sample):
    cur2_source, truth = cur2_sample
    legacy_truth = generate(tmp_path / "legacy", rows=6_000, months=2, seed=7)
    results = {}
    for name, source in (("cur2", cur2_source), ("legacy", tmp_path / "legacy" / "cur")):
        warehouse = tmp_path / f"wh-{name}"
        ingest(str(source), warehouse)
        assert build(warehouse).ok
        results[name] = totals_and_showback(warehouse)

    assert results["cur2"] == results["legacy"]
    totals, showback = results["cur2"]
    for period, rows, unblended, amortized in totals:
        expected = truth.periods[period]
        assert expected.rows == legacy_truth.periods[period].rows == rows
        assert unblended == pytest.approx(expected.unblended, abs=1e-5)
        assert amortized == pytest.approx(expected.amortized, abs=1e-5)
        by_team: dict[str, float] = {}
        for row_period, team, _env, cost, _lines in showback:
            if row_period == period:
                by_team[team] = by_team.get(team, 0.0) + cost
        assert by_team.keys() == expected.amortized_by_team.keys()
        for team, cost in expected.amortized_by_team.items():
            assert by_team[team] == pytest.approx(cost, abs=1e-5), team


def test_one_data_file_of_a_manifest_period_cannot_replace_the_month(export: Path):
    folder = data_folder(export, "2026-08")
    stray = folder / "old-00007.snappy.parquet"
    shutil.copy(folder / f"{EXPORT}-00001.snappy.parquet", stray)

    with pytest.raises(ConfigError, match="point at the export folder"):
        locate(str(stray))

    named = locate(str(folder / f"{EXPORT}-00001.snappy.parquet")).deliveries
    assert [d.billing_period for d in named] == ["2026-08"]
