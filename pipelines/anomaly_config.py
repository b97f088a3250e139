"""The ``[anomalies]`` section of ``finops.toml``: what the anomaly detector alerts on.

Like AWS Cost Anomaly Detection's monitors, an alert needs both an absolute impact (dollars above
expected over the anomaly's days) and a relative one (percent above expected), set per
dimension::

    [anomalies]
    measure = "amortized_cost"        # or unblended_cost, net_amortized_cost, ...
    lookback_days = 28                # the baseline's window
    min_history_days = 14             # a series younger than this alerts only through its parents
    z_threshold = 3.5                 # robust z-score a day must pass to count as anomalous
    top_resources = 200               # resources scanned as series of their own, per currency
    trend_window_days = 14            # a leak must rise steadily over this many days
    trend_min_pct = 0.3               # ... by at least this share of its level before

    [anomalies.thresholds.service]    # total, account, service, region, usage_type, tag, resource
    min_impact = 50                   # dollars (in the series' currency) over the anomaly
    min_pct = 0.2                     # impact / expected cost over the anomaly
    min_daily_impact = 12.5           # dollars one day must be above expected (min_impact / 4)

    [anomalies.notify]
    sns_topic_arn = "arn:aws:sns:eu-west-1:123456789012:cost-anomalies"
    webhook_url = "https://hooks.slack.com/services/..."

Kept apart from ``pipelines.config`` (which reads the file and calls :func:`anomaly_settings`)
so that the anomaly options live next to their validation.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pipelines.errors import ConfigError

#: The dimensions scanned, coarse to fine; ``tag`` stands for every showback tag dimension.
DIMENSIONS = ("total", "account", "region", "tag", "service", "usage_type", "resource")
#: The cost columns of stg_line_items a detection can run on.
MEASURES = (
    "amortized_cost",
    "unblended_cost",
    "net_amortized_cost",
    "net_unblended_cost",
    "public_on_demand_cost",
)


@dataclass(frozen=True)
class Threshold:
    """What an anomaly of one dimension needs to alert: both must hold.

    Args:
        min_impact: cost above expected over the anomaly's days, in its currency.
        min_pct: that impact as a share of the expected cost (0.2 = 20% above expected).
        min_daily_impact: what one day must be above expected to count as an anomalous day
            (and, for a leak, its projected excess per day); ``None`` is a quarter of
            ``min_impact``. It keeps small changes that last (a new small resource) from adding
            up to an alert while the baseline catches up.
    """

    min_impact: float
    min_pct: float
    min_daily_impact: float | None = None

    @property
    def daily(self) -> float:
        """The effective minimum excess of one day."""
        if self.min_daily_impact is not None:
            return self.min_daily_impact
        return self.min_impact / 4


DEFAULT_THRESHOLDS: Mapping[str, Threshold] = MappingProxyType(
    {
        "total": Threshold(100.0, 0.10),
        "account": Threshold(100.0, 0.15),
        "region": Threshold(75.0, 0.20),
        "tag": Threshold(75.0, 0.20),
        "service": Threshold(50.0, 0.20),
        "usage_type": Threshold(50.0, 0.25),
        "resource": Threshold(50.0, 0.30),
    }
)


@dataclass(frozen=True)
class AnomalySettings:
    """The detector's settings; the defaults are what ``finops.toml`` leaves out."""

    measure: str = "amortized_cost"
    lookback_days: int = 28
    min_history_days: int = 14
    z_threshold: float = 3.5
    top_resources: int = 200
    trend_window_days: int = 14
    trend_min_pct: float = 0.3
    thresholds: Mapping[str, Threshold] = field(default_factory=lambda: DEFAULT_THRESHOLDS)
    sns_topic_arn: str | None = None
    webhook_url: str | None = None

    def threshold(self, dimension: str) -> Threshold:
        """The threshold of ``dimension`` (``tag:team`` uses ``tag``)."""
        return self.thresholds[dimension.split(":", 1)[0]]


