"""Benchmark: ingest of generated legacy CUR (CSV, gzip) against DuckDB's own CSV-to-Parquet.

The peer is the floor for the same work without our checks: DuckDB reads the same gzip
files as text and writes zstd Parquet. Each side runs as a whole process of its own, so wall
time includes start-up and peak RSS is that process's alone. Figures are reported as ratios
to the peer, measured in the same run, so they mean the same on any machine.

Run by hand (not part of the tests):

    .venv/bin/python bench/bench_ingest.py --rows 1000000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pipelines.sources import locate

# Each side prints its own peak RSS (KiB on Linux) as its last line.
_OURS = """
import resource, sys
from pathlib import Path
from pipelines.ingest import ingest
result = ingest(sys.argv[1], Path(sys.argv[2]))
print(sum(record.rows_out for record in result.records))
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""
_PEER = """
import json, resource, sys
import duckdb
files = json.loads(sys.argv[1])
duckdb.sql(
    f"COPY (SELECT * FROM read_csv({files!r}, all_varchar = true)) "
    f"TO '{sys.argv[2]}' (COMPRESSION zstd)"
)
print(0)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _timed(script: str, *args: str) -> tuple[float, int, float]:
    """Run a script in a new Python process: seconds, rows it reports, peak RSS in MB."""
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, check=True
    )
    seconds = time.perf_counter() - started
    rows, peak_kib = completed.stdout.split()[-2:]
    return seconds, int(rows), int(peak_kib) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--months", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        export = root / "export"
        # In a process of its own: Linux keeps a parent's peak RSS in a child's ru_maxrss
        # across fork and exec, so a large parent would inflate both figures below.
        subprocess.run(
            [
                sys.executable,
                "-m",
                "sample_data.generate",
                str(export),
                "--rows",
                str(args.rows),
                "--months",
                str(args.months),
                "--seed",
                str(args.seed),
            ],
            check=True,
            capture_output=True,
        )
        # The files the manifests name: what ingest reads, and so what the peer reads too.
        files = [
            str(path) for delivery in locate(str(export)).deliveries for path in delivery.files
        ]
        size_mb = sum(Path(path).stat().st_size for path in files) / 2**20

        ours, rows, ours_rss = _timed(_OURS, str(export), str(root / "warehouse"))
        peer, _, peer_rss = _timed(_PEER, json.dumps(files), str(root / "peer.parquet"))

    print(f"input                  {rows:,} rows in {len(files)} file(s), {size_mb:.1f} MB gzip")
    print(f"finops ingest          {ours:6.2f} s  {rows / ours:10,.0f} rows/s  {ours_rss:6.0f} MB")
    print(f"duckdb csv->parquet    {peer:6.2f} s  {rows / peer:10,.0f} rows/s  {peer_rss:6.0f} MB")
    print(f"ratio ours / peer      time {ours / peer:.2f}x, peak RSS {ours_rss / peer_rss:.2f}x")


if __name__ == "__main__":
    main()
