"""The generator's line items as a FOCUS 1.x export from AWS Data Exports (``--layout focus``).

AWS delivers its "FOCUS 1.0 with AWS columns" export in the Data Exports layout: gzip CSV
under ``<export>/data/BILLING_PERIOD=YYYY-MM/`` and the period's manifest under
``<export>/metadata/BILLING_PERIOD=YYYY-MM/``. ``generate.py`` renders each file's rows as
legacy CUR text first (the same values as the other layouts) and hands them here.

How CUR line items become FOCUS charges (what AWS's FOCUS export does, in its words):

==========================  ========================================================
CUR line item type          FOCUS rows
==========================  ========================================================
Usage                       Usage; EffectiveCost = BilledCost
SavingsPlanCoveredUsage     Usage, Savings Plan, Used: BilledCost 0 (the commitment is
                            billed on the fee), EffectiveCost = the Savings Plan rate
SavingsPlanNegation         none: FOCUS never bills covered usage, so nothing to negate
SavingsPlanRecurringFee     Purchase, Savings Plan, Recurring: BilledCost = the fee,
                            EffectiveCost 0; and Usage, Savings Plan, Unused: BilledCost 0,
                            EffectiveCost = commitment not used (TotalCommitmentToDate -
                            UsedCommitment)
DiscountedUsage             Usage, Reservation, Used: EffectiveCost = the RI's effective cost
RIFee                       Purchase, Reservation, Recurring: BilledCost = the fee,
                            EffectiveCost 0; and Usage, Reservation, Unused: EffectiveCost =
                            unused recurring fee + unused amortized upfront fee
Fee                         Purchase (Reservation when it has an RI's ARN: EffectiveCost 0,
                            spread into the covered usage; else EffectiveCost = BilledCost)
Tax, Credit                 Tax, Credit
EdpDiscount                 Credit (a negotiated discount lowers this period's charges)
Refund                      Adjustment
==========================  ========================================================

So the sum of BilledCost is the CUR's unblended cost and the sum of EffectiveCost its
amortized cost, as the ground truth states them; only the row count differs (negations gone,
one more row per commitment fee).

Notes:
    FOCUS has no line item id; the CUR's is not carried. Tag keys are written as the legacy
    CUR names them (``user:Team``). Columns a FOCUS export has but the generator has no value
    for (ChargeClass, ResourceName, ServiceCategory, ...) are left out rather than made up.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

import pyarrow as pa

#: The FOCUS columns written, in order (FOCUS 1.0 names; ``x_`` columns are AWS's own).
COLUMNS = (
    "BilledCost",
    "BillingAccountId",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "CommitmentDiscountCategory",
    "CommitmentDiscountId",
    "CommitmentDiscountStatus",
    "CommitmentDiscountType",
    "ConsumedQuantity",
    "EffectiveCost",
    "InvoiceId",
    "InvoiceIssuerName",
    "ListCost",
    "ListUnitPrice",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "RegionId",
    "AvailabilityZone",
    "ResourceId",
    "ServiceName",
    "SkuId",
    "SubAccountId",
    "Tags",
    "x_Operation",
    "x_ServiceCode",
    "x_UsageType",
)

_SAVINGS_PLAN = ("Savings Plan", "Spend")
_RESERVATION = ("Reservation", "Usage")


def write_focus_file(path: Path, legacy: pa.Table) -> int:
    """Write the legacy rows as one gzip FOCUS CSV; returns the FOCUS rows written."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    written = 0
    for row in legacy.to_pylist():
        for charge in focus_charges(row):
            writer.writerow([charge.get(column) or "" for column in COLUMNS])
            written += 1
    path.parent.mkdir(parents=True, exist_ok=True)
    # mtime 0: the same seed gives the same bytes.
    path.write_bytes(gzip.compress(out.getvalue().encode(), compresslevel=6, mtime=0))
    return written


