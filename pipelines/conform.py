"""Map a batch of source rows onto the warehouse contract (``pipelines.contract``).

One place converts text to the contract's types, so one place can say which row and column
held a value that is not what AWS writes there.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines import focus
from pipelines.contract import (
    LINE_ITEMS_SCHEMA,
    MAP_COLUMNS,
    REQUIRED_COLUMNS,
    contract_name,
)
from pipelines.errors import InputError
from pipelines.focus import FocusPlan

# Columns whose every row must hold a value: a line item without them cannot be costed or
# placed in a billing period.
NOT_NULL_COLUMNS = (
    "bill_billing_period_start_date",
    "line_item_unblended_cost",
    "line_item_usage_start_date",
)

# Columns AWS writes that the contract leaves out on purpose: the Athena partition columns and
# the legacy-only ``bill/BillingPeriod*`` duplicates are already carried by the partition.
_IGNORED = frozenset({"year", "month", "billing_period"})
_CURRENCY_CODES = ("line_item_currency_code", "pricing_currency")

# Made once: a Python value handed to a compute function is converted on every call, and that
# conversion tries imports (decimal, dateutil) each time; without dateutil it fails slowly.
_NULL_STRINGS = {kind: pa.scalar(None, kind) for kind in (pa.string(), pa.large_string())}
_ZERO_LENGTH = pa.scalar(0, pa.int32())
_CURRENCY_CODE = "^[A-Z]{3}$"


@dataclass
class ColumnPlan:
    """How one file's columns become the contract's columns; built once per file."""

    fixed: dict[str, str] = field(default_factory=dict)  # contract column -> source column
    maps: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # map -> (key, source)
    native_maps: dict[str, str] = field(default_factory=dict)  # map column given as a map
    dropped: list[str] = field(default_factory=list)  # source columns outside the contract
    focus: FocusPlan | None = None  # a FOCUS file (``pipelines.focus``)


def plan_columns(path: str, source_names: list[str]) -> ColumnPlan:
    """Decide, from the header alone, where each source column goes.

    Raises:
        InputError: the header is not a CUR header, names a column twice, or two columns claim
            one contract column or map key.
    """
    repeated = [(name, count) for name, count in Counter(source_names).items() if count > 1]
    if repeated:
        # Arrow reads a repeated name into two fields and then cannot tell which is meant;
        # AWS writes each column once, so a second one is an edited or concatenated header.
        name, count = repeated[0]
        raise InputError(
            path,
            f"appears {count} times in the header",
            column=name,
            expected="each CUR column once",
        )

    if focus.is_focus(source_names):
        fixed, maps, native_maps, focus_plan = focus.plan(source_names)
        return ColumnPlan(fixed, maps, native_maps, focus=focus_plan)

    plan = ColumnPlan()
    map_sources: dict[tuple[str, str], str] = {}  # (map column, key) -> source column
    for source in source_names:
        column, key = contract_name(source)
        if key is not None:
            if (column, key) in map_sources:
                # Two values under one key make a map that DuckDB refuses to read.
                raise InputError(
                    path,
                    f"columns {map_sources[column, key]!r} and {source!r} both map to "
                    f"{column} key {key!r}",
                    column=source,
                    expected="each CUR column once",
                )
            map_sources[column, key] = source
            plan.maps.setdefault(column, []).append((key, source))
        elif column in MAP_COLUMNS:
            plan.native_maps[column] = source
        elif column in LINE_ITEMS_SCHEMA.names:
            if column in plan.fixed:
                raise InputError(
                    path,
                    f"columns {plan.fixed[column]!r} and {source!r} both map to {column}",
                    column=source,
                    expected="each CUR column once",
                )
            plan.fixed[column] = source
        elif column not in _IGNORED:
            plan.dropped.append(source)

    missing = [name for name in REQUIRED_COLUMNS if name not in plan.fixed]
    if missing:
        raise InputError(
            path,
            "not a CUR line-item file: missing " + ", ".join(missing),
            expected="a Cost and Usage Report header (lineItem/UnblendedCost or "
            "line_item_unblended_cost, ...)",
        )
    return plan


def conform_batch(path: str, plan: ColumnPlan, batch: pa.RecordBatch, first_row: int) -> pa.Table:
    """Return the batch as a table with exactly ``LINE_ITEMS_SCHEMA``.

    A FOCUS batch gets its derived columns first, and only its AWS rows come out
    (``pipelines.focus``).
    """
    if plan.focus is not None:
        batch = focus.prepare_batch(batch)
        for source in focus.AMOUNTS:
            if source in batch.schema.names:
                # Kept as text in ``product``, but a bad amount is refused as in any column.
                _convert(path, source, batch.column(source), pa.float64(), first_row)

    columns = []
    for target in LINE_ITEMS_SCHEMA:
        if target.name in MAP_COLUMNS:
            columns.append(_map_column(path, plan, batch, target.name, first_row))
        elif target.name in plan.fixed:
            source = plan.fixed[target.name]
            values = _convert(path, source, batch.column(source), target.type, first_row)
            if target.name in _CURRENCY_CODES:
                # ISO 4217 codes: " usd" and "USD" are one currency, never two.
                codes = pc.utf8_upper(pc.utf8_trim_whitespace(values))
                _refuse_bad_currency(path, source, values, codes, first_row)
                values = codes
            columns.append(values)
        else:
            columns.append(pa.nulls(batch.num_rows, target.type))
    table = pa.Table.from_arrays(columns, schema=LINE_ITEMS_SCHEMA)

    for name in NOT_NULL_COLUMNS:
        nulls = table.column(name).is_null()
        if pc.any(nulls).as_py():
            row = first_row + int(pc.index(nulls, True).as_py())
            raise InputError(
                path, "empty value", row=row, column=plan.fixed[name], expected="a value"
            )

    if plan.focus is not None:
        table = focus.keep_aws_rows(path, plan.focus, batch, table, first_row)
    return table


def _convert(
    path: str, source: str, values: pa.Array, target: pa.DataType, first_row: int
) -> pa.Array:
    if values.null_count == len(values):
        # Most CUR columns are empty on most rows (no reservation, no Savings Plan, ...):
        # an all-empty batch of a column needs no parsing and no checks.
        return pa.nulls(len(values), target)
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        values = _empty_as_null(values)
    if target == pa.float64():
        numbers = (
            _parse_numbers(path, source, values, first_row)
            if _is_text(values)
            else _cast_or_refuse(path, source, values, target)
        )
        _refuse_non_finite(path, source, numbers, first_row)
        return numbers
    if values.type == target:
        return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if target == pa.string():
        return pc.cast(values, target)
    if pa.types.is_timestamp(target):
        return _parse_timestamps(path, source, values, target, first_row)
    return _cast_or_refuse(path, source, values, target)


def _cast_or_refuse(path: str, source: str, values: pa.Array, target: pa.DataType) -> pa.Array:
    try:
        return pc.cast(values, target)
    except pa.ArrowException:
        raise InputError(
            path, f"column of type {values.type} cannot hold {target}", column=source
        ) from None


def _refuse_non_finite(path: str, source: str, numbers: pa.Array, first_row: int) -> None:
    # NaN and infinity are not amounts AWS bills; summed, one of them poisons every total.
    # A finite sum means none is there (one call); otherwise each value is looked at.
    total = pc.sum(numbers).as_py()
    if total is None or math.isfinite(total):
        return
    _refuse_first(
        path,
        source,
        pc.invert(pc.is_finite(numbers)),
        first_row,
        lambda offset: f"{numbers[offset].as_py()} is not a finite number",
        "a decimal number such as 0.0123 or 1.2E-7",
    )


def _refuse_bad_currency(
    path: str, source: str, written: pa.Array, codes: pa.Array, first_row: int
) -> None:
    # A currency is a key of every total: text that is not a code would be a currency of its
    # own in the reports (and markup in a chart's labels).
    _refuse_first(
        path,
        source,
        pc.invert(pc.match_substring_regex(codes, _CURRENCY_CODE)),
        first_row,
        lambda offset: f"{_quote(written[offset].as_py())} is not a currency code",
        "a three-letter ISO 4217 code such as USD",
    )


def _refuse_first(
    path: str,
    source: str,
    bad: pa.Array,
    first_row: int,
    problem: Callable[[int], str],
    expected: str,
) -> None:
    """Refuse the batch at its first ``bad`` row, named by row and column; else nothing."""
    if pc.any(bad).as_py():
        offset = int(pc.index(bad, True).as_py())
        raise InputError(
            path, problem(offset), row=first_row + offset, column=source, expected=expected
        )


def _is_text(values: pa.Array) -> bool:
    return pa.types.is_string(values.type) or pa.types.is_large_string(values.type)


def _empty_as_null(values: pa.Array) -> pa.Array:
    # AWS writes a missing value as an empty string; the contract has NULL. The CSV reader
    # already gives NULL for an empty field, so only blanks (and Parquet's "") are left: they
    # are looked for without copying the text, and replaced only where there are some.
    if values.null_count == len(values):
        return values
    blank = pc.or_(pc.equal(pc.binary_length(values), _ZERO_LENGTH), pc.utf8_is_space(values))
    if not pc.any(blank).as_py():
        return values
    return pc.if_else(blank, _NULL_STRINGS[values.type], values)


def _parse_numbers(path: str, source: str, values: pa.Array, first_row: int) -> pa.Array:
    try:
        return pc.cast(values, pa.float64())  # as AWS writes them: no copy of the text
    except pa.ArrowInvalid:
        pass
    trimmed = pc.utf8_trim_whitespace(values)
    try:
        return pc.cast(trimmed, pa.float64())
    except pa.ArrowInvalid:
        pass
    # Only on the error path: find the first cell that Arrow cannot read as a number.
    for offset, value in enumerate(trimmed.to_pylist()):
        if value is None:
            continue
        try:
            pc.cast(pa.array([value]), pa.float64())
        except pa.ArrowInvalid:
            raise InputError(
                path,
                f"{_quote(value)} is not a number",
                row=first_row + offset,
                column=source,
                expected="a decimal number such as 0.0123 or 1.2E-7",
            ) from None
    raise InputError(path, "not a number", column=source, expected="a decimal number")


def _parse_timestamps(
    path: str, source: str, values: pa.Array, target: pa.DataType, first_row: int
) -> pa.Array:
    if pa.types.is_timestamp(values.type):
        # A zone-aware source is UTC underneath; dropping the zone keeps the UTC wall clock.
        return pc.cast(pc.cast(values, pa.timestamp(target.unit, tz=values.type.tz)), target)
    if not _is_text(values):
        raise InputError(path, f"column of type {values.type} is not a timestamp", column=source)

    # AWS writes 2026-08-01T00:00:00Z, 2026-08-01T00:00:00.000Z, and sometimes no zone at all;
    # all of them are UTC. The common forms take one cheap trim; others a regex pass.
    try:
        return pc.cast(pc.utf8_rtrim(values, characters="Z"), target)
    except pa.ArrowInvalid:
        pass
    try:
        return pc.cast(pc.utf8_rtrim(pc.utf8_trim_whitespace(values), characters="Z"), target)
    except pa.ArrowInvalid:
        pass
    text = pc.replace_substring_regex(
        pc.utf8_trim_whitespace(values), pattern=r"(?:Z|[+-]00:?00)$", replacement=""
    )
    text = pc.replace_substring(text, pattern=" ", replacement="T", max_replacements=1)
    try:
        return pc.cast(text, target)
    except pa.ArrowInvalid:
        pass
    for offset, value in enumerate(text.to_pylist()):
        if value is None:
            continue
        try:
            pc.cast(pa.array([value]), target)
        except pa.ArrowInvalid:
            return_value = values[offset].as_py()
            raise InputError(
                path,
                f"{_quote(return_value)} is not a UTC timestamp",
                row=first_row + offset,
                column=source,
                expected="a timestamp such as 2026-08-01T00:00:00Z",
            ) from None
    raise InputError(path, "not a timestamp", column=source)


def _map_column(
    path: str, plan: ColumnPlan, batch: pa.RecordBatch, name: str, first_row: int
) -> pa.Array:
    map_type = LINE_ITEMS_SCHEMA.field(name).type
    if name in plan.native_maps:
        source = plan.native_maps[name]
        values = batch.column(source)
        if _is_text(values):
            # CUR 2.0 in CSV writes each map as JSON text: {"user_team":"data"}.
            return _json_maps(path, source, values, first_row)
        try:
            # Parquet maps keep their value type: ``discount`` is map<string, double>.
            maps = pc.cast(values, map_type)
        except pa.ArrowException:
            raise InputError(
                path,
                f"map column of type {values.type}",
                column=source,
                expected="map<string, string> or map<string, double>",
            ) from None
        return _without_empty_values(maps)

    sources = plan.maps.get(name, [])
    rows = batch.num_rows
    if not sources:
        return pa.MapArray.from_arrays(
            pa.array(np.zeros(rows + 1, dtype=np.int32)),
            pa.array([], pa.string()),
            pa.array([], pa.string()),
        ).cast(map_type)

    # One entry per non-empty cell, in row order then column order: the cells are laid out
    # column after column, so cell (row, col) sits at col * rows + row.
    # A column empty on every row of the batch (most product attributes of most services)
    # adds no entry, and is left out before any work.
    filled = [
        (key, batch.column(source))
        for key, source in sources
        if batch.column(source).null_count < rows
    ]
    cells = [_empty_as_null(pc.cast(column, pa.string())) for _, column in filled]
    if not cells:
        return _map_column(path, ColumnPlan(), batch, name, first_row)  # all maps empty
    present = np.column_stack([cell.is_valid().to_numpy(zero_copy_only=False) for cell in cells])
    entry_rows, entry_cols = np.nonzero(present)
    offsets = np.zeros(rows + 1, dtype=np.int32)
    np.cumsum(present.sum(axis=1), out=offsets[1:])
    values = pa.concat_arrays(cells).take(pa.array(entry_cols * rows + entry_rows))
    keys = pa.array([key for key, _ in filled], pa.string()).take(pa.array(entry_cols))
    return pa.MapArray.from_arrays(pa.array(offsets), keys, values).cast(map_type)


def _json_maps(path: str, source: str, values: pa.Array, first_row: int) -> pa.Array:
    """Maps from JSON text, one object a cell; an empty cell is an empty map."""
    offsets, keys, items = [0], [], []
    for offset, text in enumerate(values.to_pylist()):
        entries = _json_object(text) if text is not None and text.strip() else {}
        if entries is None:
            raise InputError(
                path,
                f"{_quote(text)} is not a JSON object",
                row=first_row + offset,
                column=source,
                expected='a JSON object such as {"user_team": "data"}',
            )
        for key, value in entries.items():
            if value is None:
                continue
            keys.append(str(key))
            # Numbers (discount amounts) become their decimal text; strings stay as written.
            items.append(value if isinstance(value, str) else json.dumps(value))
        offsets.append(len(keys))
    maps = pa.MapArray.from_arrays(
        pa.array(offsets, pa.int32()), pa.array(keys, pa.string()), pa.array(items, pa.string())
    )
    return _without_empty_values(maps)


def _json_object(text: str) -> dict | None:
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _without_empty_values(maps: pa.Array) -> pa.Array:
    """Drop entries whose value is missing or blank: an empty tag is no tag, as in legacy CUR.

    A missing map (NULL) becomes an empty one, as the legacy tag columns give it.
    """
    if isinstance(maps, pa.ChunkedArray):
        maps = maps.combine_chunks()
    # Offsets of a sliced map array point into its whole key and item arrays.
    offsets = maps.offsets.to_numpy(zero_copy_only=False).astype(np.int64)
    low, high = int(offsets[0]), int(offsets[-1])
    keys = maps.keys.slice(low, high - low)
    items = maps.items.slice(low, high - low)
    keep = pc.fill_null(
        pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(items)), _ZERO_LENGTH), False
    ).to_numpy(zero_copy_only=False)
    rows = np.repeat(np.arange(len(maps)), np.diff(offsets))
    new_offsets = np.zeros(len(maps) + 1, dtype=np.int32)
    np.cumsum(np.bincount(rows[keep], minlength=len(maps)), out=new_offsets[1:])
    mask = pa.array(keep)
    return pa.MapArray.from_arrays(
        pa.array(new_offsets), keys.filter(mask), items.filter(mask)
    ).cast(LINE_ITEMS_SCHEMA.field("resource_tags").type)


def _quote(value: object) -> str:
    text = str(value)
    return repr(text if len(text) <= 40 else text[:37] + "...")
