"""The warehouse's data contract: CUR 2.0 (Data Exports) column names and AWS's types.

Every input format is mapped onto this one schema. Fixed columns keep AWS's CUR 2.0 names and
types (costs and amounts DOUBLE, dates TIMESTAMP in UTC, rates and most identifiers VARCHAR as
AWS types them). The open-ended parts are maps, so a new tag next month changes no schema:
``resource_tags``, ``product``, ``cost_category`` and ``discount``.

Notes:
    Timestamps are stored without a time zone and hold UTC wall-clock time. A zone-aware
    TIMESTAMP would make DuckDB's ``CAST(... AS DATE)`` follow the session's time zone, so a
    usage day would depend on the analyst's laptop; Athena's CUR 2.0 tables use plain
    ``timestamp`` too.
"""

from __future__ import annotations

import re

import pyarrow as pa

STRING = pa.string()
DOUBLE = pa.float64()
TIMESTAMP = pa.timestamp("ms")
TAGS = pa.map_(pa.string(), pa.string())

MAP_COLUMNS = ("resource_tags", "product", "cost_category", "discount")

# Legacy CUR category prefixes whose columns fold into a map, keyed by the attribute name.
# (CSV category, Athena/snake prefix, map column)
MAP_PREFIXES = (
    ("resourceTags", "resource_tags_", "resource_tags"),
    ("costCategory", "cost_category_", "cost_category"),
)

_DOUBLE_COLUMNS = """
discount_bundled_discount discount_total_discount
line_item_blended_cost line_item_net_unblended_cost line_item_normalization_factor
line_item_normalized_usage_amount line_item_unblended_cost line_item_usage_amount
pricing_public_on_demand_cost
reservation_amortized_upfront_cost_for_usage reservation_amortized_upfront_fee_for_billing_period
reservation_effective_cost reservation_net_amortized_upfront_cost_for_usage
reservation_net_amortized_upfront_fee_for_billing_period reservation_net_effective_cost
reservation_net_recurring_fee_for_usage
reservation_net_unused_amortized_upfront_fee_for_billing_period
reservation_net_unused_recurring_fee reservation_net_upfront_value
reservation_recurring_fee_for_usage reservation_unused_amortized_upfront_fee_for_billing_period
reservation_unused_normalized_unit_quantity reservation_unused_quantity
reservation_unused_recurring_fee reservation_upfront_value
savings_plan_amortized_upfront_commitment_for_billing_period
savings_plan_net_amortized_upfront_commitment_for_billing_period
savings_plan_net_recurring_commitment_for_billing_period
savings_plan_net_savings_plan_effective_cost
savings_plan_recurring_commitment_for_billing_period savings_plan_savings_plan_effective_cost
savings_plan_savings_plan_rate savings_plan_total_commitment_to_date savings_plan_used_commitment
split_line_item_actual_usage split_line_item_net_split_cost split_line_item_net_unused_cost
split_line_item_public_on_demand_split_cost split_line_item_public_on_demand_unused_cost
split_line_item_reserved_usage split_line_item_split_cost split_line_item_split_usage
split_line_item_split_usage_ratio split_line_item_unused_cost
""".split()

_TIMESTAMP_COLUMNS = """
bill_billing_period_end_date bill_billing_period_start_date
line_item_usage_end_date line_item_usage_start_date
""".split()

