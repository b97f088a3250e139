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
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from importlib.util import find_spec
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pipelines.errors import ConfigError, FinopsError

#: Read by ``load_config(None)`` when it exists in the working directory.
DEFAULT_CONFIG_FILE = Path("finops.toml")

KEY_ALIAS_SEED = "tag_key_aliases"
VALUE_ALIAS_SEED = "tag_value_aliases"

_DIMENSION_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_USER_PREFIX = re.compile(r"^user[:_]")
_KEY_SEPARATORS = re.compile(r"[-:_ ]")

#: finops.toml sections of numeric parameters -> the seed table whose defaults they override.
PARAMETER_SECTIONS = {"recommendations": "recommendation_parameters", "carbon": "carbon_parameters"}

_TOP_LEVEL_KEYS = ("tags", *PARAMETER_SECTIONS)
_DIMENSION_KEYS = ("keys", "values")


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
class Config:
    """Everything the stages read from ``finops.toml``.

    Args:
        tag_dimensions: the logical tags, in the order they were defined.
        source: the file the settings came from; ``None`` for the shipped defaults.
    """

    tag_dimensions: tuple[TagDimension, ...] = field(
        default_factory=lambda: default_tag_dimensions()
    )
    source: Path | None = None
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
    if not path.is_file():
        raise ConfigError(f"{path}: no such configuration file")

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
    return Config(
        tag_dimensions=tuple(dimensions.values()),
        source=path,
        parameters=parameter_overrides(document, path),
    )


def parameter_overrides(document: dict[str, Any], path: Path) -> Mapping[str, Mapping[str, float]]:
    """The ``[recommendations]`` and ``[carbon]`` numbers of finops.toml, by seed table.

    Each key must be a parameter of the seed (``queries/seeds/recommendation_parameters.csv``,
    ``carbon_parameters.csv``) and each value a number; the build writes them over the defaults.
    """
    overrides: dict[str, Mapping[str, float]] = {}
    for section, seed in PARAMETER_SECTIONS.items():
        table = document.get(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: {section}: expected a table of parameter = number")
        known = tuple(row["parameter"] for _line, row in _read_seed_rows(seed))
        _reject_unknown(table, known, path, prefix=f"{section}.")
        values = {}
        for name, value in table.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"{path}: {section}.{name}: {value!r} is not a number")
            values[name] = float(value)
        if values:
            overrides[seed] = MappingProxyType(values)
    return MappingProxyType(overrides)


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


def _read_seed_rows(name: str) -> list[tuple[int, dict[str, str]]]:
    text = (queries_folder() / "seeds" / f"{name}.csv").read_text(encoding="utf-8")
    return list(enumerate(csv.DictReader(io.StringIO(text)), start=1))


def _read_seed(name: str, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    text = (queries_folder() / "seeds" / f"{name}.csv").read_text(encoding="utf-8")
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != columns:
        raise ConfigError(
            f"queries/seeds/{name}.csv: header {reader.fieldnames} (expected {list(columns)})"
        )
    return [(line, row) for line, row in enumerate(reader, start=1)]
