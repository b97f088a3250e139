"""The ``build_models`` fixture: a few line items in, a built analyst file out."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from model_fixtures import write_line_items

from pipelines.config import Config
from pipelines.models import BuildResult, build


@pytest.fixture
def build_models(
    tmp_path: Path,
) -> Iterator[Callable[..., tuple[duckdb.DuckDBPyConnection, BuildResult]]]:
    """``build_models(rows, config=None)`` -> (read-only connection, BuildResult)."""
    connections: list[duckdb.DuckDBPyConnection] = []

    def run(
        rows: list[dict[str, Any]], *, config: Config | None = None, queries: Path | None = None
    ) -> tuple[duckdb.DuckDBPyConnection, BuildResult]:
        warehouse = tmp_path / "warehouse"
        warehouse.mkdir(exist_ok=True)
        write_line_items(warehouse, rows)
        result = build(warehouse, config, queries=queries)
        connection = duckdb.connect(str(result.database), read_only=True)
        connections.append(connection)
        return connection, result

    yield run
    for connection in connections:
        connection.close()
