"""Input side of the SQL fixture pairs: line items written in the warehouse layout.

``line_item(...)`` fills every contract column that a test does not name with NULL (as ingest
leaves empty source values); ``write_line_items`` writes rows as Parquet with the contract's
schema under ``line_items/billing_period=YYYY-MM/``.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.contract import LINE_ITEMS_SCHEMA

PERIOD = "2024-01"

# A plain on-demand EC2 hour; tests override what they are about.
_USAGE_DEFAULTS: dict[str, Any] = {
    "line_item_line_item_type": "Usage",
    "line_item_usage_account_id": "111111111111",
    "bill_payer_account_id": "999999999999",
    "line_item_product_code": "AmazonEC2",
    "line_item_usage_start_date": datetime(2024, 1, 15, 10),
    "line_item_usage_end_date": datetime(2024, 1, 15, 11),
    "bill_billing_period_start_date": datetime(2024, 1, 1),
    "product_region_code": "us-east-1",
    "line_item_unblended_cost": 1.0,
}


def line_item(**columns: Any) -> dict[str, Any]:
    """One line item: an on-demand usage hour unless told otherwise.

    Pass a column as None to make it empty; ``billing_period`` picks the partition.
    """
    row = {**_USAGE_DEFAULTS, **columns}
    unknown = set(row) - set(LINE_ITEMS_SCHEMA.names) - {"billing_period"}
    assert not unknown, f"not contract columns: {sorted(unknown)}"
    return row


def write_line_items(warehouse: Path, rows: list[dict[str, Any]]) -> None:
    """Write rows as Parquet in the warehouse layout, one file per billing period."""
    periods: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        periods.setdefault(row.get("billing_period", PERIOD), []).append(row)
    for period, period_rows in periods.items():
        columns = {name: [row.get(name) for row in period_rows] for name in LINE_ITEMS_SCHEMA.names}
        table = pa.Table.from_pydict(columns, schema=LINE_ITEMS_SCHEMA)
        folder = warehouse / "line_items" / f"billing_period={period}"
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, folder / f"part-{len(list(folder.iterdir())):05d}.parquet")


def records(connection: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    """The rows of a query as dicts."""
    cursor = connection.execute(sql)
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
