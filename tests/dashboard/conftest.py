"""Warehouses for the dashboard and report tests, and how to drive the app in AppTest.

- ``sample``: the bundled demo CUR ingested and built (the marts that exist on main).
- ``empty``: a warehouse built with no line item yet.
- ``hand_set``: a finops.duckdb holding tables with exactly the columns the marts promise,
  filled with the hand-set rows of fixture_marts.sql.
- ``old_build``: ``hand_set`` without the marts a build of an older release lacks.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from pipelines.models import build
from tests.sample_warehouse import sample_warehouse

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
FIXTURE_SQL = Path(__file__).with_name("fixture_marts.sql")
# Marts a build of an older release does not have: the pages say to run `finops build`.
NEWER_MARTS = (
    "recommendations",
    "carbon_monthly",
    "commitment_utilization_daily",
    "commitment_coverage_daily",
    "commitments_expiring",
    "commitment_savings_monthly",
    "instance_architecture_monthly",
)
PAGES = ["overview", "showback", "anomalies", "savings", "commitments", "sustainability", "data"]


@pytest.fixture(scope="session")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sample_warehouse(tmp_path_factory)


@pytest.fixture(scope="session")
def empty(tmp_path_factory: pytest.TempPathFactory) -> Path:
    warehouse = tmp_path_factory.mktemp("empty") / "warehouse"
    warehouse.mkdir()
    build(warehouse)
    return warehouse


@pytest.fixture(scope="session")
def hand_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    warehouse = tmp_path_factory.mktemp("hand_set") / "warehouse"
    warehouse.mkdir()
    with duckdb.connect(str(warehouse / "finops.duckdb")) as connection:
        connection.execute(FIXTURE_SQL.read_text())
        # What `finops anomalies` leaves beside its views; the review reads the views.
        (warehouse / "anomalies").mkdir()
        connection.execute(f"COPY anomalies TO '{warehouse / 'anomalies' / 'anomalies.parquet'}'")
    return warehouse


@pytest.fixture(scope="session")
def old_build(hand_set: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The hand-set marts as a build older than the savings, carbon and commitment marts."""
    warehouse = tmp_path_factory.mktemp("old_build") / "warehouse"
    warehouse.mkdir()
    shutil.copy(hand_set / "finops.duckdb", warehouse / "finops.duckdb")
    with duckdb.connect(str(warehouse / "finops.duckdb")) as connection:
        for table in (*NEWER_MARTS, "anomalies", "anomaly_days"):
            connection.execute(f"DROP TABLE IF EXISTS {table}")
    return warehouse


def mart(warehouse: Path, sql: str) -> list[tuple]:
    """A query on the warehouse's finops.duckdb, read-only: what the pages must show."""
    with duckdb.connect(str(warehouse / "finops.duckdb"), read_only=True) as connection:
        return connection.execute(sql).fetchall()


@pytest.fixture(scope="session")
def review_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the review keeps its copies of the marts, away from the shared sample warehouse."""
    return tmp_path_factory.mktemp("review_cache")


@pytest.fixture(autouse=True)
def _cache_outside_warehouses(monkeypatch: pytest.MonkeyPatch, review_cache: Path) -> None:
    monkeypatch.setenv("FINOPS_REVIEW_CACHE", str(review_cache))


def app(
    warehouse: Path, monkeypatch: pytest.MonkeyPatch, page: str = "overview", **query: str
) -> AppTest:
    """The dashboard on ``warehouse``, run on ``page`` with URL query parameters ``query``."""
    monkeypatch.setenv("FINOPS_WAREHOUSE", str(warehouse))
    test = AppTest.from_file(str(APP), default_timeout=60)
    for key, value in query.items():
        test.query_params[key] = value
    test.run()
    if page != "overview":
        test.switch_page(f"pages/{page}.py")
        test.run()
    assert not test.exception, [error.value for error in test.exception]
    return test


def metrics(test: AppTest) -> dict[str, str]:
    """The page's metrics, label -> value as shown."""
    return {metric.label: metric.value for metric in test.metric}


def messages(test: AppTest) -> str:
    """Every info, warning and error text of the page, in one string."""
    return " | ".join(
        element.value for kind in ("info", "warning", "error") for element in getattr(test, kind)
    )
