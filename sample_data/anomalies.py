"""Inject labelled cost anomalies into a warehouse's line items, for the anomaly benchmark.

It works on the warehouse (after ``finops ingest``, before ``finops build``) rather than inside
the generator: each anomaly is made of copies of real usage line items of the month, with their
cost and usage amount scaled and new line item ids, so the anomalies look like the rest of the
data (hourly lines, the same usage types, tags and columns) whatever wrote it. The labels are
written to ``labels.json`` (or returned).

Kinds (``KINDS``), each at a random start day after four weeks of history:

- ``spike``: one service in one account costs 15-40% of the day's total more, for 1-3 days;
- ``new_resource``: a new untagged resource (copies of an existing one's lines) that burns
  15-30% of the day's total, for 5-12 days;
- ``leak``: one resource's cost grows 6-10% a day for 18-28 days (then it is fixed);
- ``usage_type_doubles``: one usage type (at least 15% of the day's total, in all accounts) runs
  twice as much until the end, the extra billed on demand;
- ``new_region``: a resource in a region the organisation never used, 15-30% of the day's total,
  until the end.

Example::

    labels = inject(Path("warehouse"), seed=3, count=6)

Notes:
    The run log's invoice totals (``_runs``) are not changed, so ``finops build``'s
    reconciliation check reports the injected months; the benchmark ignores that check.
    Only on-demand ``Usage`` lines are copied (and, for a usage type that doubles, covered
    lines turned into on-demand ones), so amortized and unblended cost rise alike.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

KINDS = ("spike", "new_resource", "leak", "usage_type_doubles", "new_region")
#: The dimension whose top root cause must name the injected value, per kind.
KEY_DIMENSIONS = {
    "spike": ("account", "service"),
    "new_resource": ("resource",),
    "leak": ("resource",),
    "usage_type_doubles": ("usage_type",),
    "new_region": ("region",),
}
_COSTS = (
    "line_item_unblended_cost",
    "line_item_blended_cost",
    "line_item_net_unblended_cost",
    "pricing_public_on_demand_cost",
    "line_item_usage_amount",
)
_INJECTED_REGIONS: set[str] = set()
#: Regions a new-region anomaly may use (the first the data does not have): code, usage type
#: prefix, availability zone.
_NEW_REGIONS = (
    ("sa-east-1", "SAE1", "sa-east-1a"),
    ("ap-northeast-3", "APN3", "ap-northeast-3a"),
    ("me-central-1", "MEC1", "me-central-1a"),
)


@dataclass(frozen=True)
class Label:
    """One injected anomaly: what, where, when, and how much cost it added."""

    kind: str
    first_day: date
    last_day: date
    account: str
    service: str
    usage_type: str
    resource: str
    region: str
    extra_cost: float

    def key(self) -> dict[str, str]:
        """The values its root cause must name, per dimension."""
        return {dimension: getattr(self, dimension) for dimension in KEY_DIMENSIONS[self.kind]}


def inject(warehouse: Path, *, seed: int, count: int = 6, write_labels: bool = True) -> list[Label]:
    """Add ``count`` anomalies of the kinds in turn to ``warehouse/line_items``; return labels."""
    files = sorted((warehouse / "line_items").glob("billing_period=*/*.parquet"))
    if not files:
        raise ValueError(f"{warehouse}: no line items to inject anomalies into")
    tables = [pq.read_table(path) for path in files]
    table = pa.concat_tables(tables)
    rng = np.random.default_rng(seed)

    days = np.array(
        pc.cast(table["line_item_usage_start_date"], pa.date32()).to_numpy(zero_copy_only=False),
        dtype="datetime64[D]",
    )
    kind = table["line_item_line_item_type"].to_numpy(zero_copy_only=False)
    resource = np.array(
        [value or "" for value in table["line_item_resource_id"].to_pylist()], dtype=object
    )
    cost = np.nan_to_num(table["line_item_unblended_cost"].to_numpy(zero_copy_only=False))
    usage = (kind == "Usage") & (resource != "") & (cost > 0)
    first, last = days.min(), days.max()
    day_list = np.arange(first, last + np.timedelta64(1, "D"))
    total = _daily(days, _amortized(table), day_list)

    starts = _starts(rng, len(day_list), count)
    kinds = [KINDS[(position + seed) % len(KINDS)] for position in range(count)]
    # Leaks take the earliest starts: one needs a few weeks to grow before the data ends.
    kinds.sort(key=lambda which: which != "leak")
    labels, pieces = [], []
    _INJECTED_REGIONS.clear()
    taken = np.zeros(table.num_rows, dtype=bool)  # lines already changed: one anomaly each
    for which, start in zip(kinds, starts, strict=True):
        if which == "usage_type_doubles":
            made = _doubles(start, rng, table, days, day_list, kind, ~taken, total)
        else:
            made = _make(
                which, start, rng, table, days, day_list, usage & ~taken, resource, cost, total
            )
        if made is None:
            continue
        label, rows, mask = made
        taken |= mask
        labels.append(label)
        pieces.append(rows)

    _write(files, tables, pieces)
    if write_labels:
        text = json.dumps([asdict(label) for label in labels], indent=1, default=str)
        (warehouse / "labels.json").write_text(text, encoding="utf-8")
    return labels


def _amortized(table: pa.Table) -> np.ndarray:
    def column(name: str) -> np.ndarray:
        return np.nan_to_num(table[name].to_numpy(zero_copy_only=False).astype(float))

    kind = table["line_item_line_item_type"].to_numpy(zero_copy_only=False)
    return np.select(
        [
            kind == "Usage",
            kind == "DiscountedUsage",
            kind == "SavingsPlanCoveredUsage",
        ],
        [
            column("line_item_unblended_cost"),
            column("reservation_effective_cost"),
            column("savings_plan_savings_plan_effective_cost"),
        ],
        0.0,
    )


def _daily(days: np.ndarray, values: np.ndarray, day_list: np.ndarray) -> np.ndarray:
    out = np.zeros(len(day_list))
    np.add.at(out, (days - day_list[0]).astype(int), values)
    return out


def _starts(rng: np.random.Generator, count_days: int, count: int) -> list[int]:
    # After four weeks of history, at least four days apart, leaving a week after the last.
    allowed = np.arange(28, count_days - 7)
    chosen: list[int] = []
    for candidate in rng.permutation(allowed):
        if all(abs(candidate - other) >= 4 for other in chosen):
            chosen.append(int(candidate))
        if len(chosen) == count:
            break
    return sorted(chosen)


def _make(which, start, rng, table, days, day_list, usage, resource, cost, total):
    n = len(day_list)
    if which == "spike":
        span = range(start, min(n, start + int(rng.integers(1, 4))))
        accounts = table["line_item_usage_account_id"].to_numpy(zero_copy_only=False)
        services = table["line_item_product_code"].to_numpy(zero_copy_only=False)
        group = np.char.add(accounts.astype(str), np.char.add("|", services.astype(str)))
        choice = _steady(rng, group, usage, days, day_list, cost, span, total, 0.03)
        if choice is None:
            return None
        mask = usage & (group == choice)
        shares = rng.uniform(0.15, 0.4)
        targets = {t: shares * total[t] for t in span}
        rows = _scaled(table, mask, days, day_list, cost, targets)
        return _label(which, table, mask, span, day_list, rows, None, None), rows, mask

    if which in ("new_resource", "new_region"):
        end = n if which == "new_region" else min(n, start + int(rng.integers(5, 13)))
        span = range(start, end)
        choice = _steady(rng, resource, usage, days, day_list, cost, span, total, 0.0)
        if choice is None:
            return None
        mask = usage & (resource == choice)
        share = rng.uniform(0.15, 0.3)
        rows = _scaled(table, mask, days, day_list, cost, {t: share * total[t] for t in span})
        prefix = choice.split("-", 1)[0] if choice.startswith(("i-", "vol-")) else "res"
        new_id = f"{prefix}-" + "".join(rng.choice(list("0123456789abcdef"), 17))
        rows = _set(rows, "line_item_resource_id", new_id)
        rows = _untag(rows)
        region = None
        if which == "new_region":
            used = set(table["product_region_code"].to_pylist()) | _INJECTED_REGIONS
            code, prefix, zone = next(r for r in _NEW_REGIONS if r[0] not in used)
            _INJECTED_REGIONS.add(code)
            region = code
            rows = _set(rows, "product_region_code", code)
            rows = _set(rows, "line_item_availability_zone", zone)
            usage_types = [
                f"{prefix}-{value.split('-', 1)[-1] if '-' in value else value}"
                for value in rows["line_item_usage_type"].to_pylist()
            ]
            rows = rows.set_column(
                rows.schema.get_field_index("line_item_usage_type"),
                "line_item_usage_type",
                pa.array(usage_types, rows.schema.field("line_item_usage_type").type),
            )
            rows = _drop_product_region(rows)
        return _label(which, table, mask, span, day_list, rows, new_id, region), rows, mask

    if which == "leak":
        span = range(start, min(n, start + int(rng.integers(18, 29))))
        choice = _steady(rng, resource, usage, days, day_list, cost, span, total, 0.04)
        if choice is None:
            return None
        mask = usage & (resource == choice)
        growth = rng.uniform(0.06, 0.1)
        own = _daily(days[mask], cost[mask], day_list)
        targets = {t: own[t] * ((1 + growth) ** (t - start + 1) - 1) for t in span}
        rows = _scaled(table, mask, days, day_list, cost, targets)
        return _label(which, table, mask, span, day_list, rows, choice, None), rows, mask

    raise ValueError(f"unknown anomaly kind {which!r}")


def _doubles(start, rng, table, days, day_list, kind, free, total):
    """One usage type runs twice as much from ``start`` to the end, in every account. The extra
    usage is billed on demand (commitments are spent already), whatever covered the usual."""
    span = range(start, len(day_list))
    on_demand = np.nan_to_num(
        table["pricing_public_on_demand_cost"].to_numpy(zero_copy_only=False).astype(float)
    )
    usage = np.isin(kind, ["Usage", "DiscountedUsage", "SavingsPlanCoveredUsage"])
    usage &= free & (on_demand > 0)
    group = table["line_item_usage_type"].to_numpy(zero_copy_only=False).astype(str)
    choice = _steady(rng, group, usage, days, day_list, on_demand, span, total, 0.15)
    if choice is None:
        return None
    mask = usage & (group == choice)
    own = _daily(days[mask], on_demand[mask], day_list)
    rows = _scaled(table, mask, days, day_list, on_demand, {t: own[t] for t in span})
    price = rows["pricing_public_on_demand_cost"].to_pylist()
    for name in (
        "line_item_unblended_cost",
        "line_item_blended_cost",
        "line_item_net_unblended_cost",
    ):
        rows = _set(rows, name, price)
    rows = _set(rows, "line_item_line_item_type", "Usage")
    rows = _set(rows, "pricing_term", "OnDemand")
    for name in ("reservation_reservation_a_r_n", "savings_plan_savings_plan_a_r_n"):
        rows = _set(rows, name, None)
    for name in ("reservation_effective_cost", "savings_plan_savings_plan_effective_cost"):
        rows = _set(rows, name, 0.0)
    return _label("usage_type_doubles", table, mask, span, day_list, rows, None, None), rows, mask


def _steady(rng, keys, usage, days, day_list, cost, span, total, min_share):
    """A random key whose usage lines run on every day from two weeks before ``span`` to its
    end, costing at least ``min_share`` of the total."""
    window = range(max(0, span.start - 14), span.stop)
    offsets = (days - day_list[0]).astype(int)
    candidates = []
    eligible = usage
    for key in np.unique(keys[eligible]):
        mask = eligible & (keys == key)
        own = np.zeros(len(day_list))
        np.add.at(own, offsets[mask], cost[mask])
        present = own[list(window)]
        steady = (present > 0).mean() >= 0.9 and (own[list(span)] > 0).mean() >= 0.9
        if steady and present.mean() >= min_share * total[list(window)].mean():
            candidates.append(key)
    if not candidates:
        return None
    return candidates[int(rng.integers(0, len(candidates)))]


def _scaled(table, mask, days, day_list, cost, targets: dict[int, float]) -> pa.Table:
    """Copies of the ``mask`` lines on each target day, scaled to add that day's target cost."""
    offsets = (days - day_list[0]).astype(int)
    indices, factors = [], []
    for t, target in targets.items():
        on_day = np.flatnonzero(mask & (offsets == t))
        day_cost = cost[on_day].sum()
        if day_cost <= 0 or target <= 0:
            continue
        indices.extend(on_day.tolist())
        factors.extend([target / day_cost] * len(on_day))
    rows = table.take(pa.array(indices, pa.int64()))
    factor = np.array(factors)
    for name in _COSTS:
        if name in rows.column_names:
            values = rows[name].to_numpy(zero_copy_only=False).astype(float) * factor
            rows = rows.set_column(
                rows.schema.get_field_index(name),
                name,
                pa.array(values, rows.schema.field(name).type),
            )
    ids = [uuid.uuid4().hex for _ in range(rows.num_rows)]
    return _set(rows, "identity_line_item_id", ids)


