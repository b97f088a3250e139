"""The local warehouse folder: its layout, the atomic swap of billing periods, the run log.

Layout::

    DIR/line_items/billing_period=YYYY-MM/part-00001.parquet   the dataset (zstd)
    DIR/_runs/<run_id>.parquet                                  one file per ingest run
    DIR/_runs/invoices/<run_id>.parquet                         its sums per invoice
    DIR/_staging/<run_id>/billing_period=YYYY-MM/...            new periods being written
    DIR/_swap-<run_id>.json                                     journal of a swap in progress
    DIR/finops.duckdb                                           views for analysts (build)

A billing period is replaced whole: the new files are written under ``_staging`` and only
when every period of the run is good are they swapped in, one ``rename`` per period. A
journal written before the first rename lets the next run finish a swap that a crash
interrupted, so a period is never left half old and half new.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.errors import WarehouseError

log = logging.getLogger(__name__)

PARTITION = "billing_period"

RUNS_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("started_at", pa.timestamp("ms")),
        ("finished_at", pa.timestamp("ms")),
        ("duration_s", pa.float64()),
        ("source", pa.string()),
        ("format", pa.string()),
        ("layout", pa.string()),
        ("billing_period", pa.string()),
        ("assembly_id", pa.string()),
        ("fingerprint", pa.string()),
        ("files", pa.list_(pa.string())),
        ("bytes", pa.int64()),
        ("rows_in", pa.int64()),
        ("rows_out", pa.int64()),
        ("unblended_cost", pa.float64()),
        ("unblended_cost_written", pa.float64()),
        ("unblended_cost_by_currency", pa.map_(pa.string(), pa.float64())),
        ("currencies", pa.list_(pa.string())),
        ("dropped_columns", pa.list_(pa.string())),
        ("outcome", pa.string()),
        ("message", pa.string()),
    ]
)


#: A period's sums per ``bill_invoice_id`` and currency, as read from the source and as
#: written, for each period a run ingested: what AWS's invoices can be checked against.
INVOICES_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("billing_period", pa.string()),
        ("bill_invoice_id", pa.string()),  # null: line items without one (estimated month)
        ("currency", pa.string()),
        ("rows", pa.int64()),
        ("unblended_cost_read", pa.float64()),
        ("unblended_cost_written", pa.float64()),
    ]
)


@dataclass
class InvoiceTotal:
    """One row of ``INVOICES_SCHEMA``."""

    bill_invoice_id: str | None
    currency: str
    rows: int = 0
    unblended_cost_read: float = 0.0
    unblended_cost_written: float = 0.0


@dataclass
class RunRecord:
    """One row of the run log: what one run did with one billing period."""

    run_id: str
    source: str
    outcome: str  # ingested | unchanged | failed
    started_at: datetime
    finished_at: datetime
    duration_s: float = 0.0
    format: str | None = None  # legacy-csv | legacy-parquet | cur2 | focus
    layout: str | None = None  # None: the run failed before it found any month
    billing_period: str | None = None
    assembly_id: str | None = None
    fingerprint: str | None = None
    message: str = ""
    files: list[str] = field(default_factory=list)
    bytes: int = 0
    rows_in: int = 0
    rows_out: int = 0
    unblended_cost: float | None = 0.0  # read; None when the period mixes currencies
    unblended_cost_written: float | None = None  # summed back from the Parquet written
    unblended_cost_by_currency: dict[str, float] = field(default_factory=dict)
    currencies: list[str] = field(default_factory=list)
    dropped_columns: list[str] = field(default_factory=list)
    invoices: list[InvoiceTotal] = field(default_factory=list)  # in _runs/invoices/


def check_path(root: Path) -> None:
    """Refuse a warehouse path that DuckDB would misread.

    Raises:
        WarehouseError: the absolute path has a ``?`` (DuckDB takes what follows it in a
            database path for URL parameters, so ``finops.duckdb`` could not be committed to),
            or a folder named like ``key=value`` (DuckDB's hive partitioning would turn it
            into a column of every line item, e.g. ``env='prod'`` for ``/data/env=prod/wh``).

    Notes:
        ``[``, ``]`` and ``*`` are fine: the ``line_items`` view escapes them in its glob.
    """
    absolute = Path(root).resolve()
    if "?" in str(absolute):
        raise WarehouseError(
            f"{absolute}: the warehouse path contains '?', which DuckDB cannot keep "
            "finops.duckdb under; use a folder without it"
        )
    partition_like = [part for part in absolute.parts if "=" in part]
    if partition_like:
        raise WarehouseError(
            f"{absolute}: the folder {partition_like[0]!r} looks like a hive partition "
            "(key=value), which DuckDB would read as a column of every line item; use a "
            "folder without '='"
        )


class Warehouse:
    """A warehouse folder on the local disk."""

    def __init__(self, root: Path) -> None:
        check_path(root)
        self.root = Path(root)
        self.line_items = self.root / "line_items"
        self.runs = self.root / "_runs"
        self.staging = self.root / "_staging"
        self.analyst_db = self.root / "finops.duckdb"

    def period_dir(self, period: str) -> Path:
        return self.line_items / f"{PARTITION}={period}"

    def periods(self) -> list[str]:
        """Billing periods present in the dataset, oldest first."""
        if not self.line_items.is_dir():
            return []
        prefix = f"{PARTITION}="
        return sorted(
            path.name[len(prefix) :]
            for path in self.line_items.iterdir()
            if path.is_dir() and path.name.startswith(prefix)
        )

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the warehouse for one writer; a second ingest fails fast instead of racing."""
        if self.root.exists() and not self.root.is_dir():
            raise WarehouseError(f"{self.root}: is a file, not a warehouse folder")
        lock_path = self.root / ".lock"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(lock_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            holder = lock_path.read_text().strip() if lock_path.exists() else "?"
            if holder.isdigit() and not _process_alive(int(holder)):
                lock_path.unlink(missing_ok=True)
                with self.lock():
                    yield
                return
            raise WarehouseError(
                f"{self.root}: another finops run (pid {holder}) is writing this warehouse; "
                f"remove {lock_path} if it is not running"
            ) from None
        except OSError as error:  # not writable, a parent that is a file, /proc, ...
            raise WarehouseError(f"{self.root}: cannot write here ({error.strerror})") from None
        with os.fdopen(descriptor, "w") as handle:
            handle.write(str(os.getpid()))
        try:
            yield
        finally:
            lock_path.unlink(missing_ok=True)

    def recover(self) -> list[str]:
        """Finish a swap that a crash interrupted, and clear abandoned staging folders.

        Returns the billing periods whose swap was completed.
        """
        completed: list[str] = []
        for unfinished in self.root.glob("_swap-*.json.tmp"):
            unfinished.unlink()  # a journal never completed: its swap never began
        for journal in sorted(self.root.glob("_swap-*.json")):
            run_id = journal.stem[len("_swap-") :]
            periods = json.loads(journal.read_text())["periods"]
            self._swap(run_id, periods)
            completed += periods
        if self.staging.is_dir():
            shutil.rmtree(self.staging)
        return completed

    def staged_period_dir(self, run_id: str, period: str) -> Path:
        path = self.staging / run_id / f"{PARTITION}={period}"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def discard(self, run_id: str) -> None:
        shutil.rmtree(self.staging / run_id, ignore_errors=True)
        if self.staging.is_dir() and not any(self.staging.iterdir()):
            self.staging.rmdir()

    def commit(self, run_id: str, periods: list[str]) -> None:
        """Swap the staged periods of ``run_id`` into the dataset.

        Ctrl-C is held off until the swap is done: once the journal exists the swap only
        rolls forward, so an interrupt here would leave a run the user stopped for a later
        run to complete.
        """
        if not periods:
            self.discard(run_id)
            return
        with interrupts_deferred():
            journal = self.root / f"_swap-{run_id}.json"
            _write_atomically(journal, json.dumps({"periods": periods}).encode())
            self._swap(run_id, periods)

    def _swap(self, run_id: str, periods: list[str]) -> None:
        trash = self.staging / f"{run_id}-replaced"
        self.line_items.mkdir(parents=True, exist_ok=True)
        for period in periods:
            new = self.staging / run_id / f"{PARTITION}={period}"
            current = self.period_dir(period)
            old = trash / f"{PARTITION}={period}"
            if not new.exists():
                continue  # already swapped before a crash
            if current.exists():
                old.parent.mkdir(parents=True, exist_ok=True)
                if old.exists():
                    shutil.rmtree(old)
                current.rename(old)
            new.rename(current)
        (self.root / f"_swap-{run_id}.json").unlink(missing_ok=True)
        shutil.rmtree(trash, ignore_errors=True)
        self.discard(run_id)

    def append_runs(self, records: list[RunRecord]) -> Path:
        """Write one run's records as ``_runs/<run_id>.parquet``."""
        self.runs.mkdir(parents=True, exist_ok=True)
        invoices = [
            {"run_id": record.run_id, "billing_period": record.billing_period, **asdict(total)}
            for record in records
            if record.outcome == "ingested"
            for total in record.invoices
        ]
        if invoices:
            # Written first: a run file without its invoices would look complete.
            (self.runs / "invoices").mkdir(exist_ok=True)
            invoice_path = self.runs / "invoices" / f"{records[0].run_id}.parquet"
            _write_table(pa.Table.from_pylist(invoices, schema=INVOICES_SCHEMA), invoice_path)
        rows = [asdict(record) for record in records]
        path = self.runs / f"{records[0].run_id}.parquet"
        _write_table(pa.Table.from_pylist(rows, schema=RUNS_SCHEMA), path)
        return path

    def last_ingested(self) -> dict[str, dict]:
        """The latest successful record per billing period still present in the dataset."""
        if not self.runs.is_dir():
            return {}
        files = sorted(self.runs.glob("*.parquet"))
        if not files:
            return {}
        table = pa.concat_tables(pq.read_table(path, schema=RUNS_SCHEMA) for path in files)
        latest: dict[str, dict] = {}
        present = set(self.periods())
        for row in sorted(table.to_pylist(), key=lambda row: row["finished_at"]):
            if row["outcome"] == "ingested" and row["billing_period"] in present:
                latest[row["billing_period"]] = row
        return latest


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) off a block that must finish once begun, such as a swap.

    An interrupt received meanwhile is logged, not raised: the block completed, so the run
    did what it set out to do. Outside the main thread, where signals cannot be handled,
    this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda number, _frame: received.append(number))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        log.warning("interrupted while committing; the commit was completed first")


def _write_table(table: pa.Table, path: Path) -> None:
    temporary = path.with_suffix(".tmp")
    pq.write_table(table, temporary, compression="zstd")
    temporary.replace(path)


def _write_atomically(path: Path, payload: bytes) -> None:
    temporary = path.with_suffix(path.suffix + ".tmp")
    with open(temporary, "wb") as handle:
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(path)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
