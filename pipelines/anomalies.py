"""Cost anomaly detection over the daily usage cost, with root cause and de-duplication.

The detector scans one daily series per dimension value and currency: the total, each account,
region, showback tag value (``tag:team``, ``tag:env``, ...), service, usage type, and the
largest resources. Each day's expected cost comes from a robust baseline, and a run of days
above it is an anomaly when both the dollar impact and the percent above expected pass the
dimension's threshold (``[anomalies]`` in ``finops.toml``, see ``pipelines.anomaly_config``).

Example::

    settings = load_config(None).anomalies
    result = detect_warehouse(Path("warehouse"), settings)
    for anomaly in result.anomalies:
        print(anomaly.dimension, anomaly.dimension_value, anomaly.impact, anomaly.root_cause)

How the billing data is read (``pipelines/sql/anomaly_cube.sql``):
    Only usage is scanned. Purchases (RI and Savings Plan fees, support, subscriptions), tax,
    credits and refunds land on the month's first or last day whatever happened that day; left
    in, every month boundary would look like a spike. Usage lines that cover more than a day
    (monthly usage charges) are spread over the days they cover.

The baseline, per series and day ``t``:
    - the median of the same kind of day (weekday or weekend) over the ``lookback_days`` before
      ``t``, and the median of the same weekday over the last four weeks; expected is the larger
      of the two, so a weekly batch job is expected on its weekday. Medians ignore one-off
      spikes in the series' own history, and a level that changed for good (a resource that
      ended, a new one that stays) becomes the baseline within about two weeks;
    - the scale is the median absolute deviation of the same window (x 1.4826), floored at 5%
      of the expected cost, so a flat series does not alert on cents;
    - a day is anomalous when it is ``z_threshold`` scales above expected, at least the
      dimension's ``min_pct`` and ``min_daily_impact`` above it; consecutive anomalous days are
      one spike;
    - a series alerts on its own only after ``min_history_days`` days since its first cost: a
      new service's or resource's first days are not compared with a history of zeros. Its
      cost still counts in its parents (account, region, total), which is how a new resource
      that burns money or a region that appears is found.
    Only increases alert: a drop (a resource that ended) never does.

Trends (leaks), in services, usage types and resources: over the last ``trend_window_days``
days, the weekend-adjusted series rises
steadily (Kendall's tau >= 0.6, Theil-Sen slope > 0), gradually (no single day carries half of
the rise: a step is a spike, not a leak), by at least ``trend_min_pct`` over its level in the
two weeks before, and the projected extra cost over the next 30 days passes ``min_impact``.

Root cause: the change of every line (account x service x region x usage type x resource) over
the anomaly's days, against that line's own baseline, summed per account, service, region,
usage type and resource; the positive ones, with their share, largest first.

De-duplication: the same jump is seen in the total, its account, region, service, usage type
and resources. Candidates are compared by the lines that carry their impact: a candidate whose
impact mostly lies in an anomaly already found is one more view of it; a coarser series whose
impact is spread over several anomalies found already adds nothing; anomalies that start on the
same day (within a day), or have the same main resource, and that one coarser series explains
are one anomaly. Each anomaly is reported on its most specific series that holds 85% of the
change of its most specific members (so a jump of two instances of one usage type is told on
the usage type, with both instances in its root cause).

Notes:
    Amounts are never added across currencies: each currency is scanned on its own.
    Resources beyond ``top_resources`` (by cost) are not scanned as series of their own, but
    their cost is in every parent series and in the root cause.
    The whole history is scanned on every run (as if each day had been the latest), so an
    anomaly's first day and detection day do not move when later data arrives. Its id is made
    of the series it is told on; when later days make another series the most specific one that
    holds it (rare, for anomalies still going on), the id changes and a notification is sent
    again. The lines x days matrix is held in memory: measured on generated months (a few
    thousand lines), not on an organisation with millions of resources.
    Not on Athena: ``finops build --engine athena`` does not create the anomalies views.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from importlib.resources import files
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.anomaly_config import MEASURES, AnomalySettings
from pipelines.engine import duckdb_config
from pipelines.errors import FinopsError, WarehouseError

logger = logging.getLogger(__name__)

FOLDER = "anomalies"
ANOMALIES_FILE = "anomalies.parquet"
DAYS_FILE = "anomaly_days.parquet"
NOTIFIED_FILE = "notified.json"
UNTAGGED = "(untagged)"
#: Root cause levels, coarse to fine.
CAUSE_DIMENSIONS = ("account", "service", "region", "usage_type", "resource")
#: How specific each dimension is: an anomaly is told on the most specific series that holds it.
_SPECIFICITY = {
    "total": 0,
    "account": 1,
    "region": 2,
    "tag": 2,
    "service": 3,
    "usage_type": 4,
    "resource": 5,
}
#: Leaks are looked for where they happen: a service, a usage type, a resource. Coarser series
#: rise slowly for many unrelated reasons (a fleet that grows), and would tie unrelated changes
#: into one trend; a leak shows in them only through these.
TREND_DIMENSIONS = ("service", "usage_type", "resource")
#: Days of context before an anomaly in anomaly_days (the chart's series).
CONTEXT_DAYS = 14

ANOMALY_SCHEMA = pa.schema(
    [
        ("anomaly_id", pa.string()),
        ("kind", pa.string()),
        ("dimension", pa.string()),
        ("dimension_value", pa.string()),
        ("first_day", pa.date32()),
        ("last_day", pa.date32()),
        ("detected_on", pa.date32()),
        ("measure", pa.string()),
        ("currency", pa.string()),
        ("expected_cost", pa.float64()),
        ("actual_cost", pa.float64()),
        ("impact", pa.float64()),
        ("impact_pct", pa.float64()),
        ("score", pa.float64()),
        ("projected_monthly_cost", pa.float64()),
        ("root_cause", pa.string()),
        ("also_seen_in", pa.string()),
        ("detected_at", pa.timestamp("us", tz="UTC")),
    ]
)
DAYS_SCHEMA = pa.schema(
    [
        ("anomaly_id", pa.string()),
        ("usage_date", pa.date32()),
        ("expected_cost", pa.float64()),
        ("actual_cost", pa.float64()),
        ("in_anomaly", pa.bool_()),
    ]
)


# ---------------------------------------------------------------------------------------------
# The data: one matrix of daily cost per line (account x service x region x usage type x
# resource x tags) and currency.
# ---------------------------------------------------------------------------------------------


@dataclass
class Cube:
    """The daily usage cost of one currency, one row per line, one column per day.

    Args:
        currency: the currency of every amount.
        days: the consecutive days, ``datetime64[D]``.
        lines: per row, a dict with account, service, region, usage_type, resource and
            ``tags`` (dimension -> value or None).
        cost: ``len(lines) x len(days)`` costs; days without cost are 0.
    """

    currency: str
    days: np.ndarray
    lines: list[dict]
    cost: np.ndarray

    @classmethod
    def from_records(cls, currency: str, records: Iterable[Sequence]) -> Cube:
        """Build from ``(day, account, service, region, usage_type, resource, tags, cost)``.

        ``tags`` is a dict of dimension -> value (missing or None: untagged). Days between the
        first and the last one are filled with zero cost.
        """
        index: dict[tuple, int] = {}
        lines: list[dict] = []
        entries: list[tuple[int, np.datetime64, float]] = []
        for day, account, service, region, usage_type, resource, tags, cost in records:
            tags = dict(tags or {})
            key = (account, service, region, usage_type, resource, tuple(sorted(tags.items())))
            if key not in index:
                index[key] = len(lines)
                lines.append(
                    {
                        "account": account,
                        "service": service,
                        "region": region,
                        "usage_type": usage_type,
                        "resource": resource or "",
                        "tags": tags,
                    }
                )
            entries.append((index[key], np.datetime64(day, "D"), float(cost)))
        if not entries:
            return cls(currency, np.array([], dtype="datetime64[D]"), [], np.zeros((0, 0)))

        stamps = np.array([entry[1] for entry in entries])
        first, last = stamps.min(), stamps.max()
        days = np.arange(first, last + np.timedelta64(1, "D"))
        cost = np.zeros((len(lines), len(days)))
        rows = np.array([entry[0] for entry in entries])
        np.add.at(cost, (rows, (stamps - first).astype(int)), [entry[2] for entry in entries])
        return cls(currency, days, lines, cost)


def read_cubes(connection: duckdb.DuckDBPyConnection, measure: str) -> list[Cube]:
    """The usage cost of ``stg_line_items`` in ``measure``, one cube per currency."""
    if measure not in MEASURES:
        raise FinopsError(f"--measure {measure!r}: expected one of {', '.join(MEASURES)}")
    sql = files("pipelines").joinpath("sql/anomaly_cube.sql").read_text(encoding="utf-8")
    try:
        rows = connection.execute(sql.replace("{measure}", measure)).fetchall()
    except duckdb.Error as error:
        raise WarehouseError(
            f"pipelines/sql/anomaly_cube.sql: cannot read the daily cost from stg_line_items: "
            f"{str(error).strip().splitlines()[0]} (run `finops build` first)"
        ) from error

    by_currency: dict[str, list[tuple]] = {}
    for day, currency, account, service, region, usage_type, resource, tags, cost in rows:
        by_currency.setdefault(currency, []).append(
            (day, account, service, region, usage_type, resource, tags, cost)
        )
    return [Cube.from_records(currency, records) for currency, records in by_currency.items()]


# ---------------------------------------------------------------------------------------------
# The baseline.
# ---------------------------------------------------------------------------------------------


@dataclass
class Baseline:
    """Expected cost and scale per series and day; ``ok`` where a series may alert."""

    expected: np.ndarray
    scale: np.ndarray
    ok: np.ndarray


def weekend_mask(days: np.ndarray) -> np.ndarray:
    """True on Saturdays and Sundays (1970-01-01 was a Thursday)."""
    weekday = (days.astype("datetime64[D]").astype(int) + 3) % 7
    return weekday >= 5


def baseline(
    series: np.ndarray, days: np.ndarray, settings: AnomalySettings, *, since_start: bool = True
) -> Baseline:
    """The robust weekly baseline of every row of ``series`` (rows x days), for every day.

    Args:
        since_start: use only the days since each row's first cost (the series scanned);
            ``False`` for the lines whose change makes the root cause, where a new line's
            history of zeros is what it changed from.
    """
    rows, count = series.shape
    expected = np.zeros((rows, count))
    scale = np.full((rows, count), np.inf)
    ok = np.zeros((rows, count), dtype=bool)
    if rows == 0 or count == 0:
        return Baseline(expected, scale, ok)

    weekend = weekend_mask(days)
    started = np.where((series != 0).any(axis=1), (series != 0).argmax(axis=1), count)
    lookback = settings.lookback_days
    # A series is compared with its own days only: the zeros before a resource started are
    # not its history (they stay in the lines' baselines, where they make the root cause).
    if since_start:
        series = np.where(np.arange(count)[None, :] >= started[:, None], series, np.nan)
    for t in range(1, count):
        window = np.arange(max(0, t - lookback), t)
        same = window[weekend[window] == weekend[t]]
        if len(same) < 3:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: not started yet
            values = series[:, same]
            median = np.nanmedian(values, axis=1)
            weekly = series[:, [t - 7 * k for k in range(1, 5) if t - 7 * k >= 0]]
            weekly_median = np.nanmedian(weekly, axis=1) if weekly.shape[1] >= 3 else median
            mad = np.nanmedian(np.abs(values - median[:, None]), axis=1)
        median = np.nan_to_num(median)
        expected[:, t] = np.maximum(median, np.nan_to_num(weekly_median))
        scale[:, t] = np.maximum.reduce(
            [1.4826 * np.nan_to_num(mad), 0.05 * expected[:, t], np.full(rows, 0.01)]
        )
        ok[:, t] = (t - started) >= settings.min_history_days
    return Baseline(expected, scale, ok)


# ---------------------------------------------------------------------------------------------
# Candidates: anomalous runs of days in one series, before de-duplication.
# ---------------------------------------------------------------------------------------------


@dataclass
class Series:
    dimension: str
    value: str
    rows: np.ndarray  # the cube's lines that make it up


@dataclass
class Candidate:
    kind: str
    series: Series
    first: int
    last: int
    detected: int
    expected: np.ndarray  # per day first..last
    actual: np.ndarray
    score: float
    projected_monthly_cost: float | None = None
    contributions: dict[int, float] = field(default_factory=dict)  # line -> impact

    @property
    def impact(self) -> float:
        return float(self.actual.sum() - self.expected.sum())

    @property
    def weight(self) -> float:
        return sum(value for value in self.contributions.values() if value > 0)

    @property
    def specificity(self) -> int:
        return _SPECIFICITY[self.series.dimension.split(":", 1)[0]]


def build_series(cube: Cube, tag_dimensions: Sequence[str], top_resources: int) -> list[Series]:
    """The series scanned: total, each account, region, tag value, service, usage type, and
    the ``top_resources`` largest resources."""
    found: list[Series] = [Series("total", "total", np.arange(len(cube.lines)))]

    def group(dimension: str, value_of) -> None:
        members: dict[str, list[int]] = {}
        for row, line in enumerate(cube.lines):
            members.setdefault(value_of(line), []).append(row)
        for value in sorted(members):
            found.append(Series(dimension, value, np.array(members[value])))

    group("account", lambda line: line["account"])
    group("region", lambda line: line["region"])
    for name in tag_dimensions:
        group(f"tag:{name}", lambda line, name=name: line["tags"].get(name) or UNTAGGED)
    group("service", lambda line: line["service"])
    group("usage_type", lambda line: line["usage_type"])

    totals: dict[str, float] = {}
    members: dict[str, list[int]] = {}
    line_totals = cube.cost.sum(axis=1)
    for row, line in enumerate(cube.lines):
        if line["resource"]:
            totals[line["resource"]] = totals.get(line["resource"], 0.0) + line_totals[row]
            members.setdefault(line["resource"], []).append(row)
    largest = sorted(totals, key=lambda resource: -totals[resource])[:top_resources]
    for resource in sorted(largest):
        found.append(Series("resource", resource, np.array(members[resource])))
    return found


def _spikes(
    series: list[Series], values: np.ndarray, base: Baseline, settings: AnomalySettings
) -> list[Candidate]:
    found = []
    excess = values - base.expected
    with np.errstate(divide="ignore", invalid="ignore"):
        z = excess / base.scale
        relative = np.where(base.expected > 0, excess / base.expected, np.inf)
    for index, one in enumerate(series):
        threshold = settings.threshold(one.dimension)
        hot = (
            base.ok[index]
            & (excess[index] > 0)
            & (z[index] >= settings.z_threshold)
            & (relative[index] >= threshold.min_pct)
            & (excess[index] >= threshold.daily)
        )
        for first, last in _runs(hot):
            expected = base.expected[index, first : last + 1]
            actual = values[index, first : last + 1]
            impact = actual.sum() - expected.sum()
            pct = impact / expected.sum() if expected.sum() > 0 else np.inf
            if impact < threshold.min_impact or pct < threshold.min_pct:
                continue
            score = float(np.max(z[index, first : last + 1]))
            found.append(Candidate("spike", one, first, last, first, expected, actual, score))
    return found


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    runs, start = [], None
    for position, flag in enumerate(mask):
        if flag and start is None:
            start = position
        elif not flag and start is not None:
            runs.append((start, position - 1))
            start = None
    if start is not None:
        runs.append((start, len(mask) - 1))
    return runs


def _trends(
    series: list[Series], values: np.ndarray, days: np.ndarray, settings: AnomalySettings
) -> list[Candidate]:
    window = settings.trend_window_days
    before = 14
    rows, count = values.shape
    if count < window + before or rows == 0:
        return []

    # Weekend days scaled to weekday level with each series' own weekend/weekday ratio.
    weekend = weekend_mask(days)
    weekday_level = np.median(values[:, ~weekend], axis=1) if (~weekend).any() else None
    weekend_level = np.median(values[:, weekend], axis=1) if weekend.any() else None
    factor = np.ones(rows)
    if weekday_level is not None and weekend_level is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            factor = np.where(
                (weekday_level > 0) & (weekend_level > 0), weekend_level / weekday_level, 1.0
            )
        factor = np.clip(factor, 0.2, 5.0)
    adjusted = np.where(weekend[None, :], values / factor[:, None], values)

    i, j = np.triu_indices(window, k=1)
    started = np.where((values != 0).any(axis=1), (values != 0).argmax(axis=1), count)
    found = []
    for index, one in enumerate(series):
        if one.dimension not in TREND_DIMENSIONS:
            continue
        threshold = settings.threshold(one.dimension)
        y = adjusted[index]
        windows = np.lib.stride_tricks.sliding_window_view(y, window)  # (count-window+1, window)
        ends = np.arange(window - 1, count)
        usable = (ends - window + 1 - before >= 0) & (ends - window + 1 - before >= started[index])
        usable &= (ends - started[index]) >= settings.min_history_days + window
        if not usable.any():
            continue
        pairs = windows[:, j] - windows[:, i]
        tau = np.sign(pairs).sum(axis=1) / len(i)
        slope = np.median(pairs / (j - i), axis=1)
        intercept = np.median(windows - slope[:, None] * np.arange(window), axis=1)
        rise = slope * (window - 1)
        jump = np.max(np.diff(windows, axis=1), axis=1)
        level = np.array(
            [
                np.median(y[end - window + 1 - before : end - window + 1]) if use else np.nan
                for end, use in zip(ends, usable, strict=True)
            ]
        )
        end_level = intercept + rise
        with np.errstate(divide="ignore", invalid="ignore"):
            growth = np.where(level > 0, (end_level - level) / level, np.inf)
        projected = 30 * (end_level + slope * 15.5)
        extra = projected - 30 * level
        fire = (
            usable
            & (tau >= 0.6)
            & (slope > 0)
            & (jump <= 0.5 * rise)
            & (growth >= settings.trend_min_pct)
            & (extra >= threshold.min_impact)
            & (extra / 30 >= threshold.daily)
            & (end_level - level >= threshold.daily)
        )
        for first_window, last_window in _runs(fire):
            # The leak starts where the fitted line leaves the level before the window.
            crossing = (level[first_window] - intercept[first_window]) / slope[first_window]
            first = int(ends[first_window]) - window + 1 + int(np.clip(np.ceil(crossing), 0, 7))
            last = int(ends[last_window])
            start_level = level[first_window]
            expected_days = start_level * np.where(weekend[first : last + 1], factor[index], 1.0)
            actual = values[index, first : last + 1]
            score = float(tau[first_window : last_window + 1].max())
            found.append(
                Candidate(
                    "trend",
                    one,
                    first,
                    last,
                    int(ends[first_window]),
                    expected_days,
                    actual,
                    score,
                    projected_monthly_cost=float(projected[last_window]),
                )
            )
    return found


# ---------------------------------------------------------------------------------------------
# Root cause and de-duplication.
# ---------------------------------------------------------------------------------------------


def _contributions(candidate: Candidate, cube: Cube, line_base: Baseline) -> dict[int, float]:
    rows = candidate.series.rows
    span = slice(candidate.first, candidate.last + 1)
    actual = cube.cost[rows, span].sum(axis=1)
    if candidate.kind == "trend":
        before = cube.cost[rows, max(0, candidate.first - 14) : candidate.first]
        level = np.median(before, axis=1) if before.shape[1] else np.zeros(len(rows))
        expected = level * (candidate.last - candidate.first + 1)
    else:
        expected = line_base.expected[rows, span].sum(axis=1)
    change = actual - expected
    return {int(row): float(value) for row, value in zip(rows, change, strict=True) if value}


def root_cause(candidate: Candidate, cube: Cube, limit: int = 5) -> list[dict]:
    """The lines' changes summed per cause dimension: positive ones, with shares, largest first.

    Each dimension's shares add up to 1 over its positive changes; entries of all dimensions are
    listed together by impact, the more specific first on a tie. Lines without a resource id
    (data transfer, requests) are in every dimension but ``resource``.
    """
    entries = []
    for dimension in CAUSE_DIMENSIONS:
        changes: dict[str, float] = {}
        for row, change in candidate.contributions.items():
            value = cube.lines[row][dimension]
            if dimension == "resource" and not value:
                continue
            changes[value] = changes.get(value, 0.0) + change
        positive = {value: change for value, change in changes.items() if change > 0}
        total = sum(positive.values())
        ranked = sorted(positive.items(), key=lambda item: -item[1])[:limit]
        for value, change in ranked:
            entries.append(
                {
                    "dimension": dimension,
                    "value": value,
                    "share": round(change / total, 4),
                    "impact": round(change, 2),
                }
            )
    order = {dimension: position for position, dimension in enumerate(CAUSE_DIMENSIONS)}
    entries.sort(key=lambda entry: (-entry["impact"], -order[entry["dimension"]]))
    return entries


def _overlap(a: Candidate | Cluster, b: Candidate | Cluster) -> float:
    if a.last < b.first or b.last < a.first:
        return 0.0
    small, large = sorted((a.footprint, b.footprint), key=len)
    return sum(min(value, large[row]) for row, value in small.items() if row in large)


@dataclass
class Cluster:
    members: list[Candidate]

    @property
    def footprint(self) -> dict[int, float]:
        merged: dict[int, float] = {}
        for member in self.members:
            for row, value in member.footprint.items():
                merged[row] = max(merged.get(row, 0.0), value)
        return merged

    @property
    def core_footprint(self) -> dict[int, float]:
        """The footprint of its most specific members: what the anomaly is about, without the
        unrelated changes that its coarser series (the total) also carry."""
        top = max(member.specificity for member in self.members)
        merged: dict[int, float] = {}
        for member in self.members:
            if member.specificity == top:
                for row, value in member.footprint.items():
                    merged[row] = max(merged.get(row, 0.0), value)
        return merged

    @property
    def first(self) -> int:
        return min(member.first for member in self.members)

    @property
    def last(self) -> int:
        return max(member.last for member in self.members)

    @property
    def start(self) -> int:
        return (
            min(member.first for member in self.members if member.kind == "spike")
            if any(member.kind == "spike" for member in self.members)
            else self.first
        )

    @property
    def weight(self) -> float:
        return sum(self.footprint.values())

    @property
    def kind(self) -> str:
        """The kind of the member that started first: a leak's trend starts before the spike
        that its growth later makes; a step's spike starts on the step (a tie is a spike)."""
        first = min(self.members, key=lambda m: (m.first, m.kind != "spike"))
        return first.kind

    def representative(self) -> Candidate:
        """The most specific member that holds 85% of the anomaly's core change."""
        core = self.core_footprint
        total = sum(core.values())
        pool = [m for m in self.members if m.kind == self.kind]

        def held(member: Candidate) -> float:
            mine = member.footprint
            return sum(min(value, mine.get(row, 0.0)) for row, value in core.items())

        strong = [m for m in pool if held(m) >= 0.85 * total]
        if not strong:
            return max(pool, key=lambda m: (held(m), m.specificity))
        return max(strong, key=lambda m: (m.specificity, m.impact))


