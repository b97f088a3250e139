"""Benchmark: `finops ingest` of a wide legacy CUR against bare CSV-to-Parquet conversions.

For each size in ``--rows`` it generates one billing period of legacy CUR (gzip CSV, the
generator's ``--wide`` columns: about 170, as a real payer's CUR has), split into files of at
most 200,000 line items as AWS splits large reports, and then measures, on the very same
files, each as a whole process of its own:

- ours: ``finops ingest`` (types, tags and product attributes into maps, checks, the run
  log's reconciliation, the atomic swap);
- DuckDB: ``COPY (SELECT * FROM read_csv([...])) TO ... (FORMAT parquet)``;
- polars: ``scan_csv([...])`` + ``sink_parquet``;
- pandas: ``read_csv`` + ``to_parquet`` file by file (the naive peer; skipped above
  ``--pandas-max-rows``, as it holds a whole file's frame);
- gzip: ``gzip -dc FILES > /dev/null``, the floor: the files' text, inflated on one core.

Each process's wall time, CPU time and peak RSS come from ``os.wait4`` (its own rusage, not
the running maximum of ``RUSAGE_CHILDREN``). This process imports nothing heavy: Linux carries
a parent's peak RSS into a child started by vfork and exec, so a large parent would inflate
every figure. The peers' output rows are counted afterwards, outside the timings.

Timings on a shared machine are noisy; the ratios between peers of the same run are the
figures to compare. Run by hand (needs the ``bench`` extra: ``pip install -e '.[bench]'``):

    .venv/bin/python bench/ingest.py                       # 1M and 5M rows
    .venv/bin/python bench/ingest.py --rows 1000000 --keep --tmp /var/tmp/finops-bench
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_DUCKDB = """
import sys, duckdb
files, out = sys.argv[1:-1], sys.argv[-1]
duckdb.sql(f"COPY (SELECT * FROM read_csv({files!r})) TO '{out}' (FORMAT parquet)")
"""
_POLARS = """
import sys, polars as pl
files, out = sys.argv[1:-1], sys.argv[-1]
pl.scan_csv(files).sink_parquet(out)
"""
_PANDAS = """
import sys, pandas as pd
from pathlib import Path
files, out = sys.argv[1:-1], Path(sys.argv[-1])
out.mkdir()
for number, path in enumerate(files):
    pd.read_csv(path, low_memory=False).to_parquet(out / f"part-{number:05d}.parquet")
"""
_COUNT = """
import sys, duckdb
for path in sys.argv[1:]:
    sql = f"SELECT count(*) FROM read_parquet('{path}', union_by_name = true)"
    print(duckdb.sql(sql).fetchall()[0][0])
"""


@dataclass
class Measure:
    name: str
    seconds: float
    cpu_seconds: float
    peak_mb: float
    output: str | None = None  # Parquet written (a glob), counted after the timings
    rows_out: int | None = None


def _run(name: str, argv: list[str], output: str | None = None) -> Measure:
    """Run one process to its end: wall time, CPU time and peak RSS of that process alone."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    errors = process.stderr.read().decode(errors="replace") if process.stderr else ""
    if process.returncode != 0:
        raise SystemExit(f"{name} failed (exit {process.returncode}):\n{errors[-2000:]}")
    cpu = usage.ru_utime + usage.ru_stime
    return Measure(name, seconds, cpu, usage.ru_maxrss / 1024, output)  # KiB on Linux


def _generate(export: Path, rows: int, seed: int, max_rows_per_file: int | None) -> None:
    if (export / "ground_truth.json").exists():
        return  # kept from an earlier run (--keep): same arguments, same bytes
    script = (
        "import sys, sample_data.generate as g\n"
        + (f"g.MAX_ROWS_PER_FILE = {max_rows_per_file}\n" if max_rows_per_file else "")
        + "raise SystemExit(g.main(sys.argv[1:]))"
    )
    argv = [str(export), "--rows", str(rows), "--months", "1", "--seed", str(seed), "--wide"]
    subprocess.run([sys.executable, "-c", script, *argv], check=True, cwd=ROOT)


def _report_files(export: Path) -> tuple[list[str], int]:
    """The files the period's manifest names (what ingest reads), and its line items."""
    [manifest] = export.glob("cur/*/*/*-Manifest.json")
    keys = json.loads(manifest.read_text())["reportKeys"]
    truth = json.loads((export / "ground_truth.json").read_text())
    rows = sum(period["rows"] for period in truth["periods"].values())
    return [str(export / key) for key in keys], rows


def _finops() -> list[str]:
    script = Path(sys.executable).with_name("finops")
    return [str(script)] if script.exists() else [sys.executable, "-m", "pipelines.cli"]


