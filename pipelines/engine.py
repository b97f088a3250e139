"""How much memory the DuckDB sessions of finops may use.

DuckDB's own default is 80 % of the machine's memory, and the marts' first read on a few
million line items (recommendations over hourly usage, carbon per line) grows to that: 15 GB
on a 24 GB machine for 5.2M line items. Bounded, DuckDB spills to disk instead and, measured
on the same warehouse, finishes sooner (151 s at 3 GB against 165 s unbounded; bench/dashboard.py).

``FINOPS_DUCKDB_MEMORY_LIMIT`` sets the limit in DuckDB's units (``4GB``, ``800MB``); the default
is a quarter of the machine's memory, at least 1 GB.
"""

from __future__ import annotations

import os
import re

from pipelines.errors import ConfigError

ENVIRONMENT = "FINOPS_DUCKDB_MEMORY_LIMIT"
_GIB = 1 << 30
_SIZE = re.compile(r"^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KIB|MIB|GIB|TIB)$", re.IGNORECASE)


def duckdb_config() -> dict[str, str]:
    """The ``config`` for ``duckdb.connect`` of every finops session on the warehouse.

    Raises:
        ConfigError: ``FINOPS_DUCKDB_MEMORY_LIMIT`` is not a size.
    """
    chosen = os.environ.get(ENVIRONMENT, "").strip()
    if chosen:
        if not _SIZE.match(chosen):
            raise ConfigError(f"{ENVIRONMENT}={chosen!r}: expected a size such as 4GB or 800MB")
        return {"memory_limit": chosen}
    try:
        memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not every platform tells
        return {}
    return {"memory_limit": f"{max(memory // 4, _GIB) // (1 << 20)}MB"}