def _footprint(candidate: Candidate) -> dict[int, float]:
    return {row: value for row, value in candidate.contributions.items() if value > 0}


Candidate.footprint = property(_footprint)  # type: ignore[attr-defined]


def _merge(clusters: list[Cluster], joined: list[Cluster], candidate: Candidate) -> list[Cluster]:
    merged = Cluster([member for cluster in joined for member in cluster.members] + [candidate])
    return [c for c in clusters if all(c is not j for j in joined)] + [merged]


def deduplicate(
    candidates: list[Candidate], resource_of: Sequence[str] | None = None
) -> list[Cluster]:
    """Group the candidates that are one jump seen in several series (see the module notes).

    Args:
        resource_of: the resource (or another key for lines without one) of each cube line:
            an anomaly found already whose main resource is a coarser candidate's main resource
            is merged into it, even when they started on different days.
    """
    clusters: list[Cluster] = []
    ordered = sorted(candidates, key=lambda c: (-c.specificity, -c.impact))
    for candidate in ordered:
        weight = candidate.weight
        if weight <= 0:
            continue
        overlaps = [(cluster, _overlap(candidate, cluster)) for cluster in clusters]
        contained = [(c, ov) for c, ov in overlaps if ov > 0 and ov >= 0.5 * c.weight]
        # Anomalies this candidate joins into one: those that started with it, and those with
        # the same main resource (one event cut into several runs of days).
        main = _main_resource(candidate.footprint, resource_of) if resource_of else None
        joined = [
            (c, ov)
            for c, ov in contained
            if abs(c.start - candidate.first) <= 1
            or (main is not None and _main_resource(c.core_footprint, resource_of) == main)
        ]
        # Anomalies that hold most of this candidate's change, with its main resource among theirs.
        inside = [
            (c, ov)
            for c, ov in overlaps
            if ov >= 0.5 * weight
            and (main is None or _resource_shares(c.footprint, resource_of).get(main, 0) >= 0.2)
        ]
        if joined and sum(ov for _c, ov in joined) >= 0.5 * weight:
            clusters = _merge(clusters, [c for c, _ov in joined], candidate)
        elif inside:
            max(inside, key=lambda item: item[1])[0].members.append(candidate)
        elif sum(ov for _c, ov in contained) >= 0.5 * weight:
            continue  # a coarser series that several anomalies found already explain
        else:
            clusters = _merge(clusters, [c for c, _ov in joined], candidate)
    return clusters


