"""How fast the dashboard's pages and the report read a warehouse of millions of line items.

    .venv/bin/python bench/dashboard.py [--rows 5000000] [--months 12] [--work /tmp/finops-bench]
                                        [--reuse]

Generates a CUR with sample_data.generate, runs finops ingest and build into WORK/wh (skipped
with --reuse when it is there), then measures, in this order:

1. first read of a build: every mart the review reads, scanned once and kept as Parquet
   (what `finops dashboard` does before serving; a report on a fresh build does it too);
2. each page's data queries, as one page load runs them (the sidebar's and the page's), on the
   loaded marts, with filters no earlier load used (so Streamlit's cache never answers);
3. the same for a new process that finds the kept copies (a restarted dashboard);
4. `finops report` for the latest month: on the kept copies, and on a fresh build (no copies).

Targets (issue 7): every page's queries under 1 s, the report under 10 s, on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipelines.ingest import ingest  # noqa: E402
from pipelines.models import build  # noqa: E402
from pipelines.report import write_report  # noqa: E402
from pipelines.review import (  # noqa: E402
    Filters,
    MartMissing,
    Review,
    month_to_date,
    run_log,
)
from sample_data.generate import generate  # noqa: E402

SIDEBAR = ["currencies", "periods", "accounts", "owners"]
# The queries each page runs on one load, as dashboard/pages/*.py call them.
PAGES: dict[str, list[tuple[str, dict]]] = {
    "overview": [
        ("month_to_date", {}),
        ("monthly_trend", {}),
        ("service_movers", {"as_of_day": 28}),
        ("team_movers", {}),
        ("anomaly_list", {}),
        ("recommendation_list", {}),
    ],
    "showback": [
        ("showback_dimensions", {}),
        ("showback_table", {"dimension": "team", "value": None}),
        ("showback_trend", {"dimension": "team", "value": None}),
        ("tag_coverage", {}),
    ],
    "anomalies": [("anomaly_list", {}), ("anomaly_days", {"anomaly_id": "x"})],
    "savings": [("recommendation_list", {})],
    "commitments": [
        ("commitment_utilization", {}),
        ("commitment_utilization_days", {}),
        ("commitment_coverage", {}),
        ("commitment_savings", {}),
        ("commitments_expiring", {}),
        ("recommendation_list", {}),
    ],
    "sustainability": [
        ("carbon_by", {"by": "service"}),
        ("carbon_by", {"by": "region"}),
        ("carbon_by", {"by": "team"}),
        ("carbon_trend", {}),
        ("graviton_share", {}),
        ("recommendation_list", {}),
    ],
    "data": [("freshness", {}), ("invoice_reconciliation", {}), ("run_log", {})],
}


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def page_load(review: Review, page: str, filters: Filters) -> tuple[float, list[str]]:
    """Seconds for one load of ``page`` (sidebar included) and the marts it found missing."""
    missing: list[str] = []

    def run() -> None:
        for name in SIDEBAR:
            try:
                review.query(name, filters)
            except MartMissing as error:
                missing.append(error.mart)
        for name, extra in PAGES[page]:
            try:
                if name == "month_to_date":
                    month_to_date(review, filters)
                elif name == "run_log":
                    run_log(review.warehouse)
                else:
                    review.query(name, filters, **extra)
            except MartMissing as error:
                missing.append(error.mart)

    return timed(run), sorted(set(missing))


def prepare(work: Path, rows: int, months: int, reuse: bool) -> Path:
    warehouse = work / "wh"
    if reuse and (warehouse / "finops.duckdb").is_file():
        print(f"reusing {warehouse}")
        return warehouse
    source = work / "cur"
    print(f"generate {rows:,} line items over {months} months: ", end="", flush=True)
    print(f"{timed(lambda: generate(source, rows=rows, months=months, seed=7)):.1f} s")
    print(f"ingest: {timed(lambda: ingest(str(source), warehouse)):.1f} s")
    print(f"build: {timed(lambda: build(warehouse)):.1f} s")
    return warehouse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--work", type=Path, default=Path("/tmp/finops-bench"))
    parser.add_argument("--reuse", action="store_true", help="keep WORK/wh when it is there")
    args = parser.parse_args()
    warehouse = prepare(args.work, args.rows, args.months, args.reuse)
    os.environ["FINOPS_REVIEW_CACHE"] = tempfile.mkdtemp(prefix="review-cache-")

    line_items = _line_items(warehouse)
    print(f"warehouse: {line_items:,} line items; cores: {os.cpu_count()}")

    review = Review(warehouse)
    first_read = timed(review.warm)
    print(f"first read of the build (every mart scanned once, kept): {first_read:.2f} s")

    base = review.resolve(Filters())
    accounts = review.query("accounts", base)["account_id"].tolist()
    variants = [
        base,
        Filters(period=base.period, currency=base.currency, measure="unblended"),
        Filters(period=base.period, currency=base.currency, account=accounts[0]),
    ]
    restarted = Review(warehouse)
    print(f"\n{'page':<16}{'loaded (max of 3)':>20}{'new process':>14}  missing marts")
    for page in PAGES:
        loads = [page_load(review, page, filters) for filters in variants]
        fresh, missing = page_load(restarted, page, base)
        slowest = max(seconds for seconds, _ in loads)
        print(f"{page:<16}{slowest:>18.3f} s{fresh:>12.3f} s  {', '.join(missing) or '-'}")

    output = Path(tempfile.mkdtemp()) / "review.html"
    kept = timed(lambda: write_report(warehouse, base.period, output))
    print(
        f"\nreport {base.period} on the kept copies: {kept:.2f} s "
        f"({output.stat().st_size / 1e6:.1f} MB)"
    )
    os.environ["FINOPS_REVIEW_CACHE"] = tempfile.mkdtemp(prefix="review-cache-")
    cold = timed(lambda: write_report(warehouse, base.period, output))
    print(f"report {base.period} on a fresh build (no copies yet): {cold:.2f} s")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak:,.0f} MB")


def _line_items(warehouse: Path) -> int:
    import duckdb

    with duckdb.connect(str(warehouse / "finops.duckdb"), read_only=True) as connection:
        return connection.sql("SELECT count(*) FROM line_items").fetchall()[0][0]


if __name__ == "__main__":
    main()
