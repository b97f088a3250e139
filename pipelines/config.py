"""The user's settings, read from ``finops.toml`` and merged over the shipped defaults.

The defaults live in the reference seeds ``queries/seeds/tag_key_aliases.csv`` and
``queries/seeds/tag_value_aliases.csv``, so there is one place that says which tag keys mean
``team`` and ``env``. ``finops.toml`` changes them per installation; ``finops.toml.example``
documents every option::

    [tags.team]
    keys = ["team", "owner_team", "squad"]   # highest priority first; replaces the default list
    values = { "platform-eng" = "platform" } # added to the default value aliases

    [tags.cost_center]                        # a new dimension
    keys = ["cost_center", "costcentre"]

    [business_units]                          # account -> business unit (showback dimension)
    "111111111111" = "retail"

    [shared_costs]                            # spend split across the values of each dimension
    method = "proportional"                   # proportional | even | weights
    [shared_costs.rules.support]
    product_codes = ["AWSSupportBusiness", "AWSSupportEnterprise"]
    [shared_costs.dimensions.team]
    method = "weights"
    weights = { payments = 0.6, search = 0.4 }

Notes:
    Tag keys are compared folded (:func:`fold_tag_key`): lower case, a leading ``user:`` or
    ``user_`` removed, and ``:``, ``_``, ``-`` and spaces removed, so ``user:Team`` (legacy
    CSV), ``user_team`` (Athena Parquet) and ``Team`` are one key. Staging folds the source
    keys with the same rule in SQL; ``tests/pipelines/test_config.py`` pins that both agree.
"""

from __future__ import annotations

import csv
import difflib
import io
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from importlib.resources import files
from importlib.util import find_spec
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pipelines.anomaly_config import AnomalySettings, anomaly_settings
from pipelines.errors import ConfigError, FinopsError

#: Read by ``load_config(None)`` when it exists in the working directory.
DEFAULT_CONFIG_FILE = Path("finops.toml")

KEY_ALIAS_SEED = "tag_key_aliases"
VALUE_ALIAS_SEED = "tag_value_aliases"
BUSINESS_UNIT_SEED = "account_business_units"
SHARED_RULE_SEED = "shared_cost_rules"
SHARED_SPLIT_SEED = "shared_cost_splits"
SHARED_WEIGHT_SEED = "shared_cost_weights"

#: The tables the build writes from the configuration (not from a CSV file): name -> columns.
CONFIGURED_SEEDS: dict[str, tuple[tuple[str, str], ...]] = {
    KEY_ALIAS_SEED: (("dimension", "VARCHAR"), ("alias", "VARCHAR"), ("priority", "INTEGER")),
    VALUE_ALIAS_SEED: (("dimension", "VARCHAR"), ("value", "VARCHAR"), ("canonical", "VARCHAR")),
    BUSINESS_UNIT_SEED: (("account_id", "VARCHAR"), ("business_unit", "VARCHAR")),
    SHARED_RULE_SEED: (("rule", "VARCHAR"), ("criterion", "VARCHAR"), ("pattern", "VARCHAR")),
    SHARED_SPLIT_SEED: (("dimension", "VARCHAR"), ("method", "VARCHAR")),
    SHARED_WEIGHT_SEED: (("dimension", "VARCHAR"), ("value", "VARCHAR"), ("weight", "DOUBLE")),
}

#: The showback dimension that the account -> business unit map gives.
BUSINESS_UNIT_DIMENSION = "business_unit"
#: How a shared cost is split across the values of a dimension.
SHARED_COST_METHODS = ("proportional", "even", "weights")
#: AWS Support plans' product codes (line_item_product_code), for a rule's ``product_codes``.
AWS_SUPPORT_PRODUCT_CODES = (
    "AWSDeveloperSupport",
    "AWSSupportBusiness",
    "AWSSupportEnterprise",
    "AWSSupportEnterpriseOnRamp",
    "OCBPremiumSupport",
)

_DIMENSION_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_USER_PREFIX = re.compile(r"^user[:_]")
_KEY_SEPARATORS = re.compile(r"[-:_ ]")