def _join_related(clusters: list[Cluster], cube: Cube, line_base: Baseline) -> list[Cluster]:
    """Join an anomaly to the one before it when the same resource stayed up in between.

    A new resource that keeps running alerts until the baseline learns it; a dip below the
    thresholds for a few days (a weekend) and a new run of anomalous days after it is the same
    anomaly going on, not a new one (a resource that runs on weekdays only is still up when it
    runs between the two). Two spikes with a return to normal between them stay two.
    Anomalies that start together (within a day) and that one account's one service carries
    (80% of each) are one too: a service that jumps in two regions.
    """
    keys = [line["resource"] or f"{line['account']}|{line['region']}|{line['usage_type']}"
            for line in cube.lines]  # fmt: skip
    ordered = sorted(clusters, key=lambda c: c.first)
    kept: list[Cluster] = []
    for cluster in ordered:
        owner = _owner(cluster, cube)
        twin = next(
            (
                c
                for c in kept
                if abs(c.start - cluster.start) <= 1 and owner and _owner(c, cube) == owner
            ),
            None,
        )
        if twin is not None:  # one service of one account, seen in two regions or tags
            twin.members.extend(cluster.members)
            continue
        main = _main_resource(cluster.core_footprint, keys)
        rows = [row for row, key in enumerate(keys) if key == main]
        previous = next(
            (
                c
                for c in reversed(kept)
                if 0 < cluster.first - c.last <= 7
                and _main_resource(c.core_footprint, keys) == main
            ),
            None,
        )
        if previous is not None:
            before = line_base.expected[rows, previous.first].sum()
            gap = cube.cost[rows, previous.last + 1 : cluster.first].sum(axis=0)
            if gap.size and gap.max() > 1.2 * before + 0.01:
                previous.members.extend(cluster.members)
                continue
        kept.append(cluster)
    return kept