def bench_size(
    work: Path, rows: int, seed: int, peers: list[str], pandas_max: int, per_file: int | None
) -> tuple[list[Measure], int, list[str]]:
    export = work / (f"export-{rows}" + (f"-files-of-{per_file}" if per_file else ""))
    _generate(export, rows, seed, per_file)
    files, line_items = _report_files(export)
    out = work / f"out-{rows}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()

    measures = []
    if "ours" in peers:
        warehouse = out / "warehouse"
        argv = [*_finops(), "ingest", str(export), "--warehouse", str(warehouse)]
        glob = f"{warehouse}/line_items/*/*.parquet"
        measures.append(_run("finops ingest", argv, glob))
    if "duckdb" in peers:
        target = str(out / "duckdb.parquet")
        measures.append(_run("duckdb", [sys.executable, "-c", _DUCKDB, *files, target], target))
    if "polars" in peers:
        target = str(out / "polars.parquet")
        measures.append(_run("polars", [sys.executable, "-c", _POLARS, *files, target], target))
    if "pandas" in peers and rows <= pandas_max:
        target = out / "pandas"
        argv = [sys.executable, "-c", _PANDAS, *files, str(target)]
        measures.append(_run("pandas", argv, f"{target}/*.parquet"))
    if "gzip" in peers:
        measures.append(_run("gzip -dc (floor)", ["gzip", "-dc", *files]))

    counted = [measure for measure in measures if measure.output]
    lines = subprocess.run(
        [sys.executable, "-c", _COUNT, *(measure.output for measure in counted)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    for measure, count in zip(counted, lines, strict=True):
        measure.rows_out = int(count)
    return measures, line_items, files


def _print_size(measures: list[Measure], rows: int, files: list[str], load: str) -> None:
    size = sum(Path(path).stat().st_size for path in files) / 2**20
    with_header = _header_columns(files[0])
    print(
        f"\n{rows:,} line items, {with_header} columns, {len(files)} file(s), "
        f"{size:,.0f} MB gzip; load average before/after: {load}"
    )
    print(
        f"{'':18} {'wall s':>8} {'rows/s':>10} {'cpu s':>7} {'cpu %':>6} {'peak RSS MB':>12} "
        f"{'rows out':>11}"
    )
    for m in measures:
        cpu = 100 * m.cpu_seconds / m.seconds
        written = f"{m.rows_out:,}" if m.rows_out is not None else "-"
        print(
            f"{m.name:18} {m.seconds:8.2f} {rows / m.seconds:10,.0f} {m.cpu_seconds:7.2f} "
            f"{cpu:6.0f} "
            f"{m.peak_mb:12,.0f} {written:>11}"
        )
    by_name = {m.name: m for m in measures}
    ours = by_name.get("finops ingest")
    if ours is None:
        return
    for peer, label in (("polars", "ours / polars"), ("gzip -dc (floor)", "ours / gzip floor")):
        if peer in by_name:
            other = by_name[peer]
            print(
                f"{label:18} time {ours.seconds / other.seconds:.2f}x, "
                f"cpu {ours.cpu_seconds / other.cpu_seconds:.2f}x, "
                f"peak RSS {ours.peak_mb / other.peak_mb:.2f}x"
            )


def _header_columns(path: str) -> int:
    import gzip

    with gzip.open(path, "rt", encoding="utf-8") as text:
        return len(text.readline().split(","))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows", type=int, nargs="+", default=[1_000_000, 5_000_000], help="sizes to measure"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--peers",
        nargs="+",
        default=["ours", "duckdb", "polars", "pandas", "gzip"],
        choices=["ours", "duckdb", "polars", "pandas", "gzip"],
    )
    parser.add_argument(
        "--pandas-max-rows",
        type=int,
        default=1_000_000,
        help="skip pandas above this size (it holds whole files as frames; default 1M)",
    )
    parser.add_argument(
        "--max-rows-per-file",
        type=int,
        default=None,
        help="split files at this many line items instead of the generator's 200,000 "
        "(e.g. 10000000 for one large file)",
    )
    parser.add_argument("--tmp", type=Path, default=None, help="work folder (default: a temp)")
    parser.add_argument(
        "--keep", action="store_true", help="keep the generated files (reused by the next run)"
    )
    args = parser.parse_args()

    work = args.tmp or Path(tempfile.mkdtemp(prefix="finops-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    # Only what this run made is removed: --tmp may name a folder that holds other things.
    existing = set(work.iterdir())
    print(f"work folder {work}; {os.cpu_count()} CPUs")
    ours_rss: dict[int, float] = {}
    try:
        for rows in args.rows:
            before = os.getloadavg()[0]
            measures, line_items, files = bench_size(
                work, rows, args.seed, args.peers, args.pandas_max_rows, args.max_rows_per_file
            )
            load = f"{before:.1f}/{os.getloadavg()[0]:.1f}"
            _print_size(measures, line_items, files, load)
            for m in measures:
                if m.name == "finops ingest":
                    ours_rss[line_items] = m.peak_mb
            shutil.rmtree(work / f"out-{rows}", ignore_errors=True)
    finally:
        if not args.keep:
            made = [work] if args.tmp is None else set(work.iterdir()) - existing
            for path in made:
                shutil.rmtree(path, ignore_errors=True)
    if len(ours_rss) > 1:
        (small, small_mb), (large, large_mb) = min(ours_rss.items()), max(ours_rss.items())
        print(
            f"\nours peak RSS at {large:,} vs {small:,} rows: {large_mb:,.0f} / {small_mb:,.0f} "
            f"MB = {large_mb / small_mb:.2f}x"
        )


if __name__ == "__main__":
    main()