#: finops.toml sections of numeric parameters -> the seed table whose defaults they override.
PARAMETER_SECTIONS = {"recommendations": "recommendation_parameters", "carbon": "carbon_parameters"}
#: The columns of those seeds: each parameter's default and its valid range.
PARAMETER_SEED_COLUMNS = ("parameter", "value", "kind", "valid_min", "valid_max", "unit", "source")
#: Parameters of one seed that bound each other: (lower, upper, strictly below, expected).
PARAMETER_ORDER = {
    "recommendation_parameters": (
        # The schedule is one window inside the day; rec_schedule has no window across midnight.
        (
            "schedule_start_hour",
            "schedule_end_hour",
            True,
            "a schedule that starts before it stops, within one day",
        ),
        ("spot_discount_low", "spot_discount_high", False, "the low discount at most the high one"),
    ),
}

_TOP_LEVEL_KEYS = ("tags", "business_units", "shared_costs", "anomalies", *PARAMETER_SECTIONS)
_DIMENSION_KEYS = ("keys", "values")
_SHARED_COST_KEYS = ("method", "rules", "dimensions")
_RULE_KEYS = ("product_codes", "usage_types", "untagged_accounts", "aws_support")
_SPLIT_KEYS = ("method", "weights")
_ACCOUNT_ID = re.compile(r"^[0-9]{12}$")
_RULE_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
# Weights are fractions written by hand (0.6, 0.3, 0.1); their sum is 1 within this.
_WEIGHT_TOLERANCE = 1e-9


def fold_tag_key(key: str) -> str:
    """The form in which tag keys are compared: ``user:Owner-Team`` -> ``ownerteam``."""
    return _KEY_SEPARATORS.sub("", _USER_PREFIX.sub("", key.strip(" ").lower()))


def normalise_tag_value(value: str) -> str:
    """The form in which tag values are compared: trimmed and lower-cased."""
    return value.strip().lower()


@dataclass(frozen=True)
class TagDimension:
    """One logical tag (a showback dimension) and the source tags that carry it.

    Args:
        name: the dimension, e.g. ``team``; staging exposes it under this name.
        key_aliases: folded tag keys that carry it, highest priority first.
        value_aliases: normalised source value -> canonical value (``prd`` -> ``prod``).
    """

    name: str
    key_aliases: tuple[str, ...]
    value_aliases: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class SharedCostRule:
    """Spend that belongs to everyone: a line is shared when it meets any of the criteria.

    Args:
        name: the rule's name in ``finops.toml`` (``[shared_costs.rules.<name>]``).
        product_codes: ``line_item_product_code`` values (``AWSSupportBusiness``).
        usage_types: ``line_item_usage_type`` patterns, ``*`` any text and ``?`` one character
            (``*NatGateway-Hours``).
        untagged_accounts: accounts whose spend without a value in the dimension is shared.
    """

    name: str
    product_codes: tuple[str, ...] = ()
    usage_types: tuple[str, ...] = ()
    untagged_accounts: tuple[str, ...] = ()


@dataclass(frozen=True)
class SharedCostSplit:
    """How the shared spend is split across the values of one showback dimension.

    Args:
        dimension: the showback dimension (``team``, ``business_unit``).
        method: ``proportional`` to each value's direct amortized cost, ``even``, or fixed
            ``weights``.
        weights: value -> fraction, summing to 1; only for ``weights``.
    """

    dimension: str
    method: str = "proportional"
    weights: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class Parameter:
    """One numeric parameter of a seed (``recommendation_parameters``, ``carbon_parameters``).

    Args:
        name: the parameter, as finops.toml names it.
        default: the seed's value.
        whole: only whole numbers mean something (hours of the day, days, vCPUs, 0/1 flags).
        low: the smallest valid value.
        high: the largest valid value; ``None`` when there is no upper bound.
    """

    name: str
    default: float
    whole: bool
    low: float
    high: float | None

    def expected(self) -> str:
        """The valid range in words: ``0..1``, ``1 or more``."""
        if self.high is None:
            return f"{_number_text(self.low)} or more"
        return f"{_number_text(self.low)}..{_number_text(self.high)}"

    def holds(self, value: float) -> bool:
        # NaN compares false both ways and infinity is no amount, so neither is in range.
        return math.isfinite(value) and self.low <= value <= (
            math.inf if self.high is None else self.high
        )