def _owner(cluster: Cluster, cube: Cube) -> tuple[str, str] | None:
    """The account and service that carry 80% of the cluster's change, if one pair does."""
    totals: dict[tuple[str, str], float] = {}
    for row, value in cluster.core_footprint.items():
        key = (cube.lines[row]["account"], cube.lines[row]["service"])
        totals[key] = totals.get(key, 0.0) + value
    best = max(totals, key=totals.__getitem__, default=None)
    if best is None or totals[best] < 0.8 * sum(totals.values()):
        return None
    return best


def _resource_shares(footprint: dict[int, float], resource_of: Sequence[str]) -> dict[str, float]:
    total = sum(footprint.values())
    shares: dict[str, float] = {}
    for row, value in footprint.items():
        shares[resource_of[row]] = shares.get(resource_of[row], 0.0) + value / total
    return shares


def _main_resource(footprint: dict[int, float], resource_of: Sequence[str]) -> str:
    shares = _resource_shares(footprint, resource_of)
    return max(shares, key=shares.__getitem__)


# ---------------------------------------------------------------------------------------------
# The whole detection.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Anomaly:
    """One anomaly: a row of the ``anomalies`` view (see interfaces.md)."""

    anomaly_id: str
    kind: str
    dimension: str
    dimension_value: str
    first_day: date
    last_day: date
    detected_on: date
    measure: str
    currency: str
    expected_cost: float
    actual_cost: float
    impact: float
    impact_pct: float | None
    score: float
    projected_monthly_cost: float | None
    root_cause: list[dict]
    also_seen_in: list[str]
    days: list[tuple[date, float, float, bool]]  # usage_date, expected, actual, in the anomaly
    detected_at: datetime | None = None

    def row(self) -> dict:
        values = {name: getattr(self, name) for name in ANOMALY_SCHEMA.names}
        values["root_cause"] = json.dumps(self.root_cause)
        values["also_seen_in"] = json.dumps(self.also_seen_in)
        return values


