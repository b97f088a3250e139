"""Generated data with planted savings opportunities: every one is found, nothing else is."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from pipelines.ingest import ingest
from pipelines.models import build
from sample_data.opportunities import LABELS_FILE, generate_with_opportunities

# A recommendation the generator did not plant may only save less than this a month.
THRESHOLD = 1.0


def test_all_planted_opportunities_are_found_and_nothing_else(tmp_path: Path):
    labels = generate_with_opportunities(tmp_path / "cur", months=1, seed=11)
    assert labels == json.loads((tmp_path / "cur" / LABELS_FILE).read_text())
    assert {label["kind"] for label in labels} == {"graviton", "schedule", "spot", "idle", "gp3"}

    ingest(str(tmp_path / "cur"), tmp_path / "wh")
    assert build(tmp_path / "wh").ok
    with duckdb.connect(str(tmp_path / "wh" / "finops.duckdb"), read_only=True) as connection:
        found = {
            (kind, resource): saving
            for kind, resource, saving in connection.execute(
                "SELECT kind, resource_id, estimated_monthly_saving FROM recommendations "
                "WHERE kind <> 'commitment'"
            ).fetchall()
        }

    planted = {(label["kind"], label["resource_id"]) for label in labels}
    assert planted - set(found) == set()
    assert {
        key: saving for key, saving in found.items() if key not in planted and saving >= THRESHOLD
    } == {}
    assert all(found[key] > 0 for key in planted)
