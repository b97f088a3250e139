"""Build the SQL models on DuckDB: find them, order them, create them as views, run the checks.

The models are the ``.sql`` files under ``queries/``, one model a file, named after the file
(``queries/marts/daily_cost.sql`` is the view ``daily_cost``). Every folder is a layer of
models except three: ``checks/`` holds data checks (a query that returns the offending rows with
a ``reason``), ``seeds/`` holds reference tables as CSV, and ``examples/`` holds ready analyst
queries that are not built (``finops sql`` runs them). The build order comes from the
tables each file reads, as sqlglot parses them; nobody keeps a list by hand.

``build`` writes ``DIR/finops.duckdb`` with:

- ``line_items``: a view over ``DIR/line_items/billing_period=*/*.parquet`` (absolute path,
  hive partitioning, so ``billing_period`` comes from the folder name);
- the seed tables: ``queries/seeds/*.csv``, with ``tag_key_aliases`` and ``tag_value_aliases``
  taken from the configuration (whose defaults are those CSV files);
- every model as a view, so ``duckdb DIR/finops.duckdb`` or a notebook sees them all.

Example::

    result = build(Path("warehouse"), load_config(None))
    for failure in result.check_failures:
        print(failure.check, failure.reason)

Notes:
    The new database is written beside the old one and swapped in with ``os.replace`` only
    when every model built, so a failing model leaves the previous ``finops.duckdb`` as it was.
    An old file that DuckDB cannot open (not a DuckDB database, or held open read-write by
    another session) is not replaced: the build stops with a ``WarehouseError`` instead.
    Models are views, not tables: each query reads the Parquet files again, and a build does
    not copy data. After an ingest adds the first partition, build again: a warehouse that had
    no partition gets an empty ``line_items`` view with the contract's columns.
    The views name the warehouse by its absolute path; a moved warehouse needs a new build.
    That path may hold ``[``, ``]`` and ``*`` (escaped in the view's glob) but not ``?``, under
    which DuckDB cannot write a database (see ``pipelines.warehouse.check_path``).
    The file is rebuilt whole each time, so tables an analyst adds to it do not survive a build.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from pipelines.anomalies import create_views as create_anomaly_views
from pipelines.config import CONFIGURED_SEEDS, Config, queries_folder
from pipelines.contract import LINE_ITEMS_SCHEMA
from pipelines.engine import duckdb_config
from pipelines.errors import ModelError, WarehouseError
from pipelines.warehouse import INVOICES_SCHEMA, RUNS_SCHEMA, Warehouse, check_path

logger = logging.getLogger(__name__)

DATABASE_FILE = "finops.duckdb"
SOURCE = "line_items"
#: The run log as views: every ingest's rows per period (``_runs/*.parquet``) and its sums per
#: invoice (``_runs/invoices/*.parquet``), for the reconciliation models. Empty views with the
#: run log's columns when no run wrote them yet.
RUN_LOG = "run_log"
RUN_LOG_INVOICES = "run_log_invoices"
RUN_LOG_SOURCES = (RUN_LOG, RUN_LOG_INVOICES)
#: The plan executor's execution logs (``finops act ingest-log``); empty until one is loaded.
ACTION_LOG = "action_log"
CHECKS_FOLDER = "checks"
SEEDS_FOLDER = "seeds"
#: Ready analyst queries: run and transpiled by the tests, never built as views.
EXAMPLES_FOLDER = "examples"

#: Called as each model or check starts: ``progress(name, position, total)``, 1-based.
Progress = Callable[[str, int, int], None]

_MODEL_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_CONFIGURED_SEEDS = {
    name: tuple(f"{column} {kind}" for column, kind in columns)
    for name, columns in CONFIGURED_SEEDS.items()
}


@dataclass(frozen=True)
class Model:
    """One SQL file: a model (a view) or a check.

    Args:
        name: the view name, the file's stem.
        path: the file, as error messages name it.
        sql: the file's text, header comment included.
        reads: the tables and views it reads, lower-case, as sqlglot finds them.
        is_check: a check from ``queries/checks/`` rather than a model.
    """

    name: str
    path: Path
    sql: str
    reads: frozenset[str]
    is_check: bool = False

    @property
    def summary(self) -> str:
        """The first line of the header comment, without its ``--``; empty without a header."""
        first = self.sql.lstrip().partition("\n")[0].strip()
        return first.removeprefix("--").strip() if first.startswith("--") else ""


@dataclass(frozen=True)
class CheckFailure:
    """One row that a check returned.

    Args:
        check: the check's name (its file stem).
        reason: the row's ``reason`` column, in words.
        row: every column of the row, ``reason`` included.
    """

    check: str
    reason: str
    row: Mapping[str, object]


@dataclass(frozen=True)
class BuildResult:
    """What a build made.

    Args:
        database: the analyst file, ``DIR/finops.duckdb``.
        models: the views built, in build order.
        row_counts: rows per model.
        seeds: the seed tables written.
        checks: the checks run, in order.
        check_failures: the rows the checks returned; empty when all data checks pass.
        has_line_items: whether the warehouse had any partition.
        seconds: how long the build took.
    """

    database: Path
    models: tuple[str, ...]
    row_counts: Mapping[str, int]
    seeds: tuple[str, ...]
    checks: tuple[str, ...]
    check_failures: tuple[CheckFailure, ...] = field(default=())
    has_line_items: bool = False
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return not self.check_failures


def build(
    warehouse: Path,
    config: Config | None = None,
    *,
    progress: Progress | None = None,
    queries: Path | None = None,
) -> BuildResult:
    """Build every model of ``queries/`` as a view in ``warehouse/finops.duckdb``; run the checks.

    Args:
        warehouse: the warehouse folder (the one that holds ``line_items/``).
        config: the tag rules and other settings; ``None`` uses the shipped defaults (it does
            not read ``finops.toml``: call ``load_config`` for that).
        progress: called as each model or check starts, with its name, position and total.
        queries: the folder of models, checks and seeds; the installed ``queries`` package by
            default. Tests point it elsewhere.

    Raises:
        WarehouseError: the warehouse folder is missing or cannot be written, its path has a
            character DuckDB cannot keep a database under (``?``), or the ``finops.duckdb``
            there cannot be replaced (not a DuckDB database, or open read-write in another
            session); the message names the file and what to do.
        ModelError: a model or check cannot be parsed, reads an unknown table, is part of a
            dependency cycle, or fails in DuckDB; it names the file. The previous
            ``finops.duckdb`` is left as it was.
    """
    started = time.monotonic()
    if not warehouse.is_dir():
        raise WarehouseError(f"{warehouse}: no such warehouse folder")
    check_path(warehouse)
    _refuse_other_folder(warehouse)
    target = warehouse / DATABASE_FILE
    _check_replaceable(target)
    config = config if config is not None else Config()
    queries = queries if queries is not None else queries_folder()

    store = Warehouse(warehouse)
    with store.lock():
        # Ingest writes under the same lock, and a swap that a crash cut short is finished
        # first: the models never see a half-replaced month.
        store.recover()
        return _build_locked(warehouse, target, config, queries, progress, started)


def _build_locked(
    warehouse: Path,
    target: Path,
    config: Config,
    queries: Path,
    progress: Progress | None,
    started: float,
) -> BuildResult:
    seed_files = find_seeds(queries)
    seed_names = sorted(set(seed_files) | set(_CONFIGURED_SEEDS))
    models, checks = order_models(
        find_models(queries), known=[SOURCE, ACTION_LOG, *RUN_LOG_SOURCES, *seed_names]
    )
    has_line_items = _has_partitions(warehouse)
    logger.info(
        "building %d models and %d checks into %s (%s)",
        len(models),
        len(checks),
        target,
        "with line items" if has_line_items else "no partition yet",
    )

    building = warehouse / f".{DATABASE_FILE}.{uuid.uuid4().hex}.building"
    try:
        with closing(_connect(building)) as connection:
            _create_line_items(connection, warehouse, has_line_items)
            _create_run_log(connection, warehouse)
            _create_action_log(connection, warehouse)
            _create_seeds(connection, seed_files, config)
            row_counts = _create_models(connection, models, progress, len(models) + len(checks))
            # `finops anomalies` results (Parquet under anomalies/), or empty views until then.
            create_anomaly_views(connection, warehouse)
            failures = _run_checks(
                connection, checks, progress, len(models), len(models) + len(checks)
            )
            connection.execute("CHECKPOINT")
        # Again, as a session may have opened the old file while the models were built.
        _check_replaceable(target)
        # A write-ahead log left beside the old file by a crashed session belongs to the old
        # file; DuckDB would replay it onto the new one.
        target.with_name(target.name + ".wal").unlink(missing_ok=True)
        _replace(building, target)
    finally:
        for leftover in (building, building.with_name(building.name + ".wal")):
            leftover.unlink(missing_ok=True)

    logger.info("built %s: %d check failures", target, len(failures))
    return BuildResult(
        database=target,
        models=tuple(model.name for model in models),
        row_counts=row_counts,
        seeds=tuple(seed_names),
        checks=tuple(check.name for check in checks),
        check_failures=tuple(failures),
        has_line_items=has_line_items,
        seconds=time.monotonic() - started,
    )


def find_models(queries: Path) -> list[Model]:
    """Every ``.sql`` file under ``queries``: the models, then the checks, sorted by path.

    Raises:
        ModelError: a file that is not one valid query, or a name used twice.
    """
    found: dict[str, Model] = {}
    for path in sorted(queries.rglob("*.sql")):
        relative = path.relative_to(queries)
        if relative.parts[0] in (SEEDS_FOLDER, EXAMPLES_FOLDER):
            continue
        model = _read_model(path, is_check=relative.parts[0] == CHECKS_FOLDER)
        if model.name in found:
            raise ModelError(
                str(path), f"name {model.name!r} is taken by {found[model.name].path} already"
            )
        found[model.name] = model
    return sorted(found.values(), key=lambda model: (model.is_check, str(model.path)))


def run_checks(
    connection: duckdb.DuckDBPyConnection,
    queries: Path | None = None,
    *,
    progress: Progress | None = None,
) -> tuple[list[Model], list[CheckFailure]]:
    """Run the data checks of ``queries/checks/`` on a built analyst file (``finops check``).

    Returns:
        (the checks run, in order; the rows they returned).

    Raises:
        ModelError: a check that does not parse, reads an unknown table or fails in DuckDB.
    """
    queries = queries if queries is not None else queries_folder()
    checks = [model for model in find_models(queries) if model.is_check]
    checks.sort(key=lambda check: check.name)
    return checks, _run_checks(connection, checks, progress, 0, len(checks))


def find_seeds(queries: Path) -> dict[str, Path]:
    """The seed CSV files, by table name."""
    folder = queries / SEEDS_FOLDER
    return {path.stem: path for path in sorted(folder.glob("*.csv"))} if folder.is_dir() else {}


def order_models(models: list[Model], *, known: list[str]) -> tuple[list[Model], list[Model]]:
    """Order the models so that each comes after the models it reads; the checks go last.

    Args:
        models: the models and checks, as ``find_models`` gives them.
        known: the other tables a model may read (the source and the seeds).

    Returns:
        (models in build order, checks in name order). Among models that do not depend on each
        other, the order is by name, so two builds of the same files agree.

    Raises:
        ModelError: a file reads a table that is neither a model nor known, or a set of models
            reads itself in a cycle.
    """
    views = {model.name: model for model in models if not model.is_check}
    checks = sorted((model for model in models if model.is_check), key=lambda m: m.name)
    for name in views:
        if name in known:
            raise ModelError(str(views[name].path), f"name {name!r} is taken by a seed or source")
    readable = set(views) | set(known)
    for model in [*views.values(), *checks]:
        for table in sorted(model.reads - readable):
            close = difflib.get_close_matches(table, sorted(readable), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ModelError(
                str(model.path),
                f"reads {table!r}, which is no model, seed or source{hint}",
            )

    sorter = TopologicalSorter({name: model.reads & set(views) for name, model in views.items()})
    try:
        sorter.prepare()
    except CycleError as error:
        cycle = error.args[1]
        files = " -> ".join(str(views[name].path) for name in cycle)
        raise ModelError(str(views[cycle[0]].path), f"dependency cycle: {files}") from None
    ordered: list[Model] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        ordered.extend(views[name] for name in ready)
        sorter.done(*ready)
    return ordered, checks


def _read_model(path: Path, *, is_check: bool) -> Model:
    name = path.stem
    if not _MODEL_NAME.match(name):
        raise ModelError(
            str(path), f"bad model name {name!r} (expected lower-case letters, digits and _)"
        )
    sql = path.read_text(encoding="utf-8")
    return Model(name, path, sql, _tables_read(path, sql), is_check)


def _tables_read(path: Path, sql: str) -> frozenset[str]:
    try:
        return _parse_tables_read(sql)
    except SqlglotError as error:
        raise ModelError(str(path), f"not valid SQL: {error}") from None
    except ValueError as error:
        raise ModelError(str(path), str(error)) from None


@lru_cache(maxsize=256)
def _parse_tables_read(sql: str) -> frozenset[str]:
    # Cached on the text: parsing is most of a small build's time, and the files rarely change.
    statements = [statement for statement in sqlglot.parse(sql, read="duckdb") if statement]
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise ValueError("expected exactly one query (SELECT or WITH ... SELECT)")

    query = statements[0]
    ctes = {cte.alias_or_name.lower() for cte in query.find_all(exp.CTE)}
    tables = {
        table.name.lower()
        for table in query.find_all(exp.Table)
        if isinstance(table.this, exp.Identifier) and not table.db
    }
    return frozenset(tables - ctes)


def _has_partitions(warehouse: Path) -> bool:
    return any((warehouse / SOURCE).glob("billing_period=*/*.parquet"))


def _connect(path: Path) -> duckdb.DuckDBPyConnection:
    try:
        return duckdb.connect(str(path), config=duckdb_config())
    except duckdb.Error as error:
        raise WarehouseError(f"{path.parent}: cannot write {DATABASE_FILE}: {error}") from error


def _check_replaceable(database: Path) -> None:
    # On Linux os.replace succeeds under a session that holds the old file open read-write,
    # which then writes its log beside the new file; opening it is how DuckDB's lock is seen.
    if not database.exists():
        return
    try:
        duckdb.connect(str(database), read_only=True).close()
    except duckdb.Error as error:
        raise _not_replaceable(database, str(error).strip().splitlines()[0]) from None


def _replace(building: Path, target: Path) -> None:
    try:
        os.replace(building, target)
    except OSError as error:
        raise _not_replaceable(target, error.strerror or str(error)) from None


def _not_replaceable(database: Path, problem: str) -> WarehouseError:
    return WarehouseError(
        f"{database}: cannot be replaced ({problem}); close any DuckDB session that holds it "
        "open read-write, or move the file away if `finops build` did not write it, then build "
        "again"
    )


def _create_line_items(
    connection: duckdb.DuckDBPyConnection, warehouse: Path, has_line_items: bool
) -> None:
    # The one view whose text depends on where the warehouse is; everything else is a file.
    if has_line_items:
        folder = glob_literal((warehouse.resolve() / SOURCE).as_posix())
        pattern = f"{folder}/billing_period=*/*.parquet"
        source = (
            f"SELECT * FROM read_parquet({_literal(pattern)}, hive_partitioning = true, "
            "hive_types = {'billing_period': VARCHAR}, union_by_name = true)"
        )
    else:
        columns = [f"CAST(NULL AS {_duckdb_type(f.type)}) AS {f.name}" for f in LINE_ITEMS_SCHEMA]
        columns.append("CAST(NULL AS VARCHAR) AS billing_period")
        source = f"SELECT {', '.join(columns)} WHERE false"
    with _as_model_error(f"{warehouse / SOURCE} (the line_items view)"):
        connection.execute(f"CREATE VIEW {SOURCE} AS {source}")
        connection.execute(
            f"COMMENT ON VIEW {SOURCE} IS "
            + _literal("CUR line items in the contract's columns, from the warehouse's Parquet")
        )


def _create_run_log(connection: duckdb.DuckDBPyConnection, warehouse: Path) -> None:
    # An empty view has the run log's own columns, so the models read the same either way.
    runs = warehouse.resolve() / "_runs"
    for name, folder, schema in (
        (RUN_LOG, runs, RUNS_SCHEMA),
        (RUN_LOG_INVOICES, runs / "invoices", INVOICES_SCHEMA),
    ):
        if any(folder.glob("*.parquet")):
            pattern = glob_literal(folder.as_posix()) + "/*.parquet"
            source = f"SELECT * FROM read_parquet({_literal(pattern)}, union_by_name = true)"
        else:
            columns = [f"CAST(NULL AS {_arrow_sql_type(f.type)}) AS {f.name}" for f in schema]
            source = f"SELECT {', '.join(columns)} WHERE false"
        with _as_model_error(f"{folder} (the {name} view)"):
            connection.execute(f"CREATE VIEW {name} AS {source}")


def _arrow_sql_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_list(arrow_type):
        return f"{_arrow_sql_type(arrow_type.value_type)}[]"
    if pa.types.is_int64(arrow_type):
        return "BIGINT"
    return _duckdb_type(arrow_type)


def _create_action_log(connection: duckdb.DuckDBPyConnection, warehouse: Path) -> None:
    # The models read the execution logs like line items: a view over the Parquet files that
    # ``finops act ingest-log`` wrote, or an empty view with their columns before the first.
    from pipelines.action_log import FOLDER, SCHEMA

    folder = warehouse / FOLDER
    if any(folder.glob("*.parquet")):
        pattern = f"{glob_literal(folder.resolve().as_posix())}/*.parquet"
        source = f"SELECT * FROM read_parquet({_literal(pattern)}, union_by_name = true)"
    else:
        columns = [f"CAST(NULL AS {_duckdb_type(f.type)}) AS {f.name}" for f in SCHEMA]
        source = f"SELECT {', '.join(columns)} WHERE false"
    with _as_model_error(f"{folder} (the {ACTION_LOG} view)"):
        connection.execute(f"CREATE VIEW {ACTION_LOG} AS {source}")
        connection.execute(
            f"COMMENT ON VIEW {ACTION_LOG} IS "
            + _literal("The plan executor's execution logs, one row per plan action per run")
        )


def _create_seeds(
    connection: duckdb.DuckDBPyConnection, seed_files: Mapping[str, Path], config: Config
) -> None:
    rows = config.seed_rows()
    for name, columns in _CONFIGURED_SEEDS.items():
        with _as_model_error(str(seed_files.get(name, name))):
            connection.execute(f"CREATE TABLE {name} ({', '.join(columns)})")
            if rows[name]:
                placeholders = ", ".join("?" for _ in columns)
                connection.executemany(f"INSERT INTO {name} VALUES ({placeholders})", rows[name])
    for name, path in seed_files.items():
        if name in _CONFIGURED_SEEDS:
            continue
        with _as_model_error(str(path)):
            source = f"read_csv({_literal(glob_literal(str(path)))}, header = true)"
            connection.execute(f"CREATE TABLE {name} AS SELECT * FROM {source}")
    for name, values in config.parameters.items():
        # finops.toml's [recommendations] / [carbon] numbers over the seed's defaults.
        for parameter, value in values.items():
            connection.execute(
                f"UPDATE {name} SET value = ? WHERE parameter = ?", [value, parameter]
            )


def _create_models(
    connection: duckdb.DuckDBPyConnection,
    models: list[Model],
    progress: Progress | None,
    total: int,
) -> dict[str, int]:
    row_counts = {}
    for position, model in enumerate(models, start=1):
        if progress is not None:
            progress(model.name, position, total)
        # Running the model over the data makes errors that only real rows raise (a bad cast,
        # a duplicate map key) fail the build here, named after this model. It is also most of
        # a build's time: views recompute staging from the Parquet files each time, 333 s for
        # 27 models on 5.2M line items (bench/dashboard.py). Not done yet: materialising
        # staging once per build (the analyst file would then hold a table, not a view).
        # Hashing whole rows keeps DuckDB from pruning the columns that a bare count(*) would
        # never compute.
        with _as_model_error(str(model.path)):
            connection.execute(f"CREATE VIEW {model.name} AS\n{model.sql}\n")
            connection.execute(f"COMMENT ON VIEW {model.name} IS {_literal(model.summary)}")
            (row_counts[model.name], _) = connection.execute(
                f"SELECT count(*), sum(hash(model_row)) FROM {model.name} AS model_row"
            ).fetchone()
        logger.debug("built %s: %d rows", model.name, row_counts[model.name])
    return row_counts


def _run_checks(
    connection: duckdb.DuckDBPyConnection,
    checks: list[Model],
    progress: Progress | None,
    done: int,
    total: int,
) -> list[CheckFailure]:
    failures = []
    for position, check in enumerate(checks, start=done + 1):
        if progress is not None:
            progress(check.name, position, total)
        with _as_model_error(str(check.path)):
            cursor = connection.execute(check.sql)
            columns = [column[0] for column in cursor.description]
            rows = cursor.fetchall()
        if "reason" not in columns:
            raise ModelError(str(check.path), "a check must return a 'reason' column")
        for values in rows:
            row = dict(zip(columns, values, strict=True))
            failures.append(CheckFailure(check.name, str(row["reason"]), row))
        if rows:
            logger.warning("check %s: %d offending rows", check.name, len(rows))
    return failures


@contextmanager
def _as_model_error(where: str) -> Iterator[None]:
    """Turn DuckDB's errors into a ModelError naming the file; the one place that does so."""
    try:
        yield
    except duckdb.Error as error:
        message = str(error).strip()
        raise ModelError(where, message) from error