Finder = Callable[..., list["Candidate"]]


@dataclass(frozen=True)
class Detection:
    anomalies: list[Anomaly]
    series_scanned: int
    days_scanned: int


def detect(
    cubes: Sequence[Cube],
    settings: AnomalySettings,
    *,
    tag_dimensions: Sequence[str] = ("team", "env"),
    measure: str | None = None,
    finder: Finder | None = None,
    deduplicate_alerts: bool = True,
) -> Detection:
    """Every anomaly in the cubes' history, newest first.

    Args:
        finder: what finds the candidate anomalies in the series (``find_candidates`` by
            default); the benchmark passes its peers here, so that they share the series,
            thresholds, root cause and de-duplication.
    """
    measure = measure or settings.measure
    anomalies: list[Anomaly] = []
    scanned = days = 0
    for cube in cubes:
        if not cube.lines or len(cube.days) == 0:
            continue
        series = build_series(cube, tag_dimensions, settings.top_resources)
        values = np.stack([cube.cost[one.rows].sum(axis=0) for one in series])
        base = baseline(values, cube.days, settings)
        line_base = baseline(cube.cost, cube.days, settings, since_start=False)
        candidates = (finder or find_candidates)(series, values, cube.days, base, settings)
        for candidate in candidates:
            candidate.contributions = _contributions(candidate, cube, line_base)
        logger.info(
            "%s: %d series over %d days, %d candidate anomalies",
            cube.currency,
            len(series),
            len(cube.days),
            len(candidates),
        )
        if deduplicate_alerts:
            resource_of = [
                line["resource"] or f"{line['account']}|{line['region']}|{line['usage_type']}"
                for line in cube.lines
            ]
            clusters = _join_related(deduplicate(candidates, resource_of), cube, line_base)
        else:
            clusters = [Cluster([c]) for c in candidates if c.weight > 0]
        for cluster in clusters:
            anomalies.append(_anomaly(cluster, cube, values, base, series, measure))
        scanned += len(series)
        days = max(days, len(cube.days))
    anomalies.sort(key=lambda a: (a.first_day, a.impact), reverse=True)
    return Detection(anomalies, scanned, days)


