"""Ad-hoc SQL over the analyst file (``finops sql``) and the data checks on it (``finops check``).

Both open ``DIR/finops.duckdb`` read-only: nothing an analyst types can change the models, and
a query can run while another session reads the same file. Results come back as a pyarrow
table and are written as CSV, JSON or Parquet by ``write_result``; the CLI prints the table
form itself.

Example::

    result = run_query(Path("warehouse"), "SELECT * FROM monthly_cost")
    write_result(result, "csv", sys.stdout)

Notes:
    ``finops check`` runs the check files as they are now against the views of the last build;
    a model changed since then is checked only after ``finops build``.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import difflib
import json
import re
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.engine import duckdb_config
from pipelines.errors import QueryError, WarehouseError
from pipelines.models import DATABASE_FILE, CheckFailure, Progress, glob_literal, run_checks

FORMATS = ("table", "csv", "json", "parquet")

# Statement kinds `finops sql` runs; anything else could write (COPY TO, EXPORT, ATTACH) or
# change the session (SET, INSTALL, LOAD).
_READING = frozenset(
    {
        duckdb.StatementType.SELECT,
        duckdb.StatementType.EXPLAIN,
        duckdb.StatementType.PRAGMA,
        duckdb.StatementType.CALL,
    }
)
_MISSING_TABLE = re.compile(r"Table with name (\S+) does not exist", re.IGNORECASE)


@dataclass(frozen=True)
class CheckReport:
    """What ``finops check`` found.

    Args:
        database: the analyst file the checks ran on.
        checks: the checks run, by name, in order.
        failures: the rows they returned; empty when every check passed.
    """

    database: Path
    checks: tuple[str, ...]
    failures: tuple[CheckFailure, ...]

    @property
    def ok(self) -> bool:
        return not self.failures


def run_query(warehouse: Path, sql: str) -> pa.Table:
    """Run one query on ``warehouse/finops.duckdb`` (read-only); the result as an Arrow table.

    Raises:
        WarehouseError: there is no built analyst file, or it cannot be opened.
        QueryError: the SQL does not parse, names an unknown view or column, or fails; the
            message says which and lists the views when one was not found.
    """
    if not sql.strip():
        raise QueryError("no SQL given")
    _only_reading(sql)
    with _analyst_file(warehouse) as connection:
        # The views read the warehouse's own files; nothing else on this machine is readable
        # (read_csv('/etc/passwd')), and the setting cannot be undone by the query.
        # The views name the files as a glob with [, ] and * escaped (br[1] -> br[[]1[]]),
        # and DuckDB checks that text too.
        root = str(warehouse.resolve()) + "/"
        connection.execute(
            "SET allowed_directories = list_distinct([?, ?])", [root, glob_literal(root)]
        )
        connection.execute("SET enable_external_access = false")
        connection.execute("SET lock_configuration = true")
        try:
            relation = connection.sql(sql)
            # A statement that returns no rows (SET, PRAGMA) runs at once and gives None.
            return relation.to_arrow_table() if relation is not None else pa.table({})
        except duckdb.Error as error:
            raise QueryError(_explain(connection, error)) from None


def _only_reading(sql: str) -> None:
    """Refuse SQL that is not one query: COPY ... TO, ATTACH, EXPORT, SET, INSTALL, CREATE."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as error:
        raise QueryError(str(error).strip()) from None
    if len(statements) != 1:
        raise QueryError(
            f"finops sql runs one query; got {len(statements)} statements (run them one by one)"
        )
    kind = statements[0].type
    if kind not in _READING:
        name = kind.name.replace("_STATEMENT", "")
        raise QueryError(
            f"finops sql only reads: {name} statements are refused (expected SELECT, WITH ..., "
            "FROM ..., DESCRIBE, SHOW, SUMMARIZE, EXPLAIN, PRAGMA or CALL); to write a result "
            "use --format csv|json|parquet --output FILE"
        )


def check_warehouse(
    warehouse: Path, queries: Path | None = None, *, progress: Progress | None = None
) -> CheckReport:
    """Run every data check of ``queries/checks/`` on the built analyst file (read-only).

    Raises:
        WarehouseError: there is no built analyst file, or it cannot be opened.
        ModelError: a check that cannot run (it names the file).
    """
    with _analyst_file(warehouse) as connection:
        checks, failures = run_checks(connection, queries, progress=progress)
    return CheckReport(
        warehouse / DATABASE_FILE, tuple(check.name for check in checks), tuple(failures)
    )


def write_result(result: pa.Table, output_format: str, out: IO[str] | Path) -> None:
    """Write a query result as ``csv``, ``json`` (an array of objects) or ``parquet``.

    Args:
        result: the rows.
        output_format: one of ``csv``, ``json``, ``parquet``.
        out: a text stream (csv, json) or a file path (any of them; Parquet needs a path).

    Notes:
        Maps and lists are written as JSON text in CSV cells; dates and timestamps in ISO 8601.
    """
    if output_format == "parquet":
        if not isinstance(out, Path):
            raise QueryError("--format parquet needs --output FILE (Parquet is binary)")
        try:
            pq.write_table(result, out, compression="zstd")
        except OSError as error:
            raise QueryError(f"{out}: cannot write the result ({error})") from None
        return
    if isinstance(out, Path):
        try:
            stream = out.open("w", encoding="utf-8", newline="")
        except OSError as error:
            raise QueryError(f"{out}: cannot write the result ({error.strerror})") from None
        with stream:
            write_result(result, output_format, stream)
        return
    rows = result.to_pylist(maps_as_pydicts="lossy")
    if output_format == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(result.column_names)
        for row in rows:
            writer.writerow(_csv_cell(value) for value in row.values())
    elif output_format == "json":
        out.write("[\n")
        out.write(",\n".join(json.dumps(row, default=_json_value) for row in rows))
        out.write("\n]\n" if rows else "]\n")
    else:
        raise QueryError(f"unknown format {output_format!r} (expected {', '.join(FORMATS)})")


@contextmanager
def _analyst_file(warehouse: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    database = warehouse / DATABASE_FILE
    if not database.is_file():
        raise WarehouseError(f"{database}: no such file; run `finops build` first")
    try:
        connection = duckdb.connect(str(database), read_only=True, config=duckdb_config())
    except duckdb.Error as error:
        problem = str(error).strip().splitlines()[0]
        raise WarehouseError(f"{database}: cannot be opened read-only ({problem})") from None
    with closing(connection):
        yield connection


def _explain(connection: duckdb.DuckDBPyConnection, error: duckdb.Error) -> str:
    message = str(error).strip()
    missing = _MISSING_TABLE.search(message)
    if not missing:
        return message
    views = [
        name
        for (name,) in connection.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'main' ORDER BY table_name"
        ).fetchall()
    ]
    name = missing.group(1).strip("\"'")
    close = difflib.get_close_matches(name, views, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    first_line = message.splitlines()[0].rstrip("!. ")
    return f"{first_line}.{hint} The views and tables of finops.duckdb: {', '.join(views)}"


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, default=_json_value)
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    return value


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, uuid.UUID | dt.timedelta | bytes):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