_NUMBERS = {
    "lookback_days": (int, 7, 366),
    "min_history_days": (int, 1, 366),
    "z_threshold": (float, 0.5, 100.0),
    "top_resources": (int, 0, 100_000),
    "trend_window_days": (int, 7, 60),
    "trend_min_pct": (float, 0.01, 100.0),
}
_KEYS = ("measure", *_NUMBERS, "thresholds", "notify")


def anomaly_settings(section: Any, path: Path) -> AnomalySettings:
    """Read the ``[anomalies]`` table of ``path`` over the defaults.

    Raises:
        ConfigError: an unknown option, a value of the wrong type or out of range; the message
            names the file and the key.
    """
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: anomalies: expected a table ([anomalies])")
    _known(section, _KEYS, path, "anomalies.")
    values: dict[str, Any] = {}

    if "measure" in section:
        measure = section["measure"]
        if measure not in MEASURES:
            raise ConfigError(
                f"{path}: anomalies.measure: {measure!r} is not a cost column "
                f"(expected one of {', '.join(MEASURES)})"
            )
        values["measure"] = measure
    for key, (kind, low, high) in _NUMBERS.items():
        if key in section:
            values[key] = _number(section[key], kind, low, high, path, f"anomalies.{key}")

    thresholds = dict(DEFAULT_THRESHOLDS)
    table = section.get("thresholds", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: anomalies.thresholds: expected tables per dimension")
    _known(table, DIMENSIONS, path, "anomalies.thresholds.")
    for dimension, options in table.items():
        where = f"anomalies.thresholds.{dimension}"
        if not isinstance(options, dict):
            raise ConfigError(f"{path}: {where}: expected a table with min_impact and min_pct")
        _known(options, ("min_impact", "min_pct", "min_daily_impact"), path, f"{where}.")
        default = DEFAULT_THRESHOLDS[dimension]
        daily = options.get("min_daily_impact")
        thresholds[dimension] = Threshold(
            _number(options.get("min_impact", default.min_impact), float, 0, 1e12, path,
                    f"{where}.min_impact"),
            _number(options.get("min_pct", default.min_pct), float, 0, 1e6, path,
                    f"{where}.min_pct"),
            None if daily is None else _number(daily, float, 0, 1e12, path,
                                               f"{where}.min_daily_impact"),
        )  # fmt: skip
    values["thresholds"] = MappingProxyType(thresholds)

    notify = section.get("notify", {})
    if not isinstance(notify, dict):
        raise ConfigError(f"{path}: anomalies.notify: expected a table")
    _known(notify, ("sns_topic_arn", "webhook_url"), path, "anomalies.notify.")
    topic, url = notify.get("sns_topic_arn"), notify.get("webhook_url")
    if topic is not None and not (isinstance(topic, str) and topic.startswith("arn:")):
        raise ConfigError(f"{path}: anomalies.notify.sns_topic_arn: expected an SNS topic ARN")
    if url is not None and not (isinstance(url, str) and url.startswith(("https://", "http://"))):
        raise ConfigError(f"{path}: anomalies.notify.webhook_url: expected an http(s) URL")
    values["sns_topic_arn"], values["webhook_url"] = topic, url
    return AnomalySettings(**values)


def _number(value: Any, kind: type, low: float, high: float, path: Path, where: str):
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{path}: {where}: {value!r} is not a number")
    if kind is int and not isinstance(value, int):
        raise ConfigError(f"{path}: {where}: {value!r} is not a whole number")
    if not low <= value <= high:
        raise ConfigError(f"{path}: {where}: {value!r} is out of range (expected {low}..{high})")
    return kind(value)


def _known(table: dict[str, Any], known: tuple[str, ...], path: Path, prefix: str) -> None:
    for key in table:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"{path}: {prefix}{key}: unknown option (expected one of {', '.join(known)}){hint}"
            )