def find_candidates(
    series: list[Series],
    values: np.ndarray,
    days: np.ndarray,
    base: Baseline,
    settings: AnomalySettings,
) -> list[Candidate]:
    """Spikes over the robust baseline, and leaks."""
    return _spikes(series, values, base, settings) + _trends(series, values, days, settings)


def flagged_candidates(
    series: list[Series],
    values: np.ndarray,
    expected: np.ndarray,
    hot: np.ndarray,
    score: np.ndarray,
    settings: AnomalySettings,
) -> list[Candidate]:
    """Runs of ``hot`` days that pass each dimension's thresholds against ``expected``."""
    found = []
    for index, one in enumerate(series):
        threshold = settings.threshold(one.dimension)
        excess = values[index] - expected[index]
        with np.errstate(divide="ignore", invalid="ignore"):
            relative = np.where(expected[index] > 0, excess / expected[index], np.inf)
        flags = hot[index] & (relative >= threshold.min_pct) & (excess >= threshold.daily)
        for first, last in _runs(flags):
            span = slice(first, last + 1)
            impact = excess[span].sum()
            total = expected[index, span].sum()
            if impact < threshold.min_impact or (total > 0 and impact / total < threshold.min_pct):
                continue
            found.append(
                Candidate(
                    "spike",
                    one,
                    first,
                    last,
                    first,
                    expected[index, span],
                    values[index, span],
                    float(np.max(score[index, span])),
                )
            )
    return found


