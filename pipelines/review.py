"""The monthly review's figures: the marts the dashboard and ``finops report`` read, and how.

Both faces call the same functions here, so a page and the report show the same numbers. The
queries are the named blocks of ``sql/review.sql``; they read marts only, never line items.

The marts are views over the warehouse's Parquet files, so reading one costs a scan of the
line items behind it (seconds at millions of line items). A ``Review`` therefore copies each
mart it is asked about into an in-memory DuckDB the first time, and every later query, with any
filters, runs on that copy. The copy is also kept as Parquet under
``warehouse/_cache/review/<warehouse>-<build>/`` so that the next process (the report, a restarted
dashboard) reads it in milliseconds: each mart is scanned once per build. A new build changes
``finops.duckdb``'s modification time and size, which name the folder, so a rebuilt warehouse
is read afresh and the older copies are removed.

Example::

    review = Review(Path("warehouse"))
    filters = review.resolve(Filters(period="2026-10"))
    spend = month_to_date(review, filters)
    print(spend.month_to_date, spend.forecast, spend.forecast_low, spend.forecast_high)

Notes:
    Marts that other stages add (anomalies, recommendations, carbon, commitments) may be
    missing from a warehouse; asking for one raises ``MartMissing``, whose message says which
    command makes it. The pages and the report turn it into that sentence.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
import os
import re
import shutil
import threading
import uuid
from dataclasses import dataclass, replace
from functools import cache
from importlib.resources import files
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlglot
from sqlglot import exp

from pipelines.engine import duckdb_config
from pipelines.errors import WarehouseError
from pipelines.models import DATABASE_FILE
from pipelines.summary import named_queries

MEASURES = {
    "amortized": "Amortized cost",
    "unblended": "Unblended cost",
    "net": "Net amortized cost",
}

# Which command makes each mart that `finops build` alone may not: the message a page shows.
MART_COMMANDS = {
    "anomalies": "finops anomalies",
    "anomaly_days": "finops anomalies",
}
# recommendations: the column each resource counts once in (summed) -> the per-row column.
TOTAL_COLUMNS = (
    ("total_monthly_saving", "estimated_monthly_saving"),
    ("total_saving_low", "saving_low"),
    ("total_saving_high", "saving_high"),
    ("co2e_kg_total_saved", "co2e_kg_monthly_saved"),
)
# `finops build` makes the anomaly views with no rows until `finops anomalies` has written
# anomalies/anomalies.parquet: until then an empty view means "not run", not "none found".
ANOMALY_MARTS = ("anomalies", "anomaly_days")
ANOMALIES_RESULT = Path("anomalies") / "anomalies.parquet"

logger = logging.getLogger(__name__)

# Copies of the marts the review read, per build: _cache/review/<build>/<mart>.parquet.
SNAPSHOTS = Path("_cache") / "review"
_PARAMETER = re.compile(r"\$(\w+)")
# The pages' queries read showback_monthly's copy under this name.
SHOWBACK = "showback"


class MartMissing(WarehouseError):
    """A mart the review needs is not in the warehouse's finops.duckdb."""

    def __init__(self, mart: str, database: Path) -> None:
        self.mart = mart
        # Both commands (re)create the views in finops.duckdb themselves.
        self.command = MART_COMMANDS.get(mart, "finops build")
        super().__init__(f"{mart} is not in {database}: run `{self.command}` first")


@dataclass(frozen=True)
class Filters:
    """What the reviewer chose; None means all (or, for period and currency, the default).

    Args:
        period: the billing period reviewed, 'YYYY-MM'; default the latest.
        currency: amounts are never added across currencies; default the largest.
        measure: 'amortized', 'unblended' or 'net' (net amortized).
        account, team, env: one value each, or None for all.
    """

    period: str | None = None
    currency: str | None = None
    measure: str = "amortized"
    account: str | None = None
    team: str | None = None
    env: str | None = None

    @property
    def previous(self) -> str:
        return shift_period(self.period, -1)

    @property
    def trend_start(self) -> str:
        return shift_period(self.period, -11)