@dataclass(frozen=True)
class Config:
    """Everything the stages read from ``finops.toml``.

    Args:
        tag_dimensions: the logical tags, in the order they were defined.
        source: the file the settings came from; ``None`` for the shipped defaults.
        business_units: account id -> business unit; when given, showback has the dimension
            ``business_unit``.
        shared_cost_rules: which spend is shared; none by default.
        shared_cost_method: the split method of the dimensions without their own.
        shared_cost_splits: per-dimension methods (and weights).
    """

    tag_dimensions: tuple[TagDimension, ...] = field(
        default_factory=lambda: default_tag_dimensions()
    )
    source: Path | None = None
    business_units: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    shared_cost_rules: tuple[SharedCostRule, ...] = ()
    shared_cost_method: str = "proportional"
    shared_cost_splits: tuple[SharedCostSplit, ...] = ()

    def showback_dimensions(self) -> tuple[str, ...]:
        """The dimensions showback splits spend by: the tag dimensions, then business_unit."""
        names = tuple(dimension.name for dimension in self.tag_dimensions)
        return (*names, BUSINESS_UNIT_DIMENSION) if self.business_units else names

    def split(self, dimension: str) -> SharedCostSplit:
        """How shared spend is split across the values of ``dimension``."""
        for split in self.shared_cost_splits:
            if split.dimension == dimension:
                return split
        return SharedCostSplit(dimension, self.shared_cost_method)

    def seed_rows(self) -> dict[str, list[tuple[Any, ...]]]:
        """The rows of every configured seed table (``CONFIGURED_SEEDS``), by table name."""
        rule_rows = [
            (rule.name, criterion, pattern)
            for rule in self.shared_cost_rules
            for criterion, patterns in (
                ("product_code", rule.product_codes),
                ("usage_type", tuple(_like_pattern(glob) for glob in rule.usage_types)),
                ("untagged_account", rule.untagged_accounts),
            )
            for pattern in patterns
        ]
        splits = [self.split(name) for name in self.showback_dimensions()]
        return {
            KEY_ALIAS_SEED: self.tag_key_alias_rows(),
            VALUE_ALIAS_SEED: self.tag_value_alias_rows(),
            BUSINESS_UNIT_SEED: sorted(self.business_units.items()),
            SHARED_RULE_SEED: rule_rows,
            SHARED_SPLIT_SEED: [(split.dimension, split.method) for split in splits],
            SHARED_WEIGHT_SEED: [
                (split.dimension, value, weight)
                for split in splits
                for value, weight in sorted(split.weights.items())
            ],
        }

    #: The [anomalies] section (pipelines/anomaly_config.py).
    anomalies: AnomalySettings = field(default_factory=AnomalySettings)
    #: seed table -> {parameter: value} from finops.toml's [recommendations] and [carbon].
    parameters: Mapping[str, Mapping[str, float]] = field(
        default_factory=lambda: MappingProxyType({})
    )

    def dimension(self, name: str) -> TagDimension:
        """The tag dimension called ``name``; ``KeyError`` when there is none."""
        for dimension in self.tag_dimensions:
            if dimension.name == name:
                return dimension
        raise KeyError(name)

    def tag_key_alias_rows(self) -> list[tuple[str, str, int]]:
        """Rows of the ``tag_key_aliases`` seed table: (dimension, alias, priority)."""
        return [
            (dimension.name, alias, priority)
            for dimension in self.tag_dimensions
            for priority, alias in enumerate(dimension.key_aliases, start=1)
        ]

    def tag_value_alias_rows(self) -> list[tuple[str, str, str]]:
        """Rows of the ``tag_value_aliases`` seed table: (dimension, value, canonical)."""
        return [
            (dimension.name, value, canonical)
            for dimension in self.tag_dimensions
            for value, canonical in sorted(dimension.value_aliases.items())
        ]


def queries_folder() -> Path:
    """The folder of the SQL models and seeds (``queries/``), installed or in the repository.

    Notes:
        On Python 3.11, ``importlib.resources.files`` fails for a namespace package whose
        ``__path__`` holds the path hook of a setuptools editable install ("MultiplexedPath only
        supports directories"); the package's own folder is then taken from its import spec.
    """
    try:
        folder = files("queries")
    except NotADirectoryError:
        folder = None
    if isinstance(folder, Path):
        return folder

    spec = find_spec("queries")
    for location in (spec.submodule_search_locations or ()) if spec else ():
        if Path(location, "staging").is_dir():
            return Path(location)
    raise FinopsError("the queries package (SQL models and seeds) is not installed")


