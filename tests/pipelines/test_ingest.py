"""Ingest: real CUR files in, the contract's line_items out; bad input changes nothing."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import shutil
import signal
import zipfile
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.contract import LINE_ITEMS_SCHEMA
from pipelines.errors import ConfigError, IngestFailed, InputError, WarehouseError
from pipelines.ingest import ingest
from pipelines.warehouse import Warehouse
from sample_data.generate import generate
from tests.conftest import CLOUDACADEMY, DEMO, FOCUS_CONVERTERS_CSV, line_items, tree_digest

# Sums of line_item_unblended_cost in the raw WorkshopCUR files, computed with math.fsum over
# every row (see shared/realdata/cloudacademy-aws-cur/SOURCE.md for the same figures).
WORKSHOP_UNBLENDED = {
    "2018-10": 4064.4831315379,
    "2018-11": 3505.3269681268,
    "2018-12": 408.3759924354,
}
WORKSHOP_ROWS = {"2018-10": 119_307, "2018-11": 124_340, "2018-12": 91_264}


def focus_converters_rows() -> tuple[list[str], list[list[str]]]:
    with FOCUS_CONVERTERS_CSV.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([header, *rows])
    return path


# --- real data -------------------------------------------------------------------------------


def test_real_athena_parquet_months_ingest_with_their_totals(athena_layout: Path, tmp_path: Path):
    warehouse = tmp_path / "wh"

    result = ingest(str(athena_layout), warehouse)

    assert [r.billing_period for r in result.ingested] == ["2018-10", "2018-11", "2018-12"]
    totals = dict(
        line_items(
            warehouse, "SELECT billing_period, sum(line_item_unblended_cost) FROM li GROUP BY 1"
        )
    )
    counts = dict(line_items(warehouse, "SELECT billing_period, count(*) FROM li GROUP BY 1"))
    for period, expected in WORKSHOP_UNBLENDED.items():
        assert round(totals[period], 2) == round(expected, 2)
        assert totals[period] == pytest.approx(expected, abs=1e-6)
        assert counts[period] == WORKSHOP_ROWS[period]
    for record in result.ingested:
        assert record.rows_in == record.rows_out == WORKSHOP_ROWS[record.billing_period]
        assert record.unblended_cost == pytest.approx(WORKSHOP_UNBLENDED[record.billing_period])


def test_real_parquet_schema_drift_lands_in_one_schema(athena_layout: Path, tmp_path: Path):
    warehouse = tmp_path / "wh"
    ingest(str(athena_layout), warehouse)

    for part in sorted((warehouse / "line_items").rglob("*.parquet")):
        assert pq.read_schema(part).remove_metadata() == LINE_ITEMS_SCHEMA
    # Nov adds product_category and the tag user_tag21_nov; Dec drops product_database_engine.
    rows = line_items(
        warehouse,
        """SELECT billing_period,
                  count(*) FILTER (WHERE product['category'] IS NOT NULL),
                  count(*) FILTER (WHERE resource_tags['user_tag21_nov'] IS NOT NULL),
                  count(*) FILTER (WHERE product['database_engine'] IS NOT NULL)
           FROM li GROUP BY 1 ORDER BY 1""",
    )
    by_period = {row[0]: row[1:] for row in rows}
    assert by_period["2018-10"][0] == 0 and by_period["2018-11"][0] > 0
    assert by_period["2018-11"][1] > 0 and by_period["2018-10"][1] == 0
    assert by_period["2018-10"][2] > 0 and by_period["2018-12"][2] == 0


def test_real_parquet_tags_keep_their_athena_names_and_empty_strings_become_null(
    athena_layout: Path, tmp_path: Path
):
    warehouse = tmp_path / "wh"
    ingest(str(athena_layout), warehouse)

    [(empty_ids, cost_center)] = line_items(
        warehouse,
        """SELECT count(*) FILTER (WHERE line_item_resource_id IS NULL),
                  sum(line_item_unblended_cost)
                      FILTER (WHERE resource_tags['user_cost_center'] = 'Cost001')
           FROM li WHERE billing_period = '2018-10'""",
    )
    assert empty_ids == 17_071  # the raw file's empty strings (SOURCE.md)
    assert round(cost_center, 4) == 174.8049  # SOURCE.md: Oct, Cost001
    [(blank_values,)] = line_items(
        warehouse,
        "SELECT count(*) FROM li, unnest(map_values(resource_tags)) AS v(value) WHERE value = ''",
    )
    assert blank_values == 0


def test_real_legacy_csv_with_scientific_notation_matches_raw_sum(tmp_path: Path):
    header, rows = focus_converters_rows()
    column = header.index("lineItem/UnblendedCost")
    raw_total = sum((Decimal(row[column]) for row in rows), Decimal(0))
    assert raw_total == Decimal("1.68230869740")
    warehouse = tmp_path / "wh"

    result = ingest(str(FOCUS_CONVERTERS_CSV), warehouse)

    [record] = result.ingested
    assert record.billing_period == "2023-11"
    assert record.rows_out == len(rows) == 1281
    [(total, taxes, resource_column)] = line_items(
        warehouse,
        """SELECT sum(line_item_unblended_cost),
                  count(*) FILTER (WHERE line_item_line_item_type = 'Tax'),
                  count(line_item_resource_id) FROM li""",
    )
    assert total == pytest.approx(float(raw_total), abs=1e-9)
    assert taxes == 12
    assert resource_column == 0  # the report has no ResourceId column: all NULL, not an error
    [(smallest,)] = line_items(
        warehouse, "SELECT min(line_item_unblended_cost) FROM li WHERE line_item_unblended_cost > 0"
    )
    assert smallest < 1e-6  # 1.81E-8 style values parsed as numbers, not dropped


def test_legacy_csv_tags_keep_their_csv_names(tmp_path: Path):
    header, rows = focus_converters_rows()
    header = [*header, "resourceTags/user:Team", "resourceTags/user:team", "costCategory/BU"]
    rows = [
        [*row, "Platform" if i % 2 else "", "data" if i % 3 == 0 else "", "Core"]
        for i, row in enumerate(rows)
    ]
    source = write_csv(tmp_path / "cur.csv", header, rows)
    warehouse = tmp_path / "wh"

    ingest(str(source), warehouse)

    [(upper, lower, both, business_unit)] = line_items(
        warehouse,
        """SELECT count(*) FILTER (WHERE resource_tags['user:Team'] = 'Platform'),
                  count(*) FILTER (WHERE resource_tags['user:team'] = 'data'),
                  count(*) FILTER (WHERE cardinality(resource_tags) = 2),
                  count(*) FILTER (WHERE cost_category['BU'] = 'Core') FROM li""",
    )
    assert upper == sum(1 for i in range(len(rows)) if i % 2)
    assert lower == sum(1 for i in range(len(rows)) if i % 3 == 0)
    assert both == sum(1 for i in range(len(rows)) if i % 2 and i % 3 == 0)
    assert business_unit == len(rows)


def test_csv_quirks_bom_quoted_newlines_zip_and_timestamps_without_zone(tmp_path: Path):
    header, rows = focus_converters_rows()
    description = header.index("lineItem/LineItemDescription")
    start = header.index("lineItem/UsageStartDate")
    rows = [list(row) for row in rows[:20]]
    rows[0][description] = 'Line one,\nline "two"'
    rows[1][start] = "2023-11-01 05:00:00"  # no zone, space separator: still UTC
    text = io.StringIO()
    csv.writer(text).writerows([header, *rows])
    archive = tmp_path / "cur.csv.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("cur.csv", "\ufeff" + text.getvalue())
    warehouse = tmp_path / "wh"

    ingest(str(archive), warehouse)

    got = line_items(
        warehouse,
        """SELECT line_item_line_item_description, line_item_usage_start_date
           FROM li ORDER BY line_item_usage_start_date DESC, line_item_line_item_description""",
    )
    assert len(got) == 20
    assert 'Line one,\nline "two"' in [row[0] for row in got]
    starts = [str(row[1]) for row in got]
    assert "2023-11-01 05:00:00" in starts


# --- one warehouse, many runs ---------------------------------------------------------------


def test_second_run_with_unchanged_source_changes_nothing(athena_layout: Path, tmp_path: Path):
    warehouse = tmp_path / "wh"
    ingest(str(athena_layout), warehouse)
    before = tree_digest(warehouse / "line_items")

    again = ingest(str(athena_layout), warehouse)

    assert [r.outcome for r in again.records] == ["unchanged"] * 3
    assert tree_digest(warehouse / "line_items") == before


def test_forced_rerun_writes_identical_bytes(tmp_path: Path):
    warehouse = tmp_path / "wh"
    ingest(str(FOCUS_CONVERTERS_CSV), warehouse)
    before = tree_digest(warehouse / "line_items")

    ingest(str(FOCUS_CONVERTERS_CSV), warehouse, force=True)

    assert tree_digest(warehouse / "line_items") == before


def test_redelivered_month_replaces_not_appends(tmp_path: Path):
    header, rows = focus_converters_rows()
    source = write_csv(tmp_path / "cur.csv", header, rows)
    warehouse = tmp_path / "wh"
    ingest(str(source), warehouse)

    write_csv(source, header, rows[:100])  # AWS rewrites the month with fewer rows
    ingest(str(source), warehouse)

    [(count,)] = line_items(warehouse, "SELECT count(*) FROM li")
    assert count == 100
    assert Warehouse(warehouse).periods() == ["2023-11"]


def test_run_log_records_rows_cost_and_outcome(tmp_path: Path):
    warehouse = tmp_path / "wh"
    ingest(str(FOCUS_CONVERTERS_CSV), warehouse)
    ingest(str(FOCUS_CONVERTERS_CSV), warehouse)

    log = duckdb.sql(
        f"SELECT outcome, billing_period, rows_in, rows_out, round(unblended_cost, 10), files "
        f"FROM read_parquet('{warehouse}/_runs/*.parquet') ORDER BY started_at"
    ).fetchall()
    assert [row[0] for row in log] == ["ingested", "unchanged"]
    assert log[0][1:5] == ("2023-11", 1281, 1281, 1.6823086974)
    assert log[0][5] == [str(FOCUS_CONVERTERS_CSV)]


# --- bad input: a clear error, and the warehouse exactly as it was ------------------------------


@pytest.fixture
def loaded_warehouse(tmp_path: Path, athena_layout: Path) -> Path:
    warehouse = tmp_path / "wh"
    ingest(str(athena_layout), warehouse)
    return warehouse


def assert_fails_and_keeps(warehouse: Path, source: Path, *fragments: str) -> str:
    before = tree_digest(warehouse / "line_items")
    with pytest.raises((IngestFailed, InputError)) as caught:
        ingest(str(source), warehouse)
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message
    assert tree_digest(warehouse / "line_items") == before
    assert not list((warehouse / "_staging").glob("*/*"))
    return message


def test_file_that_is_not_cur_is_refused(loaded_warehouse: Path, tmp_path: Path):
    source = write_csv(tmp_path / "invoice.csv", ["date", "amount"], [["2026-01-01", "3"]])

    message = assert_fails_and_keeps(loaded_warehouse, source, str(source), "not a CUR")

    assert "\n" not in message


def test_truncated_gzip_is_refused(loaded_warehouse: Path, tmp_path: Path):
    payload = gzip.compress(FOCUS_CONVERTERS_CSV.read_bytes())
    source = tmp_path / "cur.csv.gz"
    source.write_bytes(payload[: len(payload) // 2])

    assert_fails_and_keeps(loaded_warehouse, source, str(source), "truncated or corrupt")


def test_cost_that_is_not_a_number_names_row_and_column(loaded_warehouse: Path, tmp_path: Path):
    header, rows = focus_converters_rows()
    rows[41][header.index("lineItem/UnblendedCost")] = "12,5 USD"
    source = write_csv(tmp_path / "cur.csv", header, rows)

    assert_fails_and_keeps(
        loaded_warehouse, source, str(source), "row 42", "'lineItem/UnblendedCost'", "'12,5 USD'"
    )


def test_bad_file_in_one_month_commits_no_month(loaded_warehouse: Path, athena_layout: Path):
    # A good re-delivery of October next to a broken December: neither is committed.
    october = next((athena_layout / "year=2018" / "month=10").glob("*.parquet"))
    october.write_bytes(october.read_bytes())  # new mtime: October counts as changed
    december = next((athena_layout / "year=2018" / "month=12").glob("*.parquet"))
    december.write_bytes(december.read_bytes()[:5000])

    assert_fails_and_keeps(loaded_warehouse, athena_layout, str(december), "Parquet")


def test_line_item_of_another_month_is_refused(tmp_path: Path):
    header, rows = focus_converters_rows()
    rows[9][header.index("bill/BillingPeriodStartDate")] = "2023-12-01T00:00:00.000Z"
    source = write_csv(tmp_path / "cur.csv", header, rows)

    with pytest.raises(IngestFailed, match="row 10.*billing period 2023-12"):
        ingest(str(source), tmp_path / "wh")


def test_manifest_that_names_a_missing_file_is_refused(tmp_path: Path):
    period = tmp_path / "cur" / "report" / "20231101-20231201"
    period.mkdir(parents=True)
    (period / "report-Manifest.json").write_text(
        json.dumps(
            {
                "assemblyId": "a1",
                "billingPeriod": {"start": "20231101T000000.000Z"},
                "reportKeys": ["cur/report/20231101-20231201/a1/report-00001.csv.gz"],
            }
        )
    )

    with pytest.raises(IngestFailed, match="report-00001.csv.gz.*missing"):
        ingest(str(tmp_path / "cur"), tmp_path / "wh")


def test_manifest_key_that_leads_out_of_its_folder_is_refused(demo_export: Path, tmp_path: Path):
    # A review read a file beside the source through "<period>/../../../outside/x.csv.gz".
    manifest = october_manifest(demo_export)
    content = json.loads(manifest.read_text())
    outside = tmp_path / "outside"
    outside.mkdir()
    [current] = content["reportKeys"][:1]
    shutil.copy(manifest.parent / "/".join(current.split("/")[-2:]), outside / "x.csv.gz")
    key = f"cur/finops-demo/{manifest.parent.name}/../../../outside/x.csv.gz"
    content["reportKeys"] = [key]
    manifest.write_text(json.dumps(content))

    with pytest.raises(IngestFailed) as raised:
        ingest(str(demo_export), tmp_path / "wh")

    assert f"{manifest}: manifest names {key!r}, which leads out of {manifest.parent}" in str(
        raised.value
    )
    assert not (tmp_path / "wh" / "line_items").exists()


def test_column_named_twice_in_the_header_is_refused(loaded_warehouse: Path, tmp_path: Path):
    header, rows = focus_converters_rows()
    source = write_csv(
        tmp_path / "cur.csv",
        [*header, "resourceTags/user:team", "resourceTags/user:team"],
        [[*row, "data", "web"] for row in rows],
    )

    message = assert_fails_and_keeps(loaded_warehouse, source)

    assert message == (
        f"{source}, column 'resourceTags/user:team': appears 2 times in the header "
        "(expected each CUR column once)"
    )


def test_two_spellings_of_one_tag_column_are_refused(loaded_warehouse: Path, tmp_path: Path):
    # Legacy and Athena spellings of one tag: two values under one key, a map DuckDB refuses.
    header, rows = focus_converters_rows()
    source = write_csv(
        tmp_path / "cur.csv",
        [*header, "resourceTags/user:team", "resource_tags_user:team"],
        [[*row, "data", "web"] for row in rows],
    )

    message = assert_fails_and_keeps(loaded_warehouse, source)

    assert message == (
        f"{source}, column 'resource_tags_user:team': columns 'resourceTags/user:team' and "
        "'resource_tags_user:team' both map to resource_tags key 'user:team' "
        "(expected each CUR column once)"
    )


def test_missing_source_is_a_config_error(tmp_path: Path):
    with pytest.raises(ConfigError, match="no such file"):
        ingest(str(tmp_path / "nope"), tmp_path / "wh")


# --- crash safety ---------------------------------------------------------------------------


def test_crash_during_swap_is_finished_by_the_next_run(tmp_path: Path, monkeypatch):
    header, rows = focus_converters_rows()
    source = write_csv(tmp_path / "cur.csv", header, rows)
    warehouse = tmp_path / "wh"
    ingest(str(source), warehouse)
    write_csv(source, header, rows[:50])

    real_rename = Path.rename
    calls = {"n": 0}

    def crash_on_second_rename(self: Path, target: Path):
        calls["n"] += 1
        if calls["n"] == 2:  # the old period moved aside, the new one not yet in place
            raise KeyboardInterrupt("power cut")
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", crash_on_second_rename)
    with pytest.raises(KeyboardInterrupt):
        ingest(str(source), warehouse)
    monkeypatch.setattr(Path, "rename", real_rename)

    Warehouse(warehouse).recover()

    [(count,)] = line_items(warehouse, "SELECT count(*) FROM li")
    assert count == 50
    assert not list(warehouse.glob("_swap-*.json"))


def test_crash_before_swap_leaves_previous_data(tmp_path: Path, monkeypatch):
    warehouse = tmp_path / "wh"
    ingest(str(FOCUS_CONVERTERS_CSV), warehouse)
    before = tree_digest(warehouse / "line_items")

    def crash(*_args, **_kwargs):
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(Warehouse, "commit", crash)
    with pytest.raises(KeyboardInterrupt):
        ingest(str(FOCUS_CONVERTERS_CSV), warehouse, force=True)
    monkeypatch.undo()

    Warehouse(warehouse).recover()

    assert tree_digest(warehouse / "line_items") == before
    assert not (warehouse / "_staging").exists()


def test_parquet_files_are_zstd(tmp_path: Path):
    warehouse = tmp_path / "wh"
    ingest(str(FOCUS_CONVERTERS_CSV), warehouse)
    part = next((warehouse / "line_items").rglob("*.parquet"))
    column = pq.ParquetFile(part).metadata.row_group(0).column(0)
    assert column.compression == "ZSTD"


# --- what a new user tried (hostile and careless input) -----------------------------------------


@pytest.fixture
def demo_export(tmp_path: Path) -> Path:
    """A copy of the committed sample export, to break in place."""
    return Path(shutil.copytree(DEMO / "cur", tmp_path / "export"))


def october_manifest(export: Path) -> Path:
    return next(export.rglob("20261001-20261101/*-Manifest.json"))


def test_manifest_with_no_report_files_does_not_empty_the_month(demo_export: Path, tmp_path):
    warehouse = tmp_path / "wh"
    ingest(str(demo_export), warehouse)
    manifest = october_manifest(demo_export)
    content = json.loads(manifest.read_text())
    content["reportKeys"] = []
    manifest.write_text(json.dumps(content))

    assert_fails_and_keeps(warehouse, demo_export, str(manifest), "names no report files")


def test_manifest_naming_a_file_twice_is_refused(demo_export: Path, tmp_path: Path):
    manifest = october_manifest(demo_export)
    content = json.loads(manifest.read_text())
    content["reportKeys"] = content["reportKeys"] * 2
    manifest.write_text(json.dumps(content))

    with pytest.raises(IngestFailed, match="more than once"):
        ingest(str(demo_export), tmp_path / "wh")


def test_manifest_file_itself_can_be_the_source(tmp_path: Path):
    manifest = october_manifest(DEMO / "cur")

    result = ingest(str(manifest), tmp_path / "wh")

    assert [record.billing_period for record in result.ingested] == ["2026-10"]


def test_superseded_assembly_folder_is_refused(demo_export: Path, tmp_path: Path):
    manifest = october_manifest(demo_export)
    current = json.loads(manifest.read_text())["assemblyId"]
    [old] = [
        folder for folder in manifest.parent.iterdir() if folder.is_dir() and folder.name != current
    ]

    with pytest.raises(ConfigError, match="no longer names"):
        ingest(str(old), tmp_path / "wh")


def test_month_of_several_assemblies_without_its_manifest_is_refused(
    demo_export: Path, tmp_path: Path
):
    # A copy made without the JSON files (aws s3 sync --exclude '*.json'): the old assembly
    # of a re-delivered month sits beside the current one, and nothing says which is which.
    manifest = october_manifest(demo_export)
    current = (
        demo_export
        / "finops-demo"
        / manifest.parent.name
        / json.loads(manifest.read_text())["assemblyId"]
    )
    for each in demo_export.rglob("*-Manifest.json"):
        each.unlink()
    warehouse = tmp_path / "wh"

    with pytest.raises(ConfigError, match="2 assemblies .* no manifest"):
        ingest(str(demo_export), warehouse)
    assert not (warehouse / "line_items").exists()

    # One assembly folder on its own is one delivery of the month.
    rows = 0
    for part in current.glob("*.csv.gz"):
        with gzip.open(part, "rt", newline="") as text:
            rows += sum(1 for _ in csv.reader(text)) - 1
    [record] = ingest(str(current), warehouse).ingested
    assert (record.billing_period, record.rows_out) == ("2026-10", rows)


def test_same_line_items_in_two_files_are_refused(tmp_path: Path):
    folder = tmp_path / "loose"
    folder.mkdir()
    shutil.copy(FOCUS_CONVERTERS_CSV, folder / "cur.csv")
    (folder / "cur.csv.gz").write_bytes(gzip.compress(FOCUS_CONVERTERS_CSV.read_bytes()))

    with pytest.raises(IngestFailed, match="same 1,281 line items"):
        ingest(str(folder), tmp_path / "wh")


def test_every_bad_file_is_reported_at_once(tmp_path: Path):
    header, rows = focus_converters_rows()
    column = header.index("lineItem/UnblendedCost")
    folder = tmp_path / "loose"
    folder.mkdir()
    for name, row, value in (("a.csv", 4, "abc"), ("b.csv", 7, "xyz")):
        broken = [list(r) for r in rows]
        broken[row - 1][column] = value
        write_csv(folder / name, header, broken)
    (folder / "c.csv.gz").write_bytes(gzip.compress(FOCUS_CONVERTERS_CSV.read_bytes())[:3000])

    with pytest.raises(IngestFailed) as caught:
        ingest(str(folder), tmp_path / "wh")

    messages = [str(failure) for failure in caught.value.failures]
    assert len(messages) == 3
    assert any("a.csv, row 4" in m and "'abc'" in m for m in messages)
    assert any("b.csv, row 7" in m and "'xyz'" in m for m in messages)
    assert any("c.csv.gz" in m and "truncated or corrupt" in m for m in messages)


def test_nan_cost_in_parquet_is_refused_with_its_row(tmp_path: Path):
    table = pq.read_table(CLOUDACADEMY / "Dec2018-WorkshopCUR-00001.snappy.parquet")
    costs = table.column("line_item_unblended_cost").to_pylist()
    costs[99] = float("nan")
    index = table.schema.get_field_index("line_item_unblended_cost")
    source = tmp_path / "dec.parquet"
    pq.write_table(table.set_column(index, "line_item_unblended_cost", pa.array(costs)), source)

    with pytest.raises(IngestFailed, match="row 100, column 'line_item_unblended_cost'.*finite"):
        ingest(str(source), tmp_path / "wh")


@pytest.mark.parametrize("value", ["1_000", "NaN", "inf", "1,5"])
def test_numbers_python_reads_but_aws_never_writes_are_refused(tmp_path: Path, value: str):
    header, rows = focus_converters_rows()
    rows[2][header.index("lineItem/UnblendedCost")] = value
    source = write_csv(tmp_path / "cur.csv", header, rows)

    with pytest.raises(IngestFailed, match="row 3, column 'lineItem/UnblendedCost'"):
        ingest(str(source), tmp_path / "wh")


def test_row_with_missing_field_is_named(tmp_path: Path):
    header, rows = focus_converters_rows()
    rows[899] = rows[899][:-1]
    source = write_csv(tmp_path / "cur.csv", header, rows)

    with pytest.raises(IngestFailed, match=r"row 900: 93 fields .*expected 94 fields"):
        ingest(str(source), tmp_path / "wh")


def test_latin1_bytes_are_named_by_line_and_column(tmp_path: Path):
    header, rows = focus_converters_rows()
    description = header.index("lineItem/LineItemDescription")
    rows[299][description] = "café"
    text = io.StringIO()
    csv.writer(text).writerows([header, *rows])
    source = tmp_path / "cur.csv"
    source.write_bytes(text.getvalue().encode("latin-1"))

    with pytest.raises(IngestFailed, match="'lineItem/LineItemDescription': line 301 is not UTF-8"):
        ingest(str(source), tmp_path / "wh")


def test_empty_usage_start_date_is_refused(tmp_path: Path):
    header, rows = focus_converters_rows()
    rows[5][header.index("lineItem/UsageStartDate")] = ""
    source = write_csv(tmp_path / "cur.csv", header, rows)

    with pytest.raises(IngestFailed, match="row 6, column 'lineItem/UsageStartDate': empty"):
        ingest(str(source), tmp_path / "wh")


def test_warehouse_path_that_is_a_file_is_refused(tmp_path: Path):
    not_a_folder = tmp_path / "wh"
    not_a_folder.write_text("hello")

    with pytest.raises(WarehouseError, match="is a file"):
        ingest(str(FOCUS_CONVERTERS_CSV), not_a_folder)


def test_month_from_another_source_is_replaced_with_a_note(tmp_path: Path):
    header, rows = focus_converters_rows()
    first = write_csv(tmp_path / "first.csv", header, rows)
    second = write_csv(tmp_path / "second.csv", header, rows[:10])
    warehouse = tmp_path / "wh"
    ingest(str(first), warehouse)

    result = ingest(str(second), warehouse)

    [record] = result.ingested
    assert record.message == f"replaces the data ingested from {first}"


def test_replacing_is_said_only_when_the_run_commits(tmp_path: Path, caplog):
    header, rows = focus_converters_rows()
    first = write_csv(tmp_path / "first.csv", header, rows)
    folder = tmp_path / "second"
    folder.mkdir()
    write_csv(folder / "a.csv", header, rows[:10])
    # Another month, with a bad cost: the run fails, so November is not replaced after all.
    broken = [row[:] for row in rows[:10]]
    for row in broken:
        row[header.index("bill/BillingPeriodStartDate")] = "2023-12-01T00:00:00Z"
    broken[0][header.index("lineItem/UnblendedCost")] = "n/a"
    write_csv(folder / "b.csv", header, broken)
    warehouse = tmp_path / "wh"
    ingest(str(first), warehouse)

    with caplog.at_level("WARNING", logger="pipelines.ingest"), pytest.raises(IngestFailed):
        ingest(str(folder), warehouse)

    assert "replaces the data" not in caplog.text


def test_interrupt_while_reading_commits_nothing_and_is_logged(tmp_path: Path, monkeypatch):
    warehouse = tmp_path / "wh"
    ingest(str(FOCUS_CONVERTERS_CSV), warehouse)
    before = tree_digest(warehouse / "line_items")

    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("pipelines.ingest._write_file", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ingest(str(FOCUS_CONVERTERS_CSV), warehouse, force=True)

    assert tree_digest(warehouse / "line_items") == before
    assert not (warehouse / "_staging").exists()
    assert not (warehouse / ".lock").exists()
    outcomes = duckdb.sql(
        f"SELECT outcome, message FROM read_parquet('{warehouse}/_runs/*.parquet') "
        "ORDER BY started_at"
    ).fetchall()
    assert outcomes[-1] == ("failed", "interrupted; nothing was committed")


def test_warehouse_under_a_key_value_folder_is_refused_before_ingest(tmp_path: Path):
    warehouse = tmp_path / "team=data" / "wh"

    with pytest.raises(WarehouseError, match="looks like a hive partition"):
        ingest(str(FOCUS_CONVERTERS_CSV), warehouse)

    assert not warehouse.exists()


def test_ctrl_c_during_the_swap_lets_the_swap_finish(tmp_path: Path, monkeypatch):
    header, rows = focus_converters_rows()
    source = write_csv(tmp_path / "cur.csv", header, rows)
    warehouse = tmp_path / "wh"
    ingest(str(source), warehouse)
    write_csv(source, header, rows[:30])
    real_swap = Warehouse._swap

    def interrupted_swap(self, run_id, periods):
        os.kill(os.getpid(), signal.SIGINT)  # the user presses Ctrl-C mid-swap
        return real_swap(self, run_id, periods)

    monkeypatch.setattr(Warehouse, "_swap", interrupted_swap)

    result = ingest(str(source), warehouse)

    [(count,)] = line_items(warehouse, "SELECT count(*) FROM li")
    assert count == 30
    assert [record.outcome for record in result.records] == ["ingested"]
    assert not list(warehouse.glob("_swap-*"))


def test_build_waits_for_no_ingest(tmp_path: Path):
    from pipelines.models import build

    warehouse = tmp_path / "wh"
    ingest(str(FOCUS_CONVERTERS_CSV), warehouse)
    (warehouse / ".lock").write_text(str(os.getpid()))  # an ingest of ours is running

    with pytest.raises(WarehouseError, match="another finops run"):
        build(warehouse)


def test_run_log_keeps_cost_per_currency_and_no_mixed_total(tmp_path: Path):
    header, rows = focus_converters_rows()
    currency = header.index("lineItem/CurrencyCode")
    cost = header.index("lineItem/UnblendedCost")
    rows[0][currency], rows[0][cost] = "eur ", "10"  # lower case and a stray space
    source = write_csv(tmp_path / "cur.csv", header, rows)
    warehouse = tmp_path / "wh"

    [record] = ingest(str(source), warehouse).records

    assert record.currencies == ["EUR", "USD"]
    assert record.unblended_cost is None
    assert record.unblended_cost_by_currency["EUR"] == 10.0
    usd = sum(Decimal(row[cost]) for row in rows[1:])
    assert record.unblended_cost_by_currency["USD"] == pytest.approx(float(usd), abs=1e-9)
    [(codes,)] = line_items(
        warehouse, "SELECT list(DISTINCT line_item_currency_code ORDER BY 1) FROM li"
    )
    assert codes == ["EUR", "USD"]


def test_one_file_of_a_multi_file_assembly_is_refused(tmp_path: Path):
    export = tmp_path / "export"
    generate(export, rows=450_000, months=1, seed=3)  # over 200k rows a month: several files
    manifest = next(export.rglob("*-Manifest.json"))
    keys = json.loads(manifest.read_text())["reportKeys"]
    assert len(keys) > 1
    one_file = manifest.parent / Path(keys[0]).relative_to(Path(keys[0]).parents[1])

    with pytest.raises(ConfigError, match=f"one of the {len(keys)} files"):
        ingest(str(one_file), tmp_path / "wh")


def test_every_bad_manifest_is_reported_at_once(demo_export: Path, tmp_path: Path):
    manifests = sorted(demo_export.rglob("*-Manifest.json"))
    manifests[0].write_text("{not json")
    content = json.loads(manifests[1].read_text())
    content["reportKeys"] = []
    manifests[1].write_text(json.dumps(content))

    with pytest.raises(IngestFailed) as caught:
        ingest(str(demo_export), tmp_path / "wh")

    messages = [str(failure) for failure in caught.value.failures]
    assert len(messages) == 2
    assert "not valid JSON" in messages[0] and "names no report files" in messages[1]


def test_since_and_periods_limit_the_months_read(tmp_path: Path):
    warehouse = tmp_path / "wh"

    later = ingest(str(DEMO / "cur"), warehouse, since="2026-09")
    only = ingest(str(DEMO / "cur"), warehouse, periods=["2026-08"])

    assert [record.billing_period for record in later.ingested] == ["2026-09", "2026-10"]
    assert [record.billing_period for record in only.ingested] == ["2026-08"]
    assert Warehouse(warehouse).periods() == ["2026-08", "2026-09", "2026-10"]


@pytest.mark.parametrize(
    ("since", "periods", "problem"),
    [
        (None, ["2025-01"], "--periods: no billing period 2025-01 in the source"),
        (
            None,
            ["2026-08", "2025-01", "2025-02"],
            "--periods: no billing period 2025-01, 2025-02 in the source",
        ),
        ("2027-01", None, "--since 2027-01: no billing period from 2027-01 on"),
        (
            "2026-10",
            ["2026-08"],
            "--since 2026-10 with --periods 2026-08: no billing period matches both",
        ),
    ],
)
def test_periods_the_source_does_not_hold_are_refused_with_those_it_does(
    tmp_path: Path, since: str | None, periods: list[str] | None, problem: str
):
    warehouse = tmp_path / "wh"
    ingest(str(DEMO / "cur"), warehouse, periods=["2026-08"])
    before = tree_digest(warehouse / "line_items")

    with pytest.raises(ConfigError) as caught:
        ingest(str(DEMO / "cur"), warehouse, since=since, periods=periods)

    message = f"{DEMO / 'cur'}: {problem} (the source holds 2026-08, 2026-09, 2026-10)"
    assert str(caught.value) == message
    assert tree_digest(warehouse / "line_items") == before
    assert not list((warehouse / "_staging").glob("*/*"))
    outcomes = duckdb.sql(
        f"SELECT outcome, message FROM read_parquet('{warehouse}/_runs/*.parquet') "
        "ORDER BY started_at"
    ).fetchall()
    assert outcomes[-1] == ("failed", message)


@pytest.mark.parametrize("bad", ["2026-13", "2026-8", "august"])
def test_a_period_that_is_not_yyyy_mm_is_refused(tmp_path: Path, bad: str):
    with pytest.raises(ConfigError, match="expected YYYY-MM"):
        ingest(str(DEMO / "cur"), tmp_path / "wh", since=bad)
