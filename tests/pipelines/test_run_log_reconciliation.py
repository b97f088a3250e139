"""The run log's reconciliation: cost read and written, and each period's sums per invoice."""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
from collections import defaultdict
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from pipelines import ingest as ingest_module
from pipelines.errors import IngestFailed
from pipelines.ingest import ingest
from tests.conftest import DEMO, tree_digest

TRUTH = json.loads((DEMO / "ground_truth.json").read_text())


def raw_invoice_sums() -> dict[tuple[str, str | None], tuple[int, float]]:
    """(period, invoice) -> (rows, unblended cost), read from the demo's current CSV files
    with the csv module, as the manifests name them."""
    sums: dict[tuple[str, str | None], list] = defaultdict(lambda: [0, []])
    for manifest_path in sorted((DEMO / "cur").glob("finops-demo/*/finops-demo-Manifest.json")):
        manifest = json.loads(manifest_path.read_text())
        for key in manifest["reportKeys"]:
            path = manifest_path.parent / manifest["assemblyId"] / key.rsplit("/", 1)[-1]
            text = gzip.decompress(path.read_bytes()).decode("utf-8")
            for row in csv.DictReader(io.StringIO(text)):
                period = row["bill/BillingPeriodStartDate"][:7]
                entry = sums[(period, row["bill/InvoiceId"] or None)]
                entry[0] += 1
                entry[1].append(float(row["lineItem/UnblendedCost"]))
    return {key: (rows, math.fsum(costs)) for key, (rows, costs) in sums.items()}


def test_invoice_sums_per_period_match_the_raw_files(tmp_path: Path):
    warehouse = tmp_path / "wh"
    result = ingest(str(DEMO / "cur"), warehouse)

    invoices = duckdb.sql(
        "SELECT billing_period, bill_invoice_id, currency, rows, unblended_cost_read, "
        f"unblended_cost_written, run_id FROM '{warehouse}/_runs/invoices/*.parquet' "
        "ORDER BY 1"
    ).fetchall()
    expected = raw_invoice_sums()
    assert [(period, invoice) for period, invoice, *_ in invoices] == sorted(expected)
    for period, invoice, currency, rows, read, written, run_id in invoices:
        assert currency == "USD" and run_id == result.run_id
        assert rows == expected[(period, invoice)][0] == TRUTH["periods"][period]["rows"]
        assert read == pytest.approx(expected[(period, invoice)][1], abs=1e-9)
        assert written == pytest.approx(read, abs=1e-9)
    # The month not yet invoiced (the generator's last) has line items without an invoice id.
    assert invoices[-1][1] is None


def test_run_log_has_format_cost_written_and_duration(tmp_path: Path):
    warehouse = tmp_path / "wh"
    ingest(str(DEMO / "cur"), warehouse)
    ingest(str(DEMO / "cur"), warehouse)

    log = duckdb.sql(
        "SELECT outcome, format, billing_period, rows_in, rows_out, unblended_cost, "
        "unblended_cost_written, duration_s "
        f"FROM '{warehouse}/_runs/*.parquet' ORDER BY started_at, billing_period"
    ).fetchall()
    assert [row[:3] for row in log] == [
        ("ingested", "legacy-csv", "2026-08"),
        ("ingested", "legacy-csv", "2026-09"),
        ("ingested", "legacy-csv", "2026-10"),
        ("unchanged", "legacy-csv", "2026-08"),
        ("unchanged", "legacy-csv", "2026-09"),
        ("unchanged", "legacy-csv", "2026-10"),
    ]
    for _, _, period, rows_in, rows_out, read, written, duration in log[:3]:
        assert rows_in == rows_out == TRUTH["periods"][period]["rows"]
        assert read == pytest.approx(TRUTH["periods"][period]["unblended"], abs=1e-9)
        assert written == pytest.approx(read, abs=1e-9)
        assert duration > 0
    # Only runs that ingested a period write invoice sums: the re-run added none.
    assert len(list((warehouse / "_runs" / "invoices").glob("*.parquet"))) == 1


def test_written_rows_that_do_not_reconcile_with_those_read_commit_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    warehouse = tmp_path / "wh"
    ingest(str(DEMO / "cur"), warehouse, periods=["2026-08"])
    before = tree_digest(warehouse / "line_items")
    real_read_table = pq.read_table

    def losing_a_row(source, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        table = real_read_table(source, *args, **kwargs)
        if "_staging" in str(source) and "2026-09" in str(source):
            return table.slice(1)  # as if the written file had lost its first line item
        return table

    monkeypatch.setattr(ingest_module.pq, "read_table", losing_a_row)

    with pytest.raises(IngestFailed) as caught:
        ingest(str(DEMO / "cur"), warehouse)

    rows = TRUTH["periods"]["2026-09"]["rows"]
    assert "2026-09: invoice " in str(caught.value)
    assert f"does not reconcile: read {rows:,} rows" in str(caught.value)
    assert f"wrote {rows - 1:,}" in str(caught.value)
    assert tree_digest(warehouse / "line_items") == before