def _set(rows: pa.Table, name: str, value) -> pa.Table:
    values = value if isinstance(value, list) else [value] * rows.num_rows
    field = rows.schema.field(name)
    return rows.set_column(rows.schema.get_field_index(name), name, pa.array(values, field.type))


def _untag(rows: pa.Table) -> pa.Table:
    field = rows.schema.field("resource_tags")
    empty = pa.array([[] for _ in range(rows.num_rows)], field.type)
    return rows.set_column(rows.schema.get_field_index("resource_tags"), "resource_tags", empty)


def _drop_product_region(rows: pa.Table) -> pa.Table:
    field = rows.schema.field("product")
    maps = [
        [(k, v) for k, v in (entry or []) if k not in ("region", "location")]
        for entry in rows["product"].to_pylist()
    ]
    return rows.set_column(
        rows.schema.get_field_index("product"), "product", pa.array(maps, field.type)
    )


def _label(which, table, mask, span, day_list, rows, resource, region) -> Label:
    first = int(np.flatnonzero(mask)[0])
    added = float(np.nansum(rows["line_item_unblended_cost"].to_numpy(zero_copy_only=False)))
    product = table["product"][first].as_py() or []
    service = dict(product).get("product_name") or table["line_item_product_code"][first].as_py()
    return Label(
        kind=which,
        first_day=(day_list[span.start]).astype(date),
        last_day=(day_list[span.stop - 1]).astype(date),
        account=table["line_item_usage_account_id"][first].as_py(),
        service=service,
        usage_type=table["line_item_usage_type"][first].as_py(),
        resource=resource or table["line_item_resource_id"][first].as_py(),
        region=region or table["product_region_code"][first].as_py() or "",
        extra_cost=round(added, 2),
    )


def _write(files: list[Path], tables: list[pa.Table], pieces: list[pa.Table]) -> None:
    if not pieces:
        return
    added = pa.concat_tables(pieces)
    starts = pc.cast(added["bill_billing_period_start_date"], pa.date32())
    for path, original in zip(files, tables, strict=True):
        period = path.parent.name.split("=", 1)[1]
        year, month = (int(part) for part in period.split("-"))
        mine = added.filter(pc.equal(starts, pa.scalar(date(year, month, 1), pa.date32())))
        if mine.num_rows == 0:
            continue
        temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        pq.write_table(pa.concat_tables([original, mine]), temporary, compression="zstd")
        os.replace(temporary, path)


def label_days(label: Label) -> list[date]:
    """Every day the label covers."""
    return [
        label.first_day + timedelta(days=d)
        for d in range((label.last_day - label.first_day).days + 1)
    ]
