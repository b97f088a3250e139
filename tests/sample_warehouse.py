"""The bundled sample CUR, ingested and built once per test session: the analysts' warehouse.

Tests of whole models (the Athena round trip, the example queries, the notebook) read it with
``duckdb.connect(str(warehouse / "finops.duckdb"), read_only=True)`` and never change it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.ingest import ingest
from pipelines.models import build

REPO = Path(__file__).resolve().parents[1]
DEMO_CUR = REPO / "sample_data" / "demo" / "cur"

_built: dict[str, Path] = {}


def sample_warehouse(factory: pytest.TempPathFactory) -> Path:
    """The demo export ingested into a session-wide warehouse, with finops.duckdb built."""
    if "warehouse" not in _built:
        warehouse = factory.mktemp("sample") / "warehouse"
        ingest(str(DEMO_CUR), warehouse)
        result = build(warehouse)
        assert result.has_line_items and result.ok, result.check_failures
        _built["warehouse"] = warehouse
    return _built["warehouse"]