@dataclass(frozen=True)
class MonthToDate:
    """Spend of the period so far, its forecast to the month's end, and last month's.

    ``forecast_low``/``forecast_high`` is a 95 % range (see ``month_to_date``). When the
    period's data reaches its last day, the forecast is the total and the range is nil.
    """

    period: str
    as_of: dt.date | None
    days_in_month: int
    month_to_date: float
    forecast: float
    forecast_low: float
    forecast_high: float
    previous_total: float
    previous_same_point: float
    daily: pd.DataFrame

    @property
    def complete(self) -> bool:
        return self.as_of is not None and self.as_of.day == self.days_in_month


class Review:
    """The marts of one build of ``warehouse/finops.duckdb``, and the review's queries on them.

    Raises:
        WarehouseError: there is no finops.duckdb, or it cannot be read.
    """

    def __init__(self, warehouse: Path) -> None:
        self.warehouse = Path(warehouse)
        self.database = self.warehouse / DATABASE_FILE
        if not self.database.is_file():
            raise WarehouseError(
                f"{self.database}: not found; run `finops ingest` and `finops build` first"
            )
        self.built_at = dt.datetime.fromtimestamp(self.database.stat().st_mtime, dt.UTC)
        with self._source() as source:
            rows = source.execute(
                "SELECT table_name, list(column_name) FROM duckdb_columns() "
                "WHERE database_name = current_database() AND NOT internal GROUP BY 1"
            ).fetchall()
        self.columns: dict[str, set[str]] = {name: set(columns) for name, columns in rows}
        self._memory = duckdb.connect()
        self._loaded: set[str] = set()
        self._lock = threading.Lock()

    def has(self, mart: str) -> bool:
        if mart == SHOWBACK:
            mart = "showback_monthly"
        if mart in ANOMALY_MARTS and not (self.warehouse / ANOMALIES_RESULT).is_file():
            return False
        return mart in self.columns

    def resolve(self, filters: Filters) -> Filters:
        """The filters with the default currency and period filled in (and bad ones dropped)."""
        currencies = self.query("currencies", filters)["currency"].tolist()
        currency = filters.currency if filters.currency in currencies else None
        currency = currency or (currencies[0] if currencies else "USD")
        periods = self.query("periods", replace(filters, currency=currency))[
            "billing_period"
        ].tolist()
        period = filters.period if filters.period in periods else None
        period = period or (periods[-1] if periods else filters.period or _this_period())
        measure = filters.measure if filters.measure in MEASURES else "amortized"
        return replace(filters, currency=currency, period=period, measure=measure)

    def query(self, name: str, filters: Filters, **extra: object) -> pd.DataFrame:
        """Run the named query of sql/review.sql with the filters' parameters and ``extra``.

        Raises:
            MartMissing: a mart the query reads is not in this build.
        """
        sql = _queries()[name]
        self._ensure(_marts_read(sql))
        values = {
            "period": filters.period,
            "previous": filters.previous if filters.period else None,
            "trend_start": filters.trend_start if filters.period else None,
            "currency": filters.currency,
            "measure": filters.measure,
            "account": filters.account,
            "team": filters.team,
            "env": filters.env,
            **extra,
        }
        parameters = {key: values[key] for key in set(_PARAMETER.findall(sql))}
        cursor = self._memory.cursor()
        try:
            return cursor.execute(sql, parameters).df()
        finally:
            cursor.close()

    def _ensure(self, marts: frozenset[str]) -> None:
        for mart in sorted(marts):
            if not self.has(mart):
                raise MartMissing(mart if mart != SHOWBACK else "showback_monthly", self.database)
        with self._lock:
            for mart in sorted(marts - self._loaded):
                self._load(mart)
                self._loaded.add(mart)

    def warm(self) -> list[str]:
        """Load every mart the review reads that this build has; the marts loaded.

        ``finops dashboard`` calls it before serving, so no page pays for a scan.
        """
        wanted = {
            mart
            for name, sql in _queries().items()
            if not name.startswith("load_")
            for mart in _marts_read(sql)
        }
        present = frozenset(mart for mart in wanted if self.has(mart))
        self._ensure(present)
        return sorted(present)

    def _load(self, mart: str) -> None:
        cached = self._snapshot_folder() / f"{mart}.parquet"
        if cached.is_file():
            source = f"read_parquet('{_literal_path(cached)}')"
        else:
            table = self._read_mart(mart)
            self._keep(cached, table)
            self._memory.register("_incoming", table)
            source = "_incoming"
        try:
            self._memory.execute(f'CREATE TABLE "{mart}" AS SELECT * FROM {source}')
        finally:
            if source == "_incoming":
                self._memory.unregister("_incoming")

    def _read_mart(self, mart: str) -> pa.Table:
        source_mart = "showback_monthly" if mart == SHOWBACK else mart
        sql = f'SELECT * FROM "{source_mart}"'
        with self._source() as source:
            return source.sql(sql).to_arrow_table()

    def _snapshot_folder(self) -> Path:
        """Where this build's copies of the marts are kept: one folder per warehouse and build.

        ``$FINOPS_REVIEW_CACHE`` moves them out of the warehouse (the tests do, to leave
        their warehouses as built).
        """
        stat = self.database.stat()
        base = os.environ.get("FINOPS_REVIEW_CACHE") or self.warehouse / SNAPSHOTS
        return Path(base) / f"{self._warehouse_key()}-{stat.st_mtime_ns}-{stat.st_size}"

    def _warehouse_key(self) -> str:
        return hashlib.sha256(str(self.database.resolve()).encode()).hexdigest()[:12]

    def _keep(self, path: Path, table: pa.Table) -> None:
        """Write a mart's copy for later processes; a read-only warehouse just goes without.

        The file is written beside its place and renamed into it, so a reader never sees half
        of one; copies of older builds are removed.
        """
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
            pq.write_table(table, partial, compression="zstd")
            os.replace(partial, path)
            for old in path.parent.parent.glob(f"{self._warehouse_key()}-*"):
                if old != path.parent:
                    shutil.rmtree(old, ignore_errors=True)
        except OSError as error:
            logger.info("not keeping a copy of %s: %s", path.stem, error)

    def _source(self) -> duckdb.DuckDBPyConnection:
        try:
            return duckdb.connect(str(self.database), read_only=True, config=duckdb_config())
        except duckdb.Error as error:
            first_line = str(error).strip().splitlines()[0]
            raise WarehouseError(
                f"{self.database}: cannot read the models ({first_line}); close any DuckDB "
                "session that holds it open read-write, or run `finops build` again"
            ) from None


