"""Build the models on Amazon Athena: each model file, transpiled, as a view in a Glue database.

``finops build --engine athena --database DB --s3-output s3://...`` runs, in the build order
that ``pipelines.models`` computes for DuckDB, one ``CREATE OR REPLACE VIEW`` per model with
the Athena text that ``pipelines.athena`` makes from the file; then every check, whose rows
are the failures, as on DuckDB. The tables the models read (``line_items`` and the seeds) must
be in the database already: ``finops register`` puts them there.

Example::

    result = build_athena("finops", "s3://finops-athena-results/", workgroup="primary")
    for failure in result.check_failures:
        print(failure.check, failure.reason)

Notes:
    Every file is transpiled before the first query is sent, so a model Athena cannot run
    stops the build before any view is replaced. A model that fails on Athena itself stops the
    build at that model; the views before it are already replaced (Athena has no transaction
    over DDL). awswrangler's ``wr.athena.start_query_execution`` would wrap these calls, but it
    cannot be installed beside pyarrow 26 (see ``pipelines.register``); boto3 makes the same
    ``StartQueryExecution`` / ``GetQueryExecution`` / ``GetQueryResults`` calls here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from pipelines.athena import CONFIGURED_SEEDS, AthenaModel, athena_models
from pipelines.config import queries_folder
from pipelines.errors import ModelError, WarehouseError
from pipelines.models import (
    ACTION_LOG,
    RUN_LOG_SOURCES,
    SOURCE,
    CheckFailure,
    Progress,
    find_seeds,
)
from pipelines.register import S3Location, aws_errors

logger = logging.getLogger(__name__)

_DONE = ("SUCCEEDED", "FAILED", "CANCELLED")


@dataclass(frozen=True)
class AthenaBuildResult:
    """What an Athena build made.

    Args:
        database: the Glue database the views are in.
        models: the views created, in build order.
        checks: the checks run, in order.
        check_failures: the rows the checks returned; empty when all passed.
        query_ids: Athena's query execution id per model and check, in the order they ran.
    """

    database: str
    models: tuple[str, ...]
    checks: tuple[str, ...]
    check_failures: tuple[CheckFailure, ...] = field(default=())
    query_ids: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.check_failures


def view_statement(model: AthenaModel) -> str:
    """The statement that creates a model's view on Athena."""
    return f'CREATE OR REPLACE VIEW "{model.name}" AS\n{model.athena_sql}'


def build_athena(
    database: str,
    s3_output: str,
    *,
    workgroup: str | None = None,
    queries: Path | None = None,
    athena: Any = None,
    glue: Any = None,
    progress: Progress | None = None,
    poll_seconds: float = 1.0,
    timeout_seconds: float = 1800.0,
    sleep: Callable[[float], None] = time.sleep,
) -> AthenaBuildResult:
    """Create every model as a view in the Glue database ``database`` through Athena; run checks.

    Args:
        database: the Glue database that ``finops register`` filled.
        s3_output: where Athena writes query results (``s3://bucket/prefix/``).
        workgroup: the Athena workgroup; Athena's default (``primary``) when not given.
        queries: the folder of models and checks; the installed ``queries`` by default.
        athena, glue: boto3 clients; made from the environment's AWS settings when not given.
        progress: called as each model or check starts, with its name, position and total.
        poll_seconds: the first wait between two looks at a running query (it doubles to 10 s).
        timeout_seconds: how long one query may run before the build gives up on it.
        sleep: how to wait (tests pass a no-op).

    Raises:
        ConfigError: ``s3_output`` is not an S3 URL.
        ModelError: a file Athena cannot run (transpiling it failed, or Athena failed the
            query; the message names the file and gives Athena's reason).
        WarehouseError: a table the models read is not in the database (run
            ``finops register``), or Athena or Glue refused a call.
    """
    S3Location.parse(s3_output)
    queries = queries if queries is not None else queries_folder()
    models, checks = athena_models(queries)  # every file transpiled before anything is sent
    athena = athena if athena is not None else boto3.client("athena")
    glue = glue if glue is not None else boto3.client("glue")
    found = _check_sources(
        glue,
        database,
        [SOURCE, *sorted(set(find_seeds(queries)) | {*CONFIGURED_SEEDS}), ACTION_LOG],
    )
    # TODO: finops register does not put the run log (_runs) in Glue yet, so the models that
    # reconcile against it (invoice_reconciliation and its check) are left out on Athena
    # unless someone registered run_log and run_log_invoices by hand.
    missing_run_log = set(RUN_LOG_SOURCES) - found
    if missing_run_log:
        models, checks, skipped = _without_sources(models, checks, missing_run_log)
        if skipped:
            logger.warning(
                "Glue database %s has no %s (the run log is not registered): skipping %s",
                database,
                " or ".join(sorted(missing_run_log)),
                ", ".join(skipped),
            )
    runner = _Runner(athena, database, s3_output, workgroup, poll_seconds, timeout_seconds, sleep)
    total = len(models) + len(checks)
    logger.info(
        "building %d views and running %d checks on Athena in %s",
        len(models),
        len(checks),
        database,
    )

    for position, model in enumerate(models, start=1):
        if progress is not None:
            progress(model.name, position, total)
        runner.run(view_statement(model), model)

    failures: list[CheckFailure] = []
    for position, check in enumerate(checks, start=len(models) + 1):
        if progress is not None:
            progress(check.name, position, total)
        columns, rows = runner.rows(runner.run(check.athena_sql, check), check)
        if "reason" not in columns:
            raise ModelError(str(check.model.path), "a check must return a 'reason' column")
        failures.extend(
            CheckFailure(check.name, str(row["reason"]), row)
            for row in (dict(zip(columns, values, strict=True)) for values in rows)
        )

    return AthenaBuildResult(
        database=database,
        models=tuple(model.name for model in models),
        checks=tuple(check.name for check in checks),
        check_failures=tuple(failures),
        query_ids=tuple(runner.query_ids),
    )