def load_config(path: Path | None) -> Config:
    """Read ``finops.toml`` and merge it over the defaults.

    Args:
        path: the file to read. ``None`` reads ``./finops.toml`` when it exists and gives the
            defaults when it does not; a path that was named explicitly must exist.

    Raises:
        ConfigError: the file is missing (when named), a directory, not TOML, or has an option
            that cannot be used; the message names the file and the key.
    """
    if path is None:
        if not DEFAULT_CONFIG_FILE.is_file():
            return Config()
        path = DEFAULT_CONFIG_FILE
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory (expected a TOML file such as finops.toml)")
    if not path.exists():
        raise ConfigError(f"{path}: no such configuration file")
    # Not only regular files: -c /dev/null (no settings) and -c <(...) are read as they are.

    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot be read: {error}") from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from error

    return _merge(document, path)


def default_tag_dimensions() -> tuple[TagDimension, ...]:
    """The tag dimensions as the seeds in ``queries/seeds`` define them."""
    return _seed_dimensions()


def _merge(document: dict[str, Any], path: Path) -> Config:
    _reject_unknown(document, _TOP_LEVEL_KEYS, path, prefix="")
    tags = document.get("tags", {})
    if not isinstance(tags, dict):
        raise ConfigError(f"{path}: tags: expected a table of tag dimensions ([tags.team])")

    dimensions = {dimension.name: dimension for dimension in default_tag_dimensions()}
    for name, options in tags.items():
        dimensions[name] = _merge_dimension(name, options, dimensions.get(name), path)
    business_units = _business_units(document.get("business_units", {}), path)
    if business_units and BUSINESS_UNIT_DIMENSION in dimensions:
        raise ConfigError(
            f"{path}: tags.{BUSINESS_UNIT_DIMENSION}: the dimension {BUSINESS_UNIT_DIMENSION!r} "
            "comes from [business_units]; name the tag dimension otherwise"
        )
    config = Config(
        tag_dimensions=tuple(dimensions.values()),
        source=path,
        business_units=MappingProxyType(business_units),
        parameters=parameter_overrides(document, path),
    )
    config = _merge_shared_costs(config, document.get("shared_costs", {}), path)
    return _merge_anomalies(document, path, config)


def _business_units(table: Any, path: Path) -> dict[str, str]:
    if not isinstance(table, dict):
        raise ConfigError(
            f'{path}: business_units: expected a table of "account id" = "business unit"'
        )
    units = {}
    for account, unit in table.items():
        where = f"business_units.{account}"
        if not _ACCOUNT_ID.match(account):
            raise ConfigError(f"{path}: {where}: bad account id (expected 12 digits, quoted)")
        if not isinstance(unit, str) or not unit.strip():
            raise ConfigError(
                f"{path}: {where}: bad business unit {unit!r} (expected a non-empty string)"
            )
        units[account] = unit.strip()
    return units


def _merge_shared_costs(config: Config, table: Any, path: Path) -> Config:
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: shared_costs: expected a table ([shared_costs])")
    _reject_unknown(table, _SHARED_COST_KEYS, path, prefix="shared_costs.")
    method = _method(table.get("method", "proportional"), path, "shared_costs.method")
    if method == "weights":
        raise ConfigError(
            f"{path}: shared_costs.method: 'weights' needs weights per dimension; set it in "
            "[shared_costs.dimensions.<dimension>] with its weights"
        )

    rules = table.get("rules", {})
    if not isinstance(rules, dict):
        raise ConfigError(f"{path}: shared_costs.rules: expected a table of rules")
    parsed_rules = tuple(_rule(name, options, path) for name, options in rules.items())

    splits_table = table.get("dimensions", {})
    if not isinstance(splits_table, dict):
        raise ConfigError(f"{path}: shared_costs.dimensions: expected a table of dimensions")
    known = config.showback_dimensions()
    splits = []
    for dimension, options in splits_table.items():
        where = f"shared_costs.dimensions.{dimension}"
        if dimension not in known:
            close = difflib.get_close_matches(dimension, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"{path}: {where}: unknown dimension (expected one of {', '.join(known)}){hint}"
            )
        splits.append(_split(config, dimension, options, method, path, where))

    return replace(
        config,
        shared_cost_rules=parsed_rules,
        shared_cost_method=method,
        shared_cost_splits=tuple(splits),
    )


