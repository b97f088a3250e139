"""Bad input and drift the first ingest tests did not cover: corrupt archives and Parquet,
columns and tags that come and go between the files of one month, and a crash (SIGKILL) in
the middle of a period."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from pipelines.errors import IngestFailed, InputError
from pipelines.ingest import ingest
from tests.conftest import CLOUDACADEMY, DEMO, FOCUS_CONVERTERS_CSV, line_items, tree_digest


@pytest.fixture
def loaded(tmp_path: Path) -> Path:
    """A warehouse holding the demo's three months."""
    warehouse = tmp_path / "wh"
    ingest(str(DEMO / "cur"), warehouse)
    return warehouse


def refused(warehouse: Path, source: Path, *fragments: str) -> str:
    before = tree_digest(warehouse / "line_items")
    with pytest.raises((IngestFailed, InputError)) as caught:
        ingest(str(source), warehouse)
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message
    assert tree_digest(warehouse / "line_items") == before
    assert not (warehouse / "_staging").exists()
    return message


def csv_rows() -> tuple[list[str], list[list[str]]]:
    with FOCUS_CONVERTERS_CSV.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def csv_file(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    path.write_text(csv_text(header, rows), encoding="utf-8")
    return path


def csv_text(header: list[str], rows: list[list[str]]) -> str:
    text = io.StringIO()
    csv.writer(text).writerows([header, *rows])
    return text.getvalue()


# --- corrupt files ------------------------------------------------------------------------------


def test_truncated_zip_is_refused(loaded: Path, tmp_path: Path):
    archive = tmp_path / "cur.csv.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as handle:
        handle.writestr("cur.csv", FOCUS_CONVERTERS_CSV.read_text(encoding="utf-8"))
    archive.write_bytes(archive.read_bytes()[:5000])  # the central directory is at the end

    refused(loaded, archive, str(archive), "cannot open", "File is not a zip file")


def test_zip_with_a_corrupt_member_is_refused(loaded: Path, tmp_path: Path):
    archive = tmp_path / "cur.csv.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as handle:
        handle.writestr("cur.csv", FOCUS_CONVERTERS_CSV.read_text(encoding="utf-8"))
    payload = bytearray(archive.read_bytes())
    for offset in range(2000, 2100):  # inside the deflated member, not its headers
        payload[offset] ^= 0xFF
    archive.write_bytes(bytes(payload))

    refused(loaded, archive, str(archive), "truncated or corrupt csv.zip file")


def test_truncated_parquet_is_refused(loaded: Path, tmp_path: Path):
    source = tmp_path / "cur.parquet"
    real = (CLOUDACADEMY / "Dec2018-WorkshopCUR-00001.snappy.parquet").read_bytes()
    source.write_bytes(real[: len(real) // 2])

    refused(loaded, source, str(source), "corrupt or truncated Parquet file")


def test_parquet_with_a_corrupt_page_is_refused(loaded: Path, tmp_path: Path):
    source = tmp_path / "cur.parquet"
    payload = bytearray((CLOUDACADEMY / "Dec2018-WorkshopCUR-00001.snappy.parquet").read_bytes())
    middle = len(payload) // 2
    payload[middle : middle + 4096] = bytes(4096)  # a zeroed stretch of column data
    source.write_bytes(bytes(payload))

    refused(loaded, source, str(source), "corrupt or truncated Parquet file")


def test_finite_amounts_that_add_up_to_infinity_are_refused(loaded: Path, tmp_path: Path):
    header, rows = csv_rows()
    cost = header.index("lineItem/UnblendedCost")
    rows[3][cost] = rows[4][cost] = "1e308"  # each finite; 2e308 is not
    source = csv_file(tmp_path / "huge.csv", header, rows)

    refused(
        loaded,
        source,
        f"{source}, column 'lineItem/UnblendedCost': unblended costs add up to inf (expected "
        "amounts whose sum is a finite number)",
    )


def test_row_longer_than_a_csv_block_is_named_by_row_and_column(loaded: Path, tmp_path: Path):
    header, rows = csv_rows()
    description = header.index("lineItem/LineItemDescription")
    rows[99][description] = "x" * 3_000_000  # data row 100; Python's csv stops at 128 kB
    source = csv_file(tmp_path / "long.csv", header, rows)

    refused(
        loaded,
        source,
        f"{source}, row 100, column 'lineItem/LineItemDescription': a row of ",
        "(3,000,000 in this column) (expected rows of at most 1,048,576 bytes)",
    )


@pytest.mark.parametrize("written", ["<b>X</b>", "US", "US DOLLAR", "€"])
def test_currency_that_is_not_a_code_is_refused(loaded: Path, tmp_path: Path, written: str):
    header, rows = csv_rows()
    rows[6][header.index("lineItem/CurrencyCode")] = written  # data row 7
    source = csv_file(tmp_path / "currency.csv", header, rows)

    refused(
        loaded,
        source,
        f"{source}, row 7, column 'lineItem/CurrencyCode': {written!r} is not a currency code "
        "(expected a three-letter ISO 4217 code such as USD)",
    )


def test_manifest_that_is_not_json_is_refused(loaded: Path, tmp_path: Path):
    source = tmp_path / "cur"
    shutil.copytree(DEMO / "cur", source)
    manifest = source / "finops-demo" / "20260901-20261001" / "finops-demo-Manifest.json"
    manifest.write_text('{"assemblyId": "x", "reportKeys": [')

    refused(loaded, source, str(manifest), "manifest is not valid JSON")


# --- drift within one month ---------------------------------------------------------------------


def test_columns_and_tags_that_come_and_go_between_files_of_one_month(tmp_path: Path):
    header, rows = csv_rows()
    # File a: without lineItem/TaxType, with a tag user:CostCenter. File b: the other way.
    tax = header.index("lineItem/TaxType")
    a_header = [name for i, name in enumerate(header) if i != tax] + [
        "resourceTags/user:CostCenter"
    ]
    a_rows = [[v for i, v in enumerate(row) if i != tax] + ["cc-1"] for row in rows[:600]]
    folder = tmp_path / "loose"
    folder.mkdir()
    (folder / "a.csv").write_text(csv_text(a_header, a_rows), encoding="utf-8")
    (folder / "b.csv").write_text(csv_text(header, rows[600:]), encoding="utf-8")
    warehouse = tmp_path / "wh"

    ingest(str(folder), warehouse)

    got = line_items(
        warehouse,
        """SELECT count(*), count(line_item_tax_type),
                  count(*) FILTER (WHERE resource_tags['user:CostCenter'] = 'cc-1'),
                  sum(line_item_unblended_cost)
           FROM li""",
    )
    expected_tax = sum(1 for row in rows[600:] if row[tax])
    expected_cost = math.fsum(float(row[header.index("lineItem/UnblendedCost")]) for row in rows)
    assert got[0][:3] == (len(rows), expected_tax, 600)
    assert got[0][3] == pytest.approx(expected_cost, abs=1e-9)


# --- a crash in the middle of a period ----------------------------------------------------------

# Runs an ingest that stops for good in the middle of September's file, after August was
# staged and September's first batch was read, and says so on stdout.
_STALLING_INGEST = """
import sys, time
from pathlib import Path
from pipelines import ingest, readers

original = readers._csv_batches

def stalling(path, kind):
    for number, batch in enumerate(original(path, kind)):
        yield batch
        if "20260901-20261001" in str(path):
            print("in the middle of 2026-09", flush=True)
            time.sleep(600)

readers._csv_batches = stalling
ingest.ingest(sys.argv[1], Path(sys.argv[2]), force=True)
"""


def test_process_killed_in_the_middle_of_a_period_leaves_the_warehouse_as_it_was(
    loaded: Path, tmp_path: Path
):
    before = tree_digest(loaded / "line_items")
    runs_before = tree_digest(loaded / "_runs")
    script = tmp_path / "stalling.py"
    script.write_text(_STALLING_INGEST)
    environment = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    process = subprocess.Popen(
        [sys.executable, str(script), str(DEMO / "cur"), str(loaded)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )
    try:
        line = process.stdout.readline() if process.stdout else ""
        assert line.strip() == "in the middle of 2026-09", process.stderr.read()
        staged = list((loaded / "_staging").rglob("*.parquet"))
        assert staged, "the run had staged nothing yet"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)

    # Killed: no handler ran. The data and the run log are byte for byte as they were.
    assert process.returncode == -signal.SIGKILL
    assert tree_digest(loaded / "line_items") == before
    assert tree_digest(loaded / "_runs") == runs_before
    assert (loaded / ".lock").exists()

    again = ingest(str(DEMO / "cur"), loaded, force=True)

    assert [r.outcome for r in again.records] == ["ingested"] * 3
    assert tree_digest(loaded / "line_items") == before  # the same source, the same bytes
    assert not (loaded / "_staging").exists() and not (loaded / ".lock").exists()
    truth = json.loads((DEMO / "ground_truth.json").read_text())
    assert [r.rows_out for r in again.records] == [p["rows"] for p in truth["periods"].values()]
