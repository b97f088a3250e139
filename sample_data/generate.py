"""A seeded generator of legacy AWS Cost and Usage Report (CUR) deliveries, with their ground truth.

It simulates a small AWS organisation (a payer and 3-5 linked accounts, a fleet of resources in
several regions, Reserved Instances and a Compute Savings Plan) hour by hour and writes what AWS
would deliver to S3 for it: gzip CSV files in AWS's legacy column names, split into numbered
files under an assembly folder, and the billing period's ``<report>-Manifest.json``. Beside the
CUR prefix it writes ``ground_truth.json``: the totals that a correct pipeline must report,
worked out from the simulated business quantities (hours covered by a reservation, Savings Plan
commitment used each hour, ...), not from the columns written.

Example::

    from pathlib import Path
    from sample_data.generate import generate

    truth = generate(Path("/tmp/cur"), rows=20_000, months=3, seed=7, redeliveries=1)
    truth.periods["2026-08"].amortized_by_team["platform"]

or from a shell: ``python -m sample_data.generate /tmp/cur --rows 20000 --months 3 --seed 7``.

With ``layout="cur2"`` (``--layout cur2``) the same line items are written as CUR 2.0 from AWS
Data Exports instead: snappy Parquet under ``<report>/data/BILLING_PERIOD=YYYY-MM/`` and the
period's manifest under ``<report>/metadata/BILLING_PERIOD=YYYY-MM/``. The column names and
types come from the pipeline's contract (``pipelines.contract``), which is CUR 2.0's schema.

Notes:
    - Same arguments, same bytes: every random choice comes from numpy generators seeded with
      ``seed``, gzip headers carry no time stamp, and nothing reads the clock.
    - ``rows`` is approximate (usually within a few percent): the fleet is sized from expected
      hours before the Savings Plan decides which hours it covers, and each of those adds a
      negation line.
    - Below roughly 12,500 line items a month the core fleet (one of each service and charge
      type) does not fit with 24x7 resources, so its always-on members run for a contiguous part
      of each month only, like instances that were stopped or load balancers that were torn
      down. The RI-covered ones then leave reserved hours unused, which AWS bills all the same.
    - Dates are written ``2026-08-01T00:00:00Z``, as older legacy CUR files have them; recent
      deliveries add milliseconds (``2026-08-01T00:00:00.000Z``), as do the reservation and
      Savings Plan start and end times here.
    - A reservation covers the usage of the one resource it was bought for; AWS applies it to
      any matching usage in the organisation.
    - ``DiscountedUsage`` lines carry an unblended cost of 0, as AWS writes them: the recurring
      part of the reservation is billed on the month's ``RIFee`` line.
    - Re-deliveries are the same month cut off after fewer days (and without the month-end tax,
      credit, refund and support lines). Real re-deliveries also revise earlier hours.
    - An Enterprise Discount Program of ``EDP_DISCOUNT_RATE`` (4 %) applies to every charge but
      tax, credits and refunds: the net columns hold the discounted amounts, one EdpDiscount
      line per account and service holds the discount, and the ground truth's net measures are
      worked out from the rate, not from those columns.
    - No cost categories, no split cost allocation data, no Windows or marketplace usage, no
      anomalies with labels.
    - AWS also writes a manifest inside each assembly folder; this writes only the period's.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import math
import re
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from pipelines.contract import DOUBLE_COLUMNS, TIMESTAMP_COLUMNS, contract_name, snake

BUCKET = "finops-sample-cur"
UNTAGGED = "(untagged)"
#: AWS splits a report into numbered files; this keeps each one at most this many line items.
MAX_ROWS_PER_FILE = 200_000
#: Below this many line items a month there is no room for the hourly Savings Plan fee lines
#: plus one resource of each kind.
MIN_ROWS_PER_MONTH = 2_000
GZIP_LEVEL = 6

LEGAL_ENTITY = "Amazon Web Services, Inc."

# ---------------------------------------------------------------------------------------------
# The CSV's columns, in file order, with the types AWS's legacy manifest gives them.
# ---------------------------------------------------------------------------------------------

_S, _D, _B, _OB, _OS, _I = (
    "String",
    "DateTime",
    "BigDecimal",
    "OptionalBigDecimal",
    "OptionalString",
    "Interval",
)

COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("identity", "LineItemId", _S),
    ("identity", "TimeInterval", _I),
    ("bill", "InvoiceId", _S),
    ("bill", "InvoicingEntity", _S),
    ("bill", "BillingEntity", _S),
    ("bill", "BillType", _S),
    ("bill", "PayerAccountId", _S),
    ("bill", "BillingPeriodStartDate", _D),
    ("bill", "BillingPeriodEndDate", _D),
    ("lineItem", "UsageAccountId", _S),
    ("lineItem", "LineItemType", _S),
    ("lineItem", "UsageStartDate", _D),
    ("lineItem", "UsageEndDate", _D),
    ("lineItem", "ProductCode", _S),
    ("lineItem", "UsageType", _S),
    ("lineItem", "Operation", _S),
    ("lineItem", "AvailabilityZone", _S),
    ("lineItem", "ResourceId", _S),
    ("lineItem", "UsageAmount", _B),
    ("lineItem", "NormalizationFactor", _OB),
    ("lineItem", "NormalizedUsageAmount", _OB),
    ("lineItem", "CurrencyCode", _S),
    ("lineItem", "UnblendedRate", _S),
    ("lineItem", "UnblendedCost", _B),
    ("lineItem", "NetUnblendedCost", _OB),
    ("lineItem", "BlendedRate", _S),
    ("lineItem", "BlendedCost", _B),
    ("lineItem", "LineItemDescription", _S),
    ("lineItem", "TaxType", _S),
    ("lineItem", "LegalEntity", _S),
    ("product", "ProductName", _S),
    ("product", "instanceType", _S),
    ("product", "instanceFamily", _S),
    ("product", "region", _S),
    ("product", "regionCode", _S),
    ("product", "productFamily", _S),
    ("product", "servicecode", _S),
    ("product", "usagetype", _S),
    ("product", "operation", _S),
    ("product", "vcpu", _S),
    ("product", "memory", _S),
    ("product", "physicalProcessor", _S),
    ("product", "processorArchitecture", _S),
    ("product", "operatingSystem", _S),
    ("product", "tenancy", _S),
    ("product", "volumeApiName", _S),
    ("product", "storageMedia", _S),
    ("product", "location", _S),
    ("product", "sku", _S),
    ("pricing", "publicOnDemandCost", _B),
    ("pricing", "publicOnDemandRate", _S),
    ("pricing", "term", _S),
    ("pricing", "unit", _S),
    ("pricing", "purchaseOption", _S),
    ("pricing", "LeaseContractLength", _S),
    ("pricing", "OfferingClass", _S),
    ("reservation", "ReservationARN", _S),
    ("reservation", "EffectiveCost", _OB),
    ("reservation", "NetEffectiveCost", _OB),
    ("reservation", "AmortizedUpfrontCostForUsage", _OB),
    ("reservation", "RecurringFeeForUsage", _OB),
    ("reservation", "AmortizedUpfrontFeeForBillingPeriod", _OB),
    ("reservation", "UnusedAmortizedUpfrontFeeForBillingPeriod", _OB),
    ("reservation", "UnusedRecurringFee", _OB),
    ("reservation", "NetAmortizedUpfrontFeeForBillingPeriod", _OB),
    ("reservation", "NetUnusedAmortizedUpfrontFeeForBillingPeriod", _OB),
    ("reservation", "NetUnusedRecurringFee", _OB),
    ("reservation", "UnusedQuantity", _OB),
    ("reservation", "StartTime", _OS),
    ("reservation", "EndTime", _OS),
    ("savingsPlan", "SavingsPlanARN", _OS),
    ("savingsPlan", "SavingsPlanRate", _OB),
    ("savingsPlan", "SavingsPlanEffectiveCost", _OB),
    ("savingsPlan", "NetSavingsPlanEffectiveCost", _OB),
    ("savingsPlan", "TotalCommitmentToDate", _OB),
    ("savingsPlan", "UsedCommitment", _OB),
    ("savingsPlan", "RecurringCommitmentForBillingPeriod", _OB),
    ("savingsPlan", "AmortizedUpfrontCommitmentForBillingPeriod", _OB),
    ("savingsPlan", "NetRecurringCommitmentForBillingPeriod", _OB),
    ("savingsPlan", "StartTime", _OS),
    ("savingsPlan", "EndTime", _OS),
    ("savingsPlan", "OfferingType", _OS),
    # Tag columns come last, sorted as AWS sorts them. Case variants of one key are separate
    # columns in the legacy CSV; that is the mess the pipeline's tag normalisation undoes.
    ("resourceTags", "aws:createdBy", _S),
    ("resourceTags", "user:Environment", _S),
    ("resourceTags", "user:Project", _S),
    ("resourceTags", "user:Team", _S),
    ("resourceTags", "user:env", _S),
    ("resourceTags", "user:owner_team", _S),
    ("resourceTags", "user:team", _S),
)
COLUMN_NAMES = tuple(f"{category}/{name}" for category, name, _ in COLUMNS)
#: AWS never leaves these empty: a line item without usage or cost says 0.0.
_NEVER_EMPTY = (
    "lineItem/UsageAmount",
    "lineItem/UnblendedCost",
    "lineItem/BlendedCost",
    "pricing/publicOnDemandCost",
)

TEAM_KEYS = ("user:Team", "user:team", "user:owner_team")
ENV_KEYS = ("user:Environment", "user:env")
TEAMS = ("platform", "payments", "search", "data", "mobile")
# Every spelling resolves to its truth by trim + lower case + the value aliases
# prd/production -> prod, development -> dev, stg -> staging.
ENV_SPELLINGS = {
    "prod": ("prod", "prd", "production", "Prod", "PROD", "Production"),
    "staging": ("stg", "staging", "Staging", "STG"),
    "dev": ("dev", "development", "Dev", "Development"),
}
PROJECTS = {
    "platform": ("eks-core", "observability"),
    "payments": ("checkout", "ledger"),
    "search": ("search-api", "indexer"),
    "data": ("lakehouse", "etl"),
    "mobile": ("mobile-bff", "push"),
}
LINE_ITEM_TYPES = (
    "Usage",
    "DiscountedUsage",
    "SavingsPlanCoveredUsage",
    "SavingsPlanNegation",
    "SavingsPlanRecurringFee",
    "RIFee",
    "Fee",
    "Tax",
    "Credit",
    "Refund",
    "EdpDiscount",
)

# ---------------------------------------------------------------------------------------------
# Price list: us-east-1 Linux on-demand prices; other regions scale them.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Region:
    code: str
    location: str
    prefix: str  # AWS prefixes usage types outside us-east-1
    price_factor: float
    utc_offset: int  # hours, for office hours and the daily load curve
    weight: float


REGIONS = (
    _Region("us-east-1", "US East (N. Virginia)", "", 1.0, -5, 0.45),
    _Region("eu-west-1", "EU (Ireland)", "EU-", 1.115, 0, 0.25),
    _Region("us-west-2", "US West (Oregon)", "USW2-", 1.0, -8, 0.2),
    _Region("ap-southeast-2", "Asia Pacific (Sydney)", "APS2-", 1.25, 10, 0.1),
)


@dataclass(frozen=True)
class _InstanceType:
    name: str
    family: str
    vcpu: int
    memory: str
    processor: str
    rate: float
    normalization: float
    sp_discount: float  # Compute Savings Plan, 1 year, no upfront


INSTANCE_TYPES = {
    t.name: t
    for t in (
        _InstanceType(
            "t3.medium", "General purpose", 2, "4 GiB", "Intel Skylake E5 2686 v5", 0.0416, 2, 0.25
        ),
        _InstanceType(
            "t3.large", "General purpose", 2, "8 GiB", "Intel Skylake E5 2686 v5", 0.0832, 4, 0.25
        ),
        _InstanceType(
            "t2.medium", "General purpose", 2, "4 GiB", "Intel Xeon Family", 0.0464, 2, 0.2
        ),
        _InstanceType(
            "m4.large",
            "General purpose",
            2,
            "8 GiB",
            "Intel Xeon E5-2676 v3 (Haswell)",
            0.1,
            4,
            0.22,
        ),
        _InstanceType(
            "m5.large", "General purpose", 2, "8 GiB", "Intel Xeon Platinum 8175", 0.096, 4, 0.28
        ),
        _InstanceType(
            "m5.xlarge", "General purpose", 4, "16 GiB", "Intel Xeon Platinum 8175", 0.192, 8, 0.28
        ),
        _InstanceType(
            "m5.2xlarge",
            "General purpose",
            8,
            "32 GiB",
            "Intel Xeon Platinum 8175",
            0.384,
            16,
            0.28,
        ),
        _InstanceType(
            "m6g.large", "General purpose", 2, "8 GiB", "AWS Graviton2 Processor", 0.077, 4, 0.27
        ),
        _InstanceType(
            "m7g.large", "General purpose", 2, "8 GiB", "AWS Graviton3 Processor", 0.0816, 4, 0.27
        ),
        _InstanceType(
            "c4.xlarge",
            "Compute optimized",
            4,
            "7.5 GiB",
            "Intel Xeon E5-2666 v3 (Haswell)",
            0.199,
            8,
            0.22,
        ),
        _InstanceType(
            "c5.xlarge", "Compute optimized", 4, "8 GiB", "Intel Xeon Platinum 8124M", 0.17, 8, 0.28
        ),
        _InstanceType(
            "c6g.xlarge", "Compute optimized", 4, "8 GiB", "AWS Graviton2 Processor", 0.136, 8, 0.27
        ),
        _InstanceType(
            "r5.large", "Memory optimized", 2, "16 GiB", "Intel Xeon Platinum 8175", 0.126, 4, 0.28
        ),
        _InstanceType(
            "r6g.large", "Memory optimized", 2, "16 GiB", "AWS Graviton2 Processor", 0.1008, 4, 0.27
        ),
    )
}
PROD_TYPES = (
    "m5.large",
    "m5.xlarge",
    "m5.2xlarge",
    "c5.xlarge",
    "r5.large",
    "m6g.large",
    "m7g.large",
    "c6g.xlarge",
    "r6g.large",
    "m4.large",
    "c4.xlarge",
)
DEV_TYPES = ("t3.medium", "t3.large", "t2.medium", "m5.large", "m6g.large")
SPOT_TYPES = ("m5.large", "m5.xlarge", "c5.xlarge", "c6g.xlarge")

# (class, family, vcpu, memory, processor, hourly rate, normalization factor) for PostgreSQL.
DB_TYPES = {
    "db.t3.medium": ("General purpose", 2, "4 GiB", "Intel Xeon Platinum 8175", 0.072, 2),
    "db.m5.large": ("General purpose", 2, "8 GiB", "Intel Xeon Platinum 8175", 0.178, 4),
    "db.r5.large": ("Memory optimized", 2, "16 GiB", "Intel Xeon Platinum 8175", 0.25, 4),
    "db.r6g.large": ("Memory optimized", 2, "16 GiB", "AWS Graviton2 Processor", 0.225, 4),
}

PRODUCT_NAMES = {
    "AmazonEC2": "Amazon Elastic Compute Cloud",
    "AmazonRDS": "Amazon Relational Database Service",
    "AmazonS3": "Amazon Simple Storage Service",
    "AWSLambda": "AWS Lambda",
    "AWSELB": "Elastic Load Balancing",
    "ComputeSavingsPlans": "Savings Plans for AWS Compute usage",
    "AWSSupportBusiness": "AWS Support (Business)",
}

EBS_RATE = {"gp2": 0.10, "gp3": 0.08}
SNAPSHOT_RATE = 0.05
S3_STORAGE_RATE = 0.023
S3_PUT_RATE = 0.000005
S3_GET_RATE = 0.0000004
LAMBDA_REQUEST_RATE = 0.0000002
LAMBDA_GBS_RATE = 0.0000166667
LAMBDA_SP_DISCOUNT = 0.12  # Compute SP covers Lambda duration, not requests
NAT_HOUR_RATE = 0.045
NAT_GB_RATE = 0.045
ALB_HOUR_RATE = 0.0225
ALB_LCU_RATE = 0.008
EIP_IDLE_RATE = 0.005
SALES_TAX_RATE = 0.0625
#: An Enterprise Discount Program rate: AWS takes it off every charge but tax, credits and
#: refunds, writes the discounted amounts in the net columns (``lineItem/NetUnblendedCost``,
#: ``reservation/NetEffectiveCost``, ...) and the discount itself as EdpDiscount lines.
EDP_DISCOUNT_RATE = 0.04
#: Line item types that the EDP discount does not apply to.
_NOT_DISCOUNTED = ("Tax", "Credit", "Refund", "EdpDiscount")

# Amount models: how a meter's usage amount for one hour is drawn.
_A_HOUR, _A_SPOT, _A_GBMO_HOUR, _A_GBMO_DAY, _A_COUNT, _A_GBS, _A_LOAD = range(7)

# Line item kinds that come from metered usage, as codes in the simulation arrays.
_USAGE, _DISCOUNTED, _COVERED, _NEGATION = range(4)
_METERED_TYPES = ("Usage", "DiscountedUsage", "SavingsPlanCoveredUsage", "SavingsPlanNegation")

_POW10 = 10 ** np.arange(19, dtype=np.int64)
_BASE32 = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz234567", dtype=np.uint8)
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


# ---------------------------------------------------------------------------------------------
# Ground truth
# ---------------------------------------------------------------------------------------------


@dataclass
class PeriodTruth:
    """What a correct pipeline reports for one billing period (the manifest's assembly only)."""

    assembly_id: str
    rows: int
    unblended: float
    amortized: float
    unblended_by_line_item_type: dict[str, float]
    amortized_by_team: dict[str, float]
    amortized_by_env: dict[str, float]
    amortized_by_service: dict[str, float]
    #: Older assemblies of the same period that are in the bucket but not in the manifest.
    superseded_assembly_ids: list[str] = field(default_factory=list)
    #: After the EDP discount: what each charge costs net (EdpDiscount lines count 0).
    net_unblended: float = 0.0
    net_amortized: float = 0.0
    #: The usage at public on-demand prices (amount x public rate of every usage line).
    public_on_demand: float = 0.0


@dataclass
class GroundTruth:
    """The generator's arguments and, per billing period ("YYYY-MM"), the expected totals.

    Team and env keys are the values after the pipeline's default tag normalisation;
    ``(untagged)`` collects line items without a usable value. Services are
    ``lineItem/ProductCode`` values.
    """

    seed: int
    rows: int
    months: int
    start: str
    report: str
    prefix: str
    redeliveries: int
    bucket: str
    periods: dict[str, PeriodTruth]

    def to_json(self) -> str:
        """JSON text with every float rounded to 10 decimals."""
        return json.dumps(_rounded(asdict(self)), indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> GroundTruth:
        raw = json.loads(text)
        periods = {label: PeriodTruth(**period) for label, period in raw.pop("periods").items()}
        return cls(**raw, periods=periods)


def _rounded(value):
    if isinstance(value, float):
        return round(value, 10) + 0.0
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_rounded(item) for item in value]
    return value


# ---------------------------------------------------------------------------------------------
# Text helpers: AWS's number format, CSV quoting, identifiers
# ---------------------------------------------------------------------------------------------


def java_double_text(value: float) -> str:
    """One number as AWS's CSV writes it (Java's ``Double.toString``), after rounding to 10 dp.

    ``720.0``, ``0.096``, ``4.0E-7``, ``1.81E-8``: plain notation from 1e-3 up to 1e7,
    scientific outside it, always with a digit after the point.
    """
    value = round(float(value), 10) + 0.0
    if value == 0:
        return "0.0"
    if 1e-3 <= abs(value) < 1e7:
        text = repr(value)
        return text if "." in text else text + ".0"
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    text = "".join(map(str, digits))
    power = exponent + len(text) - 1
    return f"{'-' if sign else ''}{text[0]}.{text[1:] or '0'}E{power}"


def _numbers(values: np.ndarray) -> pa.Array:
    """Vectorised ``java_double_text``; NaN becomes an empty field."""
    v = np.round(np.asarray(values, dtype=np.float64), 10) + 0.0
    text = pc.cast(pa.array(v, from_pandas=True), pa.string())
    # Arrow prints integral doubles without a point ("720"); Java prints "720.0".
    text = pc.if_else(
        pc.match_substring(text, "."), text, pc.binary_join_element_wise(text, "0", ".")
    )
    magnitude = np.abs(v)
    with np.errstate(invalid="ignore"):
        scientific = (magnitude > 0) & ((magnitude < 1e-3) | (magnitude >= 1e7))
    if not scientific.any():
        return text
    return pc.replace_with_mask(text, pa.array(scientific), _scientific(v[scientific]))


def _scientific(v: np.ndarray) -> pa.Array:
    small = np.abs(v) < 1e-3
    # Values are multiples of 1e-10, so below 1e-3 the digits are those of an integer < 1e7.
    n = np.rint(np.abs(v[small]) * 1e10).astype(np.int64)
    power = np.searchsorted(_POW10, n, side="right") - 1 - 10
    for _ in range(10):
        trailing = n % 10 == 0
        if not trailing.any():
            break
        n = np.where(trailing, n // 10, n)
    digits = pc.cast(pa.array(n), pa.string())
    rest = pc.utf8_slice_codeunits(digits, 1, 64)
    mantissa = pc.binary_join_element_wise(
        pc.utf8_slice_codeunits(digits, 0, 1), pc.if_else(pc.equal(rest, ""), "0", rest), "."
    )
    signed = pc.binary_join_element_wise(pa.array(np.where(v[small] < 0, "-", "")), mantissa, "")
    small_text = pc.binary_join_element_wise(signed, pc.cast(pa.array(power), pa.string()), "E")
    if small.all():
        return small_text
    # 1e7 and up is rare enough (large request counts) for the scalar path.
    large_text = pa.array([java_double_text(x) for x in v[~small]])
    order = np.concatenate([np.flatnonzero(small), np.flatnonzero(~small)])
    return pa.concat_arrays([small_text, large_text]).take(pa.array(np.argsort(order)))


def _quote(text: str | None) -> str | None:
    """AWS quotes a field only when it has to (a comma, a quote or a line break in it)."""
    if text is None or not any(ch in text for ch in ',"\n\r'):
        return text
    return '"' + text.replace('"', '""') + '"'


def _texts(values: Sequence[str | None]) -> pa.Array:
    """A lookup array of CSV-ready fields; empty strings become empty fields."""
    return pa.array([_quote(v) if v else None for v in values], pa.string())


def _take(lookup: pa.Array, index: np.ndarray) -> pa.Array:
    """``lookup[index]`` with -1 meaning an empty field."""
    index = np.asarray(index, dtype=np.int64)
    return lookup.take(pa.array(index, mask=index < 0))


def _random_strings(rng: np.random.Generator, n: int, width: int, alphabet: np.ndarray) -> list:
    codes = alphabet[rng.integers(0, len(alphabet), size=(n, width))]
    return [s.decode() for s in codes.view(f"S{width}").ravel()]


def _uuid4(rng: np.random.Generator) -> str:
    return str(uuid.UUID(bytes=rng.bytes(16), version=4))


def _sku(usage_type: str, region: str) -> str:
    # SKUs are AWS's fixed ids for a price, so they depend on the price, not on the seed.
    digest = hashlib.blake2b(f"{region}/{usage_type}".encode(), digest_size=16).digest()
    return "".join("ABCDEFGHJKLMNPQRSTUVWXYZ23456789"[b % 32] for b in digest)


def _usd(rate: float) -> str:
    return f"${rate:.6f}".rstrip("0").rstrip(".")


def _noise(a: np.ndarray, b: np.ndarray, salt: int) -> np.ndarray:
    """Uniform [0, 1) noise keyed by (a, b): the same hour gets the same load in every delivery."""
    x = (a.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) ^ (
        b.astype(np.uint64) * np.uint64(0xC2B2AE3D27D4EB4F)
    )
    x ^= np.uint64(salt & 0xFFFFFFFFFFFFFFFF)
    for multiplier in (0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53):
        x ^= x >> np.uint64(33)
        x *= np.uint64(multiplier)
    x ^= x >> np.uint64(33)
    return (x >> np.uint64(11)).astype(np.float64) / float(2**53)


# ---------------------------------------------------------------------------------------------
# Time axis
# ---------------------------------------------------------------------------------------------


class _Calendar:
    """Hours of the simulated horizon, month boundaries and their AWS time texts."""

    def __init__(self, start: str, months: int) -> None:
        first = np.datetime64(start, "M")
        bounds = (first + np.arange(months + 1)).astype("datetime64[h]")
        self.origin = bounds[0]
        self.month_start = (bounds - self.origin).astype(np.int64)
        self.labels = [str(m) for m in (first + np.arange(months))]
        self.hours = int(self.month_start[-1])
        stamps = self.origin + np.arange(self.hours + 1)
        iso = [s + "Z" for s in np.datetime_as_string(stamps, unit="s")]
        self.stamp = pa.array(iso)
        self.interval = pa.array([f"{a}/{b}" for a, b in zip(iso[:-1], iso[1:], strict=True)])
        self._iso = iso
        days = (stamps[:-1].astype("datetime64[D]")).astype(np.int64)
        self.hour_of_day = (np.arange(self.hours) % 24).astype(np.int64)
        self.weekday = (days + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
        self._local: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def iso(self, hour: int) -> str:
        return self._iso[hour]

    def aws_time(self, hour: int, seconds: int = 0) -> str:
        """Reservation and Savings Plan start/end texts, e.g. ``2026-03-04T10:00:00.000Z``."""
        stamp = self.origin.astype("datetime64[s]") + np.timedelta64(hour * 3600 + seconds, "s")
        return f"{np.datetime_as_string(stamp, unit='ms')}Z"

    def stamp_text(self, hour: int, seconds: int = 0) -> str:
        stamp = self.origin.astype("datetime64[s]") + np.timedelta64(hour * 3600 + seconds, "s")
        return f"{np.datetime_as_string(stamp, unit='s')}Z"

    def local(self, region: _Region) -> tuple[np.ndarray, np.ndarray]:
        """(hour of day, weekday) in the region's local time, for every horizon hour."""
        if region.utc_offset not in self._local:
            shifted = np.arange(self.hours) + region.utc_offset
            weekday = (np.floor_divide(shifted, 24) + self.weekday[0]) % 7
            self._local[region.utc_offset] = (shifted % 24, weekday)
        return self._local[region.utc_offset]

    def load_curve(self, region: _Region) -> np.ndarray:
        """Relative demand per hour: a daytime peak, quieter weekends."""
        hour, weekday = self.local(region)
        curve = 0.3 + 0.7 * np.exp(-(((hour - 14) / 5.0) ** 2))
        return curve * np.where(weekday >= 5, 0.55, 1.0)


# ---------------------------------------------------------------------------------------------
# The fleet: accounts, resources and the meters they run
# ---------------------------------------------------------------------------------------------


@dataclass
class _Resource:
    kind: str
    account: int
    region: _Region
    az: str
    resource_id: str
    team: str
    env: str
    active: np.ndarray  # bool per horizon hour: running (instances) or existing (the rest)
    core: bool
    spec: str = ""
    size_gb: float = 0.0
    load: float = 1.0
    tags: dict[str, str] = field(default_factory=dict)
    team_key: str = UNTAGGED
    env_key: str = UNTAGGED


@dataclass
class _Meter:
    resource: int
    product_code: str
    usage_type: str
    operation: str
    rate: float
    public_rate: float
    amount_model: int
    mask: np.ndarray
    unit: str
    description: str
    product: dict[str, str]
    term: str = "OnDemand"
    sp_rate: float = math.nan
    normalization: float = math.nan
    reservation: int = -1


@dataclass
class _Reservation:
    arn: str
    meter: int
    account: int
    start: int  # horizon hour; negative when bought before the horizon
    end: int
    upfront: float
    recurring: float  # per hour
    amortized_hourly: float
    purchase_option: str
    lease: str
    offering_class: str
    product_code: str
    usage_type: str
    operation: str
    description: str
    subscription_id: str


@dataclass
class _SavingsPlan:
    arn: str
    account: int
    start: int
    end: int
    commitment: float = 0.0
    term: str = "1yr"


@dataclass
class _Fleet:
    payer: str
    accounts: list[str]
    roles: list[str]
    resources: list[_Resource]
    meters: list[_Meter]
    reservations: list[_Reservation]
    savings_plan: _SavingsPlan


# Kinds added after the core set, with how often each is picked.
_EXTRA_KINDS = {
    "ec2": 0.3,
    "spot": 0.06,
    "rds": 0.05,
    "s3": 0.11,
    "lambda": 0.14,
    "nat": 0.03,
    "elb": 0.05,
    "eip": 0.03,
    "snapshot": 0.09,
    "ebs": 0.05,
    "ri": 0.09,  # a prod instance or database with a reservation
}
_ACCOUNT_ROLES = ("prod", "staging", "dev", "data", "sandbox")
_ROLE_ENVS = {
    "prod": ("prod",),
    "staging": ("staging",),
    "dev": ("dev",),
    "data": ("prod", "dev"),
    "sandbox": ("dev",),
}
# A Savings Plan covers part of every eligible line; each covered line adds a negation line.
_SP_EXTRA_ROWS = 0.55


class _FleetBuilder:
    """Draws accounts, resources, reservations and the Savings Plan from one seeded stream."""

    def __init__(self, rng: np.random.Generator, cal: _Calendar) -> None:
        self.rng = rng
        self.cal = cal
        n_linked = int(rng.integers(3, 6))
        ids: list[str] = []
        while len(ids) < n_linked + 1:
            account = str(int(rng.integers(10**11, 10**12)))
            if account not in ids:
                ids.append(account)
        self.payer = ids[0]
        self.accounts = ids
        self.roles = ["payer", *_ACCOUNT_ROLES[:n_linked]]
        self.resources: list[_Resource] = []
        self.meters: list[_Meter] = []
        self.reservations: list[_Reservation] = []
        self.names: set[str] = set()

    # -- helpers -------------------------------------------------------------------------

    def _account(self, env: str) -> int:
        candidates = [i for i, role in enumerate(self.roles) if env in _ROLE_ENVS.get(role, ())]
        return int(self.rng.choice(candidates))

    def _region(self) -> _Region:
        weights = np.array([r.weight for r in REGIONS])
        return REGIONS[int(self.rng.choice(len(REGIONS), p=weights / weights.sum()))]

    def _hex_id(self, prefix: str) -> str:
        return prefix + _random_strings(self.rng, 1, 17, _HEX)[0]

    def _arn(self, res: _Resource, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{res.region.code}:{self.accounts[res.account]}:{resource}"

    def _name(self, stem: str) -> str:
        name = stem
        while name in self.names:
            name = f"{stem}-{int(self.rng.integers(100, 999))}"
        self.names.add(name)
        return name

    def _lifetime(self, core: bool) -> np.ndarray:
        """Most resources outlive the horizon; some are launched or retired inside it."""
        hours = self.cal.hours
        alive = np.ones(hours, dtype=bool)
        if core or self.rng.random() < 0.7:
            return alive
        start = int(self.rng.integers(0, hours))
        length = int(24 * self.rng.lognormal(math.log(12), 0.9))
        alive[:] = False
        alive[start : start + max(length, 6)] = True
        return alive

    def _pattern(self, name: str, region: _Region) -> np.ndarray:
        hour, weekday = self.cal.local(region)
        if name == "always":
            return np.ones(self.cal.hours, dtype=bool)
        if name == "office":  # started by a schedule or a person in the morning, stopped at night
            return (weekday < 5) & (hour >= 8) & (hour < 20)
        if name == "peak":  # an auto scaling group's extra capacity on weekdays
            return (weekday < 5) & (hour >= 10) & (hour < 22)
        if name == "nightly":
            first = int(self.rng.integers(0, 3))
            return (hour >= first) & (hour < first + int(self.rng.integers(3, 6)))
        raise ValueError(name)

    def _sparse(self, region: _Region, probability: float) -> np.ndarray:
        curve = self.cal.load_curve(region)
        return self.rng.random(self.cal.hours) < probability * curve

    def _daily(self) -> np.ndarray:
        return self.cal.hour_of_day == int(self.rng.integers(0, 24))

    def _team(self) -> str:
        return str(self.rng.choice(TEAMS))

    def _add(
        self,
        kind: str,
        env: str,
        *,
        core: bool,
        account: int | None = None,
        region: _Region | None = None,
        **extra,
    ) -> int:
        region = region or self._region()
        az = f"{region.code}{'abc'[int(self.rng.integers(0, 3))]}"
        resource = _Resource(
            kind=kind,
            account=self._account(env) if account is None else account,
            region=region,
            az=az,
            resource_id="",
            team=self._team(),
            env=env,
            active=self._lifetime(core),
            core=core,
            **extra,
        )
        self.resources.append(resource)
        return len(self.resources) - 1

    def _meter(self, resource: int, **fields) -> int:
        self.meters.append(_Meter(resource=resource, **fields))
        return len(self.meters) - 1

    @staticmethod
    def _product(
        region: _Region,
        family: str,
        servicecode: str,
        usage_type: str,
        operation: str,
        **attributes: str,
    ) -> dict[str, str]:
        return {
            "product/ProductName": PRODUCT_NAMES[servicecode],
            "product/region": region.code,
            "product/regionCode": region.code,
            "product/productFamily": family,
            "product/servicecode": servicecode,
            "product/usagetype": usage_type,
            "product/operation": operation,
            "product/location": region.location,
            "product/sku": _sku(usage_type, region.code),
            **{f"product/{key}": value for key, value in attributes.items()},
        }

    # -- resource kinds ------------------------------------------------------------------

    def instance(
        self,
        env: str,
        *,
        core: bool = False,
        pattern: str | None = None,
        type_name: str | None = None,
        region: _Region | None = None,
        account: int | None = None,
        volume: bool = True,
    ) -> int:
        """An EC2 instance on demand, with its EBS root volume; returns the instance's meter."""
        type_name = type_name or str(self.rng.choice(PROD_TYPES if env == "prod" else DEV_TYPES))
        itype = INSTANCE_TYPES[type_name]
        if pattern is None:
            if env == "prod":
                pattern = "peak" if self.rng.random() < 0.2 else "always"
            else:
                # Non-production left running around the clock is the classic waste that a
                # shutdown schedule fixes.
                pattern = "office" if self.rng.random() < 0.55 else "always"
        r = self._add("ec2", env, core=core, region=region, account=account, spec=type_name)
        res = self.resources[r]
        res.resource_id = self._hex_id("i-")
        lifetime = res.active.copy()
        res.active &= self._pattern(pattern, res.region)
        rate = round(itype.rate * res.region.price_factor, 4)
        usage_type = f"{res.region.prefix}BoxUsage:{type_name}"
        meter = self._meter(
            r,
            product_code="AmazonEC2",
            usage_type=usage_type,
            operation="RunInstances",
            rate=rate,
            public_rate=rate,
            amount_model=_A_HOUR,
            mask=res.active,
            unit="Hrs",
            description=f"{_usd(rate)} per On Demand Linux {type_name} Instance Hour",
            product=self._product(
                res.region,
                "Compute Instance",
                "AmazonEC2",
                usage_type,
                "RunInstances",
                instanceType=type_name,
                instanceFamily=itype.family,
                vcpu=str(itype.vcpu),
                memory=itype.memory,
                physicalProcessor=itype.processor,
                processorArchitecture="64-bit",
                operatingSystem="Linux",
                tenancy="Shared",
            ),
            sp_rate=round(rate * (1 - itype.sp_discount), 6),
            normalization=itype.normalization,
        )
        if volume:
            # A volume is billed while its instance is stopped, so it follows the lifetime.
            self.volume(env, core=core, attached_to=r, lifetime=lifetime)
        return meter

    def volume(
        self,
        env: str,
        *,
        core: bool = False,
        attached_to: int | None = None,
        lifetime: np.ndarray | None = None,
        api: str | None = None,
    ) -> None:
        if attached_to is None:
            r = self._add("ebs", env, core=core)
        else:
            owner = self.resources[attached_to]
            r = self._add("ebs", env, core=core, account=owner.account, region=owner.region)
            self.resources[r].team = owner.team
            self.resources[r].az = owner.az
        res = self.resources[r]
        if lifetime is not None:
            res.active = lifetime
        res.resource_id = self._hex_id("vol-")
        api = api or ("gp3" if self.rng.random() < 0.55 else "gp2")
        res.spec = api
        res.size_gb = float(self.rng.choice([8, 20, 50, 100, 200, 500, 1000]))
        rate = round(EBS_RATE[api] * res.region.price_factor, 4)
        usage_type = f"{res.region.prefix}EBS:VolumeUsage.{api}"
        operation = f"CreateVolume-{api.capitalize()}"
        label = "General Purpose SSD (gp3)" if api == "gp3" else "General Purpose (SSD)"
        self._meter(
            r,
            product_code="AmazonEC2",
            usage_type=usage_type,
            operation=operation,
            rate=rate,
            public_rate=rate,
            amount_model=_A_GBMO_HOUR,
            mask=res.active,
            unit="GB-Mo",
            description=f"{_usd(rate)} per GB-month of {label} provisioned storage - "
            f"{res.region.location}",
            product=self._product(
                res.region,
                "Storage",
                "AmazonEC2",
                usage_type,
                operation,
                volumeApiName=api,
                storageMedia="SSD-backed",
            ),
        )

    def spot(self, env: str, *, core: bool = False) -> None:
        type_name = str(self.rng.choice(SPOT_TYPES))
        itype = INSTANCE_TYPES[type_name]
        r = self._add("spot", env, core=core, spec=type_name)
        res = self.resources[r]
        res.resource_id = self._hex_id("i-")
        res.active &= self._pattern("nightly", res.region)
        public = round(itype.rate * res.region.price_factor, 4)
        rate = round(public * float(self.rng.uniform(0.3, 0.4)), 4)
        usage_type = f"{res.region.prefix}SpotUsage:{type_name}"
        zone = int(self.rng.integers(1, 64))
        self._meter(
            r,
            product_code="AmazonEC2",
            usage_type=usage_type,
            operation=f"RunInstances:SV{zone:03d}",
            rate=rate,
            public_rate=public,
            amount_model=_A_SPOT,
            mask=res.active,
            unit="Hrs",
            description=f"{type_name} Linux/UNIX Spot Instance-hour in {res.region.location} "
            f"in VPC Zone #{zone}",
            product=self._product(
                res.region,
                "Compute Instance",
                "AmazonEC2",
                usage_type,
                f"RunInstances:SV{zone:03d}",
                instanceType=type_name,
                instanceFamily=itype.family,
                vcpu=str(itype.vcpu),
                memory=itype.memory,
                physicalProcessor=itype.processor,
                processorArchitecture="64-bit",
                operatingSystem="Linux",
                tenancy="Shared",
            ),
            term="",
            normalization=itype.normalization,
        )

    def database(
        self,
        env: str,
        *,
        core: bool = False,
        db_class: str | None = None,
        region: _Region | None = None,
        account: int | None = None,
    ) -> int:
        db_class = db_class or str(self.rng.choice(list(DB_TYPES)))
        family, vcpu, memory, processor, base_rate, normalization = DB_TYPES[db_class]
        r = self._add("rds", env, core=core, region=region, account=account, spec=db_class)
        res = self.resources[r]
        name = self._name(f"{res.team}-{env}-pg")
        res.resource_id = f"arn:aws:rds:{res.region.code}:{self.accounts[res.account]}:db:{name}"
        rate = round(base_rate * res.region.price_factor, 4)
        usage_type = f"{res.region.prefix}InstanceUsage:{db_class}"
        return self._meter(
            r,
            product_code="AmazonRDS",
            usage_type=usage_type,
            operation="CreateDBInstance:0014",
            rate=rate,
            public_rate=rate,
            amount_model=_A_HOUR,
            mask=res.active,
            unit="Hrs",
            description=f"{_usd(rate)} per RDS {db_class} instance hour (or partial hour) "
            "running PostgreSQL",
            product=self._product(
                res.region,
                "Database Instance",
                "AmazonRDS",
                usage_type,
                "CreateDBInstance:0014",
                instanceType=db_class,
                instanceFamily=family,
                vcpu=str(vcpu),
                memory=memory,
                physicalProcessor=processor,
                processorArchitecture="64-bit",
            ),
            normalization=float(normalization),
        )

    def snapshot(self, env: str, *, core: bool = False) -> None:
        r = self._add("snapshot", env, core=core)
        res = self.resources[r]
        res.size_gb = float(self.rng.choice([8, 30, 100, 250, 800]))
        res.resource_id = self._arn(res, "ec2", f"snapshot/{self._hex_id('snap-')}")
        res.active &= self._daily()
        rate = round(SNAPSHOT_RATE * res.region.price_factor, 4)
        usage_type = f"{res.region.prefix}EBS:SnapshotUsage"
        self._meter(
            r,
            product_code="AmazonEC2",
            usage_type=usage_type,
            operation="CreateSnapshot",
            rate=rate,
            public_rate=rate,
            amount_model=_A_GBMO_DAY,
            mask=res.active,
            unit="GB-Mo",
            description=f"{_usd(rate)} per GB-Month of snapshot data stored - "
            f"{res.region.location}",
            product=self._product(
                res.region,
                "Storage Snapshot",
                "AmazonEC2",
                usage_type,
                "CreateSnapshot",
                storageMedia="Amazon S3",
            ),
        )

    def bucket(self, env: str, *, core: bool = False) -> None:
        r = self._add("s3", env, core=core)
        res = self.resources[r]
        project = str(self.rng.choice(PROJECTS[res.team]))
        res.resource_id = self._name(f"{project}-{env}-{_random_strings(self.rng, 1, 6, _HEX)[0]}")
        res.size_gb = float(self.rng.lognormal(math.log(300), 1.5))
        res.load = float(self.rng.lognormal(math.log(40), 1.2))
        storage = res.active & self._daily()
        requests = res.active & self._sparse(res.region, float(self.rng.uniform(0.1, 0.5)))
        storage_rate = round(S3_STORAGE_RATE * res.region.price_factor, 4)
        usage_type = f"{res.region.prefix}TimedStorage-ByteHrs"
        self._meter(
            r,
            product_code="AmazonS3",
            usage_type=usage_type,
            operation="StandardStorage",
            rate=storage_rate,
            public_rate=storage_rate,
            amount_model=_A_GBMO_DAY,
            mask=storage,
            unit="GB-Mo",
            description=f"{_usd(storage_rate)} per GB - first 50 TB / month of storage used",
            product=self._product(
                res.region,
                "Storage",
                "AmazonS3",
                usage_type,
                "StandardStorage",
            ),
        )
        put = self.rng.random() < 0.5
        rate = S3_PUT_RATE if put else S3_GET_RATE
        tier = "Requests-Tier1" if put else "Requests-Tier2"
        usage_type = f"{res.region.prefix}{tier}"
        operation = "PutObject" if put else "GetObject"
        what = "PUT, COPY, POST, or LIST requests" if put else "GET and all other requests"
        self._meter(
            r,
            product_code="AmazonS3",
            usage_type=usage_type,
            operation=operation,
            rate=rate,
            public_rate=rate,
            amount_model=_A_COUNT,
            mask=requests,
            unit="Requests",
            description=f"{_usd(rate * 1000)} per 1,000 {what}",
            product=self._product(
                res.region,
                "API Request",
                "AmazonS3",
                usage_type,
                operation,
            ),
        )

    def function(self, env: str, *, core: bool = False) -> None:
        r = self._add("lambda", env, core=core)
        res = self.resources[r]
        project = str(self.rng.choice(PROJECTS[res.team]))
        name = self._name(f"{project}-{env}-handler")
        res.resource_id = (
            f"arn:aws:lambda:{res.region.code}:{self.accounts[res.account]}:function:{name}"
        )
        res.load = float(self.rng.lognormal(math.log(400), 1.5))
        # Average GB-seconds per invocation: memory size times duration.
        res.size_gb = float(self.rng.choice([0.128, 0.512, 1.024])) * float(
            self.rng.lognormal(math.log(0.4), 0.8)
        )
        invoked = res.active & self._sparse(res.region, float(self.rng.uniform(0.25, 0.9)))
        for usage, unit, rate, model, text in (
            ("Request", "Requests", LAMBDA_REQUEST_RATE, _A_COUNT, "Total Requests"),
            ("Lambda-GB-Second", "Lambda-GB-Second", LAMBDA_GBS_RATE, _A_GBS, "Total Compute"),
        ):
            usage_type = f"{res.region.prefix}{usage}"
            self._meter(
                r,
                product_code="AWSLambda",
                usage_type=usage_type,
                operation="Invoke",
                rate=rate,
                public_rate=rate,
                amount_model=model,
                mask=invoked,
                unit=unit,
                description=f"AWS Lambda - {text} - {res.region.location}",
                product=self._product(res.region, "Serverless", "AWSLambda", usage_type, "Invoke"),
                sp_rate=round(rate * (1 - LAMBDA_SP_DISCOUNT), 12) if model == _A_GBS else math.nan,
            )

    def nat_gateway(self, env: str, *, core: bool = False) -> None:
        r = self._add("nat", env, core=core)
        res = self.resources[r]
        res.resource_id = self._arn(res, "ec2", f"natgateway/{self._hex_id('nat-')}")
        res.load = float(self.rng.lognormal(math.log(3), 1.0))
        rate_hour = round(NAT_HOUR_RATE * res.region.price_factor, 4)
        rate_gb = round(NAT_GB_RATE * res.region.price_factor, 4)
        for usage, unit, rate, model, text in (
            ("NatGateway-Hours", "Hrs", rate_hour, _A_HOUR, "per NAT Gateway Hour"),
            ("NatGateway-Bytes", "GB", rate_gb, _A_LOAD, "per GB Data Processed by NAT Gateways"),
        ):
            usage_type = f"{res.region.prefix}{usage}"
            self._meter(
                r,
                product_code="AmazonEC2",
                usage_type=usage_type,
                operation="NatGateway",
                rate=rate,
                public_rate=rate,
                amount_model=model,
                mask=res.active,
                unit=unit,
                description=f"{_usd(rate)} {text}",
                product=self._product(
                    res.region,
                    "NAT Gateway",
                    "AmazonEC2",
                    usage_type,
                    "NatGateway",
                ),
            )

    def load_balancer(self, env: str, *, core: bool = False) -> None:
        r = self._add("elb", env, core=core)
        res = self.resources[r]
        name = self._name(f"{res.team}-{env}-alb")
        suffix = _random_strings(self.rng, 1, 16, _HEX)[0]
        res.resource_id = (
            f"arn:aws:elasticloadbalancing:{res.region.code}:{self.accounts[res.account]}:"
            f"loadbalancer/app/{name}/{suffix}"
        )
        # Some load balancers serve nothing any more: tiny LCU usage, a clean-up candidate.
        idle = self.rng.random() < 0.25
        res.load = 0.0004 if idle else float(self.rng.lognormal(math.log(2), 0.8))
        rate_hour = round(ALB_HOUR_RATE * res.region.price_factor, 4)
        rate_lcu = round(ALB_LCU_RATE * res.region.price_factor, 4)
        for usage, unit, rate, model, text in (
            (
                "LoadBalancerUsage",
                "Hrs",
                rate_hour,
                _A_HOUR,
                "per Application LoadBalancer-hour (or partial hour)",
            ),
            (
                "LCUUsage",
                "LCU-Hrs",
                rate_lcu,
                _A_LOAD,
                "per used Application load balancer capacity unit-hour (or partial hour)",
            ),
        ):
            usage_type = f"{res.region.prefix}{usage}"
            self._meter(
                r,
                product_code="AWSELB",
                usage_type=usage_type,
                operation="LoadBalancing:Application",
                rate=rate,
                public_rate=rate,
                amount_model=model,
                mask=res.active,
                unit=unit,
                description=f"{_usd(rate)} {text}",
                product=self._product(
                    res.region,
                    "Load Balancer-Application",
                    "AWSELB",
                    usage_type,
                    "LoadBalancing:Application",
                ),
            )

    def elastic_ip(self, env: str, *, core: bool = False) -> None:
        r = self._add("eip", env, core=core)
        res = self.resources[r]
        res.resource_id = self._hex_id("eipalloc-")
        rate = round(EIP_IDLE_RATE * res.region.price_factor, 4)
        usage_type = f"{res.region.prefix}ElasticIP:IdleAddress"
        self._meter(
            r,
            product_code="AmazonEC2",
            usage_type=usage_type,
            operation="AssociateAddressVPC",
            rate=rate,
            public_rate=rate,
            amount_model=_A_HOUR,
            mask=res.active,
            unit="Hrs",
            description=f"{_usd(rate)} per Elastic IP address not attached to a running "
            "instance per hour (prorated)",
            product=self._product(
                res.region,
                "IP Address",
                "AmazonEC2",
                usage_type,
                "AssociateAddressVPC",
            ),
        )

    def reserve(self, meter: int, *, start: int, option: str, lease: str) -> None:
        """Buy a reservation for the resource behind ``meter``, effective from hour ``start``."""
        m = self.meters[meter]
        res = self.resources[m.resource]
        term = 8760 if lease == "1yr" else 26280
        if start + term <= 0:
            return
        discount = {"All Upfront": 0.40, "Partial Upfront": 0.38, "No Upfront": 0.33}[option]
        discount += 0.2 if lease == "3yr" else 0.0
        effective = m.rate * (1 - discount)
        upfront = {"All Upfront": 1.0, "Partial Upfront": 0.5, "No Upfront": 0.0}[option]
        upfront_fee = float(round(effective * term * upfront))
        recurring = round(effective * (1 - upfront), 4)
        account = self.accounts[res.account]
        reservation_id = _uuid4(self.rng)
        if m.product_code == "AmazonEC2":
            arn = f"arn:aws:ec2:{res.region.code}:{account}:reserved-instances/{reservation_id}"
            what = f"Linux/UNIX (Amazon VPC), {res.spec}"
        else:
            arn = f"arn:aws:rds:{res.region.code}:{account}:ri:{res.team}-{reservation_id[:8]}"
            what = f"PostgreSQL, {res.spec}"
        m.reservation = len(self.reservations)
        self.reservations.append(
            _Reservation(
                arn=arn,
                meter=meter,
                account=res.account,
                start=start,
                end=start + term,
                upfront=upfront_fee,
                recurring=recurring,
                amortized_hourly=round(upfront_fee / term, 10),
                purchase_option=option,
                lease=lease,
                offering_class="standard" if lease == "1yr" else "convertible",
                product_code=m.product_code,
                usage_type=f"{res.region.prefix}HeavyUsage:{res.spec}",
                operation=m.operation,
                description=f"USD {recurring} hourly fee per {what} instance",
                subscription_id=str(int(self.rng.integers(10**9, 10**10))),
            )
        )

    # -- the whole fleet -----------------------------------------------------------------

    def build(self, budget: float) -> _Fleet:
        """Core resources first (one of each service and charge type), then more until
        the expected line items reach ``budget``."""
        prod = self.roles.index("prod")
        us_east = REGIONS[0]

        # Reservations: one bought long ago (partial upfront), one bought as the horizon starts
        # (all upfront: its purchase is a Fee line in the first month).
        ri_instance = self.instance(
            "prod",
            core=True,
            pattern="always",
            type_name="m5.xlarge",
            region=us_east,
            account=prod,
            volume=False,
        )
        self.reserve(
            ri_instance,
            start=-24 * int(self.rng.integers(60, 300)),
            option="Partial Upfront",
            lease="1yr",
        )
        ri_database = self.database(
            "prod", core=True, db_class="db.r5.large", region=us_east, account=prod
        )
        self.reserve(ri_database, start=0, option="All Upfront", lease="1yr")
        # Savings Plan material: a production box around the clock, a developer's by day.
        self.instance("prod", core=True, pattern="always", type_name="c6g.xlarge", volume=False)
        self.instance("dev", core=True, pattern="office", type_name="t3.medium", volume=False)
        self.spot("prod", core=True)
        self.volume("dev", core=True, api="gp2")  # unattached, forgotten
        self.volume("prod", core=True, api="gp3")
        self.snapshot("dev", core=True)
        self.bucket("prod", core=True)
        self.function("prod", core=True)
        self.nat_gateway("prod", core=True)
        self.load_balancer("prod", core=True)
        self.elastic_ip("dev", core=True)

        core_rows = self._expected_rows()
        if core_rows > 0.8 * budget:
            self._shrink_core(0.8 * budget / core_rows)

        kinds = list(_EXTRA_KINDS)
        weights = np.array(list(_EXTRA_KINDS.values()))
        remaining = budget - self._expected_rows()
        while remaining > 0:
            first_meter = len(self.meters)
            kind = kinds[int(self.rng.choice(len(kinds), p=weights / weights.sum()))]
            self._extra(kind)
            added = self._expected_rows(first_meter)
            if added > remaining:
                self._truncate(first_meter, remaining / added)
            remaining -= added

        self._tag()
        savings_plan = self._savings_plan()
        return _Fleet(
            self.payer,
            self.accounts,
            self.roles,
            self.resources,
            self.meters,
            self.reservations,
            savings_plan,
        )

    def _extra(self, kind: str) -> None:
        env = str(self.rng.choice(["prod", "prod", "staging", "dev", "dev"]))
        if kind == "ec2":
            self.instance(env)
        elif kind == "ri":
            if self.rng.random() < 0.6:
                meter = self.instance("prod", pattern="always")
            else:
                meter = self.database("prod")
            lease = "1yr" if self.rng.random() < 0.7 else "3yr"
            option = str(self.rng.choice(["All Upfront", "Partial Upfront", "No Upfront"]))
            self.reserve(
                meter, start=-24 * int(self.rng.integers(10, 700)), option=option, lease=lease
            )
        elif kind == "spot":
            self.spot(env)
        elif kind == "rds":
            self.database(env)
        elif kind == "s3":
            self.bucket(env)
        elif kind == "lambda":
            self.function(env)
        elif kind == "nat":
            self.nat_gateway(env)
        elif kind == "elb":
            self.load_balancer(env)
        elif kind == "eip":
            self.elastic_ip(env)
        elif kind == "snapshot":
            self.snapshot(env)
        elif kind == "ebs":
            self.volume(env)

    def _expected_rows(self, first_meter: int = 0) -> float:
        total = 0.0
        for meter in self.meters[first_meter:]:
            hours = float(meter.mask.sum())
            total += hours * (1 + _SP_EXTRA_ROWS) if not math.isnan(meter.sp_rate) else hours
        return total

    def _shrink_core(self, share: float) -> None:
        """Run each always-on core resource for one contiguous block of every month."""
        bounds = self.cal.month_start
        for res in self.resources:
            if not res.core or res.active.mean() < 0.9:
                continue
            keep = np.zeros(self.cal.hours, dtype=bool)
            for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
                length = max(24, int((hi - lo) * share))
                offset = int(self.rng.integers(0, max(1, hi - lo - length + 1)))
                keep[lo + offset : lo + offset + length] = True
            res.active &= keep
        for meter in self.meters:
            meter.mask &= self.resources[meter.resource].active

    def _truncate(self, first_meter: int, share: float) -> None:
        """Launch the last resource late enough that the fleet ends near its budget."""
        start = int(self.cal.hours * (1 - share))
        for meter in self.meters[first_meter:]:
            meter.mask[:start] = False
            self.resources[meter.resource].active[:start] = False

    def _tag(self) -> None:
        """Write messy tags, each one resolvable to the resource's true team and env."""
        n = len(self.resources)
        order = self.rng.permutation(n)
        n_untagged = max(1, round(0.2 * n))
        n_blank_team = max(1, round(0.06 * n))
        team_keys = list(TEAM_KEYS)
        for position, r in enumerate(order):
            res = self.resources[r]
            if self.rng.random() < 0.5:
                who = str(self.rng.choice(["terraform", "ci-deployer", "jdoe", "asmith"]))
                res.tags["aws:createdBy"] = f"AssumedRole:AROA{self._role_suffix(who)}:{who}"
            if position < n_untagged:
                continue
            blank_team = position < n_untagged + n_blank_team
            # Every key variant shows up, whatever the fleet size, then they mix at random.
            variant = position - n_untagged - n_blank_team
            if 0 <= variant < len(team_keys):
                team_key = team_keys[variant]
            else:
                team_key = str(self.rng.choice(team_keys, p=[0.5, 0.25, 0.25]))
            if blank_team:
                # An empty or blank value: the key is there, the owner is not.
                res.tags[team_key] = str(self.rng.choice(["", " "]))
            else:
                team = res.team
                res.tags[team_key] = str(
                    self.rng.choice(
                        [team, team.title(), team.upper(), f" {team} ", f"{team.title()} "]
                    )
                )
                res.team_key = team
            if self.rng.random() < 0.9:
                env_key = str(self.rng.choice(ENV_KEYS, p=[0.6, 0.4]))
                res.tags[env_key] = str(self.rng.choice(ENV_SPELLINGS[res.env]))
                res.env_key = res.env
            if self.rng.random() < 0.7:
                res.tags["user:Project"] = str(self.rng.choice(PROJECTS[res.team]))

    def _role_suffix(self, who: str) -> str:
        # IAM role ids are "AROA" and 17 more characters.
        return hashlib.blake2b(who.encode(), digest_size=9).hexdigest().upper()[:17]

    def _savings_plan(self) -> _SavingsPlan:
        """A no-upfront Compute Savings Plan, bought before the horizon and lasting through it,
        with a commitment below the typical busy hour's eligible usage: quiet hours (nights,
        weekends) leave part of it unused."""
        start = -24 * int(self.rng.integers(30, 200))
        plan = _SavingsPlan(
            arn=f"arn:aws:savingsplans::{self.payer}:savingsplan/{_uuid4(self.rng)}",
            account=0,
            start=start,
            # A 3-year plan when a 1-year one would run out inside the horizon.
            end=start + (8760 if start + 8760 >= self.cal.hours else 26280),
        )
        plan.term = "1yr" if plan.end - plan.start == 8760 else "3yr"
        eligible = np.zeros(self.cal.hours)
        for meter in self.meters:
            if math.isnan(meter.sp_rate) or meter.reservation >= 0:
                continue
            res = self.resources[meter.resource]
            typical = meter.sp_rate * (
                res.load * res.size_gb if meter.amount_model == _A_GBS else 1.0
            )
            eligible += meter.mask * typical
        busy = eligible[eligible > 0]
        typical_hour = float(np.quantile(busy, 0.35)) if len(busy) else 0.0
        plan.commitment = max(0.01, round(typical_hour, 3))
        return plan


# ---------------------------------------------------------------------------------------------
# One billing period: simulate the month and lay out its line items
# ---------------------------------------------------------------------------------------------


@dataclass
class _Block:
    """Line items that share a layout. Each column is an array of CSV-ready fields, one
    text for every row, or missing (an empty field)."""

    rows: int
    columns: dict[str, pa.Array | str]


@dataclass
class _Assembly:
    assembly_id: str
    blocks: list[_Block]
    truth: PeriodTruth | None


class _Tally:
    """Sums unblended and amortized cost by line item type, team, env and service."""

    def __init__(self) -> None:
        self.rows = 0
        self.unblended: dict[str, float] = {}
        self.amortized = {"team": {}, "env": {}, "service": {}}
        self.net_unblended = 0.0
        self.net_amortized = 0.0
        self.public_on_demand = 0.0

    def add(
        self,
        line_type: str,
        unblended: float,
        amortized: float,
        service: str,
        team: str = UNTAGGED,
        env: str = UNTAGGED,
    ) -> None:
        self.rows += 1
        self.unblended[line_type] = self.unblended.get(line_type, 0.0) + unblended
        # The EDP discount comes off every other charge; its own lines are inside the net
        # amounts already.
        if line_type == "EdpDiscount":
            net = 0.0
        elif line_type in _NOT_DISCOUNTED:
            net = 1.0
        else:
            net = 1.0 - EDP_DISCOUNT_RATE
        self.net_unblended += unblended * net
        self.net_amortized += amortized * net
        for group, key in (("team", team), ("env", env), ("service", service)):
            bucket = self.amortized[group]
            bucket[key] = bucket.get(key, 0.0) + amortized

    def add_many(
        self,
        line_type: np.ndarray,
        unblended: np.ndarray,
        amortized: np.ndarray,
        service: np.ndarray,
        team: np.ndarray,
        env: np.ndarray,
        names: dict,
        public_on_demand: np.ndarray,
    ) -> None:
        """Vectorised ``add`` over metered lines; ``names`` maps each code array to its labels."""
        self.rows += len(line_type)
        # Metered usage is all discounted by the EDP.
        self.net_unblended += float(np.sum(unblended)) * (1.0 - EDP_DISCOUNT_RATE)
        self.net_amortized += float(np.sum(amortized)) * (1.0 - EDP_DISCOUNT_RATE)
        self.public_on_demand += float(np.sum(public_on_demand))
        for code, label in enumerate(_METERED_TYPES):
            hit = line_type == code
            if hit.any():
                self.unblended[label] = self.unblended.get(label, 0.0) + float(
                    np.sum(unblended[hit])
                )
        for group, codes in (("team", team), ("env", env), ("service", service)):
            labels = names[group]
            sums = np.bincount(codes, weights=amortized, minlength=len(labels))
            present = np.bincount(codes, minlength=len(labels)) > 0
            bucket = self.amortized[group]
            for i in np.flatnonzero(present):
                bucket[labels[i]] = bucket.get(labels[i], 0.0) + float(sums[i])

    def truth(self, assembly_id: str) -> PeriodTruth:
        def ordered(values: dict[str, float]) -> dict[str, float]:
            return {key: values[key] for key in sorted(values)}

        unblended = ordered(self.unblended)
        return PeriodTruth(
            assembly_id=assembly_id,
            rows=self.rows,
            unblended=float(sum(unblended.values())),
            amortized=float(sum(self.amortized["service"].values())),
            unblended_by_line_item_type=unblended,
            amortized_by_team=ordered(self.amortized["team"]),
            amortized_by_env=ordered(self.amortized["env"]),
            amortized_by_service=ordered(self.amortized["service"]),
            net_unblended=self.net_unblended,
            net_amortized=self.net_amortized,
            public_on_demand=self.public_on_demand,
        )


class _Simulator:
    """Turns the fleet into line items, one billing period (or a cut-off part of it) at a time."""

    def __init__(self, fleet: _Fleet, cal: _Calendar, seed: int, id_rng: np.random.Generator):
        self.fleet = fleet
        self.cal = cal
        self.seed = seed
        meters = fleet.meters
        resources = fleet.resources
        n = len(meters)
        self.mask = np.stack([m.mask for m in meters]) if meters else np.zeros((0, cal.hours), bool)
        self.m_resource = np.array([m.resource for m in meters], dtype=np.int64)
        self.m_model = np.array([m.amount_model for m in meters], dtype=np.int64)
        self.m_rate = np.array([m.rate for m in meters])
        self.m_public = np.array([m.public_rate for m in meters])
        self.m_sp_rate = np.array([m.sp_rate for m in meters])
        self.m_nf = np.array([m.normalization for m in meters])
        self.m_reservation = np.array([m.reservation for m in meters], dtype=np.int64)
        self.m_size = np.array([resources[m.resource].size_gb for m in meters])
        self.m_load = np.array([resources[m.resource].load for m in meters])
        region_index = {r.code: i for i, r in enumerate(REGIONS)}
        self.m_region = np.array(
            [region_index[resources[m.resource].region.code] for m in meters], dtype=np.int64
        )
        self.curves = np.stack([cal.load_curve(r) for r in REGIONS])

        # Labels for the truth, as codes per meter.
        self.services = sorted({m.product_code for m in meters})
        self.teams = sorted({r.team_key for r in resources} | {UNTAGGED})
        self.envs = sorted({r.env_key for r in resources} | {UNTAGGED})
        self.m_service = np.array([self.services.index(m.product_code) for m in meters])
        self.m_team = np.array([self.teams.index(resources[m.resource].team_key) for m in meters])
        self.m_env = np.array([self.envs.index(resources[m.resource].env_key) for m in meters])

        # Per-meter fields, ready to be taken row by row.
        plan = fleet.savings_plan
        self.static: dict[str, pa.Array] = {}
        static_rows: dict[str, list[str | None]] = {}

        def put(column: str, values: list) -> None:
            static_rows[column] = values

        put(
            "lineItem/UsageAccountId",
            [fleet.accounts[resources[m.resource].account] for m in meters],
        )
        put("lineItem/ProductCode", [m.product_code for m in meters])
        put("lineItem/UsageType", [m.usage_type for m in meters])
        put("lineItem/Operation", [m.operation for m in meters])
        put(
            "lineItem/AvailabilityZone",
            [
                resources[m.resource].az
                if m.product_code in ("AmazonEC2", "AmazonRDS")
                and resources[m.resource].kind not in ("nat", "eip", "snapshot")
                else ""
                for m in meters
            ],
        )
        put("lineItem/ResourceId", [resources[m.resource].resource_id for m in meters])
        put("pricing/unit", [m.unit for m in meters])
        product_columns = [c for c in COLUMN_NAMES if c.startswith("product/")]
        for column in product_columns:
            put(column, [m.product.get(column, "") for m in meters])
        for column in COLUMN_NAMES:
            if column.startswith("resourceTags/"):
                key = column.split("/", 1)[1]
                put(column, [resources[m.resource].tags.get(key, "") for m in meters])
        for column, values in static_rows.items():
            self.static[column] = _texts(values)
        self.static["lineItem/NormalizationFactor"] = _numbers(self.m_nf)
        public_text = [java_double_text(m.public_rate) for m in meters]
        self.static["pricing/publicOnDemandRate"] = _texts(public_text)

        # Fields that depend on the meter and the kind of line: (meter * 4 + kind).
        line_ids = _random_strings(id_rng, 4 * n, 52, _BASE32)
        self.by_kind: dict[str, pa.Array] = {"identity/LineItemId": pa.array(line_ids)}
        rate_text, description, term = [], [], []
        for m in meters:
            rate = java_double_text(m.rate)
            reservation = fleet.reservations[m.reservation] if m.reservation >= 0 else None
            res = resources[m.resource]
            rate_text += [rate, "0.0", rate, java_double_text(-m.rate)]
            applied = (
                reservation.description.split(" per ", 1)[1].removesuffix(" instance")
                if reservation
                else ""
            )
            description += [
                m.description,
                f"{applied} reserved instance applied",
                m.description,
                f"SavingsPlanNegation used by AccountId : {fleet.accounts[res.account]} "
                f"and UsageSku : {m.product['product/sku']}",
            ]
            term += [m.term, "Reserved", "OnDemand", "OnDemand"]
        self.by_kind["lineItem/UnblendedRate"] = _texts(rate_text)
        self.by_kind["lineItem/LineItemDescription"] = _texts(description)
        self.by_kind["pricing/term"] = _texts(term)

        # Reservation fields, taken by reservation index.
        reservations = fleet.reservations
        self.ri_text = {
            "reservation/ReservationARN": _texts([r.arn for r in reservations]),
            "pricing/purchaseOption": _texts([r.purchase_option for r in reservations]),
            "pricing/LeaseContractLength": _texts([r.lease for r in reservations]),
            "pricing/OfferingClass": _texts([r.offering_class for r in reservations]),
        }
        self.ri_start = np.array([r.start for r in reservations], dtype=np.int64)
        self.ri_end = np.array([r.end for r in reservations], dtype=np.int64)
        self.ri_hourly = np.array(
            [round(r.amortized_hourly + r.recurring, 10) for r in reservations]
        )
        self.plan_start_text = cal.aws_time(plan.start)
        self.plan_end_text = cal.aws_time(plan.end)
        self.line_type_text = _texts(list(_METERED_TYPES))

    # -- usage --------------------------------------------------------------------------

    def _amounts(self, meter: np.ndarray, hour: np.ndarray, month_hours: int) -> np.ndarray:
        model = self.m_model[meter]
        resource = self.m_resource[meter]
        noise = _noise(resource, hour, self.seed * 7919 + 17)
        curve = self.curves[self.m_region[meter], hour]
        amount = np.ones(len(meter))

        spot = model == _A_SPOT
        if spot.any():
            # Spot runs end mid-hour: per-second billing leaves a partial last hour.
            nxt = np.minimum(hour + 1, self.cal.hours - 1)
            last = spot & ~self.mask[meter, nxt]
            amount[last] = np.round(0.05 + 0.9 * noise[last], 4)

        ebs = model == _A_GBMO_HOUR
        amount[ebs] = self.m_size[meter[ebs]] / month_hours

        daily = model == _A_GBMO_DAY
        growth = 1.0 + 0.2 * hour[daily] / self.cal.hours
        amount[daily] = self.m_size[meter[daily]] * growth * 24.0 / month_hours

        counted = (model == _A_COUNT) | (model == _A_GBS)
        calls = np.maximum(1.0, np.round(self.m_load[meter] * curve * (0.4 + 1.2 * noise)))
        amount[counted] = calls[counted]
        gbs = model == _A_GBS
        amount[gbs] = calls[gbs] * self.m_size[meter[gbs]]

        load = model == _A_LOAD
        amount[load] = self.m_load[meter[load]] * curve[load] * (0.6 + 0.8 * noise[load])
        return np.round(amount, 10)

    def _cover(
        self,
        meter: np.ndarray,
        hour: np.ndarray,
        eligible: np.ndarray,
        effective: np.ndarray,
        commitment: float,
    ) -> np.ndarray:
        """AWS's Savings Plan order: each hour, the highest discount first, until the hourly
        commitment is spent. Returns the covered share of each line: 1, 0, or in between for
        the one line per hour that crosses the limit."""
        share = np.zeros(len(meter))
        candidates = np.flatnonzero(eligible & (effective > 0))
        if len(candidates) == 0:
            return share
        discount = 1.0 - self.m_sp_rate[meter[candidates]] / self.m_rate[meter[candidates]]
        order = candidates[np.lexsort((meter[candidates], -discount, hour[candidates]))]
        cost = effective[order]
        spent = np.cumsum(cost)
        new_hour = np.ones(len(order), dtype=bool)
        new_hour[1:] = hour[order][1:] != hour[order][:-1]
        before = spent - cost - np.maximum.accumulate(np.where(new_hour, spent - cost, -np.inf))
        share[order] = np.clip((commitment - before) / cost, 0.0, 1.0)
        return share

    # -- one assembly ---------------------------------------------------------------------

    def assembly(
        self,
        month: int,
        assembly_id: str,
        invoice_id: str,
        days: int | None,
        rng: np.random.Generator,
    ) -> _Assembly:
        """The line items of billing period ``month``: complete when ``days`` is None (the
        assembly the manifest names), else only its first ``days`` days (an older delivery)."""
        fleet, cal = self.fleet, self.cal
        h0, h1 = int(cal.month_start[month]), int(cal.month_start[month + 1])
        month_hours = h1 - h0
        final = days is None
        limit = h1 if final else min(h1, h0 + 24 * days)
        tally = _Tally() if final else None
        period = {
            "bill/InvoiceId": invoice_id if final else "",
            "bill/InvoicingEntity": _quote(LEGAL_ENTITY),
            "bill/BillingEntity": "AWS",
            "bill/BillType": "Anniversary",
            "bill/PayerAccountId": fleet.payer,
            "bill/BillingPeriodStartDate": cal.iso(h0),
            "bill/BillingPeriodEndDate": cal.iso(h1),
            "lineItem/CurrencyCode": "USD",
            "lineItem/LegalEntity": _quote(LEGAL_ENTITY),
        }
        period = {key: value for key, value in period.items() if value}

        # Usage: every active (meter, hour) of the period, grouped by meter like AWS's files.
        meter, rel = np.nonzero(self.mask[:, h0:limit])
        hour = rel + h0
        amount = self._amounts(meter, hour, month_hours)

        # Reservations first: they cover their instance's hours inside their term.
        reservation = self.m_reservation[meter]
        has_ri = reservation >= 0
        ri = np.where(has_ri, reservation, 0)
        discounted = (
            has_ri & (hour >= self.ri_start[ri]) & (hour < self.ri_end[ri])
            if len(self.ri_start)
            else np.zeros(len(meter), dtype=bool)
        )

        # Then the Savings Plan, on what is left of the eligible usage.
        plan = fleet.savings_plan
        sp_rate = np.nan_to_num(self.m_sp_rate[meter])
        eligible = (
            ~discounted
            & ~np.isnan(self.m_sp_rate[meter])
            & (hour >= plan.start)
            & (hour < plan.end)
        )
        share = self._cover(meter, hour, eligible, np.round(amount * sp_rate, 10), plan.commitment)
        # The line that crosses the commitment is split, as AWS splits it: the covered part
        # and an on-demand remainder.
        split = np.flatnonzero((share > 0) & (share < 1))
        covered_amount = np.floor(amount[split] * share[split] * 1e10) / 1e10
        meter = np.concatenate([meter, meter[split]])
        hour = np.concatenate([hour, hour[split]])
        ri = np.concatenate([ri, ri[split]])
        discounted = np.concatenate([discounted, np.zeros(len(split), dtype=bool)])
        covered = np.concatenate([share > 0, np.zeros(len(split), dtype=bool)])
        amount = np.concatenate([amount, np.round(amount[split] - covered_amount, 10)])
        amount[split] = covered_amount
        on_demand = np.round(amount * self.m_rate[meter], 10)
        sp_effective = np.round(amount * np.nan_to_num(self.m_sp_rate[meter]), 10)

        kind = np.full(len(meter), _USAGE, dtype=np.int64)
        kind[discounted] = _DISCOUNTED
        kind[covered] = _COVERED
        negated = np.flatnonzero(covered)
        line = np.concatenate([np.arange(len(meter)), negated])
        line_kind = np.concatenate([kind, np.full(len(negated), _NEGATION)])
        order = np.lexsort((line_kind, hour[line], meter[line]))
        line, line_kind = line[order], line_kind[order]
        blocks = [
            self._metered_block(
                line, line_kind, meter, hour, amount, on_demand, sp_effective, ri, period
            )
        ]

        if tally is not None:
            lm = meter[line]
            unblended = np.select(
                [line_kind == _DISCOUNTED, line_kind == _NEGATION],
                [0.0, -on_demand[line]],
                on_demand[line],
            )
            amortized = np.select(
                [line_kind == _DISCOUNTED, line_kind == _COVERED, line_kind == _NEGATION],
                [self.ri_hourly[ri[line]] if len(self.ri_hourly) else 0.0, sp_effective[line], 0.0],
                on_demand[line],
            )
            tally.add_many(
                line_kind,
                unblended,
                amortized,
                self.m_service[lm],
                self.m_team[lm],
                self.m_env[lm],
                {"team": self.teams, "env": self.envs, "service": self.services},
                np.where(line_kind == _NEGATION, 0.0, amount[line] * self.m_public[lm]),
            )

        # The Savings Plan's hourly fee: the commitment, and how much of it usage used.
        used = np.bincount(hour[covered] - h0, weights=sp_effective[covered], minlength=month_hours)
        blocks.append(self._savings_plan_fees(h0, h1, limit, used, period, rng, tally))

        # Reservation fees, and the upfront payment of any bought this month.
        hours_used = np.bincount(ri[discounted], minlength=len(fleet.reservations))
        rows: list[dict] = []
        for j, reserved in enumerate(fleet.reservations):
            rows += self._reservation_lines(reserved, h0, h1, limit, int(hours_used[j]), tally)

        if final:
            rows += self._month_end_lines(h0, h1, meter, on_demand, kind, rows, used, tally)
        if rows:
            blocks.append(_small_block(rows, period, rng))
        return _Assembly(assembly_id, blocks, tally.truth(assembly_id) if tally else None)

    def _metered_block(
        self, line, line_kind, meter, hour, amount, on_demand, sp_effective, ri, period
    ) -> _Block:
        lm, lh = meter[line], hour[line]
        cal = self.cal
        by_kind = lm * 4 + line_kind
        is_discounted = line_kind == _DISCOUNTED
        is_covered = line_kind == _COVERED
        is_negation = line_kind == _NEGATION
        line_amount = amount[line]
        unblended = np.select(
            [is_discounted, is_negation], [0.0, -on_demand[line]], on_demand[line]
        )
        public_cost = np.where(is_negation, 0.0, np.round(line_amount * self.m_public[lm], 10))
        nan = np.full(len(line), np.nan)
        ri_index = np.where(is_discounted, ri[line], -1)

        columns: dict[str, pa.Array | str] = dict(period)
        for column, lookup in self.static.items():
            columns[column] = lookup.take(pa.array(lm))
        for column, lookup in self.by_kind.items():
            columns[column] = lookup.take(pa.array(by_kind))
        rate_text = columns["lineItem/UnblendedRate"]
        columns.update(
            {
                "identity/TimeInterval": cal.interval.take(pa.array(lh)),
                "lineItem/LineItemType": self.line_type_text.take(pa.array(line_kind)),
                "lineItem/UsageStartDate": cal.stamp.take(pa.array(lh)),
                "lineItem/UsageEndDate": cal.stamp.take(pa.array(lh + 1)),
                "lineItem/UsageAmount": _numbers(line_amount),
                "lineItem/NormalizedUsageAmount": _numbers(line_amount * self.m_nf[lm]),
                "lineItem/UnblendedCost": (cost := _numbers(unblended)),
                "lineItem/NetUnblendedCost": _numbers(unblended * (1.0 - EDP_DISCOUNT_RATE)),
                "lineItem/BlendedRate": rate_text,
                "lineItem/BlendedCost": cost,
                "pricing/publicOnDemandCost": _numbers(public_cost),
            }
        )
        if is_discounted.any():
            hourly = self.ri_hourly[ri[line]]
            upfront = np.array([r.amortized_hourly for r in self.fleet.reservations])[ri[line]]
            recurring = np.array([r.recurring for r in self.fleet.reservations])[ri[line]]
            columns["reservation/EffectiveCost"] = _numbers(np.where(is_discounted, hourly, nan))
            columns["reservation/NetEffectiveCost"] = _numbers(
                np.where(is_discounted, hourly * (1.0 - EDP_DISCOUNT_RATE), nan)
            )
            columns["reservation/AmortizedUpfrontCostForUsage"] = _numbers(
                np.where(is_discounted, upfront, nan)
            )
            columns["reservation/RecurringFeeForUsage"] = _numbers(
                np.where(is_discounted, recurring, nan)
            )
            for column, lookup in self.ri_text.items():
                columns[column] = _take(lookup, ri_index)
        if (is_covered | is_negation).any():
            plan = is_covered | is_negation
            plan_index = np.where(plan, 0, -1)
            columns["savingsPlan/SavingsPlanARN"] = _take(
                _texts([self.fleet.savings_plan.arn]), plan_index
            )
            columns["savingsPlan/SavingsPlanRate"] = _numbers(
                np.where(is_covered, self.m_sp_rate[lm], nan)
            )
            columns["savingsPlan/SavingsPlanEffectiveCost"] = _numbers(
                np.where(is_covered, sp_effective[line], nan)
            )
            columns["savingsPlan/NetSavingsPlanEffectiveCost"] = _numbers(
                np.where(is_covered, sp_effective[line] * (1.0 - EDP_DISCOUNT_RATE), nan)
            )
            columns["savingsPlan/StartTime"] = _take(_texts([self.plan_start_text]), plan_index)
            columns["savingsPlan/EndTime"] = _take(_texts([self.plan_end_text]), plan_index)
            columns["savingsPlan/OfferingType"] = _take(_texts(["ComputeSavingsPlans"]), plan_index)
        return _Block(len(line), columns)

    def _savings_plan_fees(self, h0, h1, limit, used, period, rng, tally) -> _Block:
        plan = self.fleet.savings_plan
        lo, hi = max(h0, plan.start), min(limit, plan.end)
        hours = np.arange(lo, max(lo, hi))
        commitment = plan.commitment
        used_here = np.round(used[hours - h0], 10)
        active_in_period = max(0, min(h1, plan.end) - max(h0, plan.start))
        if tally is not None:
            for spent in used_here:
                tally.add(
                    "SavingsPlanRecurringFee", commitment, commitment - spent, "ComputeSavingsPlans"
                )
        n = len(hours)
        kind = f"ComputeSP:{plan.term}NoUpfront"
        columns: dict[str, pa.Array | str] = dict(period)
        columns.update(
            {
                "identity/LineItemId": _random_strings(rng, 1, 52, _BASE32)[0],
                "identity/TimeInterval": self.cal.interval.take(pa.array(hours)),
                "lineItem/UsageAccountId": self.fleet.accounts[plan.account],
                "lineItem/LineItemType": "SavingsPlanRecurringFee",
                "lineItem/UsageStartDate": self.cal.stamp.take(pa.array(hours)),
                "lineItem/UsageEndDate": self.cal.stamp.take(pa.array(hours + 1)),
                "lineItem/ProductCode": "ComputeSavingsPlans",
                "lineItem/UsageType": kind,
                "lineItem/ResourceId": plan.arn,
                "lineItem/UsageAmount": "1.0",
                "lineItem/UnblendedRate": java_double_text(commitment),
                "lineItem/UnblendedCost": java_double_text(commitment),
                "lineItem/NetUnblendedCost": java_double_text(
                    commitment * (1.0 - EDP_DISCOUNT_RATE)
                ),
                "lineItem/BlendedRate": java_double_text(commitment),
                "lineItem/BlendedCost": java_double_text(commitment),
                "lineItem/LineItemDescription": f"{plan.term[0]} year No Upfront Compute "
                "Savings Plan",
                "product/ProductName": PRODUCT_NAMES["ComputeSavingsPlans"],
                "product/productFamily": "Savings Plans",
                "product/usagetype": kind,
                "pricing/publicOnDemandCost": "0.0",
                "savingsPlan/SavingsPlanARN": plan.arn,
                "savingsPlan/TotalCommitmentToDate": java_double_text(commitment),
                "savingsPlan/UsedCommitment": _numbers(used_here),
                "savingsPlan/RecurringCommitmentForBillingPeriod": java_double_text(
                    commitment * active_in_period
                ),
                "savingsPlan/AmortizedUpfrontCommitmentForBillingPeriod": "0.0",
                "savingsPlan/NetRecurringCommitmentForBillingPeriod": java_double_text(
                    commitment * active_in_period * (1.0 - EDP_DISCOUNT_RATE)
                ),
                "savingsPlan/StartTime": self.plan_start_text,
                "savingsPlan/EndTime": self.plan_end_text,
                "savingsPlan/OfferingType": "ComputeSavingsPlans",
            }
        )
        return _Block(n, columns)

    def _reservation_lines(
        self, r: _Reservation, h0: int, h1: int, limit: int, used: int, tally: _Tally | None
    ) -> list[dict]:
        """The month's RIFee line (and the purchase Fee when the reservation starts in it);
        ``used`` is how many reserved hours covered usage."""
        cal, fleet = self.cal, self.fleet
        reserved = max(0, min(h1, r.end) - max(h0, r.start))
        lines: list[dict] = []
        product = fleet.meters[r.meter].product
        common = {
            "product/ProductName": PRODUCT_NAMES[r.product_code],
            "product/region": product["product/region"],
            "product/regionCode": product["product/regionCode"],
            "product/location": product["product/location"],
            "lineItem/UsageAccountId": fleet.accounts[r.account],
            "lineItem/ProductCode": r.product_code,
            "lineItem/UsageType": r.usage_type,
            "lineItem/Operation": r.operation,
            "pricing/term": "Reserved",
            "pricing/purchaseOption": r.purchase_option,
            "pricing/LeaseContractLength": r.lease,
            "pricing/OfferingClass": r.offering_class,
            "reservation/ReservationARN": r.arn,
            "reservation/StartTime": cal.aws_time(r.start),
            "reservation/EndTime": cal.aws_time(r.end),
        }
        service = r.product_code
        if reserved:
            unused = reserved - used
            fee = r.recurring * reserved
            # AWS dates the monthly fee over the whole period, ending one second before it.
            lines.append(
                {
                    **common,
                    "identity/TimeInterval": f"{cal.iso(h0)}/{cal.stamp_text(h1, -1)}",
                    "lineItem/LineItemType": "RIFee",
                    "lineItem/UsageStartDate": cal.iso(h0),
                    "lineItem/UsageEndDate": cal.stamp_text(h1, -1),
                    "lineItem/UsageAmount": float(reserved),
                    "lineItem/NormalizationFactor": self.m_nf[r.meter],
                    "lineItem/NormalizedUsageAmount": reserved * self.m_nf[r.meter],
                    "lineItem/UnblendedRate": r.recurring,
                    "lineItem/UnblendedCost": fee,
                    "lineItem/BlendedRate": r.recurring,
                    "lineItem/BlendedCost": fee,
                    "lineItem/LineItemDescription": r.description,
                    "reservation/AmortizedUpfrontFeeForBillingPeriod": r.amortized_hourly
                    * reserved,
                    "reservation/UnusedAmortizedUpfrontFeeForBillingPeriod": r.amortized_hourly
                    * unused,
                    "reservation/UnusedRecurringFee": r.recurring * unused,
                    "reservation/UnusedQuantity": float(unused),
                    "lineItem/NetUnblendedCost": fee * (1.0 - EDP_DISCOUNT_RATE),
                    "reservation/NetAmortizedUpfrontFeeForBillingPeriod": r.amortized_hourly
                    * reserved
                    * (1.0 - EDP_DISCOUNT_RATE),
                    "reservation/NetUnusedAmortizedUpfrontFeeForBillingPeriod": r.amortized_hourly
                    * unused
                    * (1.0 - EDP_DISCOUNT_RATE),
                    "reservation/NetUnusedRecurringFee": r.recurring
                    * unused
                    * (1.0 - EDP_DISCOUNT_RATE),
                }
            )
            if tally is not None:
                # Amortized, a reservation costs its hourly rate for every reserved hour; the
                # covered hours were counted with the usage, the idle ones land here.
                tally.add(
                    "RIFee", round(fee, 10), (r.amortized_hourly + r.recurring) * unused, service
                )
        if r.upfront and h0 <= r.start < limit:
            lines.append(
                {
                    **common,
                    "identity/TimeInterval": cal.interval[r.start].as_py(),
                    "lineItem/LineItemType": "Fee",
                    "lineItem/UsageStartDate": cal.iso(r.start),
                    "lineItem/UsageEndDate": cal.iso(r.start + 1),
                    "lineItem/UsageAmount": 1.0,
                    "lineItem/UnblendedRate": r.upfront,
                    "lineItem/UnblendedCost": r.upfront,
                    "lineItem/NetUnblendedCost": r.upfront * (1.0 - EDP_DISCOUNT_RATE),
                    "lineItem/BlendedRate": r.upfront,
                    "lineItem/BlendedCost": r.upfront,
                    "lineItem/LineItemDescription": f"Sign up charge for subscription: "
                    f"{r.subscription_id}, planId: {r.subscription_id[-6:]}",
                }
            )
            if tally is not None:
                # Already spread over the term by the RIFee and DiscountedUsage lines.
                tally.add("Fee", r.upfront, 0.0, service)
        return lines

    def _month_end_lines(self, h0, h1, meter, on_demand, kind, lines, used, tally) -> list[dict]:
        """Support, credits, a refund and sales tax: charges AWS settles at month end."""
        fleet, cal = self.fleet, self.cal
        month = {
            "identity/TimeInterval": f"{cal.iso(h0)}/{cal.iso(h1)}",
            "lineItem/UsageStartDate": cal.iso(h0),
            "lineItem/UsageEndDate": cal.iso(h1),
        }
        # What each (account, service) was charged before tax.
        spend: dict[tuple[int, str], float] = {}
        account = np.array([fleet.resources[r].account for r in self.m_resource])
        charged = np.where(kind == _DISCOUNTED, 0.0, on_demand)
        keys = account[meter] * len(self.services) + self.m_service[meter]
        sums = np.bincount(
            keys, weights=charged, minlength=len(fleet.accounts) * len(self.services)
        )
        for key in np.flatnonzero(sums):
            spend[(int(key // len(self.services)), self.services[key % len(self.services)])] = (
                float(sums[key])
            )
        # Covered usage is charged at on-demand and negated again: net zero.
        covered = kind == _COVERED
        neg = np.bincount(keys[covered], weights=on_demand[covered], minlength=len(sums))
        for key in np.flatnonzero(neg):
            pair = (int(key // len(self.services)), self.services[key % len(self.services)])
            spend[pair] -= float(neg[key])
        plan_key = (fleet.savings_plan.account, "ComputeSavingsPlans")
        spend[plan_key] = spend.get(plan_key, 0.0) + fleet.savings_plan.commitment * len(used)
        for line in lines:
            pair = (
                fleet.accounts.index(line["lineItem/UsageAccountId"]),
                line["lineItem/ProductCode"],
            )
            spend[pair] = spend.get(pair, 0.0) + line["lineItem/UnblendedCost"]

        out: list[dict] = []
        usage_total = float(sum(spend.values()))
        support = round(_business_support(usage_total), 2)
        out.append(
            {
                **month,
                "lineItem/UsageAccountId": fleet.payer,
                "lineItem/LineItemType": "Fee",
                "lineItem/ProductCode": "AWSSupportBusiness",
                "lineItem/UsageType": "Dollar",
                "lineItem/UsageAmount": 1.0,
                "lineItem/UnblendedRate": support,
                "lineItem/UnblendedCost": support,
                "lineItem/NetUnblendedCost": support * (1.0 - EDP_DISCOUNT_RATE),
                "lineItem/BlendedRate": support,
                "lineItem/BlendedCost": support,
                "lineItem/LineItemDescription": "AWS Support (Business)",
                "product/ProductName": PRODUCT_NAMES["AWSSupportBusiness"],
                "product/productFamily": "AWS Support",
            }
        )
        tally.add("Fee", support, support, "AWSSupportBusiness")
        spend[(0, "AWSSupportBusiness")] = support

        def adjustment(
            line_type: str, account_index: int, service: str, amount: float, text: str
        ) -> None:
            out.append(
                {
                    **month,
                    "lineItem/UsageAccountId": fleet.accounts[account_index],
                    "lineItem/LineItemType": line_type,
                    "lineItem/ProductCode": service,
                    "lineItem/UsageAmount": 0.0,
                    "lineItem/UnblendedCost": amount,
                    "lineItem/NetUnblendedCost": amount,
                    "lineItem/BlendedCost": amount,
                    "lineItem/LineItemDescription": text,
                    "product/ProductName": PRODUCT_NAMES[service],
                }
            )
            tally.add(line_type, amount, amount, service)

        # Promotional credits on a non-production account's EC2, and an SLA refund.
        ec2 = {
            a: spend.get((a, "AmazonEC2"), 0.0)
            for a, role in enumerate(fleet.roles)
            if role not in ("payer", "prod")
        }
        credited = max(ec2, key=lambda a: (ec2[a], -a))
        if ec2[credited] > 0.01:
            adjustment(
                "Credit",
                credited,
                "AmazonEC2",
                -round(min(250.0, 0.25 * ec2[credited]), 2),
                "AWS Promotional Credit",
            )
        prod = self.fleet.roles.index("prod")
        prod_ec2 = spend.get((prod, "AmazonEC2"), 0.0)
        if prod_ec2 > 0.01:
            adjustment(
                "Refund",
                prod,
                "AmazonEC2",
                -round(0.02 * prod_ec2, 2),
                "Refund for Amazon EC2 service level agreement credit",
            )

        for (account_index, service), base in sorted(spend.items()):
            tax = round(base * SALES_TAX_RATE, 2)
            if tax <= 0:
                continue
            out.append(
                {
                    **month,
                    "lineItem/UsageAccountId": fleet.accounts[account_index],
                    "lineItem/LineItemType": "Tax",
                    "lineItem/ProductCode": service,
                    "lineItem/UsageAmount": 1.0,
                    "lineItem/UnblendedCost": tax,
                    "lineItem/NetUnblendedCost": tax,
                    "lineItem/BlendedCost": tax,
                    "lineItem/LineItemDescription": f"Tax for product code {service}",
                    "lineItem/TaxType": "Sales Tax",
                    "product/ProductName": PRODUCT_NAMES[service],
                }
            )
            tally.add("Tax", tax, tax, service)

        # The EDP discount of each account and service, on what it was charged before tax.
        for (account_index, service), base in sorted(spend.items()):
            discount = -round(base * EDP_DISCOUNT_RATE, 10)
            if discount >= 0:
                continue
            out.append(
                {
                    **month,
                    "lineItem/UsageAccountId": fleet.accounts[account_index],
                    "lineItem/LineItemType": "EdpDiscount",
                    "lineItem/ProductCode": service,
                    "lineItem/UsageAmount": 0.0,
                    "lineItem/UnblendedCost": discount,
                    "lineItem/NetUnblendedCost": 0.0,
                    "lineItem/BlendedCost": discount,
                    "lineItem/LineItemDescription": f"{EDP_DISCOUNT_RATE:.0%} EDP discount",
                    "product/ProductName": PRODUCT_NAMES[service],
                }
            )
            tally.add("EdpDiscount", discount, discount, service)
        return out


def _business_support(charges: float) -> float:
    """AWS Business support: the greater of 100 USD and a tiered share of the month's charges."""
    tiers = ((10_000.0, 0.10), (80_000.0, 0.07), (250_000.0, 0.05), (math.inf, 0.03))
    fee, floor = 0.0, 0.0
    for ceiling, share in tiers:
        fee += share * max(0.0, min(charges, ceiling) - floor)
        floor = ceiling
    return max(100.0, fee)


def _small_block(lines: list[dict], period: dict[str, str], rng: np.random.Generator) -> _Block:
    """A block from a few line items given as dicts; numbers become AWS's number text."""
    columns: dict[str, pa.Array | str] = dict(period)
    names = {name for line in lines for name in line}
    for name in COLUMN_NAMES:
        if name not in names and name not in _NEVER_EMPTY:
            continue
        values = [line.get(name) for line in lines]
        if name in _NEVER_EMPTY or any(
            isinstance(v, float | int) and not isinstance(v, bool) for v in values
        ):
            default = 0.0 if name in _NEVER_EMPTY else math.nan
            columns[name] = _numbers(
                np.array([default if v is None else v for v in values], dtype=np.float64)
            )
        else:
            columns[name] = _texts(values)
    columns["identity/LineItemId"] = pa.array(_random_strings(rng, len(lines), 52, _BASE32))
    return _Block(len(lines), columns)


# ---------------------------------------------------------------------------------------------
# Writing: CSV lines, gzip files, the manifest
# ---------------------------------------------------------------------------------------------

_EMPTY = pa.scalar("", pa.string())
_RENDER_CHUNK = 50_000


def _render(block: _Block, lo: int, hi: int) -> pa.Array:
    """CSV lines (with their line break) for rows ``lo:hi`` of a block."""
    parts: list[pa.Array | str] = []
    for name in COLUMN_NAMES:
        value = block.columns.get(name, "")
        if isinstance(value, str) and parts and isinstance(parts[-1], str):
            # Runs of constant or empty fields are joined once here, not once per line.
            parts[-1] = f"{parts[-1]},{value}"
        else:
            parts.append(value if isinstance(value, str) else value.slice(lo, hi - lo))
    joined = pc.binary_join_element_wise(
        *(pa.scalar(p, pa.string()) if isinstance(p, str) else p for p in parts),
        ",",
        null_handling="replace",
        null_replacement="",
    )
    return pc.binary_join_element_wise(joined, _EMPTY, "\n")


def _payload(lines: pa.Array) -> memoryview:
    """The bytes of a string array's values, back to back: the file's text."""
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)
    start, end = offsets[lines.offset], offsets[lines.offset + len(lines)]
    return memoryview(lines.buffers()[2])[start:end]


def _file_slices(blocks: list[_Block]) -> list[list[tuple[int, int, int]]]:
    """Split an assembly's rows into files of at most MAX_ROWS_PER_FILE line items."""
    total = sum(b.rows for b in blocks)
    n_files = max(1, math.ceil(total / MAX_ROWS_PER_FILE))
    per_file = math.ceil(total / n_files) if total else 0
    files: list[list[tuple[int, int, int]]] = [[] for _ in range(n_files)]
    position = 0
    for index, block in enumerate(blocks):
        lo = 0
        while lo < block.rows:
            file_number = min(position // per_file, n_files - 1)
            room = (file_number + 1) * per_file - position
            hi = min(block.rows, lo + max(room, 1))
            files[file_number].append((index, lo, hi))
            position += hi - lo
            lo = hi
    return files


def _write_file(
    path: Path, blocks: list[_Block], pieces: list[tuple[int, int, int]], level: int
) -> int:
    """Write one gzip CSV file; returns its line items."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = (",".join(COLUMN_NAMES) + "\n").encode()
    # No file name and no time stamp in the gzip header, so the bytes depend on the seed only.
    with (
        open(path, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=level, mtime=0) as out,
    ):
        out.write(header)
        for index, lo, hi in pieces:
            # A few tens of thousands of lines at a time keep the text's memory small.
            for chunk in range(lo, hi, _RENDER_CHUNK):
                out.write(_payload(_render(blocks[index], chunk, min(hi, chunk + _RENDER_CHUNK))))
    return sum(hi - lo for _, lo, hi in pieces)


def _write_json(path: Path, document: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")


def _manifest(
    fleet: _Fleet, cal: _Calendar, month: int, assembly_id: str, report: str, keys: list[str]
) -> dict:
    start = cal.origin + cal.month_start[month]
    end = cal.origin + cal.month_start[month + 1]

    def stamp(hour: np.datetime64) -> str:
        return str(hour.astype("datetime64[D]")).replace("-", "") + "T000000.000Z"

    return {
        "assemblyId": assembly_id,
        "account": fleet.payer,
        "columns": [{"category": c, "name": n, "type": t} for c, n, t in COLUMNS],
        "charset": "UTF-8",
        "compression": "GZIP",
        "contentType": "text/csv",
        "reportId": hashlib.sha256(f"{fleet.payer}/{report}".encode()).hexdigest(),
        "reportName": report,
        "billingPeriod": {"start": stamp(start), "end": stamp(end)},
        "bucket": BUCKET,
        "reportKeys": keys,
        "additionalArtifactKeys": [],
    }


# ---------------------------------------------------------------------------------------------
# Writing CUR 2.0: the same line items as AWS Data Exports writes them
# ---------------------------------------------------------------------------------------------

LAYOUTS = ("legacy", "cur2", "focus")
_EMPTY_MAP = pa.map_(pa.string(), pa.string())
_DISCOUNT_MAP = pa.map_(pa.string(), pa.float64())


def cur2_tag_key(legacy_key: str) -> str:
    """A legacy tag key as CUR 2.0 keys ``resource_tags``: Athena's column name without the
    ``resource_tags_`` prefix (``user:Team`` -> ``user_team``, ``aws:createdBy`` ->
    ``aws_created_by``)."""
    parts = [part for part in re.split(r"[^A-Za-z0-9]+", legacy_key) if part]
    return "_".join(snake(part) for part in parts)


def _write_cur2_file(
    path: Path, blocks: list[_Block], pieces: list[tuple[int, int, int]], layout: str = "cur2"
) -> int:
    """Write one CUR 2.0 snappy Parquet file; returns its line items.

    The rows are rendered as the legacy CSV first and then typed and folded, so that both
    layouts of one seed hold the very same values.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    text = bytearray((",".join(COLUMN_NAMES) + "\n").encode())
    for index, lo, hi in pieces:
        for chunk in range(lo, hi, _RENDER_CHUNK):
            text += _payload(_render(blocks[index], chunk, min(hi, chunk + _RENDER_CHUNK)))
    legacy = pacsv.read_csv(
        pa.BufferReader(bytes(text)),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in COLUMN_NAMES}, strings_can_be_null=True
        ),
    )
    if layout == "focus":  # the same rows as FOCUS charges: sample_data/focus_layout.py
        from sample_data.focus_layout import write_focus_file

        return write_focus_file(path, legacy)
    pq.write_table(_cur2_table(legacy), path, compression="snappy")
    return legacy.num_rows


def _cur2_table(legacy: pa.Table) -> pa.Table:
    """Legacy CUR text columns as CUR 2.0 columns: snake names, AWS's types, maps."""
    rows = legacy.num_rows
    columns: dict[str, pa.Array] = {}
    maps: dict[str, list[tuple[str, pa.Array]]] = {"resource_tags": [], "product": []}
    for name in COLUMN_NAMES:
        values = legacy.column(name).combine_chunks()
        column, key = contract_name(name)
        if column == "resource_tags" and key is not None:
            maps[column].append((cur2_tag_key(key), values))
        elif column == "product" and key is not None:
            maps[column].append((key, values))
        elif column in DOUBLE_COLUMNS:
            columns[column] = pc.cast(values, pa.float64())
        elif column in TIMESTAMP_COLUMNS:
            naive = pc.cast(pc.utf8_rtrim(values, characters="Z"), pa.timestamp("ms"))
            columns[column] = naive.cast(pa.timestamp("ms", tz="UTC"))
        else:
            columns[column] = values
    for column, entries in maps.items():
        columns[column] = _cur2_map(entries, rows)
    columns["cost_category"] = _cur2_map([], rows)
    columns["discount"] = _cur2_map([], rows).cast(_DISCOUNT_MAP)
    return pa.table({name: columns[name] for name in sorted(columns)})


def _cur2_map(entries: list[tuple[str, pa.Array]], rows: int) -> pa.Array:
    """One map a row, with an entry for each cell that is not missing."""
    if not entries:
        empty = pa.array([], pa.string())
        return pa.MapArray.from_arrays(pa.array(np.zeros(rows + 1, np.int32)), empty, empty)
    present = np.column_stack([v.is_valid().to_numpy(zero_copy_only=False) for _, v in entries])
    entry_rows, entry_cols = np.nonzero(present)
    offsets = np.zeros(rows + 1, dtype=np.int32)
    np.cumsum(present.sum(axis=1), out=offsets[1:])
    cells = pa.concat_arrays([values for _, values in entries])
    values = cells.take(pa.array(entry_cols * rows + entry_rows))
    keys = pa.array([key for key, _ in entries], pa.string()).take(pa.array(entry_cols))
    return pa.MapArray.from_arrays(pa.array(offsets), keys, values).cast(_EMPTY_MAP)


def _cur2_manifest(
    fleet: _Fleet, cal: _Calendar, month: int, execution_id: str, export: str, uris: list[str]
) -> dict:
    """The Data Exports metadata manifest of one billing period's execution."""
    label = cal.labels[month]
    export_id = uuid.UUID(hashlib.md5(f"{fleet.payer}/{export}".encode()).hexdigest())
    return {
        "version": "2.0",
        "exportArn": f"arn:aws:bcm-data-exports:us-east-1:{fleet.payer}:export/"
        f"{export}-{export_id}",
        "exportName": export,
        "executionId": execution_id,
        "billingPeriod": label,
        "bucket": BUCKET,
        "dataFileFormat": "PARQUET",
        "compression": "SNAPPY",
        "overwrite": "OVERWRITE_REPORT",
        "dataFiles": uris,
        "schema": [
            {"name": column, "type": _cur2_type(column)}
            for column in sorted(
                {contract_name(name)[0] for name in COLUMN_NAMES}
                | {"resource_tags", "product", "cost_category", "discount"}
            )
        ],
    }


def _cur2_type(column: str) -> str:
    if column == "discount":
        return "map<string,double>"
    if column in ("resource_tags", "product", "cost_category"):
        return "map<string,string>"
    if column in DOUBLE_COLUMNS:
        return "double"
    return "timestamp" if column in TIMESTAMP_COLUMNS else "string"


def _period_folder(cal: _Calendar, month: int) -> str:
    start = (cal.origin + cal.month_start[month]).astype("datetime64[D]")
    end = (cal.origin + cal.month_start[month + 1]).astype("datetime64[D]")
    return f"{str(start).replace('-', '')}-{str(end).replace('-', '')}"


# ---------------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------------


def generate(
    out_dir: Path,
    *,
    rows: int = 20_000,
    months: int = 3,
    seed: int = 7,
    start: str = "2026-08",
    report: str = "finops-demo",
    prefix: str = "cur",
    redeliveries: int = 0,
    layout: str = "legacy",
    progress: Callable[[int], None] | None = None,
    fleet_builder: Callable[[_FleetBuilder, float], _Fleet] | None = None,
    wide: bool = False,
) -> GroundTruth:
    """Write a legacy CUR delivery (or a CUR 2.0 one) for ``months`` billing periods.

    Args:
        out_dir: plays the S3 bucket: files land at ``out_dir/<S3 key>``, and
            ``ground_truth.json`` beside the CUR prefix.
        rows: line items across all months (approximately), split by the months' hours.
        start: the first billing period, ``YYYY-MM``.
        prefix: the report's S3 prefix; empty for none.
        redeliveries: older, superseded assemblies to leave in each period's folder.
        layout: ``legacy`` (gzip CSV and manifests, legacy names) or ``cur2`` (AWS Data
            Exports: snappy Parquet under ``<report>/data/BILLING_PERIOD=YYYY-MM/`` and the
            manifest under ``<report>/metadata/BILLING_PERIOD=YYYY-MM/``). The line items and
            the ground truth are the same for both; the manifest's execution id is the
            legacy assembly id. ``focus``: the same charges as AWS's FOCUS export writes them,
            in the Data Exports layout (``sample_data/focus_layout.py``).
        progress: called with the number of line items written so far, after each file.
        fleet_builder: builds the fleet instead of ``_FleetBuilder.build`` (opt-in hook for
            ``sample_data/opportunities.py``, which plants savings opportunities).
        wide: legacy layout only: add the ~95 further columns of a real CUR (product,
            pricing, reservation, Savings Plan, tags; ``sample_data/wide_columns.py``).

    Returns:
        The ground truth, also written to ``out_dir/ground_truth.json``.

    Notes:
        Files already in ``out_dir`` stay where they are, as objects in a bucket would: writing
        twice into one folder leaves both runs' assemblies, with the second run's manifests.
        A ``cur2`` export overwrites its files in place, as Data Exports' overwrite mode does,
        so re-deliveries leave nothing behind: ``redeliveries`` is simulated (the same draws)
        but only the current execution is written, and no superseded ids are recorded.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    if months < 1:
        raise ValueError(f"months must be at least 1, got {months}")
    if rows < MIN_ROWS_PER_MONTH * months:
        raise ValueError(
            f"rows={rows} is too few for {months} month(s) of hourly data: need at least "
            f"{MIN_ROWS_PER_MONTH * months} ({MIN_ROWS_PER_MONTH} a month)"
        )
    if redeliveries < 0:
        raise ValueError(f"redeliveries must be 0 or more, got {redeliveries}")
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", start):
        # numpy alone would read 26-01 as the year 26 and 2026-1 as January.
        raise ValueError(f"start must be YYYY-MM, got {start!r}")
    if np.datetime64(start, "M") + months > np.datetime64("9999-12", "M"):
        raise ValueError(
            f"start {start} and {months} month(s) end after 9999-12: AWS writes four-digit years"
        )
    cal = _Calendar(start, months)

    # Independent streams: the fleet, the line item ids, and one per billing period, so that a
    # change to one month's draws does not ripple into the others.
    fleet_rng = np.random.default_rng([seed, 1])
    builder = _FleetBuilder(fleet_rng, cal)
    fixed_rows = cal.hours + months * 40  # Savings Plan fees each hour, monthly charges
    fleet = (fleet_builder or _FleetBuilder.build)(builder, max(rows - fixed_rows, rows * 0.2))
    simulator = _Simulator(fleet, cal, seed, np.random.default_rng([seed, 2]))

    out_dir = Path(out_dir)
    root = f"{prefix.strip('/')}/{report}" if prefix.strip("/") else report
    periods: dict[str, PeriodTruth] = {}
    written = 0
    in_flight: list[tuple[list, Callable[[], None]]] = []

    def settle(jobs: list, finish: Callable[[], None]) -> None:
        nonlocal written
        for job in jobs:
            written += job.result()
            if progress is not None:
                progress(written)
        finish()

    with ThreadPoolExecutor(max_workers=2) as pool:
        for month, label in enumerate(cal.labels):
            rng = np.random.default_rng([seed, 100 + month])
            # The current assembly's id is drawn first, so re-deliveries do not change it.
            assembly_id = _uuid4(rng)
            superseded = [_uuid4(rng) for _ in range(redeliveries)]
            invoice = "" if month == months - 1 else str(int(rng.integers(10**9, 10**10)))
            days_in_month = (cal.month_start[month + 1] - cal.month_start[month]) // 24
            folder = f"{root}/{_period_folder(cal, month)}"

            deliveries = []
            for k, old_id in enumerate(superseded, start=1):
                days = max(1, round(days_in_month * k / (redeliveries + 1)))
                old_rng = np.random.default_rng([seed, 100 + month, k])
                deliveries.append(simulator.assembly(month, old_id, "", int(days), old_rng))
            current_rng = np.random.default_rng([seed, 100 + month, 0])
            current = simulator.assembly(month, assembly_id, invoice, None, current_rng)
            deliveries.append(current)

            # Files are written by the pool while the next month is simulated; at most one
            # month waits, which bounds memory.
            if layout in ("cur2", "focus"):
                jobs, document, manifest_path = _submit_cur2(
                    pool, out_dir, root, report, current, fleet, cal, month, layout
                )
                superseded = []
            else:
                jobs, keys = [], []
                write_file = _write_file
                if wide:  # opt-in: the columns a real CUR has besides these (benchmarks)
                    from sample_data import wide_columns

                    write_file = wide_columns.write_file
                for delivery in deliveries:
                    for number, pieces in enumerate(_file_slices(delivery.blocks), start=1):
                        key = f"{folder}/{delivery.assembly_id}/{report}-{number:05d}.csv.gz"
                        if delivery is current:
                            keys.append(key)
                        jobs.append(
                            pool.submit(
                                write_file, out_dir / key, delivery.blocks, pieces, GZIP_LEVEL
                            )
                        )
                document = _manifest(fleet, cal, month, assembly_id, report, keys)
                if wide:
                    document["columns"] += wide_columns.manifest_columns()
                manifest_path = out_dir / folder / f"{report}-Manifest.json"
            # Like AWS, the manifest goes last, once the files it names are in place.
            in_flight.append((jobs, lambda m=document, p=manifest_path: _write_json(p, m)))
            if len(in_flight) > 1:
                settle(*in_flight.pop(0))

            truth = current.truth
            assert truth is not None
            truth.superseded_assembly_ids = superseded
            periods[label] = truth
        while in_flight:
            settle(*in_flight.pop(0))

    ground_truth = GroundTruth(
        seed=seed,
        rows=rows,
        months=months,
        start=start,
        report=report,
        prefix=prefix,
        redeliveries=redeliveries,
        bucket=BUCKET,
        periods=periods,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "ground_truth.json").write_text(ground_truth.to_json())
    return ground_truth


def _submit_cur2(
    pool: ThreadPoolExecutor,
    out_dir: Path,
    root: str,
    report: str,
    current: _Assembly,
    fleet: _Fleet,
    cal: _Calendar,
    month: int,
    layout: str = "cur2",
) -> tuple[list, dict, Path]:
    """Queue one period's CUR 2.0 (or FOCUS) files; returns the jobs, the manifest and where
    it goes."""
    period = f"BILLING_PERIOD={cal.labels[month]}"
    suffix = "csv.gz" if layout == "focus" else "snappy.parquet"
    jobs, uris = [], []
    for number, pieces in enumerate(_file_slices(current.blocks), start=1):
        key = f"{root}/data/{period}/{report}-{number:05d}.{suffix}"
        uris.append(f"s3://{BUCKET}/{key}")
        jobs.append(pool.submit(_write_cur2_file, out_dir / key, current.blocks, pieces, layout))
    manifest = _cur2_manifest(fleet, cal, month, current.assembly_id, report, uris)
    if layout == "focus":
        from sample_data.focus_layout import focus_manifest

        manifest = focus_manifest(manifest)
    return jobs, manifest, out_dir / root / "metadata" / period / f"{report}-Manifest.json"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sample_data.generate",
        description="Write a seeded, realistic legacy AWS CUR delivery (gzip CSV files and "
        "manifests in AWS's S3 layout) plus ground_truth.json with the totals a correct "
        "pipeline must report.",
    )
    parser.add_argument("out_dir", type=Path, help="folder that plays the S3 bucket")
    parser.add_argument(
        "--rows",
        type=int,
        default=20_000,
        help="line items across all months, approximately (default 20000)",
    )
    parser.add_argument("--months", type=int, default=3, help="billing periods (default 3)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument(
        "--start", default="2026-08", help="first billing period, YYYY-MM (default 2026-08)"
    )
    parser.add_argument("--report", default="finops-demo", help="report name")
    parser.add_argument("--prefix", default="cur", help="S3 prefix of the report")
    parser.add_argument(
        "--redeliveries",
        type=int,
        default=0,
        help="older, superseded assemblies per period (default 0)",
    )
    parser.add_argument(
        "--layout",
        choices=LAYOUTS,
        default="legacy",
        help="legacy CUR (gzip CSV, default), cur2 (AWS Data Exports, Parquet) or focus "
        "(AWS's FOCUS 1.0 export: gzip CSV in the Data Exports layout)",
    )
    parser.add_argument(
        "--wide",
        action="store_true",
        help="legacy layout: add the ~95 further columns of a real CUR (for benchmarks)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    began = time.perf_counter()
    try:
        truth = generate(
            args.out_dir,
            rows=args.rows,
            months=args.months,
            seed=args.seed,
            start=args.start,
            report=args.report,
            prefix=args.prefix,
            redeliveries=args.redeliveries,
            layout=args.layout,
            wide=args.wide,
        )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    periods = list(truth.periods.values())
    labels = list(truth.periods)
    print(
        f"wrote {sum(p.rows for p in periods):,} line items for {labels[0]}..{labels[-1]} "
        f"to {args.out_dir} in {time.perf_counter() - began:.1f}s: "
        f"unblended {sum(p.unblended for p in periods):,.2f} USD, "
        f"amortized {sum(p.amortized for p in periods):,.2f} USD"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
