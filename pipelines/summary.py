"""The summary that ``finops run`` ends with: spend by month, top services, showback, coverage.

The figures come from the marts in the warehouse's ``finops.duckdb`` through the named
queries in ``sql/summary.sql``; rendering them is the CLI's business.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import duckdb

from pipelines.engine import duckdb_config
from pipelines.errors import WarehouseError

_QUERY_NAME = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Section:
    """One table of the summary: its rows as dicts, columns in query order."""

    name: str
    columns: list[str]
    rows: list[dict]


def named_queries(text: str) -> dict[str, str]:
    """Split a file of ``-- name: x`` blocks into {name: SQL}."""
    parts = _QUERY_NAME.split(text)
    return {name: body.strip() for name, body in zip(parts[1::2], parts[2::2], strict=True)}


def summarize(warehouse: Path) -> list[Section]:
    """Run the summary queries against ``warehouse/finops.duckdb`` (built by ``build``)."""
    database = Path(warehouse) / "finops.duckdb"
    if not database.is_file():
        raise WarehouseError(f"{database}: not found; run `finops build` first")
    queries = named_queries(files("pipelines").joinpath("sql/summary.sql").read_text())

    sections = []
    try:
        with duckdb.connect(str(database), read_only=True, config=duckdb_config()) as connection:
            for name, sql in queries.items():
                cursor = connection.execute(sql)
                columns = [column[0] for column in cursor.description]
                rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
                sections.append(Section(name, columns, rows))
    except duckdb.Error as error:
        # A garbage file, a lock held by a read-write session, or views that point at a
        # warehouse that has moved: each is mended by closing the other session or rebuilding.
        first_line = str(error).strip().splitlines()[0]
        raise WarehouseError(
            f"{database}: cannot read the models ({first_line}); close any DuckDB session "
            "that holds it open read-write, or run `finops build` again"
        ) from None
    return sections
