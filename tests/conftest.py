"""Shared fixtures: where the real CUR samples live, and a digest of a folder's bytes."""

from __future__ import annotations

import hashlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
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


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A real HTTP AWS endpoint on 127.0.0.1: moto's server, in its own process.

    Yields the endpoint URL. Each test that uses it should create uniquely named buckets (or
    call POST /moto-api/reset) so tests stay independent.
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # The server logs every request to stderr: into a file, since a pipe nobody reads fills up
    # after a few hundred requests and then blocks the server (requests time out).
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed once the server has stopped
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1):
                break
        except OSError:
            if process.poll() is not None:
                log.seek(0)
                error = log.read().decode(errors="replace")
                pytest.fail(f"moto server exited with {process.returncode}: {error[-2000:]}")
            if time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"moto server did not answer on {endpoint} within 30 s")
            time.sleep(0.1)
    try:
        yield endpoint
    finally:
        log.close()
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, moto_server: str) -> str:
    """Point boto3 (and anything honouring the standard AWS settings) at the moto server."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    return moto_server
