"""The generator's opt-in wide CUR (``sample_data/wide_columns.py``), used by bench/ingest.py."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import pytest

from pipelines.ingest import ingest
from sample_data.generate import COLUMN_NAMES, generate
from sample_data.wide_columns import EXTRA_COLUMNS
from tests.conftest import line_items


@pytest.fixture(scope="module")
def wide_export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("wide")
    truth = generate(root, rows=4_000, months=1, seed=5, wide=True)
    return root, truth.periods["2026-08"].__dict__


def _rows(root: Path) -> list[list[str]]:
    [path] = root.rglob("*.csv.gz")
    with gzip.open(path, "rt", encoding="utf-8", newline="") as text:
        return list(csv.reader(text))


def test_wide_files_carry_about_170_columns_listed_in_the_manifest(wide_export):
    root, truth = wide_export
    rows = _rows(root)

    assert rows[0] == [*COLUMN_NAMES, *EXTRA_COLUMNS]
    assert len(rows[0]) == len(set(rows[0])) == 173
    assert all(len(row) == 173 for row in rows[1:])
    assert len(rows) - 1 == truth["rows"]
    [manifest] = root.glob("cur/*/*/*-Manifest.json")
    listed = [f"{c['category']}/{c['name']}" for c in json.loads(manifest.read_text())["columns"]]
    assert listed == rows[0]


def test_one_sku_always_carries_the_same_product_attributes(wide_export):
    rows = _rows(wide_export[0])
    header = rows[0]
    sku, clock = header.index("product/sku"), header.index("product/clockSpeed")
    seen: dict[str, set[str]] = {}
    for row in rows[1:]:
        if row[sku]:
            seen.setdefault(row[sku], set()).add(row[clock])
    assert len(seen) > 10
    assert all(len(values) == 1 for values in seen.values())


def test_wide_export_ingests_to_the_ground_truth_with_the_extra_columns_in_maps(
    wide_export, tmp_path: Path
):
    root, truth = wide_export
    warehouse = tmp_path / "wh"

    [record] = ingest(str(root), warehouse).ingested

    # The extra columns change no cost: rows and unblended cost are the simulation's.
    assert record.rows_out == truth["rows"]
    assert record.unblended_cost == pytest.approx(truth["unblended"], abs=1e-6)
    assert record.dropped_columns == []
    [(clock_speeds, cost_centres, rate_codes)] = line_items(
        warehouse,
        "SELECT count(product['clock_speed']), count(resource_tags['user:CostCenter']), "
        "count(pricing_rate_code) FROM li",
    )
    raw = _rows(root)
    header = raw[0]

    def filled(column: str) -> int:
        return sum(1 for row in raw[1:] if row[header.index(column)].strip())

    assert clock_speeds == filled("product/clockSpeed") > 0
    assert cost_centres == filled("resourceTags/user:CostCenter") > 0
    assert rate_codes == filled("pricing/RateCode") > 0