def month_to_date(review: Review, filters: Filters) -> MonthToDate:
    """Spend so far in ``filters.period``, the forecast to its end, and last month's spend.

    Days without cost count as zero in the rate.

    The forecast adds, for each day left, the mean daily cost of the latest 14 days of the
    period (the first day excluded: monthly fees land on it). Its 95 % range treats days as
    independent around that mean, with the mean's own uncertainty:
    ``1.96 * sd * sqrt(r + r**2 / n)`` for ``r`` days left and ``n`` days in the mean. The
    same point of last month is its days up to the same day of the month.
    """
    daily = review.query("daily_spend", filters)
    current = daily[daily["billing_period"] == filters.period]
    previous = daily[daily["billing_period"] == filters.previous]
    year, month = (int(part) for part in filters.period.split("-"))
    days_in_month = _days_in_month(year, month)

    latest = review.query("latest_day", filters)["usage_date"].iloc[0]
    if pd.isna(latest):
        total_previous = float(previous["cost"].sum())
        return MonthToDate(
            filters.period, None, days_in_month, 0.0, 0.0, 0.0, 0.0, total_previous, 0.0, daily
        )
    # How far the month has got is the data's latest day over all accounts: an account that
    # spent nothing on the last day has still had its whole month.
    as_of = pd.Timestamp(latest).date()
    spent = float(current["cost"].sum())
    same_point = float(
        previous[pd.to_datetime(previous["usage_date"]).dt.day <= as_of.day]["cost"].sum()
    )

    left = days_in_month - as_of.day
    by_day = (
        current.assign(day=pd.to_datetime(current["usage_date"]).dt.day)
        .groupby("day")["cost"]
        .sum()
        .reindex(range(2, as_of.day + 1), fill_value=0.0)
    )
    recent = by_day.tail(14)
    if left == 0 or recent.empty:
        forecast = low = high = spent
    else:
        rate = float(recent.mean())
        spread = float(recent.std(ddof=1)) if len(recent) > 1 else 0.0
        forecast = spent + rate * left
        half = 1.96 * spread * math.sqrt(left + left * left / len(recent))
        low, high = max(spent, forecast - half), forecast + half
    return MonthToDate(
        period=filters.period,
        as_of=as_of,
        days_in_month=days_in_month,
        month_to_date=spent,
        forecast=forecast,
        forecast_low=low,
        forecast_high=high,
        previous_total=float(previous["cost"].sum()),
        previous_same_point=same_point,
        daily=daily,
    )


