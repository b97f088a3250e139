"""Ingest of a billing period split over several files, converted by a pool of workers.

A month that AWS splits into numbered files is converted file by file in parallel
(``pipelines.ingest._convert_files``); these tests pin that the parallel path gives exactly
what the one-by-one path gives, and keeps the all-or-nothing commit and its error messages.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import shutil
import threading
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines import ingest as ingest_module
from pipelines.errors import IngestFailed
from pipelines.ingest import ingest
from pipelines.warehouse import Warehouse
from sample_data.generate import generate
from tests.conftest import tree_digest

ROWS_PER_FILE = 2_500


@pytest.fixture(scope="module")
def split_month(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, list[Path]]:
    """One billing period of ~6,000 line items in three files, with its ground truth."""
    root = tmp_path_factory.mktemp("split")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sample_data.generate.MAX_ROWS_PER_FILE", ROWS_PER_FILE)
        truth = generate(root / "export", rows=6_000, months=1, seed=3)
    [manifest] = (root / "export").glob("cur/*/*/*-Manifest.json")
    files = [root / "export" / key for key in json.loads(manifest.read_text())["reportKeys"]]
    assert len(files) == 3  # the month really is split
    return root / "export", truth.periods["2026-08"].__dict__, files


def _copy(export: Path, target: Path) -> Path:
    shutil.copytree(export, target)
    return target


def _parts(warehouse: Path) -> list[Path]:
    return sorted((warehouse / "line_items" / "billing_period=2026-08").glob("*.parquet"))


def _run_log(warehouse: Path) -> list[dict]:
    table = pq.read_table(next((warehouse / "_runs").glob("*.parquet")))
    ignored = {"run_id", "started_at", "finished_at", "duration_s", "source"}
    return [{k: v for k, v in row.items() if k not in ignored} for row in table.to_pylist()]


def test_parallel_month_gives_the_same_parts_rows_and_run_log_as_one_by_one(
    split_month, tmp_path: Path
):
    export, truth, files = split_month

    ingest(str(export), tmp_path / "sequential", workers=1)
    ingest(str(export), tmp_path / "parallel", workers=2)

    sequential, parallel = _parts(tmp_path / "sequential"), _parts(tmp_path / "parallel")
    assert [p.name for p in parallel] == [
        "part-00001.parquet",
        "part-00002.parquet",
        "part-00003.parquet",
    ]
    assert [p.name for p in sequential] == [p.name for p in parallel]
    for one, other in zip(sequential, parallel, strict=True):
        assert pq.read_table(one).equals(pq.read_table(other))
    # Each part holds its own file's rows, in the file's order: part N is file N.
    per_file = [len(_rows(path)) - 1 for path in files]
    assert [pq.ParquetFile(p).metadata.num_rows for p in parallel] == per_file
    assert _run_log(tmp_path / "parallel") == _run_log(tmp_path / "sequential")
    [record] = _run_log(tmp_path / "parallel")
    assert record["rows_in"] == record["rows_out"] == truth["rows"]
    assert record["unblended_cost"] == pytest.approx(truth["unblended"], abs=1e-6)


def test_files_of_a_month_are_converted_at_the_same_time(split_month, tmp_path: Path, monkeypatch):
    export, truth, _ = split_month
    # The first two files wait for each other: converted one after the other, the barrier
    # would break (after its time-out) and the ingest would fail.
    barrier = threading.Barrier(2, timeout=30)
    threads: list[str] = []
    real_write_file = ingest_module._write_file

    def meeting(path, out_path, period, *rest):
        threads.append(threading.current_thread().name)
        if out_path.name in ("part-00001.parquet", "part-00002.parquet"):
            barrier.wait()
        return real_write_file(path, out_path, period, *rest)

    monkeypatch.setattr(ingest_module, "_write_file", meeting)
    progress: list[str] = []

    result = ingest(
        str(export),
        tmp_path / "wh",
        workers=2,
        progress=lambda path, size, total: progress.append(path.name),
    )

    [record] = result.ingested
    assert record.rows_out == truth["rows"]
    assert len(set(threads)) == 2 and all(name.startswith("finops-ingest") for name in threads)
    # The progress bar still hears of every file once, from the caller's thread.
    assert sorted(progress) == [
        "finops-demo-00001.csv.gz",
        "finops-demo-00002.csv.gz",
        "finops-demo-00003.csv.gz",
    ]


def _rows(path: Path) -> list[list[str]]:
    """The header and data rows of a gzip CUR file, read with Python's csv module."""
    with gzip.open(path, "rt", encoding="utf-8", newline="") as source:
        return list(csv.reader(source))


def _break_cost(path: Path, row: int, text: str) -> None:
    """Rewrite data row ``row`` (1-based) of a gzip CUR file with ``text`` as its cost."""
    rows = _rows(path)
    column = rows[0].index("lineItem/UnblendedCost")
    rows[row][column] = text
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    with gzip.open(path, "wt", encoding="utf-8", newline="") as target:
        target.write(buffer.getvalue())


