"""Schedule evaluation: when a schedule wants resources running, and its last transition.

A schedule is a set of periods (weekdays, begin and end in local time) in its own time zone.
Each period occurrence is turned into two UTC instants with ``zoneinfo``, so daylight saving
is handled by the zone database, not by arithmetic:

- a boundary in the hour that the clocks skip (spring forward) happens when the clocks jump;
- a boundary in the hour that repeats (fall back) happens the first time that wall time comes.

Holidays are dates (local) on which no period begins. Resources are running inside any
period occurrence and stopped outside.

The scheduler acts on transitions: ``last_transition`` gives the latest instant, at or before
now, where the wanted state changed. A resource whose last-action tag already records that
instant is left alone, so a person who starts an instance by hand at night is not fought on
every run. (``enforce = true`` in a schedule corrects the state on every run instead.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from lambdas.config import Schedule

# How far back a transition is looked for. A schedule with no transition in this window (a
# long run of holidays, or one period covering every hour) has nothing to act on.
LOOKBACK_DAYS = 35
_TICK = timedelta(microseconds=1)


@dataclass(frozen=True)
class Transition:
    at: datetime  # UTC
    running: bool  # the state wanted from ``at`` on

    @property
    def action(self) -> str:
        return "start" if self.running else "stop"


def to_utc(day: date, wall: time | None, zone: ZoneInfo) -> datetime:
    """The UTC instant of a local wall time (None: midnight ending ``day``), DST-aware."""
    if wall is None:
        day, wall = day + timedelta(days=1), time(0, 0)
    local = datetime.combine(day, wall, tzinfo=zone)  # fold=0: the first of a repeated time
    instant = local.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == local.replace(tzinfo=None):
        return instant
    # A wall time in the gap of a spring-forward: it never happens, so the boundary is the
    # jump itself, found between the two readings of the wall time (fold=1 then fold=0).
    low = local.replace(fold=1).astimezone(UTC)
    high = instant
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).utcoffset() == low.astimezone(zone).utcoffset():
            low = middle
        else:
            high = middle
    return high.replace(microsecond=0)


def occurrences(schedule: Schedule, start: date, stop: date) -> list[tuple[datetime, datetime]]:
    """Every period occurrence that begins on a local date from ``start`` to ``stop``."""
    intervals = []
    day = start
    while day <= stop:
        if day not in schedule.holidays:
            for period in schedule.periods:
                if day.weekday() not in period.days:
                    continue
                begin = to_utc(day, period.begin, schedule.timezone)
                spans_midnight = period.end is not None and period.end <= period.begin
                end_day = day + timedelta(days=1) if spans_midnight else day
                end = to_utc(end_day, period.end, schedule.timezone)
                intervals.append((begin, end))
        day += timedelta(days=1)
    return intervals


def wants_running(schedule: Schedule, now: datetime) -> bool:
    """Whether the schedule wants resources running at ``now`` (an aware datetime)."""
    local_day = now.astimezone(schedule.timezone).date()
    intervals = occurrences(schedule, local_day - timedelta(days=1), local_day)
    return any(begin <= now < end for begin, end in intervals)


def last_transition(
    schedule: Schedule, now: datetime, lookback_days: int = LOOKBACK_DAYS
) -> Transition | None:
    """The latest change of the wanted state at or before ``now``; None within the window."""
    now = now.astimezone(UTC)
    local_day = now.astimezone(schedule.timezone).date()
    intervals = occurrences(schedule, local_day - timedelta(days=lookback_days + 1), local_day)

    def running(instant: datetime) -> bool:
        return any(begin <= instant < end for begin, end in intervals)

    boundaries = sorted({edge for interval in intervals for edge in interval if edge <= now})
    for boundary in reversed(boundaries):
        wanted = running(boundary)
        # Back-to-back periods (08-12, 12-19) share a boundary where nothing changes.
        if wanted != running(boundary - _TICK):
            return Transition(boundary, wanted)
    return None