def root_cause(anomaly: pd.Series | dict) -> pd.DataFrame:
    """An anomaly's root cause (JSON text: a list of {dimension, value, share, impact})."""
    text = anomaly["root_cause"]
    columns = ["dimension", "value", "share", "impact"]
    if text is None or (isinstance(text, float) and math.isnan(text)) or not str(text).strip():
        return pd.DataFrame(columns=columns)
    try:
        entries = json.loads(text)
    except ValueError:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame([entry for entry in entries if isinstance(entry, dict)])
    return frame.reindex(columns=columns)


def savings_totals(recommendations: pd.DataFrame) -> pd.DataFrame:
    """Savings per kind with their ranges, plus a 'total' row; sums within one currency.

    Each resource counts once: the sums are of the recommendations' ``total_*`` columns (what
    each adds to the total after the kinds before it on the same resource), reported under the
    per-recommendation names (estimated_monthly_saving, saving_low, saving_high,
    co2e_kg_monthly_saved). A kind's row is what it adds to the total.
    """
    columns = dict(TOTAL_COLUMNS)
    counted = recommendations[list(columns)].rename(columns=columns)
    counted["kind"] = recommendations["kind"]
    by_kind = (
        counted.groupby("kind", as_index=False)[list(columns.values())]
        .sum(min_count=1)
        .assign(recommendations=recommendations.groupby("kind").size().to_numpy())
        .sort_values("estimated_monthly_saving", ascending=False)
    )
    total = pd.DataFrame(
        [
            {
                "kind": "total",
                **counted[list(columns.values())].sum(min_count=1).to_dict(),
                "recommendations": len(recommendations),
            }
        ]
    )
    return pd.concat([by_kind, total], ignore_index=True) if len(by_kind) else total


def action_plan(warehouse: Path) -> dict | None:
    """The action plan `finops recommend` wrote (``warehouse/action_plan.json``), if any.

    Notes:
        The plan carries no execution status, so the pages show what it asks, not what was
        done (the Lambdas' audit log is not read here yet).
    """
    path = Path(warehouse) / "action_plan.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def run_log(warehouse: Path) -> pd.DataFrame:
    """The ingest run log (``_runs/*.parquet``), newest first; empty when none was written."""
    runs = Path(warehouse) / "_runs"
    if not any(runs.glob("*.parquet")):
        return pd.DataFrame()
    pattern = str(runs / "*.parquet").replace("'", "''")
    with duckdb.connect() as connection:
        return connection.sql(
            "SELECT billing_period, outcome, finished_at, format, rows_in, rows_out, "
            "unblended_cost, unblended_cost_written, duration_s, source, message, run_id "
            f"FROM read_parquet('{pattern}', union_by_name = true) "
            "ORDER BY finished_at DESC, billing_period"
        ).df()


def money(value: float | None, currency: str | None) -> str:
    """An amount as people read money: '$1,234.56', '€980.00', '1,234.56 GBP'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    symbol = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}.get(currency or "")
    sign = "-" if value < 0 else ""
    digits = f"{abs(value):,.2f}"
    return f"{sign}{symbol}{digits}" if symbol else f"{sign}{digits} {currency}"


def percent(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.1%}"


def shift_period(period: str | None, months: int) -> str | None:
    """'2026-01' shifted by months: shift_period('2026-01', -1) == '2025-12'."""
    if period is None:
        return None
    year, month = (int(part) for part in period.split("-"))
    index = year * 12 + (month - 1) + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _literal_path(path: Path) -> str:
    return str(path).replace("'", "''")


def _days_in_month(year: int, month: int) -> int:
    following = dt.date(year + month // 12, month % 12 + 1, 1)
    return (following - dt.timedelta(days=1)).day


def _this_period() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m")


@cache
def _queries() -> dict[str, str]:
    return named_queries(files("pipelines").joinpath("sql/review.sql").read_text())


@cache
def _marts_read(sql: str) -> frozenset[str]:
    """The tables a query reads, less its own CTEs: the marts it needs."""
    tree = sqlglot.parse_one(_PARAMETER.sub("NULL", sql), read="duckdb")
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    return frozenset(table.name for table in tree.find_all(exp.Table)) - ctes
