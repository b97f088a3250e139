"""The detector on the real WorkshopCUR months (Oct-Dec 2018), checked against the raw files."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from pipelines.anomalies import detect_warehouse
from pipelines.anomaly_config import DIMENSIONS, AnomalySettings, Threshold
from pipelines.ingest import ingest
from pipelines.models import build
from tests.conftest import CLOUDACADEMY

MONTHS = {"2018-10": "Oct", "2018-11": "Nov", "2018-12": "Dec"}


@pytest.fixture(scope="module")
def workshop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("workshop-anomalies")
    for period, name in MONTHS.items():
        folder = root / "cur" / "year=2018" / f"month={period[-2:]}"
        folder.mkdir(parents=True)
        (folder / f"{name}.parquet").symlink_to(
            CLOUDACADEMY / f"{name}2018-WorkshopCUR-00001.snappy.parquet"
        )
    ingest(str(root / "cur"), root / "wh")
    build(root / "wh")
    return root / "wh"


def _raw_glue_dev_endpoints(day: str) -> float:
    files = [
        str(CLOUDACADEMY / f"{name}2018-WorkshopCUR-00001.snappy.parquet")
        for name in MONTHS.values()
    ]
    with duckdb.connect() as connection:
        return connection.execute(
            "SELECT sum(line_item_unblended_cost) FROM read_parquet(?) "
            "WHERE line_item_usage_type = 'USE1-DEVED-DPU-Hour' "
            "AND CAST(line_item_usage_start_date AS DATE) = CAST(? AS DATE)",
            [files, day],
        ).fetchone()[0]


def test_the_second_glue_dev_endpoint_is_the_one_anomaly(workshop: Path):
    anomalies = detect_warehouse(workshop, AnomalySettings()).anomalies

    # Glue dev endpoints cost 52.86 a day (one endpoint, 2018-10-01..09); a second one ran
    # 10-10..15 (in the first 14 days, which cannot alert) and another, "testing", from 10-17.
    (anomaly,) = anomalies
    assert (anomaly.dimension, anomaly.dimension_value) == ("usage_type", "USE1-DEVED-DPU-Hour")
    assert (anomaly.first_day, anomaly.last_day) == (date(2018, 10, 18), date(2018, 10, 19))
    actual = _raw_glue_dev_endpoints("2018-10-18") + _raw_glue_dev_endpoints("2018-10-19")
    assert anomaly.actual_cost == pytest.approx(actual, abs=0.01)
    assert anomaly.expected_cost == pytest.approx(
        2 * _raw_glue_dev_endpoints("2018-10-02"), abs=0.05
    )
    top = anomaly.root_cause[0]
    assert top["dimension"] == "resource"
    assert top["value"].endswith(":devEndpoint/testing")


def test_month_start_reservation_fees_do_not_alert_even_with_low_thresholds(workshop: Path):
    # The RIFee lines of Nov 1 and Dec 1 add 43 and 53 dollars to days of 160 and 16 dollars;
    # with every dimension alerting from 20 dollars, they would be anomalies if they counted.
    low = {name: Threshold(20.0, 0.2) for name in DIMENSIONS}
    anomalies = detect_warehouse(workshop, AnomalySettings(thresholds=low)).anomalies
    assert anomalies  # the Glue dev endpoints' changes
    assert [a for a in anomalies if a.first_day.day == 1] == []
