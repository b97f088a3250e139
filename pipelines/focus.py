"""FOCUS 1.x exports mapped onto the warehouse contract (``pipelines.contract``).

A FOCUS file (AWS Data Exports' "FOCUS 1.0/1.2 with AWS columns", or another tool's FOCUS
CSV) is recognised by its header (``BilledCost``, ``ChargePeriodStart``,
``BillingPeriodStart``). ``conform`` asks this module for a column plan and, batch by batch,
for the derived columns; the conversion to the contract's types stays in ``conform``.

What goes where:

- FOCUS columns with a CUR 2.0 counterpart fill it (``FIXED``): ``BilledCost`` is
  ``line_item_unblended_cost``, ``ChargePeriodStart``/``End`` the usage dates,
  ``BillingPeriodStart``/``End`` the billing period, ``SubAccountId`` the usage account,
  ``BillingAccountId`` the payer, ``ConsumedQuantity`` the usage amount, ``ListCost`` the
  public on-demand cost, and so on. ``ServiceName`` is the product name (and the product code
  when the AWS column ``x_ServiceCode`` is absent).
- ``line_item_line_item_type`` comes from ``ChargeCategory`` and the commitment columns (see
  ``line_item_types``), and covered usage carries ``EffectiveCost`` in
  ``savings_plan_savings_plan_effective_cost`` or ``reservation_effective_cost``, so that
  staging's amortization rules (AWS's) give FOCUS's ``EffectiveCost`` for it.
- ``Tags`` (a JSON object) is ``resource_tags``, keys as written, blank values dropped;
  ``x_CostCategories`` and ``x_Discounts`` are ``cost_category`` and ``discount`` likewise.
- Every other FOCUS column is kept in the ``product`` map as ``focus_<snake name>``
  (``EffectiveCost`` -> ``product['focus_effective_cost']``; ``x_UsageType``'s AWS columns
  as ``focus_x_...``). The contract's fixed columns are CUR 2.0's and do not grow per
  format; ``product`` is the open map that already holds per-line attributes, so the FOCUS
  values (BilledCost, EffectiveCost, ListCost, ContractedCost, ChargeCategory, ...) stay
  queryable there without a schema change. Their amounts are checked as numbers all the same.

Notes:
    The literal text ``NULL`` (as the FinOps Foundation's sample writes nulls) is missing,
    like an empty cell.

    Only AWS rows are kept (``ProviderName`` AWS, or no ``ProviderName`` column). The
    warehouse's contract and staging's cost rules are AWS's; rows of other providers are
    skipped with a warning that counts them and their BilledCost per provider, so the
    ingested total plus the skipped totals reconcile with the file. The run log's rows and
    cost are those of the kept rows.

    A file is one billing period, like every other source: the first AWS row's
    ``BillingPeriodStart`` places the file (``sources``), and an AWS row of another period is
    refused with its row and column, rather than split: a split file would be half of two
    deliveries, and the next delivery of either month would replace only its own half.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.contract import snake
from pipelines.errors import InputError
from pipelines.readers import SourceBatch

log = logging.getLogger(__name__)

#: Columns that every FOCUS export has and no CUR export has.
MARKERS = ("BilledCost", "ChargePeriodStart", "BillingPeriodStart")

#: Contract column <- FOCUS column, where the meaning is the same.
FIXED = {
    "line_item_unblended_cost": "BilledCost",
    "line_item_usage_start_date": "ChargePeriodStart",
    "line_item_usage_end_date": "ChargePeriodEnd",
    "bill_billing_period_start_date": "BillingPeriodStart",
    "bill_billing_period_end_date": "BillingPeriodEnd",
    "line_item_usage_account_id": "SubAccountId",
    "line_item_usage_account_name": "SubAccountName",
    "bill_payer_account_id": "BillingAccountId",
    "bill_payer_account_name": "BillingAccountName",
    "bill_invoicing_entity": "InvoiceIssuerName",
    "bill_invoice_id": "InvoiceId",
    "line_item_currency_code": "BillingCurrency",
    "line_item_resource_id": "ResourceId",
    "product_region_code": "RegionId",
    "line_item_availability_zone": "AvailabilityZone",
    "line_item_usage_amount": "ConsumedQuantity",
    "line_item_line_item_description": "ChargeDescription",
    "pricing_public_on_demand_cost": "ListCost",
    "pricing_public_on_demand_rate": "ListUnitPrice",
    "pricing_unit": "PricingUnit",
    "product_sku": "SkuId",
    # AWS's own columns in its "FOCUS with AWS columns" export.
    "line_item_product_code": "x_ServiceCode",
    "line_item_usage_type": "x_UsageType",
    "line_item_operation": "x_Operation",
}

#: Map column <- FOCUS column holding a JSON object.
JSON_MAPS = {
    "resource_tags": "Tags",
    "cost_category": "x_CostCategories",
    "discount": "x_Discounts",
}

#: FOCUS amounts kept only in ``product``: checked as numbers so a bad one is refused.
AMOUNTS = ("EffectiveCost", "ContractedCost", "ContractedUnitPrice", "PricingQuantity")

# Derived columns, added to each batch under these names (what an error message would name).
LINE_ITEM_TYPE = "ChargeCategory (as a CUR line item type)"
SAVINGS_PLAN_COST = "EffectiveCost (Savings Plan covered usage)"
RESERVATION_COST = "EffectiveCost (reservation covered usage)"
SAVINGS_PLAN_ARN = "CommitmentDiscountId (Savings Plan)"
RESERVATION_ARN = "CommitmentDiscountId (reservation)"
SAVINGS_PLAN_UNUSED = "EffectiveCost (unused Savings Plan)"
RESERVATION_UNUSED = "EffectiveCost (unused reservation)"
PRODUCT_CODE = "ServiceName (as product code)"

_DERIVED_FIXED = {
    "line_item_line_item_type": LINE_ITEM_TYPE,
    "savings_plan_savings_plan_effective_cost": SAVINGS_PLAN_COST,
    "reservation_effective_cost": RESERVATION_COST,
    "savings_plan_savings_plan_a_r_n": SAVINGS_PLAN_ARN,
    "reservation_reservation_a_r_n": RESERVATION_ARN,
    "savings_plan_total_commitment_to_date": SAVINGS_PLAN_UNUSED,
    "reservation_unused_recurring_fee": RESERVATION_UNUSED,
}

_PROVIDER = "ProviderName"
_AWS_PROVIDERS = frozenset({"aws", "amazon web services"})
_NULL_TEXT = "NULL"


@dataclass
class FocusPlan:
    """What one FOCUS file needs besides its column plan; lives as long as the file is read."""

    has_provider: bool
    period: datetime | None = None  # the file's billing period start, from its first AWS row


def is_focus(names: list[str]) -> bool:
    """True when the header is a FOCUS header."""
    present = {name.strip().lstrip("\ufeff") for name in names}
    return all(marker in present for marker in MARKERS)


def plan(names: list[str]) -> tuple[dict, dict, dict, FocusPlan]:
    """Where each FOCUS column goes: (fixed, maps, native maps) as ``conform.ColumnPlan``."""
    present = [name.strip().lstrip("\ufeff") for name in names]
    fixed = {column: source for column, source in FIXED.items() if source in present}
    fixed.update(_DERIVED_FIXED)
    if "line_item_product_code" not in fixed and "ServiceName" in present:
        fixed["line_item_product_code"] = PRODUCT_CODE
    native = {column: source for column, source in JSON_MAPS.items() if source in present}

    used = set(fixed.values()) | set(native.values()) | {"ServiceName"}
    product = [("product_name", "ServiceName")] if "ServiceName" in present else []
    for name in present:
        if name not in used:
            product.append((_product_key(name), name))
    return fixed, {"product": product}, native, FocusPlan(has_provider=_PROVIDER in present)


def _product_key(name: str) -> str:
    if name.startswith("x_"):
        return "focus_x_" + snake(name[2:])
    return "focus_" + snake(name)


def prepare_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The batch with ``NULL`` text as empty cells and the derived columns added."""
    columns = {}
    for name, values in zip(batch.schema.names, batch.columns, strict=True):
        name = name.strip().lstrip("\ufeff")
        if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
            null_text = pc.equal(pc.utf8_trim_whitespace(values), pa.scalar(_NULL_TEXT))
            values = pc.if_else(null_text, pa.scalar("", values.type), values)
        columns[name] = values
    rows = batch.num_rows

    def text(name: str) -> list:
        values = columns.get(name)
        return [None] * rows if values is None else pc.cast(values, pa.string()).to_pylist()

    types = line_item_types(
        text("ChargeCategory"), text("CommitmentDiscountType"), text("CommitmentDiscountStatus")
    )
    effective = text("EffectiveCost")
    commitment = text("CommitmentDiscountId")

    def where(wanted: str, values: list) -> pa.Array:
        return pa.array([v if t == wanted else None for t, v in zip(types, values, strict=True)])

    columns[LINE_ITEM_TYPE] = pa.array(types, pa.string())
    columns[SAVINGS_PLAN_COST] = where("SavingsPlanCoveredUsage", effective)
    columns[RESERVATION_COST] = where("DiscountedUsage", effective)
    columns[SAVINGS_PLAN_UNUSED] = where("SavingsPlanRecurringFee", effective)
    columns[RESERVATION_UNUSED] = where("RIFee", effective)
    savings_plan = {"SavingsPlanCoveredUsage", "SavingsPlanRecurringFee", "SavingsPlanUpfrontFee"}
    columns[SAVINGS_PLAN_ARN] = pa.array(
        [c if t in savings_plan else None for t, c in zip(types, commitment, strict=True)],
        pa.string(),
    )
    reservation = {"DiscountedUsage", "RIFee", "Fee"}
    columns[RESERVATION_ARN] = pa.array(
        [c if t in reservation else None for t, c in zip(types, commitment, strict=True)],
        pa.string(),
    )
    columns[PRODUCT_CODE] = pa.array(text("ServiceName"), pa.string())
    return pa.RecordBatch.from_arrays(
        [_as_array(values) for values in columns.values()], names=list(columns)
    )


