"""The Athena text of the SQL models, made from the model files by sqlglot: nothing written twice.

The models are written once, in DuckDB's SQL, under ``queries/``. For Amazon Athena (engine
version 3, which is Trino) each file is transpiled by sqlglot (``read="duckdb"``,
``write="athena"``), strictly: a construct sqlglot cannot express in Athena's SQL, a warning
that sqlglot logs while transpiling, or a function that Athena does not have all stop with a
``ModelError`` naming the file. ``athena_models`` gives every model and check in the build
order that ``pipelines.models`` computes for DuckDB.

Example::

    for model in athena_models(queries_folder()):
        print(model.name, model.athena_sql)

Notes:
    sqlglot passes a function it does not know through under its DuckDB name, without an
    error. Such a call (``list_sum``, say) would only fail on Athena, so every function of the
    generated text is checked against the names Trino documents (``TRINO_FUNCTIONS``). A few
    of those arrived in Trino after the release Athena engine 3 is built on; such a call passes
    here and fails on Athena, which is why the round-trip test alone is not the whole proof.
    DuckDB's ``map['key']`` and ``list[i]`` give NULL for a missing key or index, while Trino's
    subscript fails the query; the subscript is therefore written as ``element_at``, which
    gives NULL in Trino too.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlglot
from sqlglot import ErrorLevel, exp
from sqlglot.errors import SqlglotError

from pipelines import config
from pipelines.errors import ModelError
from pipelines.models import (
    ACTION_LOG,
    RUN_LOG_SOURCES,
    SOURCE,
    Model,
    find_models,
    find_seeds,
    order_models,
)

READ_DIALECT = "duckdb"
WRITE_DIALECT = "athena"

# The configured seeds exist whether or not a CSV file stands for them (pipelines.models).
CONFIGURED_SEEDS = tuple(config.CONFIGURED_SEEDS)

# Trino's functions by name, from Trino's documentation ("List of functions and operators"),
# without the geospatial, machine-learning and sketch families that the models do not use, plus
# the special forms that sqlglot writes as calls (cast, if, try, row, grouping, ...).
TRINO_FUNCTIONS = frozenset(
    """
    abs acos all_match any_match any_value approx_distinct approx_most_frequent
    approx_percentile arbitrary array_agg array_distinct array_except array_first array_join
    array_intersect array_last array_max array_min array_position array_remove array_sort
    array_union arrays_overlap asin at_timezone atan atan2 avg bar beta_cdf bit_count
    bitwise_and bitwise_and_agg bitwise_left_shift bitwise_not bitwise_or bitwise_or_agg
    bitwise_right_shift bitwise_right_shift_arithmetic bitwise_xor bool_and bool_or cardinality
    cast cbrt ceil ceiling checksum chr codepoint coalesce combinations concat concat_ws contains
    contains_sequence corr cos cosh cosine_similarity count count_if covar_pop covar_samp crc32
    cume_dist current_date current_time current_timestamp current_timezone current_user date
    date_add date_diff date_format date_parse date_trunc day day_of_month day_of_week
    day_of_year degrees dense_rank dow doy e element_at ends_with every exp extract filter
    first_value flatten floor format format_datetime format_number from_base from_base64
    from_hex from_iso8601_date from_iso8601_timestamp from_unixtime from_utf8 geometric_mean
    greatest grouping hamming_distance histogram hour human_readable_seconds if index infinity
    inverse_normal_cdf is_finite is_infinite is_json_scalar is_nan json_array_contains
    json_array_get json_array_length json_extract json_extract_scalar json_format json_parse
    json_size kurtosis lag last_day_of_month last_value lead least length levenshtein_distance
    listagg ln localtime localtimestamp log log10 log2 lower lpad ltrim map map_agg map_concat
    map_entries map_filter map_from_entries map_keys map_union map_values map_zip_with max
    max_by md5 millisecond min min_by minute mod month multimap_agg multimap_from_entries
    nan ngrams none_match normal_cdf normalize now nth_value ntile nullif numeric_histogram
    parse_datetime parse_duration percent_rank pi position pow power quarter radians rand random
    rank reduce reduce_agg regexp_count regexp_extract regexp_extract_all regexp_like
    regexp_position regexp_replace regexp_split regr_intercept regr_slope repeat replace
    reverse round row row_number rpad rtrim second sequence sha1 sha256 sha512 shuffle sign sin
    sinh skewness slice soundex split split_part split_to_map split_to_multimap sqrt
    starts_with stddev stddev_pop stddev_samp strpos substr substring sum tan tanh timezone_hour
    timezone_minute to_base to_base64 to_char to_date to_hex to_iso8601 to_milliseconds
    to_timestamp to_unixtime to_utf8 transform transform_keys transform_values translate trim
    trim_array truncate try try_cast typeof upper url_decode url_encode url_extract_host
    url_extract_parameter url_extract_path url_extract_query uuid var_pop var_samp variance
    unnest week week_of_year width_bucket with_timezone year year_of_week yow zip zip_with
    """.split()
)

# Trino's types (Athena engine 3), as sqlglot writes them for Athena.
TRINO_TYPES = frozenset(
    """
    boolean tinyint smallint int integer bigint real double decimal varchar char varbinary json
    date time timestamp interval array map row uuid ipaddress
    """.split()
)

_CALL = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\(")


@dataclass(frozen=True)
class AthenaModel:
    """One model or check with its Athena text.

    Args:
        model: the model as ``pipelines.models`` reads it (name, file, DuckDB text, reads).
        athena_sql: the query in Athena's SQL, without the file's header comment.
    """

    model: Model
    athena_sql: str

    @property
    def name(self) -> str:
        return self.model.name


def to_athena(sql: str, where: str = "<query>") -> str:
    """Transpile one DuckDB query to Athena's SQL, refusing anything Athena would not run.

    Args:
        sql: one query in DuckDB's SQL (a model file's text, comments included).
        where: the file, as an error names it.

    Raises:
        ModelError: the query does not parse, uses a construct sqlglot cannot write for Athena
            (a lambda, a ``MAP {...}`` literal, ...), makes sqlglot log a warning, or calls a
            function that Athena does not have.
    """
    with _strict(where):
        statements = [statement for statement in sqlglot.parse(sql, read=READ_DIALECT) if statement]
        if len(statements) != 1:
            raise ModelError(where, f"expected one query, found {len(statements)} statements")
        query = statements[0]
        _check_constructs(query, where)
        for bracket in query.find_all(exp.Bracket):
            # DuckDB's subscript gives NULL for a missing map key or list index; element_at is
            # Trino's subscript that does the same (Trino's own [] fails the query).
            if not any(isinstance(index, exp.Slice) for index in bracket.expressions):
                bracket.set("safe", True)
        athena = query.sql(
            dialect=WRITE_DIALECT, unsupported_level=ErrorLevel.RAISE, pretty=True, comments=False
        )
        _check_functions(athena, where)
    return athena


def from_athena(sql: str, where: str = "<query>") -> str:
    """Transpile Athena's SQL back to DuckDB's: the round trip the tests run on DuckDB."""
    with _strict(where):
        (text,) = sqlglot.transpile(
            sql, read=WRITE_DIALECT, write=READ_DIALECT, unsupported_level=ErrorLevel.RAISE
        )
    return text


def athena_models(queries: Path) -> tuple[list[AthenaModel], list[AthenaModel]]:
    """The models in build order and the checks, each with its Athena text.

    The order is the one ``pipelines.models.order_models`` gives the DuckDB build, over the same
    files; the line items and the seeds are the tables every model may read.

    Raises:
        ModelError: a file that does not parse, reads an unknown table, or cannot be written
            for Athena (the first such file; ``transpile_errors`` lists them all).
    """
    seeds = sorted(set(find_seeds(queries)) | set(CONFIGURED_SEEDS))
    models, checks = order_models(
        find_models(queries), known=[SOURCE, ACTION_LOG, *RUN_LOG_SOURCES, *seeds]
    )
    return (
        [AthenaModel(model, to_athena(model.sql, str(model.path))) for model in models],
        [AthenaModel(check, to_athena(check.sql, str(check.path))) for check in checks],
    )


def transpile_errors(paths: list[Path]) -> dict[Path, str]:
    """Every file among ``paths`` that cannot be written for Athena, with the reason."""
    failures = {}
    for path in paths:
        try:
            to_athena(path.read_text(encoding="utf-8"), str(path))
        except ModelError as error:
            failures[path] = error.problem
    return failures


def _check_constructs(query: exp.Expr, where: str) -> None:
    """DuckDB-only syntax that sqlglot writes through unchanged, though Athena has none of it."""
    found = []
    for node in query.walk():
        if isinstance(node, exp.Star) and any(
            node.args.get(part) for part in ("except_", "except", "replace", "rename")
        ):
            found.append("SELECT * EXCLUDE/REPLACE/RENAME (name the columns)")
        elif isinstance(node, exp.Group) and node.args.get("all"):
            found.append("GROUP BY ALL (name the columns)")
        elif isinstance(node, exp.Join) and str(node.args.get("method") or "").upper() in (
            "ASOF",
            "POSITIONAL",
        ):
            found.append(f"{node.args['method']} JOIN")
        elif isinstance(node, exp.SimilarTo):
            found.append("SIMILAR TO (use regexp_matches)")
    if found:
        raise ModelError(where, f"uses {', '.join(dict.fromkeys(found))}, which Athena has not")


def _check_functions(athena: str, where: str) -> None:
    try:
        parsed = sqlglot.parse_one(athena, read=WRITE_DIALECT)
    except SqlglotError as error:
        raise ModelError(
            where, f"the Athena text sqlglot writes is not valid Athena SQL: {_first_lines(error)}"
        ) from None
    types = {
        data_type.sql(dialect=WRITE_DIALECT).split("(")[0].split("[")[0].lower()
        for data_type in parsed.find_all(exp.DataType)
    }
    if types - TRINO_TYPES:
        raise ModelError(
            where, f"casts to {', '.join(sorted(types - TRINO_TYPES))}, which Athena has not"
        )
    unknown = set()
    for function in parsed.find_all(exp.Func):
        call = _CALL.match(function.sql(dialect=WRITE_DIALECT))
        if call and call.group(1).lower() not in TRINO_FUNCTIONS:
            unknown.add(call.group(1).lower())
    if unknown:
        raise ModelError(
            where,
            f"calls {', '.join(sorted(unknown))}, which Athena (Trino) does not have as sqlglot "
            "writes it; use functions that both DuckDB and Athena have",
        )


class _Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def _strict(where: str) -> Iterator[None]:
    """sqlglot's errors and the warnings it logs, as one ModelError naming the file."""
    warnings = _Warnings()
    sqlglot_logger = logging.getLogger("sqlglot")
    sqlglot_logger.addHandler(warnings)
    try:
        yield
    except SqlglotError as error:
        raise ModelError(where, f"cannot be written for Athena: {_first_lines(error)}") from None
    finally:
        sqlglot_logger.removeHandler(warnings)
    if warnings.messages:
        raise ModelError(where, f"sqlglot warns: {'; '.join(dict.fromkeys(warnings.messages))}")


def _first_lines(error: Exception) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))  # sqlglot underlines the culprit in ANSI
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return "; ".join(dict.fromkeys(lines[:6]))
