"""How fast the CUR generator writes line items: 100k and 1M rows, 3 months each.

Run by hand, not by pytest::

    .venv/bin/python bench/bench_generate.py            # 100k and 1M rows
    .venv/bin/python bench/bench_generate.py 250000     # other sizes

Prints one line per size: line items written, seconds, line items a second, gzip bytes.
Each run writes into a temporary folder that is removed afterwards.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from sample_data.generate import generate


def bench(rows: int, months: int = 3, seed: int = 7) -> tuple[int, float, int]:
    """Generate ``rows`` line items once; returns (line items, seconds, bytes on disk)."""
    with tempfile.TemporaryDirectory(prefix="bench-cur-") as folder:
        began = time.perf_counter()
        truth = generate(Path(folder), rows=rows, months=months, seed=seed)
        seconds = time.perf_counter() - began
        size = sum(p.stat().st_size for p in Path(folder).rglob("*.csv.gz"))
    return sum(p.rows for p in truth.periods.values()), seconds, size


def main(argv: list[str]) -> None:
    sizes = [int(arg) for arg in argv] or [100_000, 1_000_000]
    print(f"cpus: {os.cpu_count()}, python {sys.version.split()[0]}")
    for rows in sizes:
        written, seconds, size = bench(rows)
        print(
            f"rows={rows:>10,}  written={written:>10,}  {seconds:6.2f} s  "
            f"{written / seconds:>10,.0f} rows/s  {size / 1e6:7.1f} MB gzip"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
