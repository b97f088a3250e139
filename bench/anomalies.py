"""Anomaly detection on labelled data: ours against a rolling z-score and PyOD's ECOD.

Run by hand (needs the ``bench`` extra for PyOD: ``pip install -e '.[bench]'``)::

    .venv/bin/python bench/anomalies.py --seeds 8 --months 3 --rows 150000 --count 6

For each seed: generate a CUR export (``sample_data.generate``), ingest it, inject ``count``
labelled anomalies of the five kinds into the warehouse's line items
(``sample_data.anomalies.inject``), build, and read the daily usage cost once. The three
detectors then scan the same series with the same thresholds, and share the root cause and
de-duplication code, so the table compares how each finds anomalous days:

- ours: ``pipelines.anomalies.find_candidates`` (weekly robust baseline, leaks as trends);
- rolling z-score: mean and standard deviation of the 28 days before, z >= 3;
- PyOD ECOD: fitted per series on (cost, change from the day before) over the whole history
  (it sees the future: an advantage), contamination 0.05, increases only; expected = the median
  of the 28 days before.

The peers are shown twice: with their own alerts (one per series that fires, as a per-series
detector gives them), and with our de-duplication applied to their candidates.

Thresholds scale with the organisation, as a FinOps team would set them: every dimension needs
an impact of 20% of the average daily usage cost over the anomaly, 10% on one day, and 20%
above expected (10% for the total).

Scoring:
- an alert is a true positive when its days overlap an injected anomaly's days and its root
  cause names the injected value in the label's key dimension with at least 20% of that
  dimension's change (or the alert's own series is that value); every other
  alert (including changes the generator makes by itself: instances that start or stop) is a
  false positive;
- recall: labels found by at least one alert; precision: true alerts / alerts, where only the
  first alert of an injected anomaly is true: a repeat (the same anomaly told again by another
  series or later) is noise to the person reading the alerts and counts as false;
- delay: days from the injected start to the first ``detected_on`` of a matching alert;
- root cause right: true alerts whose top entry in each key dimension of the label (account and
  service for a spike, resource for a new resource or a leak, usage type, region) is the
  injected value.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import duckdb
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipelines.anomalies import (  # noqa: E402
    Anomaly,
    detect,
    flagged_candidates,
    read_cubes,
)
from pipelines.anomaly_config import DIMENSIONS, AnomalySettings, Threshold  # noqa: E402
from pipelines.ingest import ingest  # noqa: E402
from pipelines.models import build  # noqa: E402
from sample_data.anomalies import Label, inject  # noqa: E402
from sample_data.generate import generate  # noqa: E402


def rolling_zscore(series, values, days, base, settings):
    count = values.shape[1]
    expected = np.zeros_like(values)
    score = np.zeros_like(values)
    hot = np.zeros(values.shape, dtype=bool)
    for t in range(14, count):
        window = values[:, max(0, t - 28) : t]
        mean, std = window.mean(axis=1), window.std(axis=1)
        expected[:, t] = mean
        score[:, t] = (values[:, t] - mean) / np.maximum(std, 0.01)
        hot[:, t] = score[:, t] >= 3.0
    return flagged_candidates(series, values, expected, hot & base.ok, score, settings)


def pyod_ecod(series, values, days, base, settings):
    from pyod.models.ecod import ECOD

    count = values.shape[1]
    expected = np.zeros_like(values)
    for t in range(14, count):
        expected[:, t] = np.median(values[:, max(0, t - 28) : t], axis=1)
    hot = np.zeros(values.shape, dtype=bool)
    score = np.zeros_like(values)
    for index in range(values.shape[0]):
        x = values[index]
        if np.ptp(x) == 0:
            continue
        features = np.column_stack([x, np.diff(x, prepend=x[0])])
        model = ECOD(contamination=0.05).fit(features)
        hot[index] = (model.labels_ == 1) & (x > expected[index])
        score[index] = model.decision_scores_
    return flagged_candidates(series, values, expected, hot & base.ok, score, settings)


#: name -> (finder, de-duplicate): each peer alone, then with our de-duplication.
DETECTORS = {
    "ours": (None, True),
    "rolling z-score": (rolling_zscore, False),
    "PyOD ECOD": (pyod_ecod, False),
    "rolling z-score + our de-duplication": (rolling_zscore, True),
    "PyOD ECOD + our de-duplication": (pyod_ecod, True),
}


def scaled_settings(daily_total: float) -> AnomalySettings:
    thresholds = {
        dimension: Threshold(
            0.2 * daily_total, 0.1 if dimension == "total" else 0.2, 0.1 * daily_total
        )
        for dimension in DIMENSIONS
    }
    return AnomalySettings(thresholds=thresholds)


#: A label's value must carry at least this share of its dimension's change in the root cause.
MIN_SHARE = 0.2


def matches(alert: Anomaly, label: Label) -> bool:
    if alert.last_day < label.first_day or alert.first_day > label.last_day:
        return False
    named = {
        (cause["dimension"], cause["value"])
        for cause in alert.root_cause
        if cause["share"] >= MIN_SHARE
    }
    named.add((alert.dimension, alert.dimension_value))
    return any((dimension, value) in named for dimension, value in label.key().items())


def top_cause_right(alert: Anomaly, label: Label) -> bool:
    for dimension, value in label.key().items():
        ranked = [cause for cause in alert.root_cause if cause["dimension"] == dimension]
        if not ranked or ranked[0]["value"] != value:
            return False
    return True


def run_seed(seed: int, args, root: Path) -> dict[str, dict]:
    folder = root / f"seed{seed}"
    generate(folder / "cur", rows=args.rows, months=args.months, seed=seed)
    warehouse = folder / "warehouse"
    ingest(str(folder / "cur"), warehouse)
    labels = inject(warehouse, seed=seed, count=args.count)
    build(warehouse)  # the reconciliation check reports the injected months; expected here
    with duckdb.connect(str(warehouse / "finops.duckdb"), read_only=True) as connection:
        cubes = read_cubes(connection, "amortized_cost")
    daily_total = float(np.mean(cubes[0].cost.sum(axis=0)))
    settings = scaled_settings(daily_total)

    out = {}
    for name, (finder, dedupe) in DETECTORS.items():
        started = time.monotonic()
        found = detect(cubes, settings, finder=finder, deduplicate_alerts=dedupe).anomalies
        out[name] = {"alerts": found, "labels": labels, "seconds": time.monotonic() - started}
    return out


def score(runs: list[dict]) -> dict:
    alerts = true_alerts = duplicates = labels_total = labels_found = causes_right = 0
    delays, per_kind, kind_delays = [], defaultdict(lambda: [0, 0]), defaultdict(list)
    seconds = 0.0
    for run in runs:
        seconds += run["seconds"]
        alerts += len(run["alerts"])
        alerted: set[int] = set()
        for alert in sorted(run["alerts"], key=lambda a: a.detected_on):
            label = next((lb for lb in run["labels"] if matches(alert, lb)), None)
            if label is None:
                continue
            if id(label) in alerted:
                duplicates += 1
                continue
            alerted.add(id(label))
            true_alerts += 1
            causes_right += top_cause_right(alert, label)
        for label in run["labels"]:
            labels_total += 1
            per_kind[label.kind][1] += 1
            found = [alert for alert in run["alerts"] if matches(alert, label)]
            if found:
                labels_found += 1
                per_kind[label.kind][0] += 1
                delay = (min(a.detected_on for a in found) - label.first_day).days
                delays.append(delay)
                kind_delays[label.kind].append(delay)
    precision = true_alerts / alerts if alerts else 0.0
    recall = labels_found / labels_total if labels_total else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "alerts": alerts,
        "duplicates": duplicates,
        "labels": labels_total,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "delay": statistics.median(delays) if delays else float("nan"),
        "cause": causes_right / true_alerts if true_alerts else 0.0,
        "per_kind": {
            kind: f"{found}/{total}, median delay {statistics.median(kind_delays[kind]):g} d"
            if kind_delays[kind]
            else f"{found}/{total}"
            for kind, (found, total) in sorted(per_kind.items())
        },
        "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--months", type=int, default=3)
    parser.add_argument("--rows", type=int, default=150_000)
    parser.add_argument("--count", type=int, default=6, help="anomalies injected per seed")
    parser.add_argument("--verbose", action="store_true", help="print every alert and label")
    args = parser.parse_args()

    runs: dict[str, list] = defaultdict(list)
    with tempfile.TemporaryDirectory(prefix="bench-anomalies-") as tmp:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            for name, run in run_seed(seed, args, Path(tmp)).items():
                runs[name].append(run)
                if args.verbose and name == "ours":
                    _print_run(seed, run)

    scores = {name: score(found) for name, found in runs.items()}
    print(
        f"{args.seeds} seeds x {args.months} months, {args.rows:,} line items each, "
        f"{args.count} injected anomalies per seed"
    )
    print(
        "| detector | alerts | of which repeats | precision | recall | F1 | median delay (days) "
        "| top root cause right |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, s in scores.items():
        print(
            f"| {name} | {s['alerts']} | {s['duplicates']} | {s['precision']:.2f} | "
            f"{s['recall']:.2f} | "
            f"{s['f1']:.2f} | {s['delay']:g} | {s['cause']:.2f} |"
        )
    for name, s in scores.items():
        print(f"{name}: found per kind {s['per_kind']}; detection {s['seconds']:.1f} s")


def _print_run(seed: int, run: dict) -> None:
    print(f"seed {seed}")
    for label in run["labels"]:
        print(f"  label {label.kind} {label.first_day}..{label.last_day} {label.key()}")
    for alert in run["alerts"]:
        match = next((lb for lb in run["labels"] if matches(alert, lb)), None)
        causes = [(c["dimension"], c["value"][-20:], c["share"]) for c in alert.root_cause[:3]]
        print(
            f"  {'TP' if match else 'FP'} {alert.kind} {alert.dimension}={alert.dimension_value}"
            f" {alert.first_day}..{alert.last_day} +{alert.impact} {causes}"
        )


if __name__ == "__main__":
    main()