def _without_sources(
    models: list[AthenaModel], checks: list[AthenaModel], missing: set[str]
) -> tuple[list[AthenaModel], list[AthenaModel], list[str]]:
    """The models and checks that read none of ``missing``, directly or through a model."""
    unavailable = set(missing)
    kept_models = []
    for model in models:  # in build order: a model comes after those it reads
        if model.model.reads & unavailable:
            unavailable.add(model.name)
        else:
            kept_models.append(model)
    kept_checks = [check for check in checks if not check.model.reads & unavailable]
    skipped = [model.name for model in models if model.name in unavailable] + [
        check.name for check in checks if check.model.reads & unavailable
    ]
    return kept_models, kept_checks, skipped


def _check_sources(glue: Any, database: str, tables: list[str]) -> set[str]:
    with aws_errors(f"Glue database {database}"):
        try:
            found = {
                table["Name"]
                for page in glue.get_paginator("get_tables").paginate(DatabaseName=database)
                for table in page["TableList"]
            }
        except glue.exceptions.EntityNotFoundException:
            raise WarehouseError(
                f"Glue database {database!r} does not exist; run `finops register` first"
            ) from None
    missing = [table for table in tables if table not in found]
    if missing:
        raise WarehouseError(
            f"Glue database {database!r} has no table {', '.join(missing)}; run "
            "`finops register --warehouse s3://... --database "
            f"{database}` first"
        )
    return found


class _Runner:
    """Runs one query at a time on Athena and waits for it."""

    def __init__(
        self,
        athena: Any,
        database: str,
        s3_output: str,
        workgroup: str | None,
        poll_seconds: float,
        timeout_seconds: float,
        sleep: Callable[[float], None],
    ) -> None:
        self.athena = athena
        self.database = database
        self.s3_output = s3_output
        self.workgroup = workgroup
        self.poll_seconds = poll_seconds
        self.timeout_seconds = timeout_seconds
        self.sleep = sleep
        self.query_ids: list[str] = []

    def run(self, sql: str, model: AthenaModel) -> str:
        """Start ``sql``, wait until it is done; its query execution id."""
        where = str(model.model.path)
        request: dict[str, Any] = {
            "QueryString": sql,
            "QueryExecutionContext": {"Database": self.database},
            "ResultConfiguration": {"OutputLocation": self.s3_output},
        }
        if self.workgroup:
            request["WorkGroup"] = self.workgroup
        with aws_errors(f"{where} on Athena"):
            query_id = self.athena.start_query_execution(**request)["QueryExecutionId"]
        self.query_ids.append(query_id)
        logger.debug("%s: Athena query %s", model.name, query_id)

        status = self._wait(query_id, where)
        if status["State"] != "SUCCEEDED":
            reason = status.get("StateChangeReason") or status["State"].lower()
            raise ModelError(where, f"Athena query {query_id} {status['State']}: {reason}")
        return query_id

    def rows(self, query_id: str, model: AthenaModel) -> tuple[list[str], list[tuple]]:
        """The column names and rows of a finished query, as Athena returns them (text)."""
        columns: list[str] = []
        rows: list[tuple] = []
        with aws_errors(f"{model.model.path} on Athena"):
            for page in self.athena.get_paginator("get_query_results").paginate(
                QueryExecutionId=query_id
            ):
                result = page["ResultSet"]
                if not columns:
                    columns = [
                        column["Name"] for column in result["ResultSetMetadata"]["ColumnInfo"]
                    ]
                rows.extend(
                    tuple(datum.get("VarCharValue") for datum in row["Data"])
                    for row in result["Rows"]
                )
        # Athena's first row of a SELECT's results repeats the column names.
        if rows and list(rows[0]) == columns:
            rows = rows[1:]
        return columns, rows

    def _wait(self, query_id: str, where: str) -> dict[str, Any]:
        waited = 0.0
        pause = self.poll_seconds
        for status in self._statuses(query_id, where):
            if status["State"] in _DONE:
                return status
            if waited >= self.timeout_seconds:
                with aws_errors(f"{where} on Athena"):
                    self.athena.stop_query_execution(QueryExecutionId=query_id)
                raise ModelError(
                    where, f"Athena query {query_id} still running after {waited:.0f} s; stopped"
                )
            self.sleep(pause)
            waited += pause
            pause = min(pause * 2, 10.0)
        raise AssertionError("unreachable")  # pragma: no cover

    def _statuses(self, query_id: str, where: str) -> Iterator[dict[str, Any]]:
        while True:
            with aws_errors(f"{where} on Athena"):
                execution = self.athena.get_query_execution(QueryExecutionId=query_id)
            yield execution["QueryExecution"]["Status"]