def _duckdb_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_string(arrow_type):
        return "VARCHAR"
    if pa.types.is_float64(arrow_type):
        return "DOUBLE"
    if pa.types.is_boolean(arrow_type):
        return "BOOLEAN"
    if pa.types.is_timestamp(arrow_type):
        return "TIMESTAMP"
    if pa.types.is_map(arrow_type):
        return f"MAP({_duckdb_type(arrow_type.key_type)}, {_duckdb_type(arrow_type.item_type)})"
    raise TypeError(f"no DuckDB type for the contract's {arrow_type}")


def _refuse_other_folder(warehouse: Path) -> None:
    """A folder that holds files but nothing of a warehouse is another folder (a -w typo)."""
    marks = (SOURCE, "_runs", DATABASE_FILE, "action_log")
    if any((warehouse / mark).exists() for mark in marks) or not any(warehouse.iterdir()):
        return
    raise WarehouseError(
        f"{warehouse}: not a finops warehouse (it has no {', '.join(marks)}); "
        f"run `finops ingest SOURCE -w {warehouse}` first, or name the warehouse with -w"
    )


def glob_literal(path: str) -> str:
    """``path`` as a DuckDB glob that matches only itself.

    DuckDB reads every path it is given as a glob, with no backslash escape; a glob
    character stands for itself inside a one-character class: br[a] -> br[[]a[]].
    """
    return re.sub(r"([\[\]*?])", r"[\1]", path)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