def _as_array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def line_item_types(categories: list, commitment_types: list, statuses: list) -> list[str | None]:
    """CUR line item types for FOCUS charges, so that staging's AWS rules apply.

    ==========  ==========================  ==========  ============================
    Category    CommitmentDiscountType      Status      CUR line item type
    ==========  ==========================  ==========  ============================
    Usage       Savings Plan                Used        SavingsPlanCoveredUsage
    Usage       Reservation                 Used        DiscountedUsage
    Usage       Savings Plan                Unused      SavingsPlanRecurringFee
    Usage       Reservation                 Unused      RIFee
    Usage       (none)                                  Usage
    Purchase    Savings Plan                            SavingsPlanUpfrontFee
    Purchase    (anything else)                         Fee
    Tax, Credit                                         Tax, Credit
    Adjustment                                          Refund
    ==========  ==========================  ==========  ============================

    An unused commitment carries its EffectiveCost as the unused amount
    (``savings_plan_total_commitment_to_date``, ``reservation_unused_recurring_fee``), which
    is what staging amortizes for those types. A commitment purchase is amortized at 0 (a
    reservation's ``Fee`` through its ARN), as FOCUS's EffectiveCost spreads it into the
    covered usage. Another category is kept as written; staging calls it an Adjustment and
    the ``known_line_item_types`` check names it.
    """
    types: list[str | None] = []
    for category, kind, status in zip(categories, commitment_types, statuses, strict=True):
        category = (category or "").strip().lower()
        kind = (kind or "").strip().lower()
        unused = (status or "").strip().lower() == "unused"
        if category == "usage" and kind == "savings plan":
            types.append("SavingsPlanRecurringFee" if unused else "SavingsPlanCoveredUsage")
        elif category == "usage" and kind == "reservation":
            types.append("RIFee" if unused else "DiscountedUsage")
        elif category == "usage":
            types.append("Usage")
        elif category == "purchase":
            types.append("SavingsPlanUpfrontFee" if kind == "savings plan" else "Fee")
        elif category in ("tax", "credit"):
            types.append(category.capitalize())
        elif category == "adjustment":
            types.append("Refund")
        else:
            types.append(category or None)
    return types


