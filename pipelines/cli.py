"""The ``finops`` command: a thin face over the stages (ingest, build, summary).

Errors the user can fix end with one line on stderr naming the file, row and column, and
exit code 1; usage errors exit 2. Progress bars and tables go to the terminal; log lines
(warnings about the data) go to stderr.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import pyarrow as pa
import typer
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from pipelines.config import Config, load_config
from pipelines.errors import FinopsError, IngestFailed, WarehouseError
from pipelines.ingest import IngestResult, ingest
from pipelines.summary import Section, summarize

if TYPE_CHECKING:
    from pipelines.s3 import S3Settings

logger = logging.getLogger(__name__)

app = typer.Typer(
    name="finops",
    help="FinOps and sustainability analytics over AWS Cost and Usage Report (CUR) data.\n\n"
    "Typical use: `finops run SOURCE` ingests a CUR export into a local warehouse, builds "
    "the SQL models on DuckDB and prints a summary.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# No emoji codes: a tag value or id like "cost:thumbs_up:" is printed as it is.
console = Console(emoji=False)
# Error lines are never wrapped: a file path cut in two cannot be pasted.
errors = Console(stderr=True, soft_wrap=True, emoji=False)

WarehouseOption = Annotated[
    Path,
    typer.Option(
        "--warehouse",
        "-w",
        envvar="FINOPS_WAREHOUSE",
        help="Warehouse folder (created when missing): line_items/, _runs/, finops.duckdb.",
    ),
]
ExistingWarehouseOption = Annotated[
    Path,
    typer.Option(
        "--warehouse",
        "-w",
        envvar="FINOPS_WAREHOUSE",
        help="Warehouse folder that `finops ingest` wrote.",
    ),
]
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        envvar="FINOPS_CONFIG",
        help="finops.toml with tag aliases; default: ./finops.toml when present, else built-in.",
    ),
]
SourceArgument = Annotated[
    str,
    typer.Argument(
        metavar="SOURCE",
        help="A folder or an S3 prefix (s3://bucket/prefix) holding a CUR export (legacy CSV "
        "with manifests, Athena-layout Parquet year=YYYY/month=MM, a CUR 2.0 Data Export, or "
        "FOCUS files), or a single file (.csv, .csv.gz, .csv.zip, .parquet).",
        show_default=False,
    ),
]
FormatOption = Annotated[
    str,
    typer.Option(
        "--format",
        help="Source format: auto (detect), legacy-csv, legacy-parquet, cur2 or focus. "
        "A given format is the only one looked for, and each file's header must match it.",
    ),
]
ProfileOption = Annotated[
    str | None,
    typer.Option(
        "--profile",
        envvar="AWS_PROFILE",
        help="S3 sources: the AWS profile (~/.aws/config) to read with.",
        show_envvar=True,
    ),
]
RegionOption = Annotated[
    str | None,
    typer.Option(
        "--region", envvar="AWS_REGION", help="S3 sources: the AWS region.", show_envvar=True
    ),
]
RoleOption = Annotated[
    str | None,
    typer.Option(
        "--role-arn",
        envvar="FINOPS_ROLE_ARN",
        help="S3 sources: a role to assume (STS AssumeRole) for reading the bucket, e.g. a "
        "read-only role in the payer account. AWS_ENDPOINT_URL points at another S3 endpoint.",
    ),
]
ForceOption = Annotated[
    bool, typer.Option("--force", help="Re-ingest billing periods whose source has not changed.")
]
SinceOption = Annotated[
    str | None, typer.Option("--since", help="Only billing periods from this one on (YYYY-MM).")
]
PeriodsOption = Annotated[
    str | None,
    typer.Option("--periods", help="Only these billing periods, comma-separated (YYYY-MM,...)."),
]


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log more detail.")] = False,
    log_format: Annotated[
        str,
        typer.Option(
            "--log-format",
            envvar="FINOPS_LOG_FORMAT",
            help="text, or json: one JSON object per log line on stderr, and no progress bar "
            "(for schedulers and log collectors).",
        ),
    ] = "text",
) -> None:
    from pipelines.logs import configure

    try:
        configure(log_format, verbose)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--log-format") from None


@app.command("ingest")
def ingest_command(
    source: SourceArgument,
    warehouse: WarehouseOption = Path("warehouse"),
    force: ForceOption = False,
    since: SinceOption = None,
    periods: PeriodsOption = None,
    source_format: FormatOption = "auto",
    profile: ProfileOption = None,
    region: RegionOption = None,
    role_arn: RoleOption = None,
) -> None:
    """Ingest a CUR export (a folder, a file or s3://bucket/prefix) into the warehouse's line_items dataset.

    Each billing period is replaced whole and atomically, with exactly the files its manifest names; a re-run with an unchanged source (same assembly, same S3 ETags) does nothing and says so. A bad file or an S3 error stops the commit of the whole run: the warehouse stays as it was. S3 throttling, 5xx and dropped connections are retried with backoff.
    """  # noqa: E501 - typer re-wraps help text; a hard break would show mid-sentence
    with _failures_exit():
        aws = _s3_settings(profile, region, role_arn)
        result = _ingest_with_progress(source, warehouse, force, since, periods, source_format, aws)
        _print_ingest(result)
        if result.ingested and (warehouse / "finops.duckdb").exists():
            console.print("Run `finops build` to bring finops.duckdb up to date.", markup=False)


@app.command("build")
def build_command(
    warehouse: ExistingWarehouseOption = Path("warehouse"),
    config: ConfigOption = None,
    engine: Annotated[
        str,
        typer.Option(
            help="duckdb: views in DIR/finops.duckdb. athena: the same models, transpiled by "
            "sqlglot, as views in a Glue database (after `finops register`).",
        ),
    ] = "duckdb",
    database: Annotated[str | None, typer.Option(help="Glue database for --engine athena.")] = None,
    s3_output: Annotated[
        str | None,
        typer.Option(help="Where Athena writes query results (s3://bucket/prefix/), for athena."),
    ] = None,
    workgroup: Annotated[
        str | None, typer.Option(help="Athena workgroup; Athena's default when not given.")
    ] = None,
) -> None:
    """Build the SQL models of queries/ on DuckDB and write finops.duckdb for analysts.

    With --engine athena --database DB --s3-output s3://..., the same model files run on Amazon Athena (AWS credentials and region from the environment). Exits with 1 when a data check (queries/checks/) returns rows; the views are built anyway.
    """  # noqa: E501 - typer re-wraps help text; a hard break would show mid-sentence
    if engine not in ("duckdb", "athena"):
        raise typer.BadParameter(f"{engine!r} is not duckdb or athena", param_hint="--engine")
    if engine == "athena":
        if not database or not s3_output:
            raise typer.BadParameter("--engine athena needs --database and --s3-output")
        with _failures_exit():
            passed = _build_athena(database, s3_output, workgroup)
    else:
        with _failures_exit():
            passed = _build(warehouse, load_config(config))
    if not passed:
        raise typer.Exit(1)


@app.command("summary")
def summary_command(warehouse: ExistingWarehouseOption = Path("warehouse")) -> None:
    """Print spend by month, top services, showback by team and tag coverage."""
    with _failures_exit():
        _print_summary(summarize(warehouse))


@app.command("run")
def run_command(
    source: SourceArgument,
    warehouse: WarehouseOption = Path("warehouse"),
    config: ConfigOption = None,
    force: ForceOption = False,
    since: SinceOption = None,
    periods: PeriodsOption = None,
    source_format: FormatOption = "auto",
    profile: ProfileOption = None,
    region: RegionOption = None,
    role_arn: RoleOption = None,
) -> None:
    """The main job: ingest SOURCE (a folder, a file or s3://bucket/prefix), build the models, print the summary.

    Exits with 1 when a data check fails, after printing the summary.
    """  # noqa: E501 - typer re-wraps help text; a hard break would show mid-sentence
    with _failures_exit():
        settings = load_config(config)  # a bad finops.toml stops the run before any ingest
        aws = _s3_settings(profile, region, role_arn)
        result = _ingest_with_progress(source, warehouse, force, since, periods, source_format, aws)
        _print_ingest(result)
        passed = _build(warehouse, settings)
        _print_summary(summarize(warehouse))
        console.print(
            "Query the models from DuckDB or Python: "
            f"duckdb.connect('{Path(warehouse) / 'finops.duckdb'}', read_only=True)",
            highlight=False,
            markup=False,
        )
    if not passed:
        raise typer.Exit(1)


@app.command("sample")
def sample_command(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write the export into.")],
    rows: Annotated[
        int, typer.Option(help="Line items in all, across the months (approximately).")
    ] = 20_000,
    months: Annotated[int, typer.Option(help="Billing periods to generate.")] = 3,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same files.")] = 7,
    start: Annotated[str, typer.Option(help="First billing period, YYYY-MM.")] = "2026-08",
) -> None:
    """Generate a realistic legacy CUR export (CSV, gzip, with manifests) to try things on."""
    from sample_data.generate import generate

    with _failures_exit():
        try:
            truth = generate(out_dir, rows=rows, months=months, seed=seed, start=start)
        except ValueError as error:
            raise typer.BadParameter(str(error)) from None
        except OSError as error:
            raise typer.BadParameter(f"{out_dir}: cannot write here ({error.strerror})") from None
        periods = len(truth.periods)
        console.print(
            f"Wrote {sum(p.rows for p in truth.periods.values()):,} line items in {periods} "
            f"billing period{'s' * (periods != 1)} to {out_dir} (ground truth: "
            f"{out_dir / 'ground_truth.json'})"
        )


@contextmanager
def _failures_exit() -> Iterator[None]:
    """Turn our errors into a one-line message and exit 1; anything else is a bug."""
    try:
        yield
    except IngestFailed as error:
        count = len(error.failures)
        _error(f"ingest failed ({count} bad file{'s' * (count > 1)}); nothing was committed")
        for failure in error.failures:
            _detail(f"  {failure}")
        raise typer.Exit(1) from None
    except FinopsError as error:
        _error(str(error))
        raise typer.Exit(1) from None
    except OSError as error:
        # A path the system refuses (a name too long, no permission, a full disk) that no
        # layer above knew to expect: said as the system says it, with the path.
        where = f"{error.filename}: " if error.filename else ""
        _error(f"{where}{error.strerror or error}")
        raise typer.Exit(1) from None
    except (KeyboardInterrupt, RuntimeError) as error:
        if isinstance(error, RuntimeError) and _symlink_loop(error):
            _error(str(error))  # Path.resolve() of Python 3.11 and 3.12: "Symlink loop from ..."
            raise typer.Exit(1) from None
        if isinstance(error, RuntimeError) and not _duckdb_interrupted(error):
            raise
        _error("interrupted")
        raise typer.Exit(130) from None


def _detail(line: str) -> None:
    from pipelines.logs import json_lines

    if json_lines():
        logging.getLogger("pipelines.cli").error(line.strip())
        return
    errors.print(line, markup=False, highlight=False)


def _symlink_loop(error: RuntimeError) -> bool:
    return str(error).startswith("Symlink loop from")


def _duckdb_interrupted(error: BaseException) -> bool:
    # DuckDB turns Ctrl-C during a query into its own error rather than KeyboardInterrupt.
    return isinstance(error, RuntimeError) and "interrupted" in str(error).lower()


def _error(message: str) -> None:
    from pipelines.logs import json_lines

    if json_lines():
        # A log collector reads stderr as JSON lines: the final error is one of them.
        logging.getLogger("pipelines.cli").error(message)
        return
    errors.print(f"[red]error:[/] {escape(message)}", highlight=False)


def _s3_settings(profile: str | None, region: str | None, role_arn: str | None) -> S3Settings:
    from pipelines.s3 import S3Settings

    return S3Settings(profile=profile, region=region, role_arn=role_arn)


def _ingest_with_progress(
    source: str,
    warehouse: Path,
    force: bool,
    since: str | None,
    periods: str | None,
    source_format: str = "auto",
    aws: S3Settings | None = None,
) -> IngestResult:
    from pipelines.logs import progress_wanted

    chosen = (
        [period.strip() for period in periods.split(",") if period.strip()] if periods else None
    )
    options = {"since": since, "periods": chosen, "source_format": source_format, "s3": aws}
    if not progress_wanted(errors.is_terminal):
        return ingest(source, warehouse, force=force, **options)
    with Progress(
        TextColumn("[bold]ingest[/]"),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[files]} files"),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=errors,
        transient=True,
    ) as bar:
        task = bar.add_task("", total=None, files=0)
        done = {"files": 0}

        def advance(path: Path, size: int, total: int) -> None:
            done["files"] += 1
            bar.update(task, advance=size, total=total, description=path.name, files=done["files"])

        return ingest(source, warehouse, force=force, progress=advance, **options)


def _build(warehouse: Path, config: Config) -> bool:
    """Build the models and say so; False when a data check returned rows."""
    from pipelines.logs import progress_wanted
    from pipelines.models import build

    with Progress(
        TextColumn("[bold]build[/]"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} {task.description}"),
        TimeElapsedColumn(),
        console=errors,
        transient=True,
        disable=not progress_wanted(errors.is_terminal),
    ) as bar:
        task = bar.add_task("", total=None)

        def advance(name: str, position: int, total: int) -> None:
            bar.update(task, completed=position - 1, total=total, description=name)

        result = build(warehouse, config, progress=advance)
    _keep_review_copies(warehouse)
    console.print(
        f"Built {len(result.models)} models into {result.database}: {', '.join(result.models)}",
        highlight=False,
        markup=False,
    )
    for failure in result.check_failures:
        errors.print(f"check failed: {failure.check}: {failure.reason}", markup=False)
    return not result.check_failures


def _keep_review_copies(warehouse: Path) -> None:
    """Make the copies of the marts that the dashboard and `finops report` read.

    They are kept per state of finops.duckdb (pipelines/review.py), so every command that
    changes it (build, anomalies, recommend) makes them: the one scan of the line items they
    need is then part of the batch job, not of the first page view or report. A failure here
    is a note, not a failed command: the dashboard would make them itself.
    """
    from pipelines.logs import progress_wanted
    from pipelines.review import Review

    spinner = (
        errors.status("copies of the marts for the dashboard and report")
        if progress_wanted(errors.is_terminal)
        else nullcontext()
    )
    with spinner:
        try:
            Review(warehouse).warm()
        except WarehouseError as error:
            logger.warning("the dashboard's copies of the marts were not made: %s", error)


def _build_athena(database: str, s3_output: str, workgroup: str | None) -> bool:
    """Build the models on Athena and say so; False when a data check returned rows."""
    from pipelines.athena_build import build_athena

    with Progress(
        TextColumn("[bold]athena[/]"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} {task.description}"),
        TimeElapsedColumn(),
        console=errors,
        transient=True,
    ) as bar:
        task = bar.add_task("", total=None)

        def advance(name: str, position: int, total: int) -> None:
            bar.update(task, completed=position - 1, total=total, description=name)

        result = build_athena(database, s3_output, workgroup=workgroup, progress=advance)
    console.print(
        f"Built {len(result.models)} views in Athena database {database}: "
        f"{', '.join(result.models)}",
        highlight=False,
        markup=False,
    )
    for failure in result.check_failures:
        errors.print(f"check failed: {failure.check}: {failure.reason}", markup=False)
    return result.ok


def _print_ingest(result: IngestResult) -> None:
    table = Table(title="Ingest", title_justify="left")
    for column in ("billing period", "outcome", "files", "rows", "unblended cost", "note"):
        numeric = column in ("files", "rows", "unblended cost")
        table.add_column(column, justify="right" if numeric else "left", overflow="fold")
    for record in result.records:
        note = record.message
        if len(record.currencies) > 1:
            note = f"mixed currencies: {', '.join(record.currencies)}"
        table.add_row(
            record.billing_period or "-",
            record.outcome,
            str(len(record.files)),
            f"{record.rows_out:,}",
            # Amounts in different currencies are not added up (the run log keeps each).
            _money(record.unblended_cost, record.currencies)
            if len(record.currencies) <= 1
            else "(mixed)",
            note,
        )
    console.print(table)
    if result.records and all(record.outcome == "unchanged" for record in result.records):
        console.print("Nothing new in the source: the warehouse was left as it was.", markup=False)


def _print_summary(sections: list[Section]) -> None:
    titles = {
        "spend_by_month": "Spend by month",
        "top_services": "Top services (latest month, amortized)",
        "showback_by_team": "Showback by team (latest month, amortized)",
        "tag_coverage": "Tag coverage (share of amortized cost)",
    }
    for section in sections:
        # Amounts carry their currency's sign ($ or the ISO code), so no column of its own.
        shown = [column for column in section.columns if column != "currency"]
        table = Table(title=titles.get(section.name, section.name), title_justify="left")
        for column in shown:
            numeric = section.rows and isinstance(section.rows[0][column], int | float)
            table.add_column(column.replace("_", " "), justify="right" if numeric else "left")
        for row in section.rows:
            currency = [row["currency"]] if row.get("currency") else None
            table.add_row(*(_cell(column, row[column], currency) for column in shown))
        if not section.rows:
            table.add_row(*(["-"] * len(shown)))
        console.print(table)


def _cell(column: str, value: object, currencies: list[str] | None) -> str:
    if value is None:
        return "-"
    if column in ("share", "coverage") and isinstance(value, float):
        return f"{value + 0.0:.1%}" if abs(value) >= 5e-4 else f"{0:.1%}"  # no "-0.0%"
    if column.endswith("cost") and isinstance(value, float):
        return _money(value, currencies)
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _money(value: float, currencies: list[str] | None = None) -> str:
    symbol = "$" if not currencies or currencies == ["USD"] else f"{'/'.join(currencies)} "
    sign = "-" if round(value, 2) < 0 else ""
    return f"{sign}{symbol}{abs(value):,.2f}"


@app.command("register")
def register_command(
    warehouse: Annotated[
        str,
        typer.Option(
            "--warehouse",
            "-w",
            envvar="FINOPS_WAREHOUSE",
            help="The warehouse in S3: s3://bucket/prefix holding line_items/billing_period=*/.",
        ),
    ],
    database: Annotated[str, typer.Option(help="Glue database (created when missing).")],
    config: ConfigOption = None,
) -> None:
    """Register a warehouse in S3 in the Glue catalog for Athena: line_items, partitions, seeds.

    Creates or updates the Parquet table line_items (one partition per billing_period folder) and the seed tables; run it again after a new month arrives. Then `finops build --engine athena`.
    """  # noqa: E501 - typer re-wraps help text; a hard break would show mid-sentence
    from pipelines.register import register

    with _failures_exit():
        result = register(warehouse, database, load_config(config))
    console.print(
        f"Registered {', '.join(result.tables)} in Glue database {result.database}: "
        f"{len(result.partitions)} billing periods ({len(result.partitions_added)} added, "
        f"{len(result.partitions_removed)} removed)",
        highlight=False,
        markup=False,
    )


@app.command("sql")
def sql_command(
    query: Annotated[
        str,
        typer.Argument(
            metavar="SQL",
            help='One query over the views of finops.duckdb, e.g. "SELECT * FROM daily_cost"; '
            "'-' reads it from stdin, @FILE from a file (such as queries/examples/*.sql).",
            show_default=False,
        ),
    ],
    warehouse: ExistingWarehouseOption = Path("warehouse"),
    output_format: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            help="table (in the terminal; one record at a time when too wide for it), csv, "
            "json (an array of objects), or parquet (needs --output).",
        ),
    ] = "table",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the result to this file.")
    ] = None,
    limit: Annotated[
        int,
        typer.Option(min=0, help="Rows shown in table format; csv/json/parquet write them all."),
    ] = 100,
) -> None:
    """Run SQL on the warehouse's analyst file (finops.duckdb, read-only) and print the result.

    Every model is a view there (stg_line_items, daily_cost, showback_monthly, ...): `finops sql "SELECT * FROM daily_cost LIMIT 5"`. Unknown views and bad SQL exit with 1 and say what was wrong.
    """  # noqa: E501 - typer re-wraps help text; a hard break would show mid-sentence
    from pipelines.query import FORMATS, run_query, write_result

    if output_format not in FORMATS:
        raise typer.BadParameter(
            f"{output_format!r} is not one of {', '.join(FORMATS)}", param_hint="--format"
        )
    with _failures_exit():
        _refuse_output_in_warehouse(output, warehouse)
        result = run_query(warehouse, _read_sql(query))
        if output_format == "table":
            if output is not None:
                raise typer.BadParameter("--output needs --format csv, json or parquet")
            _print_result(result, limit)
        else:
            write_result(result, output_format, output if output is not None else sys.stdout)


@app.command("check")
def check_command(warehouse: ExistingWarehouseOption = Path("warehouse")) -> None:
    """Run the data checks (queries/checks/*.sql) on the built finops.duckdb and print what fails.

    Each check returns the offending rows with a reason. Exits with 1 when any check returns a row; run `finops build` first.
    """  # noqa: E501 - typer re-wraps help text; a hard break would show mid-sentence
    from pipelines.query import check_warehouse

    with _failures_exit():
        report = check_warehouse(warehouse)
    failed = {failure.check for failure in report.failures}
    table = Table(title=f"Checks on {report.database}", title_justify="left")
    table.add_column("check")
    table.add_column("result")
    table.add_column("reason", overflow="fold")
    for name in report.checks:
        reasons = [failure.reason for failure in report.failures if failure.check == name]
        if not reasons:
            table.add_row(name, "[green]passed[/]", "")
        for reason in reasons:
            table.add_row(name, "[red]failed[/]", escape(reason))
    console.print(table)
    if failed:
        _error(f"{len(failed)} of {len(report.checks)} checks failed: {', '.join(sorted(failed))}")
        raise typer.Exit(1)


def _read_sql(query: str) -> str:
    if query == "-":
        try:
            return sys.stdin.buffer.read().decode("utf-8")
        except UnicodeDecodeError as error:
            raise typer.BadParameter(
                f"stdin is not UTF-8 text (byte {error.start})", param_hint="SQL"
            ) from None
    if query.startswith("@"):
        path = Path(query[1:])
        try:
            return path.read_text(encoding="utf-8")
        except OSError as error:
            raise typer.BadParameter(f"{path}: {error.strerror}", param_hint="SQL") from None
        except UnicodeDecodeError as error:
            raise typer.BadParameter(
                f"{path}: not UTF-8 text (byte {error.start})", param_hint="SQL"
            ) from None
    return query


def _refuse_output_in_warehouse(output: Path | None, warehouse: Path) -> None:
    """A result or report written over the warehouse's own files would destroy them."""
    if output is None:
        return
    target, root = output.resolve(), warehouse.resolve()
    if target == root or root in target.parents:
        raise typer.BadParameter(
            f"{output} is inside the warehouse {warehouse}; write it somewhere else",
            param_hint="--output",
        )


def _print_result(result, limit: int) -> None:
    table = Table(show_lines=False)
    for name, column_type in zip(result.column_names, result.schema.types, strict=True):
        numeric = (
            pa.types.is_integer(column_type)
            or pa.types.is_floating(column_type)
            or pa.types.is_decimal(column_type)
        )
        table.add_column(name, justify="right" if numeric else "left", overflow="fold")
    rows = result.slice(0, limit).to_pylist(maps_as_pydicts="lossy")
    for row in rows:
        table.add_row(*(_result_cell(value) for value in row.values()))
    unbounded = console.options.update(max_width=1 << 20)
    if Measurement.get(console, unbounded, table).minimum <= console.width:
        console.print(table)  # fits, folding at most the long texts
    else:
        # Too wide for the terminal (SELECT * of line_items has ~170 columns): squeezed into
        # it, every cell would be a letter wide. One record at a time instead, as psql's \x.
        for number, row in enumerate(rows, start=1):
            record = Table.grid(padding=(0, 2))
            record.add_column(style="bold", no_wrap=True)
            record.add_column(overflow="fold")
            for name, value in row.items():
                record.add_row(escape(name), _result_cell(value))
            console.print(f"[dim]-- row {number} --[/]")
            console.print(record)
    shown = min(limit, result.num_rows)
    note = f"{result.num_rows:,} row{'s' * (result.num_rows != 1)}"
    if shown < result.num_rows:
        note += f" (showing {shown:,}; use --limit, or --format csv for all)"
    console.print(note, highlight=False, markup=False)


def _result_cell(value: object) -> str:
    if value is None:
        return "[dim]NULL[/]"
    if isinstance(value, float | Decimal):
        return f"{value:,.2f}" if abs(value) >= 1 else f"{value:.4g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return escape(str(value))


@app.command("dashboard")
def dashboard_command(
    warehouse: ExistingWarehouseOption = Path("warehouse"),
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8501,
    host: Annotated[
        str,
        typer.Option(
            "--host",
            help="Address to bind; 127.0.0.1 (default) keeps the app on this machine. The app "
            "has no login: bind another address only behind something that has one.",
        ),
    ] = "127.0.0.1",
) -> None:
    """Serve the monthly-review dashboard (Streamlit) on the warehouse's marts.

    Reads DIR/finops.duckdb read-only; run `finops build` first. Open http://HOST:PORT in a browser; filters are kept in the link.
    """  # noqa: E501 - typer re-wraps help text; a hard break would show mid-sentence
    from pipelines.dashboard import serve

    with _failures_exit():
        raise typer.Exit(serve(warehouse, host=host, port=port))


@app.command("report")
def report_command(
    month: Annotated[
        str, typer.Option("--month", "-m", help="The billing period reviewed, YYYY-MM.")
    ],
    warehouse: ExistingWarehouseOption = Path("warehouse"),
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="The HTML file; default review-YYYY-MM.html."),
    ] = None,
    measure: Annotated[
        str, typer.Option("--measure", help="amortized, unblended or net (net amortized).")
    ] = "amortized",
    currency: Annotated[
        str | None, typer.Option("--currency", help="Default: the largest currency.")
    ] = None,
) -> None:
    """Write the monthly review of one billing period as one self-contained HTML file.

    Overview, showback, anomalies, savings and sustainability, with charts; it opens without a network, for mailing. Sections whose marts are missing say which command makes them.
    """  # noqa: E501 - typer re-wraps help text; a hard break would show mid-sentence
    from pipelines.report import PERIOD, write_report
    from pipelines.review import MEASURES

    if not PERIOD.match(month):
        raise typer.BadParameter(f"{month!r} is not YYYY-MM", param_hint="--month")
    if measure not in MEASURES:
        raise typer.BadParameter(
            f"{measure!r} is not one of {', '.join(MEASURES)}", param_hint="--measure"
        )
    with _failures_exit():
        _refuse_output_in_warehouse(output, warehouse)
        path = write_report(warehouse, month, output, measure=measure, currency=currency)
    console.print(
        f"Wrote {path} ({path.stat().st_size / 1e6:.1f} MB)", highlight=False, soft_wrap=True
    )


# --- anomalies (pipelines/anomalies.py) -------------------------------------------------------


@app.command("anomalies")
def anomalies_command(
    warehouse: ExistingWarehouseOption = Path("warehouse"),
    config: ConfigOption = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="Only anomalies going on on or after this day (YYYY-MM-DD)."),
    ] = None,
    measure: Annotated[
        str | None,
        typer.Option(help="Cost column: amortized_cost (default), unblended_cost, net_*, ..."),
    ] = None,
    output: Annotated[
        str, typer.Option("--format", help="table (for people) or json (for alerting).")
    ] = "table",
    notify: Annotated[
        bool, typer.Option("--notify", help="Publish anomalies not sent before (SNS/webhook).")
    ] = False,
    sns_topic_arn: Annotated[
        str | None,
        typer.Option(help="SNS topic for --notify (else \\[anomalies.notify] in finops.toml)."),
    ] = None,
    webhook_url: Annotated[
        str | None, typer.Option(help="Slack-style webhook for --notify (else finops.toml).")
    ] = None,
) -> None:
    """Find cost anomalies (spikes and leaks) in the daily usage cost, with their root cause.

    Scans the total, each account, region, tag value, service, usage type and the largest resources of finops.duckdb (run `finops build` first); writes warehouse/anomalies/*.parquet and the views anomalies and anomaly_days. Thresholds per dimension: \\[anomalies] in finops.toml.
    """  # noqa: E501 - typer re-wraps help text; a hard break would show mid-sentence
    import json
    from datetime import date

    from pipelines.anomalies import as_json, detect_warehouse, since_filter

    if output not in ("table", "json"):
        raise typer.BadParameter(f"{output!r} is not table or json", param_hint="--format")
    try:
        since_day = date.fromisoformat(since) if since else None
    except ValueError:
        message = f"{since!r} is not a date YYYY-MM-DD"
        raise typer.BadParameter(message, param_hint="--since") from None
    with _failures_exit():
        settings = load_config(config)
        sns_topic_arn = sns_topic_arn or settings.anomalies.sns_topic_arn
        webhook_url = webhook_url or settings.anomalies.webhook_url
        if notify:
            from pipelines.anomaly_notify import check_channels

            check_channels(sns_topic_arn, webhook_url)  # before the scan, not after it
        found = detect_warehouse(
            warehouse,
            settings.anomalies,
            tag_dimensions=[dimension.name for dimension in settings.tag_dimensions],
            measure=measure,
        )
        _keep_review_copies(warehouse)
        shown = since_filter(found.anomalies, since_day)
        if output == "json":
            typer.echo(json.dumps(as_json(shown), indent=1))
        else:
            _print_anomalies(shown, found.series_scanned, found.days_scanned)
        if notify:
            from pipelines.anomaly_notify import notify as publish

            result = publish(warehouse, shown, sns_topic_arn=sns_topic_arn, webhook_url=webhook_url)
            errors.print(
                f"notified {len(result.sent)} new anomalies; "
                f"{len(result.already_sent)} were sent before",
                markup=False,
                highlight=False,
            )


def _print_anomalies(anomalies: list, series: int, days: int) -> None:
    table = Table(title=f"Cost anomalies ({series:,} series over {days} days scanned)")
    table.add_column("first day", no_wrap=True)
    table.add_column("days", justify="right")
    table.add_column("kind")
    table.add_column("where")
    table.add_column("impact", justify="right")
    table.add_column("top causes")
    for anomaly in anomalies:
        causes = "\n".join(
            f"{cause['dimension']} {cause['value']} {cause['share']:.0%}"
            for cause in anomaly.root_cause
            if cause["dimension"] in ("resource", "usage_type", "account")
        )
        impact = f"+{anomaly.impact:,.2f} {anomaly.currency}"
        if anomaly.impact_pct is not None:
            impact += f" ({anomaly.impact_pct:+.0%})"
        if anomaly.projected_monthly_cost:
            impact += f"\n{anomaly.projected_monthly_cost:,.0f}/month projected"
        table.add_row(
            str(anomaly.first_day),
            str((anomaly.last_day - anomaly.first_day).days + 1),
            anomaly.kind,
            escape(f"{anomaly.dimension} {anomaly.dimension_value}"),
            impact,
            escape(causes),
        )
    console.print(table)
    if not anomalies:
        console.print("No anomalies.", markup=False)


@app.command("recommend")
def recommend_command(
    warehouse: ExistingWarehouseOption = Path("warehouse"),
    config: ConfigOption = None,
    plan: Annotated[
        str | None,
        typer.Option(
            help="Write the action plan (JSON, lambdas/action_plan.schema.json) to this path or "
            "s3://bucket/key; default DIR/action_plan.json.",
        ),
    ] = None,
    limit: Annotated[int, typer.Option(min=0, help="Rows of the ranked table to show.")] = 30,
    rebuild: Annotated[
        bool,
        typer.Option(
            help="Build the models first; --no-rebuild reads the last build, made with the "
            "settings of that build (so it takes no --config)."
        ),
    ] = True,
) -> None:
    """Build the models, print the ranked savings recommendations with totals, write the plan."""
    from pipelines.recommend import recommend

    if not rebuild and config is not None:
        # The recommendations are a model: its parameters were applied when it was built.
        raise typer.BadParameter(
            "the settings apply when the models are built; drop --no-rebuild to use them",
            param_hint="--config",
        )
    with _failures_exit():
        result = recommend(
            warehouse,
            load_config(config),
            plan_to=plan or str(warehouse / "action_plan.json"),
            rebuild=rebuild,
        )
        if rebuild:
            _keep_review_copies(warehouse)
    _print_recommendations(result, limit)


def _print_recommendations(result, limit: int) -> None:  # noqa: ANN001 - RecommendResult
    # Ten columns of ids and ARNs: in cron mail or a log (no terminal, 80 columns by default)
    # the table is printed wide rather than cut to ellipses.
    console = Console(emoji=False, width=None if sys.stdout.isatty() else 220)
    table = Table(title="Savings recommendations (monthly)")
    for column in ("#", "kind", "account", "region", "resource", "cost", "saving", "low-high"):
        table.add_column(column, justify="right" if column in ("#", "cost", "saving") else "left")
    table.add_column("kg CO2e", justify="right")
    table.add_column("confidence")
    for row in result.recommendations[:limit]:
        counted = "" if row["counts_in_total"] else " *"
        table.add_row(
            str(row["rank"]),
            row["kind"] + counted,
            row["account_id"],
            row["region"],
            escape(row["resource_id"]),
            f"{row['current_monthly_cost']:,.2f} {row['currency']}",
            f"{row['estimated_monthly_saving']:,.2f}",
            f"{row['saving_low']:,.2f}-{row['saving_high']:,.2f}",
            f"{row['co2e_kg_monthly_saved']:,.2f}",
            row["confidence"],
        )
    console.print(table)
    if len(result.recommendations) > limit:
        console.print(f"... and {len(result.recommendations) - limit} more (--limit)")
    for total in result.totals:
        console.print(
            f"Total ({total.recommendations} recommendations, each resource counted once): "
            f"{total.monthly_saving:,.2f} {total.currency} a month "
            f"({total.saving_low:,.2f}-{total.saving_high:,.2f}), "
            f"{total.co2e_kg_saved:,.2f} kg CO2e a month"
        )
    if any(not row["counts_in_total"] for row in result.recommendations):
        console.print("* moot when another recommendation of the resource is done: not in totals")
    if result.plan is not None:
        actions = len(result.plan["actions"])
        console.print(f"Action plan: {actions} actions -> {result.plan_location}")


# --- finops act: the Lambdas' functions, run locally (lambdas/, issue 8) -------------------

act_app = typer.Typer(
    help="Run the Lambdas locally: scheduler, cleanup, plan. Dry-run unless --apply (or "
    "apply = true in the configuration). Audit lines (JSON) go to stdout.",
    no_args_is_help=True,
)
app.add_typer(act_app, name="act")

ActConfigOption = Annotated[
    str | None,
    typer.Option(
        "--config",
        "-c",
        envvar="FINOPS_ACT_CONFIG",
        help="The Lambdas' configuration: TOML or JSON file, s3:// URL (see lambdas/config.py).",
    ),
]
ApplyOption = Annotated[
    bool,
    typer.Option(
        "--apply",
        help="Make the changes. Without it: a dry-run, unless the configuration sets apply = true.",
    ),
]
DryRunOption = Annotated[
    bool,
    typer.Option(
        "--dry-run",
        help="Change nothing, whatever --apply or the configuration's apply say.",
    ),
]
AtOption = Annotated[
    str | None,
    typer.Option(
        "--at",
        help="Preview as if it were this UTC time (ISO 8601); default: now. Dry-run only.",
    ),
]


@act_app.command("scheduler")
def act_scheduler_command(
    config: ActConfigOption = None,
    apply: ApplyOption = False,
    dry_run: DryRunOption = False,
    at: AtOption = None,
) -> None:
    """Stop and start tagged EC2 instances, RDS databases and Auto Scaling groups by schedule."""
    from lambdas.runs import run_scheduler

    with _act_errors():
        settings = _act_config(config, apply, dry_run)
        report = run_scheduler(settings, _act_time(at, settings.apply))
    _act_summary(report)


@act_app.command("cleanup")
def act_cleanup_command(
    config: ActConfigOption = None,
    apply: ApplyOption = False,
    dry_run: DryRunOption = False,
    at: AtOption = None,
) -> None:
    """Mark idle volumes, snapshots, Elastic IPs, interfaces and load balancers; act after the grace period."""  # noqa: E501
    from lambdas.runs import run_cleanup

    with _act_errors():
        settings = _act_config(config, apply, dry_run)
        report = run_cleanup(settings, _act_time(at, settings.apply))
    _act_summary(report)


@act_app.command("plan")
def act_plan_command(
    plan: Annotated[
        str | None,
        typer.Option(
            "--plan",
            help="The action plan (file or s3:// URL); default: \\[plan] location of the config.",
        ),
    ] = None,
    execution_log: Annotated[
        str | None,
        typer.Option("--execution-log", help="Folder or s3:// prefix for <run_id>.jsonl."),
    ] = None,
    config: ActConfigOption = None,
    apply: ApplyOption = False,
    dry_run: DryRunOption = False,
    at: AtOption = None,
) -> None:
    """Carry out an action plan: re-check each resource live, then act on what is allowed."""
    import dataclasses

    from lambdas.runs import run_plan

    with _act_errors():
        settings = _act_config(config, apply, dry_run)
        if execution_log:
            settings = dataclasses.replace(settings, execution_log=execution_log)
        report = run_plan(settings, plan, _act_time(at, settings.apply))
    if report.log_location:
        errors.print(f"execution log: {report.log_location}", markup=False, highlight=False)
    _act_summary(report.run)


@act_app.command("ingest-log")
def act_ingest_log_command(
    source: Annotated[str, typer.Argument(help="An execution log, a folder or s3:// prefix.")],
    warehouse: WarehouseOption = Path("warehouse"),
) -> None:
    """Load execution logs into the warehouse (action_log/), for the realized_savings mart."""
    from pipelines.action_log import ingest_action_log

    with _failures_exit():
        loaded = ingest_action_log(source, warehouse)
    for log in loaded:
        console.print(
            f"{log.run_id}: {log.rows} actions from {escape(log.source)}", highlight=False
        )
    console.print("run `finops build` to see them in realized_savings", highlight=False)


def _act_config(  # noqa: ANN202 - lambdas' Config
    source: str | None, apply: bool, dry_run: bool
):
    import dataclasses

    from lambdas.config import load

    settings = load(source)
    # --dry-run wins over everything: the one way to preview with a config that says apply.
    if dry_run:
        return dataclasses.replace(settings, apply=False)
    return dataclasses.replace(settings, apply=True) if apply else settings


def _act_time(at: str | None, apply: bool):  # noqa: ANN202
    from datetime import UTC, datetime

    from lambdas.errors import ConfigError

    if at is None:
        return _act_clock()
    if apply:
        # A faked clock would make grace periods, plan ages and last-action tags lie while the
        # changes are real: marks would be acted on early, a stale plan carried out.
        raise ConfigError(
            "--at previews only; with --apply (or apply = true) the clock is the real one "
            "(add --dry-run to preview)"
        )
    try:
        moment = datetime.fromisoformat(at.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"{at!r} is not an ISO 8601 time", param_hint="--at") from None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    # Grace periods and plan ages are added to it: near year 9999 that overflows datetime.
    if not datetime(2000, 1, 1, tzinfo=UTC) <= moment < datetime(3000, 1, 1, tzinfo=UTC):
        raise ConfigError(
            f"--at {at}: out of range (expected a time from 2000-01-01 to 2999-12-31)"
        )
    return moment


def _act_clock():  # noqa: ANN202
    """The real time: what a run evaluates at without --at (tests freeze it here)."""
    from datetime import UTC, datetime

    return datetime.now(UTC)


@contextmanager
def _act_errors() -> Iterator[None]:
    from lambdas.errors import ActError

    try:
        yield
    except ActError as error:
        _error(str(error))
        raise typer.Exit(1) from None


def _act_summary(report) -> None:  # noqa: ANN001 - lambdas.safety.RunReport
    counts = ", ".join(f"{count} {outcome}" for outcome, count in sorted(report.outcomes().items()))
    mode = "dry-run" if report.dry_run else "applied"
    errors.print(
        f"{report.function} run {report.run_id} ({mode}): {counts or 'nothing to do'}",
        markup=False,
        highlight=False,
    )
    if report.failed:
        for problem in report.problems:
            _error(problem)
        raise typer.Exit(1)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
