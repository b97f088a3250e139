"""pipelines.review: the marts read once per build, the forecast, the money format."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest

from pipelines.review import Filters, MartMissing, Review, money, month_to_date, shift_period
from tests.dashboard.conftest import FIXTURE_SQL


@pytest.fixture
def own_warehouse(tmp_path: Path) -> Path:
    warehouse = tmp_path / "warehouse"
    warehouse.mkdir()
    with duckdb.connect(str(warehouse / "finops.duckdb")) as connection:
        connection.execute(FIXTURE_SQL.read_text())
    return warehouse


def test_a_mart_is_read_once_per_build_and_kept_for_the_next_process(
    own_warehouse: Path, tmp_path: Path, monkeypatch
) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("FINOPS_REVIEW_CACHE", str(cache))
    Review(own_warehouse).warm()
    (first,) = cache.iterdir()
    assert (first / "daily_cost.parquet").is_file()

    # The next process of the same build reads the copy, not the mart: change the mart behind
    # its back and give the file its build's modification time again.
    with duckdb.connect(str(own_warehouse / "finops.duckdb")) as connection:
        connection.execute("UPDATE daily_cost SET amortized_cost = 0")
    os.utime(own_warehouse / "finops.duckdb", ns=(first.stat().st_mtime_ns, _mtime_ns(first)))
    later = Review(own_warehouse)
    assert month_to_date(later, later.resolve(Filters())).month_to_date == 250


def test_a_new_build_is_read_afresh_and_the_old_copy_removed(
    own_warehouse: Path, tmp_path: Path, monkeypatch
) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("FINOPS_REVIEW_CACHE", str(cache))
    Review(own_warehouse).warm()
    (old,) = cache.iterdir()

    with duckdb.connect(str(own_warehouse / "finops.duckdb")) as connection:
        connection.execute("UPDATE daily_cost SET amortized_cost = amortized_cost * 2")
        connection.execute("CHECKPOINT")
    review = Review(own_warehouse)
    spend = month_to_date(review, review.resolve(Filters()))

    assert spend.month_to_date == 500
    assert [folder.name for folder in cache.iterdir()] != [old.name]
    assert len(list(cache.iterdir())) == 1


def test_the_copy_stays_in_the_warehouse_by_default(own_warehouse: Path, monkeypatch) -> None:
    monkeypatch.delenv("FINOPS_REVIEW_CACHE", raising=False)
    Review(own_warehouse).warm()

    (copy,) = (own_warehouse / "_cache" / "review").iterdir()
    assert (copy / "showback.parquet").is_file()


def test_a_read_only_warehouse_goes_without_a_copy(
    own_warehouse: Path, tmp_path: Path, monkeypatch
) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder would go")
    monkeypatch.setenv("FINOPS_REVIEW_CACHE", str(blocked))
    review = Review(own_warehouse)

    assert month_to_date(review, review.resolve(Filters())).month_to_date == 250


def test_forecast_range_widens_with_the_daily_spread(own_warehouse: Path, monkeypatch) -> None:
    monkeypatch.setenv("FINOPS_REVIEW_CACHE", str(own_warehouse.parent / "cache"))
    with duckdb.connect(str(own_warehouse / "finops.duckdb")) as connection:
        # B's S3 alternates 1 and 5 instead of 3 a day: same mean, a spread.
        connection.execute(
            "UPDATE daily_cost SET amortized_cost = CASE WHEN day(usage_date) % 2 = 0 "
            "THEN 1 ELSE 5 END WHERE service_code = 'AmazonS3'"
        )
    review = Review(own_warehouse)
    spend = month_to_date(review, review.resolve(Filters()))

    # Days 2-10 cost 13, 17, 13, ...: mean 14.777..., sd 2.108...; 20 days left, n = 9.
    days = [12 + (1 if day % 2 == 0 else 5) for day in range(2, 11)]
    mean = sum(days) / 9
    sd = (sum((d - mean) ** 2 for d in days) / 8) ** 0.5
    half = 1.96 * sd * (20 + 400 / 9) ** 0.5
    assert spend.month_to_date == 100 + 120 + sum(1 if d % 2 == 0 else 5 for d in range(1, 11))
    assert spend.forecast == pytest.approx(spend.month_to_date + 20 * mean)
    assert spend.forecast_high == pytest.approx(spend.forecast + half)
    assert spend.forecast_low == pytest.approx(spend.forecast - half)


def test_a_missing_mart_names_the_command(own_warehouse: Path, monkeypatch) -> None:
    monkeypatch.setenv("FINOPS_REVIEW_CACHE", str(own_warehouse.parent / "cache"))
    with duckdb.connect(str(own_warehouse / "finops.duckdb")) as connection:
        connection.execute("DROP TABLE anomalies")
    review = Review(own_warehouse)

    with pytest.raises(MartMissing, match=r"anomalies is not in .*run `finops anomalies`"):
        review.query("anomaly_list", review.resolve(Filters()))


def test_money_and_periods() -> None:
    assert money(1234.5, "USD") == "$1,234.50"
    assert money(-3, "EUR") == "-€3.00"
    assert money(10, "CHF") == "10.00 CHF"
    assert shift_period("2026-01", -1) == "2025-12"
    assert shift_period("2026-06", -11) == "2025-07"


def _mtime_ns(folder: Path) -> int:
    return int(folder.name.split("-")[1])