_STRING_COLUMNS = """
bill_bill_type bill_billing_entity bill_invoice_id bill_invoicing_entity
bill_payer_account_id bill_payer_account_name
identity_line_item_id identity_time_interval
line_item_availability_zone line_item_blended_rate line_item_currency_code line_item_legal_entity
line_item_line_item_description line_item_line_item_type line_item_net_unblended_rate
line_item_operation line_item_product_code line_item_resource_id line_item_tax_type
line_item_unblended_rate line_item_usage_account_id line_item_usage_account_name
line_item_usage_type
pricing_currency pricing_lease_contract_length pricing_offering_class
pricing_public_on_demand_rate pricing_purchase_option pricing_rate_code pricing_rate_id
pricing_term pricing_unit
product_comment product_fee_code product_fee_description product_from_location
product_from_location_type product_from_region_code product_instance_family
product_instance_type product_location product_location_type product_operation
product_pricing_unit product_product_family product_region_code product_servicecode
product_sku product_to_location product_to_location_type product_to_region_code
product_usagetype
reservation_availability_zone reservation_end_time reservation_modification_status
reservation_normalized_units_per_reservation reservation_number_of_reservations
reservation_reservation_a_r_n reservation_start_time reservation_subscription_id
reservation_total_reserved_normalized_units reservation_total_reserved_units
reservation_units_per_reservation
savings_plan_end_time savings_plan_instance_type_family savings_plan_offering_type
savings_plan_payment_option savings_plan_purchase_term savings_plan_region
savings_plan_savings_plan_a_r_n savings_plan_start_time
split_line_item_parent_resource_id
""".split()


def _build_schema() -> pa.Schema:
    fields = [pa.field(name, STRING) for name in _STRING_COLUMNS]
    fields += [pa.field(name, DOUBLE) for name in _DOUBLE_COLUMNS]
    fields += [pa.field(name, TIMESTAMP) for name in _TIMESTAMP_COLUMNS]
    fields += [pa.field(name, TAGS) for name in MAP_COLUMNS]
    return pa.schema(sorted(fields, key=lambda field: field.name))


#: The schema of every Parquet file under ``line_items/``; the partition column
#: ``billing_period`` (YYYY-MM) comes from the folder name.
LINE_ITEMS_SCHEMA = _build_schema()
FIXED_COLUMNS = frozenset(LINE_ITEMS_SCHEMA.names) - set(MAP_COLUMNS)
DOUBLE_COLUMNS = frozenset(_DOUBLE_COLUMNS)
TIMESTAMP_COLUMNS = frozenset(_TIMESTAMP_COLUMNS)

#: Columns without which a file is not a CUR line-item file at all.
REQUIRED_COLUMNS = (
    "bill_billing_period_start_date",
    "line_item_line_item_type",
    "line_item_unblended_cost",
    "line_item_usage_start_date",
)

_CAMEL_BOUNDARY = re.compile(r"(?<!^)(?=[A-Z])")


def snake(attribute: str) -> str:
    """AWS's CSV-to-Athena rule: an underscore before each capital letter, then lower case.

    ``UnblendedCost`` -> ``unblended_cost``; ``ReservationARN`` -> ``reservation_a_r_n``
    (as AWS itself writes it); ``usagetype`` stays ``usagetype``.
    """
    return _CAMEL_BOUNDARY.sub("_", attribute).lower()


def contract_name(source_column: str) -> tuple[str, str | None]:
    """Map one source column name onto the contract.

    Returns ``(column, key)``: a fixed column and ``None``, or a map column and the key
    under which the value is kept. Legacy CSV names (``lineItem/UnblendedCost``) and
    Athena/CUR 2.0 snake names (``line_item_unblended_cost``) both come out the same.
    Tag and cost-category keys keep the source's own spelling without the prefix
    (``resourceTags/user:Team`` -> ``user:Team``, ``resource_tags_user_team`` ->
    ``user_team``); staging folds them into one logical tag later. Product attributes that
    are not CUR 2.0 fixed columns go to the ``product`` map under their snake name without
    the ``product_`` prefix, as CUR 2.0 keys them; unknown discount columns go to
    ``discount`` likewise. Anything else keeps its snake name, and the caller decides what to
    do with names outside the contract.
    """
    name = source_column.strip().lstrip("\ufeff")
    if "/" in name:
        category, _, attribute = name.partition("/")
        for csv_category, _prefix, map_column in MAP_PREFIXES:
            if category == csv_category:
                return map_column, attribute
        name = f"{snake(category)}_{snake(attribute)}"
    else:
        for _category, prefix, map_column in MAP_PREFIXES:
            if name.startswith(prefix):
                return map_column, name[len(prefix) :]
        name = name.lower()

    if name in FIXED_COLUMNS:
        return name, None
    if name.startswith("product_"):
        return "product", name[len("product_") :]
    if name.startswith("discount_"):
        return "discount", name[len("discount_") :]
    return name, None
