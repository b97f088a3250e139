"""The ``build_models`` fixture: a few line items in, a built analyst file out.

The recommendation and carbon models are a third of the models and two thirds of a build's
time; tests of the other models build without them unless their module sets
``BUILDS_EVERY_MODEL = True`` (test_recommendations, test_carbon). The whole set is built on
the same kind of rows by the end-to-end and recommend tests.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from model_fixtures import write_line_items

from pipelines.config import Config, queries_folder
from pipelines.models import BuildResult, build

# Folders of queries/ that only the recommendation and carbon tests need.
SLOW_FOLDERS = ("recommendations", "carbon")


@pytest.fixture(scope="session")
def core_queries(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """queries/ without the recommendation and carbon models."""
    queries = tmp_path_factory.mktemp("core") / "queries"
    shutil.copytree(queries_folder(), queries, ignore=shutil.ignore_patterns(*SLOW_FOLDERS))
    return queries


@pytest.fixture
def build_models(
    tmp_path: Path, request: pytest.FixtureRequest, core_queries: Path
) -> Iterator[Callable[..., tuple[duckdb.DuckDBPyConnection, BuildResult]]]:
    """``build_models(rows, config=None)`` -> (read-only connection, BuildResult)."""
    connections: list[duckdb.DuckDBPyConnection] = []

    def run(
        rows: list[dict[str, Any]], *, config: Config | None = None, queries: Path | None = None
    ) -> tuple[duckdb.DuckDBPyConnection, BuildResult]:
        warehouse = tmp_path / "warehouse"
        warehouse.mkdir(exist_ok=True)
        write_line_items(warehouse, rows)
        if queries is None and not getattr(request.module, "BUILDS_EVERY_MODEL", False):
            queries = core_queries
        result = build(warehouse, config, queries=queries)
        connection = duckdb.connect(str(result.database), read_only=True)
        connections.append(connection)
        return connection, result

    yield run
    for connection in connections:
        connection.close()
