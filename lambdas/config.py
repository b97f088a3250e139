"""The Lambdas' configuration: one TOML or JSON document, read once per cold start.

Where it comes from (``load``): a path, an ``s3://bucket/key`` URL, or JSON text; the handlers
take it from the ``FINOPS_ACT_CONFIG`` environment variable. Example (TOML)::

    apply = false                      # dry-run unless this is true
    regions = ["eu-west-1", "us-east-1"]
    audit_log = "s3://finops-audit-123/finops"   # JSON lines per run; stdout always
    execution_log = "s3://finops-audit-123/finops/executions"

    [[accounts]]                       # none: the function's own account only
    account_id = "111122223333"
    role_arn = "arn:aws:iam::111122223333:role/finops-actions"

    [production]                       # resources tagged like this are never touched ...
    tag_keys = ["env", "environment"]
    values = ["prod", "production"]

    [blast_radius.cleanup]             # ... and a run changes no more than this
    max_count = 20
    max_percent = 50

    [schedules.office-hours]
    timezone = "Europe/London"
    periods = [{ days = "mon-fri", begin = "08:00", end = "19:00" }]
    holidays = ["2026-12-25", "2026-12-28"]
    mode = "both"                      # or "stop-only", "start-only"
    enforce = false                    # true: correct the state every run, not only on change
    production = false                 # true: this schedule may stop production resources

    [cleanup.unattached_volumes]
    min_age_days = 14
    grace_days = 7

    [plan]
    location = "s3://finops-plans/latest/action_plan.json"
    max_age_days = 7                   # an older plan is refused: the evidence is stale

Unknown keys are refused with their name, so a typo never silently turns a rule off.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from lambdas.errors import ConfigError

ENV_VAR = "FINOPS_ACT_CONFIG"
MODES = ("both", "stop-only", "start-only")
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CLEANUP_KINDS = (
    "unattached_volumes",
    "old_snapshots",
    "elastic_ips",
    "network_interfaces",
    "idle_load_balancers",
)
FUNCTIONS = ("scheduler", "cleanup", "plan")
#: The top-level settings; any other key is refused by name.
SETTINGS = frozenset(
    {
        "apply",
        "regions",
        "accounts",
        "audit_log",
        "execution_log",
        "plan",
        "protect_tag",
        "schedule_tag",
        "production",
        "blast_radius",
        "schedules",
        "cleanup",
        "notify_topic_arn",
    }
)
# A plan is a week of evidence at most: past that, resources have changed hands and the CUR
# the recommendations came from no longer describes them.
DEFAULT_PLAN_MAX_AGE_DAYS = 7
_ACCOUNT = re.compile(r"^[0-9]{12}$")
_CLOCK = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$|^24:00$")
# Ten years: a longer grace period or age is a typo, and far-off dates overflow datetime.
MAX_DAYS = 3650

# Conservative defaults: a scheduler stops whole fleets at once by design, a clean-up should not.
_DEFAULT_BLAST_RADIUS = {
    "scheduler": (200, 100.0),
    "cleanup": (20, 50.0),
    "plan": (20, 100.0),
}
# (min_age_days, grace_days) per clean-up kind.
_DEFAULT_CLEANUP = {
    "unattached_volumes": (14, 7),
    "old_snapshots": (90, 7),
    "elastic_ips": (0, 7),
    "network_interfaces": (7, 7),
    "idle_load_balancers": (14, 7),
}


@dataclass(frozen=True)
class Target:
    """One account to act in: its id (None: whatever the credentials are) and a role to assume."""

    account_id: str | None = None
    role_arn: str | None = None


@dataclass(frozen=True)
class Production:
    """How production is recognised: any of these tag keys (case-insensitive) with these values."""

    tag_keys: tuple[str, ...] = ("env", "environment", "stage")
    values: tuple[str, ...] = ("prod", "production", "prd")


@dataclass(frozen=True)
class BlastRadius:
    """The most one run may change: a count, and a percent of the resources of a kind.

    The percent applies to a kind only when at least ``min_population`` resources of it were
    looked at: one volume out of two is 50 %, which says nothing about a runaway rule.
    """

    max_count: int
    max_percent: float
    min_population: int = 10


@dataclass(frozen=True)
class Period:
    """Running time on some weekdays: from ``begin`` to ``end`` local time.

    ``end`` before ``begin`` runs past midnight into the next day; ``24:00`` is midnight.
    """

    days: frozenset[int]
    begin: time
    end: time | None  # None: midnight at the end of the day


@dataclass(frozen=True)
class Schedule:
    name: str
    timezone: ZoneInfo
    periods: tuple[Period, ...]
    holidays: frozenset[date] = frozenset()
    mode: str = "both"
    enforce: bool = False
    production: bool = False


@dataclass(frozen=True)
class CleanupRule:
    kind: str
    enabled: bool = True
    min_age_days: int = 14
    grace_days: int = 7
    production: bool = False
    snapshot_retention_days: int = 90  # unattached_volumes: how long the final snapshot stays


@dataclass(frozen=True)
class Config:
    apply: bool = False
    regions: tuple[str, ...] = ()
    accounts: tuple[Target, ...] = (Target(),)
    audit_log: str | None = None
    execution_log: str | None = None
    plan_location: str | None = None
    plan_max_age_days: int = DEFAULT_PLAN_MAX_AGE_DAYS
    protect_tag: str = "finops:protect"
    schedule_tag: str = "finops:schedule"
    production: Production = Production()
    blast_radius: dict[str, BlastRadius] = field(default_factory=dict)
    schedules: dict[str, Schedule] = field(default_factory=dict)
    cleanup: dict[str, CleanupRule] = field(default_factory=dict)
    notify_topic_arn: str | None = None

    def limits(self, function: str) -> BlastRadius:
        if function in self.blast_radius:
            return self.blast_radius[function]
        count, percent = _DEFAULT_BLAST_RADIUS[function]
        return BlastRadius(count, percent)

    def rule(self, kind: str) -> CleanupRule:
        if kind in self.cleanup:
            return self.cleanup[kind]
        min_age, grace = _DEFAULT_CLEANUP[kind]
        return CleanupRule(kind, min_age_days=min_age, grace_days=grace)


def load(source: str | Path | None = None, *, s3_client: Any = None) -> Config:
    """Read the configuration from a file, an ``s3://`` URL, JSON text, or ``$FINOPS_ACT_CONFIG``.

    No source at all gives the defaults: dry-run, the current account and region, no schedule.
    """
    source = source if source is not None else os.environ.get(ENV_VAR)
    if source is None or str(source).strip() == "":
        return parse({}, "defaults")
    text, where = _read(str(source), s3_client)
    try:
        raw = json.loads(text) if text.lstrip().startswith("{") else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"{where}: not valid TOML or JSON ({error})") from None
    return parse(raw, where)


def parse(raw: dict[str, Any], where: str = "config") -> Config:
    """Check and convert a configuration document; errors name the key and what was expected."""
    _no_unknown(raw, set(SETTINGS), where)
    apply = raw.get("apply", False)
    if not isinstance(apply, bool):
        raise ConfigError(f"{where}: apply must be true or false, not {apply!r}")
    plan = raw.get("plan", {})
    _no_unknown(plan, {"location", "max_age_days"}, f"{where}: [plan]")
    max_age = plan.get("max_age_days", DEFAULT_PLAN_MAX_AGE_DAYS)
    if not isinstance(max_age, int) or isinstance(max_age, bool) or max_age < 1:
        raise ConfigError(
            f"{where}: plan.max_age_days must be a whole number >= 1, not {max_age!r}"
        )

    return Config(
        apply=apply,
        regions=tuple(_strings(raw.get("regions", []), f"{where}: regions")),
        accounts=_accounts(raw.get("accounts"), where),
        audit_log=raw.get("audit_log"),
        execution_log=raw.get("execution_log"),
        plan_location=plan.get("location"),
        plan_max_age_days=max_age,
        # An empty key would match no tag: the opt-out, or the scheduler, silently off.
        protect_tag=_tag_key(raw.get("protect_tag", "finops:protect"), f"{where}: protect_tag"),
        schedule_tag=_tag_key(raw.get("schedule_tag", "finops:schedule"), f"{where}: schedule_tag"),
        production=_production(raw.get("production", {}), where),
        blast_radius={
            name: _blast_radius(name, value, where)
            for name, value in raw.get("blast_radius", {}).items()
        },
        schedules={
            name: _schedule(name, value, where) for name, value in raw.get("schedules", {}).items()
        },
        cleanup={
            kind: _cleanup_rule(kind, value, where)
            for kind, value in raw.get("cleanup", {}).items()
        },
        notify_topic_arn=raw.get("notify_topic_arn"),
    )


def parse_days(value: str | list[str], where: str) -> frozenset[int]:
    """``"mon-fri"``, ``"sat,sun"``, ``["mon", "wed"]`` or ``"daily"`` -> weekday numbers."""
    items = value if isinstance(value, list) else str(value).split(",")
    days: set[int] = set()
    for item in (str(item).strip().lower() for item in items):
        if item in ("daily", "*", "all"):
            days.update(range(7))
        elif "-" in item:
            first, _, last = item.partition("-")
            start, stop = _day(first, where), _day(last, where)
            days.update(
                range(start, stop + 1) if start <= stop else [*range(start, 7), *range(stop + 1)]
            )
        else:
            days.add(_day(item, where))
    if not days:
        raise ConfigError(f"{where}: days is empty (expected e.g. 'mon-fri')")
    return frozenset(days)


def _read(source: str, s3_client: Any) -> tuple[str, str]:
    if source.lstrip().startswith("{"):
        # Given inline, on the command line or in the environment variable: either may be it.
        return source, "the JSON configuration"
    if source.startswith("s3://"):
        from lambdas.storage import read_text

        return read_text(source, s3_client), source
    path = Path(source)
    try:
        return path.read_text(encoding="utf-8"), str(path)
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the configuration ({error.strerror})") from None


def _no_unknown(raw: Any, known: set[str], where: str) -> None:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a table of settings, not {raw!r}")
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(
            f"{where}: unknown setting {unknown[0]!r} (expected one of {sorted(known)})"
        )


def _strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise ConfigError(f"{where}: expected a list of names, not {value!r}")
    return value


def _tag_key(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: expected a tag key such as 'finops:protect', not {value!r}")
    return value


def _accounts(value: Any, where: str) -> tuple[Target, ...]:
    if value is None:
        return (Target(),)
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}: accounts must be a non-empty list of tables")
    targets = []
    for position, item in enumerate(value, start=1):
        here = f"{where}: accounts[{position}]"
        _no_unknown(item, {"account_id", "role_arn"}, here)
        account = item.get("account_id")
        if account is not None and not _ACCOUNT.match(str(account)):
            raise ConfigError(f"{here}: account_id {account!r} is not a 12-digit account id")
        targets.append(Target(str(account) if account else None, item.get("role_arn")))
    return tuple(targets)


def _production(value: Any, where: str) -> Production:
    _no_unknown(value, {"tag_keys", "values"}, f"{where}: [production]")
    defaults = Production()
    keys = _strings(value.get("tag_keys", list(defaults.tag_keys)), f"{where}: production.tag_keys")
    values = _strings(value.get("values", list(defaults.values)), f"{where}: production.values")
    # An empty list recognises no production resource at all: the rule silently off.
    for name, names in (("tag_keys", keys), ("values", values)):
        if not names or not all(item.strip() for item in names):
            raise ConfigError(
                f"{where}: production.{name} must name at least one (non-blank) value, "
                f"not {names!r}"
            )
    return Production(tuple(k.lower() for k in keys), tuple(v.lower() for v in values))


def _blast_radius(name: str, value: Any, where: str) -> BlastRadius:
    here = f"{where}: blast_radius.{name}"
    if name not in FUNCTIONS:
        raise ConfigError(f"{here}: unknown function (expected one of {list(FUNCTIONS)})")
    _no_unknown(value, {"max_count", "max_percent", "min_population"}, here)
    default_count, default_percent = _DEFAULT_BLAST_RADIUS[name]
    count = value.get("max_count", default_count)
    percent = value.get("max_percent", default_percent)
    population = value.get("min_population", 10)
    count = _whole(count, f"{here}: max_count", minimum=0)
    population = _whole(population, f"{here}: min_population", minimum=0)
    # bool is an int in Python: `max_percent = true` would be read as 1 %.
    if isinstance(percent, bool) or not isinstance(percent, int | float) or not 0 <= percent <= 100:
        raise ConfigError(f"{here}: max_percent must be between 0 and 100, not {percent!r}")
    return BlastRadius(count, float(percent), population)


def _schedule(name: str, value: Any, where: str) -> Schedule:
    here = f"{where}: schedules.{name}"
    _no_unknown(value, {"timezone", "periods", "holidays", "mode", "enforce", "production"}, here)
    try:
        zone = ZoneInfo(value.get("timezone", "UTC"))
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"{here}: unknown time zone {value.get('timezone')!r} (expected e.g. 'Europe/London')"
        ) from None
    periods = value.get("periods")
    if not isinstance(periods, list) or not periods:
        raise ConfigError(f"{here}: periods must be a non-empty list")
    mode = value.get("mode", "both")
    if mode not in MODES:
        raise ConfigError(f"{here}: mode {mode!r} (expected one of {list(MODES)})")
    holidays = set()
    for text in value.get("holidays", []):
        try:
            holidays.add(date.fromisoformat(str(text)))
        except ValueError:
            raise ConfigError(
                f"{here}: holiday {text!r} is not a date (expected YYYY-MM-DD)"
            ) from None
    return Schedule(
        name=name,
        timezone=zone,
        periods=tuple(_period(item, f"{here}.periods[{i}]") for i, item in enumerate(periods, 1)),
        holidays=frozenset(holidays),
        mode=mode,
        enforce=_flag(value.get("enforce", False), f"{here}: enforce"),
        production=_flag(value.get("production", False), f"{here}: production"),
    )


def _period(value: Any, where: str) -> Period:
    _no_unknown(value, {"days", "begin", "end"}, where)
    begin = _clock(value.get("begin", "00:00"), where, "begin")
    end = _clock(value.get("end", "24:00"), where, "end")
    if begin is None:
        raise ConfigError(f"{where}: begin may not be 24:00")
    if begin == end:
        raise ConfigError(
            f"{where}: begin and end are both {begin:%H:%M}, a period of no time (for a whole "
            "day use begin = '00:00', end = '24:00')"
        )
    return Period(parse_days(value.get("days", "daily"), where), begin, end)


def _clock(text: Any, where: str, name: str) -> time | None:
    match = _CLOCK.match(str(text))
    if not match:
        raise ConfigError(f"{where}: {name} {text!r} is not a time of day (expected HH:MM)")
    if str(text) == "24:00":
        return None
    return time(int(match.group(1)), int(match.group(2)))


def _day(name: str, where: str) -> int:
    key = name.strip().lower()[:3]
    if key not in DAY_NAMES:
        raise ConfigError(f"{where}: {name!r} is not a weekday (expected mon, tue, ... sun)")
    return DAY_NAMES.index(key)


def _cleanup_rule(kind: str, value: Any, where: str) -> CleanupRule:
    here = f"{where}: cleanup.{kind}"
    if kind not in CLEANUP_KINDS:
        raise ConfigError(f"{here}: unknown clean-up kind (expected one of {list(CLEANUP_KINDS)})")
    _no_unknown(
        value,
        {"enabled", "min_age_days", "grace_days", "production", "snapshot_retention_days"},
        here,
    )
    default_age, default_grace = _DEFAULT_CLEANUP[kind]
    numbers = {
        "min_age_days": value.get("min_age_days", default_age),
        "grace_days": value.get("grace_days", default_grace),
        "snapshot_retention_days": value.get("snapshot_retention_days", 90),
    }
    for name, number in numbers.items():
        _whole(number, f"{here}: {name}", minimum=0, maximum=MAX_DAYS)
    return CleanupRule(
        kind=kind,
        enabled=_flag(value.get("enabled", True), f"{here}: enabled"),
        production=_flag(value.get("production", False), f"{here}: production"),
        **numbers,
    )


def _flag(value: Any, where: str) -> bool:
    """A TOML/JSON boolean; a string such as "false" would be true to ``bool()``."""
    if not isinstance(value, bool):
        raise ConfigError(f"{where} must be true or false, not {value!r}")
    return value


def _whole(value: Any, where: str, *, minimum: int, maximum: int | None = None) -> int:
    """A whole number in range; ``true`` is refused, though Python counts it as the int 1."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < minimum
        or (maximum is not None and value > maximum)
    ):
        bounds = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
        raise ConfigError(f"{where} must be a whole number {bounds}, not {value!r}")
    return value