def keep_aws_rows(
    path: str, focus: FocusPlan, batch: pa.RecordBatch, table: pa.Table, first_row: int
) -> pa.Table:
    """The conformed rows of AWS, each of the file's one billing period; others counted.

    Raises:
        InputError: an AWS row of another billing period than the file's first AWS row, or a
            period that does not start at the start of a month.
    """
    if focus.has_provider:
        providers = batch.column(_PROVIDER).to_pylist()
        keep = [is_aws(provider) for provider in providers]
        _report_skipped(path, first_row, providers, keep, table)
    else:
        keep = [True] * table.num_rows

    starts = table.column("bill_billing_period_start_date").to_pylist()
    for offset, (kept, start) in enumerate(zip(keep, starts, strict=True)):
        if not kept:
            continue
        if focus.period is None:
            focus.period = start
        if start != focus.period or (start.day, start.hour, start.minute) != (1, 0, 0):
            raise InputError(
                path,
                f"billing period starting {start:%Y-%m-%d %H:%M} in a file of the period "
                f"starting {focus.period:%Y-%m-%d %H:%M}",
                row=first_row + offset,
                column="BillingPeriodStart",
                expected="one billing period per FOCUS file, starting on the 1st at 00:00 UTC",
            )
    return table.filter(pa.array(keep, pa.bool_()))


