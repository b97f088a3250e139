"""The labelled anomaly injector: what it adds to the warehouse is what its labels say."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from pipelines.ingest import ingest
from sample_data.anomalies import KINDS, inject
from tests.conftest import DEMO


def _unblended(warehouse: Path, where: str = "true") -> float:
    pattern = str(warehouse / "line_items" / "billing_period=*" / "*.parquet")
    with duckdb.connect() as connection:
        return connection.execute(
            f"SELECT coalesce(sum(line_item_unblended_cost), 0) FROM read_parquet('{pattern}') "
            f"WHERE {where}"
        ).fetchone()[0]


def test_injected_cost_equals_the_labels_and_each_lands_where_labelled(tmp_path: Path):
    warehouse = tmp_path / "wh"
    ingest(str(DEMO / "cur"), warehouse)
    before = _unblended(warehouse)

    labels = inject(warehouse, seed=4, count=5)

    assert labels, "the demo has steady resources to copy"
    assert {label.kind for label in labels} <= set(KINDS)
    assert _unblended(warehouse) - before == pytest.approx(
        sum(label.extra_cost for label in labels), abs=0.05
    )
    for label in labels:
        start, end = label.first_day.isoformat(), label.last_day.isoformat()
        days = f"CAST(line_item_usage_start_date AS DATE) BETWEEN DATE '{start}' AND DATE '{end}'"
        if label.kind in ("new_resource", "leak"):
            assert _unblended(warehouse, f"line_item_resource_id = '{label.resource}' AND {days}")
        if label.kind == "new_region":
            assert _unblended(warehouse, f"product_region_code = '{label.region}'") == (
                pytest.approx(label.extra_cost, abs=0.05)
            )
    written = json.loads((warehouse / "labels.json").read_text())
    assert [row["kind"] for row in written] == [label.kind for label in labels]
