"""The generator's opt-in "wide" legacy CUR: the ~95 further columns a real payer's CUR carries.

A real legacy CUR has 150-200 columns: besides the ones ``generate.py`` writes, product
attributes (clock speed, network performance, licence model, ...), pricing rate codes,
reservation and Savings Plan details, and a dozen more tag and cost category columns, most of
them empty on most rows. Their width is what a CUR reader spends its time on, so a benchmark
needs them; tests and the committed sample do not, and are unchanged (``wide=False``).

The values are drawn from each row's own line item (its SKU, its resource, its reservation or
Savings Plan), so one SKU always carries the same attributes, as in AWS's price list. They are
realistic in shape only: no model reads them, and the ground truth does not depend on them.

Use: ``python -m sample_data.generate OUT --rows 1000000 --months 1 --wide`` (or
``generate(..., wide=True)``).
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from sample_data.generate import COLUMN_NAMES

if TYPE_CHECKING:
    from sample_data.generate import _Block

# Product attributes keyed by SKU, as AWS's price list gives them. Names are AWS's own.
_PRODUCT = """
availability availabilityZone capacitystatus classicnetworkingsupport clockSpeed
currentGeneration databaseEdition databaseEngine dedicatedEbsThroughput deploymentOption
durability ecu engineCode enhancedNetworkingSupported eventType feeCode feeDescription
fromLocation fromLocationType fromRegionCode gpu group groupDescription instancesku
intelAvx2Available intelAvxAvailable intelTurboAvailable licenseModel
locationType marketoption memoryGib
networkPerformance normalizationSizeFactor preInstalledSw processorFeatures productType
servicename storage storageClass toLocation
toLocationType toRegionCode transferType usageFamily version volumeType vpcnetworkingsupport
""".split()
_PRICING = ["pricing/RateCode", "pricing/RateId", "pricing/currency"]
# Filled on lines that a reservation covers or bills (its ARN is set).
_RESERVATION = """
AvailabilityZone ModificationStatus NetAmortizedUpfrontCostForUsage
NetAmortizedUpfrontFeeForBillingPeriod NetEffectiveCost NetRecurringFeeForUsage
NetUnusedAmortizedUpfrontFeeForBillingPeriod NetUnusedRecurringFee NetUpfrontValue
NormalizedUnitsPerReservation NumberOfReservations SubscriptionId TotalReservedNormalizedUnits
TotalReservedUnits UnitsPerReservation UnusedNormalizedUnitQuantity UpfrontValue
""".split()
# Filled on lines that the Savings Plan covers or bills.
_SAVINGS_PLAN = """
InstanceTypeFamily NetAmortizedUpfrontCommitmentForBillingPeriod
NetRecurringCommitmentForBillingPeriod NetSavingsPlanEffectiveCost PaymentOption PurchaseTerm
Region
""".split()
_DISCOUNT = ["discount/BundledDiscount", "discount/TotalDiscount"]
# Tags and cost categories keyed by resource: AWS writes them after every other column.
_TAGS = """
aws:autoscaling:groupName aws:cloudformation:logical-id aws:cloudformation:stack-name
user:Application user:Compliance user:Component user:CostCenter user:Department user:Name
user:Owner user:Service user:Version
""".split()
_COST_CATEGORIES = ["costCategory/BusinessUnit", "costCategory/Program"]

# The generator's own columns (the net amounts of an EDP discount among them) are not repeated.
_RESERVATION = [name for name in _RESERVATION if f"reservation/{name}" not in COLUMN_NAMES]
_SAVINGS_PLAN = [name for name in _SAVINGS_PLAN if f"savingsPlan/{name}" not in COLUMN_NAMES]

PRODUCT_COLUMNS = [f"product/{name}" for name in _PRODUCT] + _PRICING
LINE_COLUMNS = (
    [f"reservation/{name}" for name in _RESERVATION]
    + [f"savingsPlan/{name}" for name in _SAVINGS_PLAN]
    + _DISCOUNT
)
RESOURCE_COLUMNS = [f"resourceTags/{name}" for name in _TAGS] + _COST_CATEGORIES
#: The extra columns, in the order they follow ``generate.COLUMN_NAMES`` in each line.
EXTRA_COLUMNS = PRODUCT_COLUMNS + LINE_COLUMNS + RESOURCE_COLUMNS

_CHOICES = {
    "availability": ["", "99.99%"],
    "capacitystatus": ["Used", "UnusedCapacityReservation", "AllocatedCapacityReservation"],
    "clockSpeed": ["2.5 GHz", "3.1 GHz", "2.9 GHz", "Up to 3.5 GHz"],
    "currentGeneration": ["Yes", "No"],
    "dedicatedEbsThroughput": ["Up to 4750 Megabits", "4750 Mbps", "10000 Mbps"],
    "licenseModel": ["No License required", "License included", "Bring your own license"],
    "marketoption": ["OnDemand", "OnDemand", "Spot"],
    "networkPerformance": ["Up to 10 Gigabit", "Up to 12500 Megabit", "25 Gigabit"],
    "preInstalledSw": ["NA", "SQL Std", "NA"],
    "processorFeatures": [
        "Intel AVX; Intel AVX2; Intel AVX512; Intel Turbo",
        "AMD Turbo",
        "",
    ],
    "storage": ["EBS only", "1 x 237 NVMe SSD", "2 x 1900 NVMe SSD"],
    "usageFamily": ["", "Compute", "Storage", "Data Transfer"],
    "volumeType": ["", "General Purpose", "Provisioned IOPS", "Magnetic"],
    "version": ["", "v2", "v3"],
    "PaymentOption": ["No Upfront", "Partial Upfront", "All Upfront"],
    "PurchaseTerm": ["1yr", "3yr"],
    "ModificationStatus": ["Original", "Modified"],
    "Department": ["engineering", "finance", "research", "operations"],
    "CostCenter": ["cc-1001", "cc-1002", "cc-2001", "cc-3100", "cc-4200"],
    "Compliance": ["", "pci", "sox", "hipaa"],
    "BusinessUnit": ["Core", "Growth", "Shared"],
    "Program": ["Platform", "Analytics", "Mobile", "Web"],
}


def _pick(key: str, column: str, choices: Sequence[str]) -> str:
    # crc32 rather than hash(): the same text on every run, so files stay byte-identical.
    return choices[zlib.crc32(f"{column}|{key}".encode()) % len(choices)]


def _number(key: str, column: str, low: int, high: int) -> int:
    return low + zlib.crc32(f"{column}|{key}".encode()) % (high - low + 1)


def _csv_field(text: str) -> str:
    return f'"{text}"' if any(c in text for c in ',"\n') else text


def _product_fields(sku: str) -> str:
    """The product and pricing columns of one SKU, as CSV text (without the leading comma)."""
    if not sku:
        return "," * (len(PRODUCT_COLUMNS) - 1)
    values = []
    for name in _PRODUCT:
        if name in _CHOICES:
            values.append(_pick(sku, name, _CHOICES[name]))
        elif name in ("ecu", "gpu", "memoryGib", "normalizationSizeFactor"):
            values.append(str(_number(sku, name, 0, 64)))
        elif name in ("instancesku", "engineCode", "group"):
            values.append(f"{name[:2].upper()}{zlib.crc32(sku.encode()):08X}")
        elif name in ("intelAvx2Available", "intelAvxAvailable", "intelTurboAvailable"):
            values.append(_pick(sku, name, ["Yes", "No"]))
        elif name == "servicename":
            values.append(_pick(sku, name, ["Amazon Elastic Compute Cloud", "Amazon S3"]))
        else:
            values.append("")  # most product attributes are empty for most SKUs, as in AWS's
    rate_code = f"{sku}.JRTCKXETXF.6YS6EN2CT7"
    values += [rate_code, str(_number(sku, "RateId", 10**8, 10**9)), "USD"]
    return ",".join(_csv_field(value) for value in values)


def _line_fields(key: str) -> str:
    """Reservation, Savings Plan and discount columns of a line, keyed by its commitment."""
    reservation_arn, plan_arn = key.split("|", 1)
    values = []
    for name in _RESERVATION:
        if not reservation_arn:
            values.append("")
        elif name in _CHOICES:
            values.append(_pick(reservation_arn, name, _CHOICES[name]))
        elif name.startswith("Net"):
            values.append("")  # net columns are filled only under an EDP discount
        elif name in ("NumberOfReservations", "UnitsPerReservation", "TotalReservedUnits"):
            values.append(str(_number(reservation_arn, name, 1, 20)))
        elif name == "SubscriptionId":
            values.append(str(_number(reservation_arn, name, 10**9, 10**10 - 1)))
        elif name == "AvailabilityZone":
            values.append("")
        else:
            values.append(f"{_number(reservation_arn, name, 0, 10_000) / 8:.1f}")
    for name in _SAVINGS_PLAN:
        if not plan_arn:
            values.append("")
        elif name in _CHOICES:
            values.append(_pick(plan_arn, name, _CHOICES[name]))
        elif name == "InstanceTypeFamily" or name == "Region" or name.startswith("Net"):
            values.append("")  # a Compute Savings Plan has neither; net: EDP only
        else:
            values.append("")
    values += ["", ""]  # discounts: only with a private pricing agreement
    return ",".join(values)


def _resource_fields(resource_id: str) -> str:
    """Tag and cost category columns of one resource."""
    if not resource_id:
        return "," * (len(RESOURCE_COLUMNS) - 1)
    values = []
    short = resource_id.rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    for name in _TAGS:
        attribute = name.rsplit(":", 1)[-1]
        if attribute in _CHOICES:
            values.append(_pick(resource_id, attribute, _CHOICES[attribute]))
        elif attribute == "Name":
            values.append(f"{short}-{_number(resource_id, name, 1, 99):02d}")
        elif attribute in ("stack-name", "logical-id", "groupName"):
            # Only resources made by CloudFormation or an auto scaling group carry them.
            present = _number(resource_id, "cfn", 0, 2) == 0
            values.append(f"{attribute}-{_number(resource_id, name, 1, 40)}" if present else "")
        elif attribute == "Version":
            values.append(
                f"1.{_number(resource_id, name, 0, 30)}.{_number(resource_id, 'p', 0, 9)}"
            )
        else:
            values.append(_pick(resource_id, attribute, ["", "web", "api", "batch", "etl"]))
    values += [
        _pick(resource_id, category, _CHOICES[category.split("/")[1]])
        for category in _COST_CATEGORIES
    ]
    return ",".join(_csv_field(value) for value in values)


def _text(block: _Block, name: str, lo: int, hi: int) -> pa.Array:
    value = block.columns.get(name, "")
    if isinstance(value, str):
        return pa.array([value] * (hi - lo), pa.string())
    return pc.fill_null(value.slice(lo, hi - lo).cast(pa.string()), "")


def _keyed(keys: pa.Array, fields: Callable[[str], str]) -> pa.Array:
    """``fields(key)`` for each row, computed once per distinct key."""
    encoded = pc.dictionary_encode(keys)
    texts = pa.array([fields(key) for key in encoded.dictionary.to_pylist()], pa.string())
    return texts.take(encoded.indices)


def _extra(block: _Block, lo: int, hi: int) -> pa.Array:
    products = _keyed(_text(block, "product/sku", lo, hi), _product_fields)
    commitments = pc.binary_join_element_wise(
        _text(block, "reservation/ReservationARN", lo, hi),
        _text(block, "savingsPlan/SavingsPlanARN", lo, hi),
        "|",
    )
    lines = _keyed(commitments, _line_fields)
    resources = _keyed(_text(block, "lineItem/ResourceId", lo, hi), _resource_fields)
    return pc.binary_join_element_wise(products, lines, resources, ",")


def write_file(
    path: Path, blocks: list[_Block], pieces: list[tuple[int, int, int]], level: int
) -> int:
    """``generate._write_file`` with the extra columns after AWS's usual ones."""
    from sample_data.generate import _RENDER_CHUNK, COLUMN_NAMES, _payload, _render

    path.parent.mkdir(parents=True, exist_ok=True)
    header = (",".join([*COLUMN_NAMES, *EXTRA_COLUMNS]) + "\n").encode()
    with (
        open(path, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=level, mtime=0) as out,
    ):
        out.write(header)
        for index, lo, hi in pieces:
            for chunk in range(lo, hi, _RENDER_CHUNK):
                end = min(hi, chunk + _RENDER_CHUNK)
                base = pc.utf8_slice_codeunits(_render(blocks[index], chunk, end), 0, -1)
                lines = pc.binary_join_element_wise(base, _extra(blocks[index], chunk, end), ",")
                out.write(_payload(pc.binary_join_element_wise(lines, "", "\n")))
    return sum(hi - lo for _, lo, hi in pieces)


def manifest_columns() -> list[dict[str, str]]:
    """The extra columns as the legacy manifest lists them."""
    columns = []
    for column in EXTRA_COLUMNS:
        category, name = column.split("/", 1)
        numeric = column in LINE_COLUMNS and not any(
            word in name for word in ("Status", "Id", "Option", "Term", "Zone", "Family", "Region")
        )
        columns.append(
            {
                "category": category,
                "name": name,
                "type": "OptionalBigDecimal" if numeric else "OptionalString",
            }
        )
    return columns