def _report_skipped(
    path: str, first_row: int, providers: list, keep: list[bool], table: pa.Table
) -> None:
    # Counted per provider so that the file's total reconciles: ingested plus skipped.
    skipped: dict[str, list] = {}
    costs = table.column("line_item_unblended_cost").to_pylist()
    for provider, kept, cost in zip(providers, keep, costs, strict=True):
        if not kept:
            counted = skipped.setdefault(provider or "(none)", [0, 0.0])
            counted[0] += 1
            counted[1] += cost or 0.0
    for provider, (rows, cost) in sorted(skipped.items()):
        log.warning(
            "%s: %d row(s) of provider %s from row %d on not ingested (BilledCost %s); "
            "the warehouse holds AWS line items only",
            path,
            rows,
            provider,
            first_row,
            f"{cost:.11f}",
        )


def is_aws(provider: str | None) -> bool:
    """A row of AWS: ``ProviderName`` AWS (as AWS writes it) or Amazon Web Services."""
    return (provider or "").strip().lower() in _AWS_PROVIDERS


def first_period(path: str, batches: Iterable[SourceBatch]) -> str:
    """The billing period (YYYY-MM) of the first AWS row of a FOCUS file.

    Raises:
        InputError: the file has no AWS rows, or the first one's BillingPeriodStart is not a
            date.
    """
    other = 0
    for source_batch in batches:
        batch = source_batch.batch
        names = [name.strip().lstrip("\ufeff") for name in batch.schema.names]
        starts = batch.column(names.index("BillingPeriodStart")).to_pylist()
        providers = (
            batch.column(names.index(_PROVIDER)).to_pylist()
            if _PROVIDER in names
            else ["AWS"] * batch.num_rows
        )
        for offset, (provider, start) in enumerate(zip(providers, starts, strict=True)):
            if not is_aws(provider):
                other += 1
                continue
            if isinstance(start, datetime):
                return start.strftime("%Y-%m")
            match = re.match(r"^(\d{4})-(\d{2})-\d{2}", str(start or "").strip())
            if not match:
                raise InputError(
                    path,
                    f"{str(start)!r} is not a date",
                    row=source_batch.first_row + offset,
                    column="BillingPeriodStart",
                    expected="a timestamp such as 2026-08-01T00:00:00Z",
                )
            return f"{match.group(1)}-{match.group(2)}"
    raise InputError(
        path,
        f"no AWS line items ({other} row(s) of other providers)",
        column=_PROVIDER,
        expected="rows with ProviderName AWS",
    )
