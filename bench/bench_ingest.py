"""Benchmark: ingest of generated legacy CUR (CSV, gzip) against DuckDB's own CSV-to-Parquet.

The peer is the floor for the same work without our checks: DuckDB reads the same gzip
files as text and writes zstd Parquet. Figures are reported as a ratio to that peer, measured
in the same run, so they mean the same on any machine.

Run by hand (not part of the tests):

    .venv/bin/python bench/bench_ingest.py --rows 1000000

Notes:
    Peak memory is the process's max RSS after each step (``resource.getrusage``), so run
    one size per process when memory matters: the figure never goes down.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import duckdb

from pipelines.ingest import ingest
from pipelines.sources import locate
from sample_data.generate import generate


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--months", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        generate(root / "export", rows=args.rows, months=args.months, seed=args.seed)
        # The files the manifests name: what ingest reads, and so what the peer reads too.
        files = [
            str(path)
            for delivery in locate(str(root / "export")).deliveries
            for path in delivery.files
        ]

        started = time.perf_counter()
        result = ingest(str(root / "export"), root / "warehouse")
        ours = time.perf_counter() - started
        rows = sum(record.rows_out for record in result.records)
        ours_rss = _peak_rss_mb()

        started = time.perf_counter()
        duckdb.sql(
            f"COPY (SELECT * FROM read_csv({files!r}, all_varchar = true)) "
            f"TO '{root / 'peer.parquet'}' (COMPRESSION zstd)"
        )
        peer = time.perf_counter() - started

    print(f"rows ingested          {rows:,}")
    print(f"finops ingest          {ours:.2f} s  ({rows / ours:,.0f} rows/s)")
    print(f"peak RSS after ingest  {ours_rss:.0f} MB")
    print(f"duckdb csv->parquet    {peer:.2f} s  ({rows / peer:,.0f} rows/s)")
    print(f"ratio ours / peer      {ours / peer:.2f}x")


if __name__ == "__main__":
    main()