def focus_charges(row: dict) -> list[dict]:
    """The FOCUS rows of one legacy CUR line item (see the module's table)."""
    kind = row["lineItem/LineItemType"]
    cost = row["lineItem/UnblendedCost"] or "0"
    base = _common(row)
    if kind == "SavingsPlanNegation":
        return []
    if kind == "Usage":
        return [base | _charge("Usage", cost, cost) | {"ConsumedQuantity": _quantity(row)}]
    if kind == "SavingsPlanCoveredUsage":
        used = _commitment(row, _SAVINGS_PLAN, "Used")
        effective = row["savingsPlan/SavingsPlanEffectiveCost"]
        return [
            base | _charge("Usage", "0", effective) | used | {"ConsumedQuantity": _quantity(row)}
        ]
    if kind == "DiscountedUsage":
        used = _commitment(row, _RESERVATION, "Used")
        effective = row["reservation/EffectiveCost"]
        return [
            base | _charge("Usage", cost, effective) | used | {"ConsumedQuantity": _quantity(row)}
        ]
    if kind == "SavingsPlanRecurringFee":
        unused = _number(row["savingsPlan/TotalCommitmentToDate"]) - _number(
            row["savingsPlan/UsedCommitment"]
        )
        return [
            base | _charge("Purchase", cost, "0", "Recurring") | _commitment(row, _SAVINGS_PLAN),
            base | _charge("Usage", "0", repr(unused)) | _commitment(row, _SAVINGS_PLAN, "Unused"),
        ]
    if kind == "RIFee":
        unused = _number(row["reservation/UnusedRecurringFee"]) + _number(
            row["reservation/UnusedAmortizedUpfrontFeeForBillingPeriod"]
        )
        return [
            base | _charge("Purchase", cost, "0", "Recurring") | _commitment(row, _RESERVATION),
            base | _charge("Usage", "0", repr(unused)) | _commitment(row, _RESERVATION, "Unused"),
        ]
    if kind == "Fee" and row["reservation/ReservationARN"]:
        return [base | _charge("Purchase", cost, "0", "One-Time") | _commitment(row, _RESERVATION)]
    if kind == "Fee":
        return [base | _charge("Purchase", cost, cost, "One-Time")]
    category = {
        "Tax": "Tax",
        "Credit": "Credit",
        "EdpDiscount": "Credit",
        "Refund": "Adjustment",
    }.get(kind)
    if category is None:
        raise ValueError(f"no FOCUS mapping for line item type {kind!r}")
    return [base | _charge(category, cost, cost, "One-Time")]


def focus_manifest(manifest: dict) -> dict:
    """A Data Exports manifest of the CUR 2.0 layout, as the FOCUS export's says it."""
    return manifest | {
        "dataFileFormat": "TEXT_OR_CSV",
        "compression": "GZIP",
        "schema": [{"name": column, "type": _type(column)} for column in COLUMNS],
    }


def _common(row: dict) -> dict:
    tags = {
        name.split("/", 1)[1]: value
        for name, value in row.items()
        if name.startswith("resourceTags/") and value
    }
    return {
        "BillingAccountId": row["bill/PayerAccountId"],
        "BillingCurrency": row["lineItem/CurrencyCode"],
        "BillingPeriodStart": row["bill/BillingPeriodStartDate"],
        "BillingPeriodEnd": row["bill/BillingPeriodEndDate"],
        "ChargeDescription": row["lineItem/LineItemDescription"],
        "ChargePeriodStart": row["lineItem/UsageStartDate"],
        "ChargePeriodEnd": row["lineItem/UsageEndDate"],
        "InvoiceId": row["bill/InvoiceId"],
        "InvoiceIssuerName": row["bill/InvoicingEntity"],
        "ListCost": row["pricing/publicOnDemandCost"],
        "ListUnitPrice": row["pricing/publicOnDemandRate"],
        "PricingUnit": row["pricing/unit"],
        "ProviderName": "AWS",
        "PublisherName": "AWS",
        "RegionId": row["product/regionCode"],
        "AvailabilityZone": row["lineItem/AvailabilityZone"],
        "ResourceId": row["lineItem/ResourceId"],
        "ServiceName": row["product/ProductName"],
        "SkuId": row["product/sku"],
        "SubAccountId": row["lineItem/UsageAccountId"],
        "Tags": json.dumps(tags, sort_keys=True) if tags else "",
        "x_Operation": row["lineItem/Operation"],
        "x_ServiceCode": row["lineItem/ProductCode"],
        "x_UsageType": row["lineItem/UsageType"],
    }


def _charge(category: str, billed: str, effective: str | None, frequency: str = "Usage-Based"):
    return {
        "ChargeCategory": category,
        "BilledCost": billed,
        "EffectiveCost": effective or "0",
        "ChargeFrequency": frequency,
    }


def _commitment(row: dict, kind: tuple[str, str], status: str | None = None) -> dict:
    arn = row["savingsPlan/SavingsPlanARN"] if kind == _SAVINGS_PLAN else None
    arn = arn or row["reservation/ReservationARN"]
    return {
        "CommitmentDiscountId": arn,
        "CommitmentDiscountType": kind[0],
        "CommitmentDiscountCategory": kind[1],
        "CommitmentDiscountStatus": status,
    }


def _quantity(row: dict) -> str | None:
    return row["lineItem/UsageAmount"]


def _number(text: str | None) -> float:
    return float(text) if text else 0.0


def _type(column: str) -> str:
    if column in ("BilledCost", "EffectiveCost", "ListCost", "ListUnitPrice", "ConsumedQuantity"):
        return "decimal"
    if column.endswith(("Start", "End")):
        return "timestamp"
    return "map<string,string>" if column == "Tags" else "string"