def test_bad_file_in_a_parallel_month_is_named_and_nothing_is_committed(
    split_month, tmp_path: Path
):
    export = _copy(split_month[0], tmp_path / "export")
    files = sorted(export.rglob("*.csv.gz"))
    warehouse = tmp_path / "wh"
    ingest(str(export), warehouse, workers=2)
    before = tree_digest(warehouse / "line_items")

    _break_cost(files[1], 1_234, "12,5 USD")
    _break_cost(files[2], 7, "n/a")
    with pytest.raises(IngestFailed) as failed:
        ingest(str(export), warehouse, force=True, workers=2)

    # Both bad files are reported, in the delivery's order, each with its row and column.
    messages = [str(failure) for failure in failed.value.failures]
    assert len(messages) == 2
    assert messages[0].startswith(str(files[1]))
    assert "row 1234, column 'lineItem/UnblendedCost'" in messages[0]
    assert "'12,5 USD' is not a number" in messages[0]
    assert messages[1].startswith(str(files[2]))
    assert "row 7, column 'lineItem/UnblendedCost'" in messages[1]
    assert tree_digest(warehouse / "line_items") == before
    assert not (warehouse / "_staging").exists()
    runs = sorted((warehouse / "_runs").glob("*.parquet"))
    assert pq.read_table(runs[-1]).column("outcome").to_pylist() == ["failed"]


def test_interrupt_in_one_worker_stops_the_others_and_commits_nothing(
    split_month, tmp_path: Path, monkeypatch
):
    export, _, _ = split_month
    warehouse = tmp_path / "wh"
    ingest(str(export), warehouse, workers=2)
    before = tree_digest(warehouse / "line_items")
    real_write_file = ingest_module._write_file
    started = threading.Event()

    def interrupted(path, out_path, period, *rest):
        if out_path.name == "part-00002.parquet":
            started.wait(timeout=30)  # the other worker is converting file 1 meanwhile
            raise KeyboardInterrupt
        started.set()
        return real_write_file(path, out_path, period, *rest)

    monkeypatch.setattr(ingest_module, "_write_file", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ingest(str(export), warehouse, force=True, workers=2)

    # Every worker has stopped before the staging folder went: nothing is written after it.
    assert not [t for t in threading.enumerate() if t.name.startswith("finops-ingest")]
    assert not (warehouse / "_staging").exists()
    assert tree_digest(warehouse / "line_items") == before
    assert not (warehouse / ".lock").exists()
    assert Warehouse(warehouse).last_ingested()["2026-08"]["rows_out"] > 0


def test_lone_file_written_in_the_background_gives_the_same_part(
    split_month, tmp_path: Path, monkeypatch
):
    # One file, row groups of about 500 rows: with a spare core each row group is summed and written
    # by a second thread while the next is read; the part and the run log must not change.
    monkeypatch.setattr(ingest_module, "ROW_GROUP_ROWS", 500)
    monkeypatch.setattr("pipelines.readers.BATCH_BYTES", 64 << 10)
    monkeypatch.setattr("pipelines.readers.CSV_BLOCK_BYTES", 32 << 10)
    export, _, files = split_month
    loose = tmp_path / "loose" / "cur.csv.gz"
    loose.parent.mkdir()
    shutil.copy(files[0], loose)
    writers: list[str] = []
    real_write_row_group = ingest_module._write_row_group

    def noted(*args):
        writers.append(threading.current_thread().name)
        return real_write_row_group(*args)

    monkeypatch.setattr(ingest_module, "_write_row_group", noted)

    ingest(str(loose), tmp_path / "inline", workers=1)
    inline_threads, writers[:] = list(writers), []
    ingest(str(loose), tmp_path / "background", workers=2)

    assert set(inline_threads) == {"MainThread"}
    assert len(writers) == len(inline_threads) > 3
    assert all(name.startswith("finops-write") for name in writers)
    [inline] = _parts(tmp_path / "inline")
    [background] = _parts(tmp_path / "background")
    assert pq.ParquetFile(background).metadata.num_row_groups == len(writers)
    assert pq.read_table(background).equals(pq.read_table(inline))
    assert _run_log(tmp_path / "background") == _run_log(tmp_path / "inline")
    assert pq.ParquetFile(background).metadata.num_rows == len(_rows(files[0])) - 1


def test_lone_file_read_ahead_names_a_bad_row_and_leaves_no_thread_behind(
    split_month, tmp_path: Path, monkeypatch
):
    # Small batches, so that the bad row is met by the read-ahead thread mid-file.
    monkeypatch.setattr("pipelines.readers.BATCH_BYTES", 64 << 10)
    monkeypatch.setattr("pipelines.readers.CSV_BLOCK_BYTES", 32 << 10)
    loose = tmp_path / "loose" / "cur.csv.gz"
    loose.parent.mkdir()
    shutil.copy(split_month[2][0], loose)
    warehouse = tmp_path / "wh"
    ingest(str(loose), warehouse, workers=2)
    before = tree_digest(warehouse / "line_items")
    _break_cost(loose, 2_000, "1.2.3")

    with pytest.raises(IngestFailed) as failed:
        ingest(str(loose), warehouse, force=True, workers=2)

    assert str(failed.value).startswith(str(loose))
    assert "row 2000, column 'lineItem/UnblendedCost': '1.2.3' is not a number" in str(failed.value)
    assert not [t for t in threading.enumerate() if t.name.startswith("finops-")]
    assert tree_digest(warehouse / "line_items") == before


def test_workers_below_one_are_refused(split_month, tmp_path: Path):
    with pytest.raises(Exception, match="workers must be 1 or more"):
        ingest(str(split_month[0]), tmp_path / "wh", workers=0)
