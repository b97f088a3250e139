"""The generator's FOCUS layout: what pipelines/focus.py ingests gives the ground truth."""

from __future__ import annotations

import csv
import gzip
import io
import math
from pathlib import Path

import duckdb
import pytest

from pipelines.ingest import ingest
from pipelines.models import build
from sample_data.focus_layout import COLUMNS
from sample_data.generate import GroundTruth, generate

EXPORT = "finops-demo"


@pytest.fixture(scope="module")
def focus_export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GroundTruth]:
    root = tmp_path_factory.mktemp("focus")
    truth = generate(root, rows=4_000, months=2, seed=5, layout="focus")
    return root / "cur", truth


def read_rows(export: Path, period: str) -> list[dict]:
    folder = export / EXPORT / "data" / f"BILLING_PERIOD={period}"
    rows = []
    for path in sorted(folder.glob("*.csv.gz")):
        rows += csv.DictReader(io.StringIO(gzip.decompress(path.read_bytes()).decode()))
    return rows


def test_files_are_focus_csv_in_the_data_exports_layout(focus_export):
    export, truth = focus_export
    for period in truth.periods:
        rows = read_rows(export, period)
        assert list(rows[0]) == list(COLUMNS)
        # BilledCost adds up to the CUR's unblended cost, EffectiveCost to its amortized cost.
        billed = math.fsum(float(row["BilledCost"]) for row in rows)
        effective = math.fsum(float(row["EffectiveCost"]) for row in rows)
        assert billed == pytest.approx(truth.periods[period].unblended, abs=1e-6)
        assert effective == pytest.approx(truth.periods[period].amortized, abs=1e-6)
        assert {row["ProviderName"] for row in rows} == {"AWS"}
        assert (export / EXPORT / "metadata" / f"BILLING_PERIOD={period}").is_dir()


def test_ingested_focus_export_gives_the_ground_truth(focus_export, tmp_path: Path):
    export, truth = focus_export
    warehouse = tmp_path / "wh"

    result = ingest(str(export), warehouse)
    assert build(warehouse).ok

    assert {record.format for record in result.records} == {"focus"}
    with duckdb.connect(str(warehouse / "finops.duckdb"), read_only=True) as connection:
        totals = connection.sql(
            "SELECT billing_period, sum(unblended_cost), sum(amortized_cost) "
            "FROM stg_line_items GROUP BY 1 ORDER BY 1"
        ).fetchall()
        by_team = connection.sql(
            "SELECT billing_period, value, sum(amortized_cost) FROM showback_monthly "
            "WHERE dimension = 'team' GROUP BY 1, 2"
        ).fetchall()
    assert [period for period, *_ in totals] == list(truth.periods)
    for period, unblended, amortized in totals:
        assert unblended == pytest.approx(truth.periods[period].unblended, abs=1e-6)
        assert amortized == pytest.approx(truth.periods[period].amortized, abs=1e-6)
        teams = {team: cost for p, team, cost in by_team if p == period}
        expected = truth.periods[period].amortized_by_team
        assert teams.keys() == expected.keys()
        for team, cost in expected.items():
            assert teams[team] == pytest.approx(cost, abs=1e-6), team
