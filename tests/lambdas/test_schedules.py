"""Schedule evaluation in the schedule's own time zone: DST switches, holidays, midnight."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lambdas.config import parse
from lambdas.errors import ConfigError
from lambdas.schedules import last_transition, to_utc, wants_running


def schedule(periods, timezone="Europe/London", **extra):  # noqa: ANN001, ANN003, ANN201
    raw = {"schedules": {"s": {"timezone": timezone, "periods": periods, **extra}}}
    return parse(raw).schedules["s"]


OFFICE = [{"days": "mon-fri", "begin": "08:00", "end": "19:00"}]


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_start_follows_local_time_across_the_spring_switch():
    office = schedule(OFFICE)
    # Friday 27 March 2026 is GMT (UTC+0): 08:00 local is 08:00 UTC.
    assert last_transition(office, utc(2026, 3, 27, 8, 1)).at == utc(2026, 3, 27, 8, 0)
    assert not wants_running(office, utc(2026, 3, 27, 7, 59))
    # Monday 30 March is BST (UTC+1) after the switch on Sunday 29 March: 08:00 is 07:00 UTC.
    transition = last_transition(office, utc(2026, 3, 30, 7, 1))
    assert (transition.at, transition.action) == (utc(2026, 3, 30, 7, 0), "start")
    assert wants_running(office, utc(2026, 3, 30, 7, 0))


def test_stop_follows_local_time_across_the_autumn_switch():
    office = schedule(OFFICE)
    # Friday 23 October: BST, 19:00 local is 18:00 UTC.
    assert last_transition(office, utc(2026, 10, 23, 18, 30)).at == utc(2026, 10, 23, 18, 0)
    # Monday 26 October: GMT again after Sunday 25 October, 08:00 local is 08:00 UTC.
    transition = last_transition(office, utc(2026, 10, 26, 7, 30))
    assert (transition.at, transition.action) == (utc(2026, 10, 23, 18, 0), "stop")
    assert last_transition(office, utc(2026, 10, 26, 8, 0)).action == "start"


def test_a_boundary_in_the_skipped_hour_happens_when_the_clocks_jump():
    # 01:30 does not exist in London on 29 March 2026: clocks go from 01:00 GMT to 02:00 BST.
    night = schedule([{"days": "sun", "begin": "01:30", "end": "05:00"}])
    assert to_utc(
        datetime(2026, 3, 29).date(), datetime(2026, 1, 1, 1, 30).time(), night.timezone
    ) == utc(2026, 3, 29, 1, 0)
    assert last_transition(night, utc(2026, 3, 29, 1, 0)).action == "start"
    assert not wants_running(night, utc(2026, 3, 29, 0, 59))


def test_a_boundary_in_the_repeated_hour_happens_the_first_time():
    # 01:30 happens twice in London on 25 October 2026: first at 00:30 UTC (BST).
    night = schedule([{"days": "sat", "begin": "22:00", "end": "01:30"}])
    transition = last_transition(night, utc(2026, 10, 25, 1, 45))
    assert (transition.at, transition.action) == (utc(2026, 10, 25, 0, 30), "stop")
    assert not wants_running(night, utc(2026, 10, 25, 1, 15))  # 01:15 GMT, the second pass


def test_holidays_begin_no_period():
    office = schedule(OFFICE, holidays=["2026-12-25"])
    # Friday 25 December is a holiday: the last transition at noon is Thursday's stop.
    transition = last_transition(office, utc(2026, 12, 25, 12, 0))
    assert (transition.at, transition.action) == (utc(2026, 12, 24, 19, 0), "stop")
    assert not wants_running(office, utc(2026, 12, 25, 12, 0))
    assert last_transition(office, utc(2026, 12, 28, 8, 5)).action == "start"


def test_a_period_past_midnight_runs_into_the_next_day():
    nights = schedule([{"days": "fri", "begin": "22:00", "end": "06:00"}], timezone="UTC")
    assert wants_running(nights, utc(2026, 12, 5, 3, 0))  # Saturday 03:00, Friday's period
    assert last_transition(nights, utc(2026, 12, 5, 6, 30)).at == utc(2026, 12, 5, 6, 0)


def test_back_to_back_periods_have_no_transition_between_them():
    split = schedule(
        [
            {"days": "daily", "begin": "08:00", "end": "12:00"},
            {"days": "daily", "begin": "12:00", "end": "19:00"},
        ],
        timezone="UTC",
    )
    assert last_transition(split, utc(2026, 12, 2, 13, 0)).at == utc(2026, 12, 2, 8, 0)


def test_other_time_zones_use_their_own_rules():
    # New York switches on 8 March 2026, three weeks before London.
    office = schedule(OFFICE, timezone="America/New_York")
    assert last_transition(office, utc(2026, 3, 9, 12, 5)).at == utc(2026, 3, 9, 12, 0)  # EDT
    assert last_transition(office, utc(2026, 3, 6, 13, 5)).at == utc(2026, 3, 6, 13, 0)  # EST


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"timezone": "Mars/Olympus", "periods": OFFICE}, "unknown time zone 'Mars/Olympus'"),
        ({"periods": [{"days": "mon-fry", "begin": "08:00"}]}, "'fry' is not a weekday"),
        ({"periods": [{"begin": "8am"}]}, "begin '8am' is not a time of day"),
        ({"periods": OFFICE, "mode": "stop"}, "mode 'stop'"),
        ({"periods": OFFICE, "holidays": ["25/12/2026"]}, "holiday '25/12/2026' is not a date"),
        ({"periods": OFFICE, "enforced": True}, "unknown setting 'enforced'"),
    ],
)
def test_bad_schedules_are_refused_with_their_name(raw, message):  # noqa: ANN001
    with pytest.raises(ConfigError) as raised:
        parse({"schedules": {"office": raw}}, "finops-act.toml")
    assert "finops-act.toml: schedules.office" in str(raised.value)
    assert message in str(raised.value)
