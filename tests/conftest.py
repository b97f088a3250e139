"""Shared fixtures: where the real CUR samples live, and a digest of a folder's bytes."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import duckdb
import pytest

REPO = Path(__file__).resolve().parents[1]
# Real CUR files nobody here wrote; read from shared/, never copied into the repo.
REALDATA = REPO.parent / "shared" / "realdata"
CLOUDACADEMY = REALDATA / "cloudacademy-aws-cur"
FOCUS_CONVERTERS_CSV = REALDATA / "focus_converters" / "sample-anonymous-aws-export-dataset.csv"
DEMO = REPO / "sample_data" / "demo"


def tree_digest(root: Path) -> dict[str, str]:
    """Every file under root (relative path -> sha256): equal digests mean equal bytes."""
    if not root.exists():
        return {}
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def line_items(warehouse: Path, sql: str) -> list[tuple]:
    """Query the ingested dataset directly (no models) as a view named li."""
    connection = duckdb.connect()
    pattern = warehouse / "line_items" / "*" / "*.parquet"
    connection.execute(
        f"CREATE VIEW li AS SELECT * FROM read_parquet('{pattern}', hive_partitioning = true)"
    )
    return connection.execute(sql).fetchall()


@pytest.fixture(scope="session")
def realdata() -> Path:
    if not CLOUDACADEMY.is_dir():
        pytest.fail(f"real CUR samples not found at {REALDATA} (shared/ must sit beside the repo)")
    return REALDATA


@pytest.fixture
def athena_layout(tmp_path: Path, realdata: Path) -> Path:
    """The three real WorkshopCUR months in the Athena layout year=2018/month=MM/."""
    root = tmp_path / "cur"
    for month, name in (("10", "Oct"), ("11", "Nov"), ("12", "Dec")):
        folder = root / "year=2018" / f"month={month}"
        folder.mkdir(parents=True)
        shutil.copy(CLOUDACADEMY / f"{name}2018-WorkshopCUR-00001.snappy.parquet", folder)
    # AWS's Athena integration writes this status table beside the data; it is not CUR.
    status = root / "cost_and_usage_data_status"
    status.mkdir()
    shutil.copy(CLOUDACADEMY / "cost_and_usage_data_status.parquet", status)
    return root