def _anomaly(
    cluster: Cluster,
    cube: Cube,
    values: np.ndarray,
    base: Baseline,
    series: list[Series],
    measure: str,
) -> Anomaly:
    rep = cluster.representative()
    day = cube.days.astype(object)
    kind = cluster.kind
    expected, actual = float(rep.expected.sum()), float(rep.actual.sum())
    impact = actual - expected
    where = f"{rep.series.dimension}|{rep.series.value}|{day[rep.first]}"
    key = f"{cube.currency}|{measure}|{kind}|{where}"
    index = next(i for i, one in enumerate(series) if one is rep.series)

    context = range(max(0, rep.first - CONTEXT_DAYS), rep.last + 1)
    days = []
    for t in context:
        inside = rep.first <= t <= rep.last
        expected_t = (
            float(rep.expected[t - rep.first]) if inside else float(base.expected[index, t])
        )
        days.append((day[t], round(expected_t, 6), round(float(values[index, t]), 6), inside))
    seen = sorted(
        {f"{m.series.dimension}={m.series.value}" for m in cluster.members if m is not rep}
    )
    return Anomaly(
        anomaly_id=hashlib.sha1(key.encode()).hexdigest()[:16],
        kind=kind,
        dimension=rep.series.dimension,
        dimension_value=rep.series.value,
        first_day=day[rep.first],
        last_day=day[rep.last],
        detected_on=day[min(m.detected for m in cluster.members)],
        measure=measure,
        currency=cube.currency,
        expected_cost=round(expected, 2),
        actual_cost=round(actual, 2),
        impact=round(impact, 2),
        impact_pct=round(impact / expected, 4) if expected > 0 else None,
        score=round(rep.score, 2),
        projected_monthly_cost=(
            round(rep.projected_monthly_cost, 2) if rep.projected_monthly_cost else None
        ),
        root_cause=root_cause(rep, cube),
        also_seen_in=seen,
        days=days,
    )


# ---------------------------------------------------------------------------------------------
# The warehouse: read the built models, write Parquet, expose the views.
# ---------------------------------------------------------------------------------------------


