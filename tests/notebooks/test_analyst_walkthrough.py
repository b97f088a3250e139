"""The analyst notebook runs top to bottom on the sample warehouse, and is committed clean.

Its code cells are run in order in one namespace, as a kernel would, and a cell's last
expression is shown with repr() as Jupyter shows it (for a DuckDB relation that runs the query).
No Jupyter kernel is needed.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from tests.conftest import line_items
from tests.sample_warehouse import sample_warehouse

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "analyst_walkthrough.ipynb"


def _code_cells() -> list[dict]:
    notebook = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    return [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]


def test_notebook_is_committed_without_outputs():
    cells = _code_cells()

    assert cells
    assert all(cell["outputs"] == [] and cell["execution_count"] is None for cell in cells)


def test_notebook_runs_on_the_sample_warehouse(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
):
    warehouse = sample_warehouse(tmp_path_factory)
    monkeypatch.setenv("FINOPS_WAREHOUSE", str(warehouse))
    namespace: dict[str, object] = {"__name__": "__main__"}
    shown: list[str] = []

    for cell in _code_cells():
        tree = ast.parse("".join(cell["source"]))
        last = tree.body[-1] if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        body = tree.body[:-1] if last else tree.body
        exec(compile(ast.Module(body, type_ignores=[]), NOTEBOOK.name, "exec"), namespace)
        if last is not None:
            value = eval(compile(ast.Expression(last.value), NOTEBOOK.name, "eval"), namespace)
            if value is not None:
                shown.append(repr(value))

    text = "\n".join(shown)
    for example in ("top_services_latest_month", "cost_per_team", "commitment_coverage"):
        assert example in {path.stem for path in Path(namespace["EXAMPLES"]).glob("*.sql")}
    assert "Amazon Elastic Compute Cloud" in text
    assert "(untagged)" in text
    assert "stg_line_items" in text  # the list of views
    # The last query: one row per billing period of the sample (one currency).
    periods = [
        period for (period,) in line_items(warehouse, "SELECT DISTINCT billing_period FROM li")
    ]
    assert len(periods) == 3
    assert all(period in shown[-1] for period in periods)