def _method(method: Any, path: Path, where: str) -> str:
    if method not in SHARED_COST_METHODS:
        close = difflib.get_close_matches(str(method), SHARED_COST_METHODS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(
            f"{path}: {where}: unknown method {method!r} "
            f"(expected one of {', '.join(SHARED_COST_METHODS)}){hint}"
        )
    return method


def _rule(name: str, options: Any, path: Path) -> SharedCostRule:
    where = f"shared_costs.rules.{name}"
    if not _RULE_NAME.match(name):
        raise ConfigError(f"{path}: {where}: bad rule name (expected letters, digits, _ and -)")
    if not isinstance(options, dict):
        raise ConfigError(f"{path}: {where}: expected a table of criteria")
    _reject_unknown(options, _RULE_KEYS, path, prefix=f"{where}.")
    support = options.get("aws_support", False)
    if not isinstance(support, bool):
        raise ConfigError(f"{path}: {where}.aws_support: expected true or false")

    product_codes = _strings(options.get("product_codes", []), path, f"{where}.product_codes")
    if support:
        product_codes = tuple(dict.fromkeys((*AWS_SUPPORT_PRODUCT_CODES, *product_codes)))
    usage_types = _strings(options.get("usage_types", []), path, f"{where}.usage_types")
    accounts = _strings(options.get("untagged_accounts", []), path, f"{where}.untagged_accounts")
    for account in accounts:
        if not _ACCOUNT_ID.match(account):
            raise ConfigError(
                f"{path}: {where}.untagged_accounts: bad account id {account!r} "
                "(expected 12 digits, quoted)"
            )
    if not (product_codes or usage_types or accounts):
        raise ConfigError(
            f"{path}: {where}: no criteria (expected aws_support, product_codes, usage_types "
            "or untagged_accounts)"
        )
    return SharedCostRule(name, product_codes, usage_types, accounts)


def _strings(values: Any, path: Path, where: str) -> tuple[str, ...]:
    if not isinstance(values, list) or not all(
        isinstance(value, str) and value.strip() for value in values
    ):
        raise ConfigError(f"{path}: {where}: expected a list of non-empty strings")
    return tuple(dict.fromkeys(value.strip() for value in values))


def _split(
    config: Config, dimension: str, options: Any, default: str, path: Path, where: str
) -> SharedCostSplit:
    if not isinstance(options, dict):
        raise ConfigError(f"{path}: {where}: expected a table with method and weights")
    _reject_unknown(options, _SPLIT_KEYS, path, prefix=f"{where}.")
    method = _method(options.get("method", default), path, f"{where}.method")
    weights = options.get("weights")
    if method != "weights":
        if weights is not None:
            raise ConfigError(
                f'{path}: {where}.weights: only used with method = "weights" (method is {method!r})'
            )
        return SharedCostSplit(dimension, method)

    if not isinstance(weights, dict) or not weights:
        raise ConfigError(f'{path}: {where}.weights: missing (method "weights" needs them)')
    parsed: dict[str, float] = {}
    for value, weight in weights.items():
        if isinstance(weight, bool) or not isinstance(weight, int | float) or weight < 0:
            raise ConfigError(
                f"{path}: {where}.weights.{value}: bad weight {weight!r} "
                "(expected a number from 0 to 1)"
            )
        canonical = _dimension_value(config, dimension, value)
        parsed[canonical] = parsed.get(canonical, 0.0) + float(weight)
    total = sum(parsed.values())
    if abs(total - 1) > _WEIGHT_TOLERANCE:
        raise ConfigError(f"{path}: {where}.weights: add up to {total:g} (expected 1)")
    return SharedCostSplit(dimension, method, MappingProxyType(parsed))


def _dimension_value(config: Config, dimension: str, value: str) -> str:
    # Tag values are compared normalised and through their aliases, as staging reports them;
    # business units as the [business_units] table writes them.
    if dimension == BUSINESS_UNIT_DIMENSION:
        return value.strip()
    normalised = normalise_tag_value(value)
    return config.dimension(dimension).value_aliases.get(normalised, normalised)


def _like_pattern(glob: str) -> str:
    """A usage type pattern (``*`` any text, ``?`` one character) as SQL LIKE with ESCAPE '\\'."""
    escaped = glob.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def _merge_anomalies(document: dict[str, Any], path: Path, config: Config) -> Config:
    if "anomalies" not in document:
        return config
    return replace(config, anomalies=anomaly_settings(document["anomalies"], path))


def parameter_overrides(document: dict[str, Any], path: Path) -> Mapping[str, Mapping[str, float]]:
    """The ``[recommendations]`` and ``[carbon]`` numbers of finops.toml, by seed table.

    Each key must be a parameter of the seed (``queries/seeds/recommendation_parameters.csv``,
    ``carbon_parameters.csv``) and each value a number inside the seed's ``valid_min`` ..
    ``valid_max`` (a whole number where its ``kind`` is ``whole``); parameters that bound each
    other (``PARAMETER_ORDER``) must keep their order with the defaults of those not set. The
    build writes them over the defaults.
    """
    overrides: dict[str, Mapping[str, float]] = {}
    for section, seed in PARAMETER_SECTIONS.items():
        table = document.get(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: {section}: expected a table of parameter = number")
        parameters = seed_parameters(seed)
        _reject_unknown(table, tuple(parameters), path, prefix=f"{section}.")

        values = {}
        for name, value in table.items():
            values[name] = _parameter_value(value, parameters[name], path, f"{section}.{name}")
        _refuse_disorder(seed, parameters, values, path, section)

        if values:
            overrides[seed] = MappingProxyType(values)
    return MappingProxyType(overrides)


def _parameter_value(value: Any, parameter: Parameter, path: Path, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{path}: {where}: {value!r} is not a number")
    if not parameter.holds(value):
        raise ConfigError(
            f"{path}: {where}: {value!r} is out of range (expected {parameter.expected()})"
        )
    if parameter.whole and not float(value).is_integer():
        raise ConfigError(f"{path}: {where}: {value!r} is not a whole number")
    return float(value)


def _refuse_disorder(
    seed: str,
    parameters: Mapping[str, Parameter],
    values: dict[str, float],
    path: Path,
    section: str,
) -> None:
    for lower, upper, strict, expected in PARAMETER_ORDER.get(seed, ()):
        low = values.get(lower, parameters[lower].default)
        high = values.get(upper, parameters[upper].default)
        if low < high or (low == high and not strict):
            continue
        # The key the user set is the one named; the other is the default it meets.
        if lower in values:
            problem = f"{_number_text(low)} is {'not before' if strict else 'above'} {upper}"
            raise ConfigError(
                f"{path}: {section}.{lower}: {problem} {_number_text(high)} (expected {expected})"
            )
        problem = f"{_number_text(high)} is {'not after' if strict else 'below'} {lower}"
        raise ConfigError(
            f"{path}: {section}.{upper}: {problem} {_number_text(low)} (expected {expected})"
        )


@cache
def seed_parameters(seed: str) -> Mapping[str, Parameter]:
    """The parameters of a parameter seed with their defaults and ranges, by name.

    Raises:
        ConfigError: the seed's header, a kind or a number is not what the loader reads.
    """
    parameters = {}
    for line, row in _read_seed(seed, PARAMETER_SEED_COLUMNS):
        where = f"queries/seeds/{seed}.csv: row {line}"
        if row["kind"] not in ("whole", "number"):
            raise ConfigError(f"{where}, column 'kind': {row['kind']!r} (expected whole or number)")
        parameters[row["parameter"]] = Parameter(
            row["parameter"],
            default=_seed_number(row, "value", where),
            whole=row["kind"] == "whole",
            low=_seed_number(row, "valid_min", where),
            # An empty valid_max: no upper bound (a price, a count of GB).
            high=_seed_number(row, "valid_max", where) if row["valid_max"].strip() else None,
        )
    return MappingProxyType(parameters)


def _seed_number(row: dict[str, str], column: str, where: str) -> float:
    try:
        return float(row[column])
    except ValueError:
        raise ConfigError(f"{where}, column {column!r}: {row[column]!r} is not a number") from None


def _number_text(number: float) -> str:
    """``24.0`` as ``24``, ``0.75`` as ``0.75``: a range reads as it is written in the seed."""
    return str(int(number)) if float(number).is_integer() else repr(number)


def _merge_dimension(
    name: str, options: Any, default: TagDimension | None, path: Path
) -> TagDimension:
    where = f"tags.{name}"
    if not _DIMENSION_NAME.match(name):
        raise ConfigError(
            f"{path}: {where}: bad dimension name {name!r} "
            "(expected lower-case letters, digits and _, starting with a letter)"
        )
    if not isinstance(options, dict):
        raise ConfigError(f"{path}: {where}: expected a table with keys and values")
    _reject_unknown(options, _DIMENSION_KEYS, path, prefix=f"{where}.")

    if "keys" in options:
        key_aliases = _key_aliases(options["keys"], path, f"{where}.keys")
    elif default is not None:
        key_aliases = default.key_aliases
    else:
        raise ConfigError(f"{path}: {where}.keys: missing (a new dimension needs its tag keys)")

    value_aliases = dict(default.value_aliases) if default is not None else {}
    value_aliases.update(_value_aliases(options.get("values", {}), path, f"{where}.values"))
    return TagDimension(name, key_aliases, MappingProxyType(value_aliases))


def _key_aliases(keys: Any, path: Path, where: str) -> tuple[str, ...]:
    if not isinstance(keys, list) or not keys:
        raise ConfigError(f"{path}: {where}: expected a non-empty list of tag keys")
    folded: list[str] = []
    for key in keys:
        if not isinstance(key, str) or not fold_tag_key(key):
            raise ConfigError(f"{path}: {where}: bad tag key {key!r} (expected a tag key name)")
        if fold_tag_key(key) not in folded:
            folded.append(fold_tag_key(key))
    return tuple(folded)


def _value_aliases(values: Any, path: Path, where: str) -> dict[str, str]:
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: {where}: expected a table of value = canonical value")
    aliases = {}
    for value, canonical in values.items():
        if not isinstance(canonical, str) or not canonical.strip():
            raise ConfigError(
                f"{path}: {where}.{value}: bad canonical value {canonical!r} "
                "(expected a non-empty string)"
            )
        if not normalise_tag_value(value):
            raise ConfigError(f"{path}: {where}: empty tag value (expected a non-empty string)")
        aliases[normalise_tag_value(value)] = normalise_tag_value(canonical)
    return aliases


def _reject_unknown(table: dict[str, Any], known: tuple[str, ...], path: Path, prefix: str):
    for key in table:
        if key in known:
            continue
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(
            f"{path}: {prefix}{key}: unknown option (expected one of {', '.join(known)}){hint}"
        )


@cache
def _seed_dimensions() -> tuple[TagDimension, ...]:
    key_rows = _read_seed(KEY_ALIAS_SEED, ("dimension", "alias", "priority"))
    value_rows = _read_seed(VALUE_ALIAS_SEED, ("dimension", "value", "canonical"))

    ranked: dict[str, list[tuple[int, str]]] = {}
    for line, row in key_rows:
        try:
            priority = int(row["priority"])
        except ValueError:
            raise ConfigError(
                f"queries/seeds/{KEY_ALIAS_SEED}.csv: row {line}, column 'priority': "
                f"{row['priority']!r} is not a whole number"
            ) from None
        ranked.setdefault(row["dimension"], []).append((priority, fold_tag_key(row["alias"])))
    values: dict[str, dict[str, str]] = {}
    for _line, row in value_rows:
        canonical = normalise_tag_value(row["canonical"])
        values.setdefault(row["dimension"], {})[normalise_tag_value(row["value"])] = canonical

    dimensions = []
    for name, aliases in ranked.items():
        ordered = tuple(dict.fromkeys(alias for _priority, alias in sorted(aliases)))
        dimensions.append(TagDimension(name, ordered, MappingProxyType(values.get(name, {}))))
    return tuple(dimensions)


def _read_seed(name: str, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    text = (queries_folder() / "seeds" / f"{name}.csv").read_text(encoding="utf-8")
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != columns:
        raise ConfigError(
            f"queries/seeds/{name}.csv: header {reader.fieldnames} (expected {list(columns)})"
        )
    return [(line, row) for line, row in enumerate(reader, start=1)]