def detect_warehouse(
    warehouse: Path,
    settings: AnomalySettings,
    *,
    tag_dimensions: Sequence[str] = ("team", "env"),
    measure: str | None = None,
    now: datetime | None = None,
) -> Detection:
    """Scan ``warehouse/finops.duckdb``, write ``warehouse/anomalies/*.parquet``, expose views.

    An anomaly seen by an earlier run keeps its ``detected_at``.

    Raises:
        WarehouseError: no ``finops.duckdb`` (run ``finops build``), or it cannot be read.
    """
    database = warehouse / "finops.duckdb"
    if not database.is_file():
        raise WarehouseError(f"{database}: no such file (run `finops build` first)")
    measure = measure or settings.measure
    try:
        connection = duckdb.connect(str(database), read_only=True, config=duckdb_config())
    except duckdb.Error as error:
        raise WarehouseError(f"{database}: cannot be opened: {error}") from error
    with connection:
        cubes = read_cubes(connection, measure)
    result = detect(cubes, settings, tag_dimensions=tag_dimensions, measure=measure)

    now = now or datetime.now(UTC)
    seen = _previous_detections(warehouse)
    stamped = [
        _with_detected_at(anomaly, seen.get(anomaly.anomaly_id, now))
        for anomaly in result.anomalies
    ]
    write(warehouse, stamped)
    create_views(database, warehouse)
    return Detection(stamped, result.series_scanned, result.days_scanned)


def _with_detected_at(anomaly: Anomaly, when: datetime) -> Anomaly:
    from dataclasses import replace

    return replace(anomaly, detected_at=when)


def _previous_detections(warehouse: Path) -> dict[str, datetime]:
    path = warehouse / FOLDER / ANOMALIES_FILE
    if not path.is_file():
        return {}
    table = pq.read_table(path, columns=["anomaly_id", "detected_at"])
    return dict(zip(table["anomaly_id"].to_pylist(), table["detected_at"].to_pylist(), strict=True))


def write(warehouse: Path, anomalies: Sequence[Anomaly]) -> None:
    """Replace ``anomalies/*.parquet`` atomically (written beside, then renamed)."""
    folder = warehouse / FOLDER
    folder.mkdir(exist_ok=True)
    anomalies_table = pa.Table.from_pylist([a.row() for a in anomalies], schema=ANOMALY_SCHEMA)
    days_table = pa.Table.from_pylist(
        [
            {
                "anomaly_id": a.anomaly_id,
                "usage_date": day,
                "expected_cost": expected,
                "actual_cost": actual,
                "in_anomaly": inside,
            }
            for a in anomalies
            for day, expected, actual, inside in a.days
        ],
        schema=DAYS_SCHEMA,
    )
    for name, table in ((ANOMALIES_FILE, anomalies_table), (DAYS_FILE, days_table)):
        temporary = folder / f".{name}.{uuid.uuid4().hex}"
        pq.write_table(table, temporary, compression="zstd")
        os.replace(temporary, folder / name)


def create_views(database: Path | duckdb.DuckDBPyConnection, warehouse: Path) -> None:
    """Create the views ``anomalies`` and ``anomaly_days`` over the Parquet files.

    Without files yet (no ``finops anomalies`` run), the views exist with their columns and no
    rows, so dashboards and queries do not fail. ``finops build`` calls this too.
    """
    if isinstance(database, duckdb.DuckDBPyConnection):
        _create_views(database, warehouse)
        return
    try:
        connection = duckdb.connect(str(database), config=duckdb_config())
    except duckdb.Error as error:
        raise WarehouseError(
            f"{database}: cannot add the anomalies views ({error}); close any session that "
            "holds it open, then run `finops anomalies` again"
        ) from error
    with connection:
        _create_views(connection, warehouse)


def _create_views(connection: duckdb.DuckDBPyConnection, warehouse: Path) -> None:
    for view, name, schema in (
        ("anomalies", ANOMALIES_FILE, ANOMALY_SCHEMA),
        ("anomaly_days", DAYS_FILE, DAYS_SCHEMA),
    ):
        path = (warehouse / FOLDER / name).resolve()
        if path.is_file():
            literal = "'" + str(path).replace("'", "''") + "'"
            source = f"SELECT * FROM read_parquet({literal})"
        else:
            columns = ", ".join(f"CAST(NULL AS {_duckdb_type(f.type)}) AS {f.name}" for f in schema)
            source = f"SELECT {columns} WHERE false"
        connection.execute(f"CREATE OR REPLACE VIEW {view} AS {source}")


def _duckdb_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_string(arrow_type):
        return "VARCHAR"
    if pa.types.is_float64(arrow_type):
        return "DOUBLE"
    if pa.types.is_date32(arrow_type):
        return "DATE"
    if pa.types.is_boolean(arrow_type):
        return "BOOLEAN"
    return "TIMESTAMPTZ"


def since_filter(anomalies: Sequence[Anomaly], since: date | None) -> list[Anomaly]:
    """The anomalies still going on or after ``since`` (their last day is on or after it)."""
    if since is None:
        return list(anomalies)
    return [a for a in anomalies if a.last_day >= since]


def as_json(anomalies: Sequence[Anomaly]) -> list[dict]:
    """The anomalies as JSON-ready dicts (dates as ISO text), for alerting."""
    out = []
    for anomaly in anomalies:
        row = anomaly.row()
        row["root_cause"] = anomaly.root_cause
        row["also_seen_in"] = anomaly.also_seen_in
        for key, value in row.items():
            if isinstance(value, date | datetime):
                row[key] = value.isoformat()
        out.append(row)
    return out


def yesterday() -> date:
    return (datetime.now(UTC) - timedelta(days=1)).date()
