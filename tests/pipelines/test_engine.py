"""The memory limit of finops' DuckDB sessions (pipelines/engine.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipelines.engine import ENVIRONMENT, duckdb_config
from pipelines.errors import ConfigError
from pipelines.models import build
from pipelines.query import run_query


def test_default_is_a_quarter_of_the_machine_and_at_least_a_gigabyte(monkeypatch):
    monkeypatch.delenv(ENVIRONMENT, raising=False)
    memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")

    (limit,) = duckdb_config().values()

    assert limit == f"{max(memory // 4, 1 << 30) // (1 << 20)}MB"


def test_the_environment_sets_the_limit_of_the_sessions(monkeypatch, tmp_path: Path):
    monkeypatch.setenv(ENVIRONMENT, "700MB")
    build(tmp_path)

    (setting,) = run_query(tmp_path, "SELECT current_setting('memory_limit') AS m")["m"].to_pylist()

    # DuckDB reports 700 MB (decimal) in MiB.
    assert setting == "667.5 MiB"


def test_a_limit_duckdb_cannot_read_is_its_error(monkeypatch, tmp_path: Path):
    monkeypatch.setenv(ENVIRONMENT, "lots")

    with pytest.raises(ConfigError) as refused:
        build(tmp_path)

    assert str(refused.value) == (
        "FINOPS_DUCKDB_MEMORY_LIMIT='lots': expected a size such as 4GB or 800MB"
    )
