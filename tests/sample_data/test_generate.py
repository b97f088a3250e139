"""The CUR generator: AWS's layout, its numbers re-read from the files, and its ground truth.

The expected amortized cost is recomputed here from the CSV rows with AWS's rules, written out
in plain Python, so a mistake in the generator's own bookkeeping shows up as a mismatch.
"""

from __future__ import annotations

import gzip
import json
import math
import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pytest

from sample_data.generate import (
    COLUMN_NAMES,
    LINE_ITEM_TYPES,
    GroundTruth,
    _numbers,
    generate,
    java_double_text,
    main,
)

REPO = Path(__file__).resolve().parents[2]
SAMPLE_DIR = REPO / "sample_data" / "demo"
SAMPLE_ARGS = {"rows": 30_000, "months": 3, "seed": 7, "start": "2026-08", "redeliveries": 1}

MANIFEST_KEYS = [
    "assemblyId",
    "account",
    "columns",
    "charset",
    "compression",
    "contentType",
    "reportId",
    "reportName",
    "billingPeriod",
    "bucket",
    "reportKeys",
    "additionalArtifactKeys",
]
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
NUMERIC = [
    "lineItem/UsageAmount",
    "lineItem/UnblendedCost",
    "reservation/EffectiveCost",
    "reservation/UnusedAmortizedUpfrontFeeForBillingPeriod",
    "reservation/UnusedRecurringFee",
    "savingsPlan/SavingsPlanEffectiveCost",
    "savingsPlan/TotalCommitmentToDate",
    "savingsPlan/UsedCommitment",
]

# The pipeline's default tag normalisation, as the design states it.
KEY_ALIASES = {
    "team": "team",
    "ownerteam": "team",
    "owner": "team",
    "env": "env",
    "environment": "env",
    "stage": "env",
}
VALUE_ALIASES = {"prd": "prod", "production": "prod", "development": "dev", "stg": "staging"}


def normalised_key(column: str) -> str | None:
    key = column.split("/", 1)[1].lower()
    for prefix in ("user:", "user_"):
        if key.startswith(prefix):
            key = key[len(prefix) :]
    key = re.sub(r"[:_\- ]", "", key)
    return KEY_ALIASES.get(key)


def normalised_value(value: str) -> str:
    value = value.strip().lower()
    return VALUE_ALIASES.get(value, value)


# ---------------------------------------------------------------------------------------------
# Reading a delivery back
# ---------------------------------------------------------------------------------------------


def manifests(out_dir: Path) -> dict[str, dict]:
    found = {}
    for path in sorted(out_dir.glob("cur/finops-demo/*/finops-demo-Manifest.json")):
        manifest = json.loads(path.read_text())
        found[manifest["billingPeriod"]["start"][:6]] = manifest
    return found


def read_csv(path: Path) -> pa.Table:
    with gzip.open(path, "rt") as handle:
        header = handle.readline().rstrip("\n").split(",")
    options = pacsv.ConvertOptions(column_types={name: pa.string() for name in header})
    return pacsv.read_csv(path, convert_options=options)


def read_assembly(out_dir: Path, keys: list[str]) -> pa.Table:
    return pa.concat_tables([read_csv(out_dir / key) for key in keys])


def numbers(table: pa.Table, column: str) -> np.ndarray:
    text = pc.if_else(pc.equal(table[column], ""), None, table[column])
    return pc.cast(text, pa.float64()).to_numpy(zero_copy_only=False)


def aws_amortized(table: pa.Table) -> np.ndarray:
    """Amortized cost per line item by AWS's rules (what Cost Explorer shows)."""
    values = {column: numbers(table, column) for column in NUMERIC}
    kinds = table["lineItem/LineItemType"].to_pylist()
    arns = table["reservation/ReservationARN"].to_pylist()
    out = np.zeros(table.num_rows)
    for i, kind in enumerate(kinds):
        if kind == "SavingsPlanCoveredUsage":
            out[i] = values["savingsPlan/SavingsPlanEffectiveCost"][i]
        elif kind == "SavingsPlanRecurringFee":
            out[i] = (
                values["savingsPlan/TotalCommitmentToDate"][i]
                - values["savingsPlan/UsedCommitment"][i]
            )
        elif kind in ("SavingsPlanNegation", "SavingsPlanUpfrontFee"):
            out[i] = 0.0
        elif kind == "DiscountedUsage":
            out[i] = values["reservation/EffectiveCost"][i]
        elif kind == "RIFee":
            out[i] = (
                values["reservation/UnusedAmortizedUpfrontFeeForBillingPeriod"][i]
                + values["reservation/UnusedRecurringFee"][i]
            )
        elif kind == "Fee" and arns[i]:
            out[i] = 0.0
        else:
            out[i] = values["lineItem/UnblendedCost"][i]
    return out


def tag_values(table: pa.Table, logical: str) -> list[str | None]:
    columns = [
        c
        for c in table.column_names
        if c.startswith("resourceTags/") and normalised_key(c) == logical
    ]
    rows = zip(*(table[c].to_pylist() for c in columns), strict=True)
    resolved = []
    for values in rows:
        usable = [normalised_value(v) for v in values if v and v.strip()]
        resolved.append(usable[0] if usable else None)
    return resolved


def sums_by(keys, values) -> dict:
    out: dict = defaultdict(float)
    for key, value in zip(keys, values, strict=True):
        out[key] += value
    return dict(out)


def assert_close_dicts(actual: dict, expected: dict, tolerance: float = 1e-6) -> None:
    assert set(actual) == set(expected)
    for key, value in expected.items():
        assert actual[key] == pytest.approx(value, abs=tolerance), key


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def tree_text(root: Path) -> dict[str, bytes]:
    """File contents with gzip undone: another zlib build may compress the same text
    differently."""
    return {
        name: gzip.decompress(data) if name.endswith(".gz") else data
        for name, data in tree_bytes(root).items()
    }


# ---------------------------------------------------------------------------------------------
# Fixtures: one 20k-row delivery shared by most tests
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def delivery(tmp_path_factory) -> tuple[Path, GroundTruth]:
    out_dir = tmp_path_factory.mktemp("cur")
    truth = generate(out_dir, rows=20_000, months=3, seed=7, redeliveries=1)
    return out_dir, truth


@pytest.fixture(scope="module")
def periods(delivery) -> dict[str, pa.Table]:
    out_dir, _ = delivery
    return {
        f"{label[:4]}-{label[4:]}": read_assembly(out_dir, manifest["reportKeys"])
        for label, manifest in manifests(out_dir).items()
    }


# ---------------------------------------------------------------------------------------------
# Layout and manifest
# ---------------------------------------------------------------------------------------------


def test_layout_and_manifest_follow_aws_legacy_cur(delivery):
    out_dir, truth = delivery
    found = manifests(out_dir)
    assert sorted(found) == ["202608", "202609", "202610"]
    for label, manifest in found.items():
        assert list(manifest) == MANIFEST_KEYS
        assert manifest["charset"] == "UTF-8"
        assert manifest["compression"] == "GZIP"
        assert manifest["contentType"] == "text/csv"
        assert manifest["reportName"] == "finops-demo"
        assert manifest["bucket"] == "finops-sample-cur"
        assert manifest["additionalArtifactKeys"] == []
        assert UUID4.match(manifest["assemblyId"])
        assert re.fullmatch(r"\d{12}", manifest["account"])
        year, month = int(label[:4]), int(label[4:])
        nxt = f"{year + month // 12}{month % 12 + 1:02d}"
        assert manifest["billingPeriod"] == {
            "start": f"{label}01T000000.000Z",
            "end": f"{nxt}01T000000.000Z",
        }
        period = f"{label}01-{nxt}01"
        for number, key in enumerate(manifest["reportKeys"], start=1):
            assert key == (
                f"cur/finops-demo/{period}/{manifest['assemblyId']}/finops-demo-{number:05d}.csv.gz"
            )
            assert (out_dir / key).is_file()
        assert (out_dir / f"cur/finops-demo/{period}/finops-demo-Manifest.json").is_file()
        assert truth.periods[f"{label[:4]}-{label[4:]}"].assembly_id == manifest["assemblyId"]
    assert (out_dir / "ground_truth.json").is_file()


def test_manifest_columns_match_the_csv_header(delivery):
    out_dir, _ = delivery
    for manifest in manifests(out_dir).values():
        names = [f"{c['category']}/{c['name']}" for c in manifest["columns"]]
        for key in manifest["reportKeys"]:
            with gzip.open(out_dir / key, "rt") as handle:
                assert handle.readline().rstrip("\n").split(",") == names
        assert names == list(COLUMN_NAMES)
        assert {c["type"] for c in manifest["columns"]} <= {
            "String",
            "OptionalString",
            "DateTime",
            "Interval",
            "BigDecimal",
            "OptionalBigDecimal",
        }


def test_large_assembly_is_split_into_numbered_files(tmp_path, monkeypatch):
    monkeypatch.setattr("sample_data.generate.MAX_ROWS_PER_FILE", 2_500)
    truth = generate(tmp_path, rows=6_000, months=1, seed=3)
    manifest = next(iter(manifests(tmp_path).values()))
    assert len(manifest["reportKeys"]) == math.ceil(truth.periods["2026-08"].rows / 2_500)
    sizes = [read_csv(tmp_path / key).num_rows for key in manifest["reportKeys"]]
    assert sum(sizes) == truth.periods["2026-08"].rows
    assert max(sizes) <= 2_500


# ---------------------------------------------------------------------------------------------
# Numbers against the ground truth
# ---------------------------------------------------------------------------------------------


def test_unblended_cost_and_rows_match_ground_truth(delivery, periods):
    _, truth = delivery
    for label, table in periods.items():
        expected = truth.periods[label]
        assert table.num_rows == expected.rows
        unblended = numbers(table, "lineItem/UnblendedCost")
        assert unblended.sum() == pytest.approx(expected.unblended, abs=1e-6)
        by_type = sums_by(table["lineItem/LineItemType"].to_pylist(), unblended)
        assert_close_dicts(by_type, expected.unblended_by_line_item_type)


def test_amortized_truth_follows_aws_rules_over_the_rows(delivery, periods):
    _, truth = delivery
    for label, table in periods.items():
        expected = truth.periods[label]
        amortized = aws_amortized(table)
        assert amortized.sum() == pytest.approx(expected.amortized, abs=1e-6)
        teams = [t or "(untagged)" for t in tag_values(table, "team")]
        envs = [e or "(untagged)" for e in tag_values(table, "env")]
        assert_close_dicts(sums_by(teams, amortized), expected.amortized_by_team)
        assert_close_dicts(sums_by(envs, amortized), expected.amortized_by_env)
        services = table["lineItem/ProductCode"].to_pylist()
        assert_close_dicts(sums_by(services, amortized), expected.amortized_by_service)


def test_commitments_are_consistent(periods):
    for table in periods.values():
        kinds = np.array(table["lineItem/LineItemType"].to_pylist())
        fee = kinds == "SavingsPlanRecurringFee"
        used = numbers(table, "savingsPlan/UsedCommitment")[fee]
        commitment = numbers(table, "savingsPlan/TotalCommitmentToDate")[fee]
        assert np.all(used <= commitment + 1e-9)
        assert np.any(used < commitment - 1e-3), "some hours leave commitment unused"
        covered = numbers(table, "lineItem/UnblendedCost")[kinds == "SavingsPlanCoveredUsage"]
        negated = numbers(table, "lineItem/UnblendedCost")[kinds == "SavingsPlanNegation"]
        assert negated.sum() == pytest.approx(-covered.sum(), abs=1e-6)
        discounted = kinds == "DiscountedUsage"
        assert np.all(numbers(table, "lineItem/UnblendedCost")[discounted] == 0)
        assert np.all(numbers(table, "reservation/EffectiveCost")[discounted] > 0)
        arns = np.array(table["reservation/ReservationARN"].to_pylist())
        assert np.all(arns[discounted | (kinds == "RIFee")] != "")
        assert np.all(
            np.array(table["savingsPlan/SavingsPlanARN"].to_pylist())[
                fee | (kinds == "SavingsPlanCoveredUsage")
            ]
            != ""
        )


def test_every_line_item_type_appears(periods):
    seen = set()
    for table in periods.values():
        seen |= set(table["lineItem/LineItemType"].to_pylist())
    assert seen == set(LINE_ITEM_TYPES)
    fees = [t for t in periods.values()][0]
    fee = pc.equal(fees["lineItem/LineItemType"], "Fee")
    arns = fees.filter(fee)["reservation/ReservationARN"].to_pylist()
    assert any(arns) and not all(arns), "an RI purchase fee and a fee without a reservation"


def test_rows_are_close_to_the_request(delivery):
    _, truth = delivery
    total = sum(p.rows for p in truth.periods.values())
    assert 17_000 <= total <= 23_000


def test_ground_truth_json_round_trips(delivery):
    out_dir, truth = delivery
    loaded = GroundTruth.from_json((out_dir / "ground_truth.json").read_text())
    assert loaded.periods.keys() == truth.periods.keys()
    assert loaded.to_json() == truth.to_json()
    assert (loaded.seed, loaded.rows, loaded.months) == (7, 20_000, 3)


# ---------------------------------------------------------------------------------------------
# The mess a real CUR has
# ---------------------------------------------------------------------------------------------


def test_tags_are_messy_but_resolvable(periods):
    table = pa.concat_tables(periods.values())
    user_columns = [c for c in table.column_names if c.startswith("resourceTags/user:")]
    team_columns = [c for c in user_columns if normalised_key(c) == "team"]
    env_columns = [c for c in user_columns if normalised_key(c) == "env"]
    used_team_columns = [c for c in team_columns if any(v.strip() for v in table[c].to_pylist())]
    assert len(used_team_columns) >= 2, "several spellings of the team key"

    usage = ("Usage", "DiscountedUsage", "SavingsPlanCoveredUsage", "SavingsPlanNegation")
    tags: dict[str, set] = defaultdict(set)
    for row in table.select(
        ["lineItem/LineItemType", "lineItem/ResourceId", *user_columns]
    ).to_pylist():
        if row["lineItem/LineItemType"] in usage and row["lineItem/ResourceId"]:
            tags[row["lineItem/ResourceId"]].add(
                tuple(sorted((c, row[c]) for c in user_columns if row[c]))
            )
    assert all(len(variants) == 1 for variants in tags.values()), "tags are per resource"
    resource_tags = {rid: dict(next(iter(variants))) for rid, variants in tags.items()}
    untagged = [rid for rid, t in resource_tags.items() if not any(v.strip() for v in t.values())]
    assert 0.1 <= len(untagged) / len(resource_tags) <= 0.3
    blank_team = [
        rid
        for rid, t in resource_tags.items()
        if any(t.get(c, "").strip() for c in env_columns)
        and not any(t.get(c, "").strip() for c in team_columns)
    ]
    assert blank_team, "a resource whose team value is empty or blank"

    spellings = {v for c in team_columns for v in table[c].to_pylist() if v.strip()}
    teams = {normalised_value(v) for v in spellings}
    assert len(spellings) > len(teams), "case and whitespace variants of one team"
    assert teams <= {"platform", "payments", "search", "data", "mobile"}
    env_spellings = {v for c in env_columns for v in table[c].to_pylist() if v.strip()}
    assert {normalised_value(v) for v in env_spellings} <= {"prod", "staging", "dev"}
    assert env_spellings & {"prd", "production", "Prod", "PROD", "Production"}


def test_csv_looks_like_aws_writes_it(delivery):
    out_dir, _ = delivery
    manifest = manifests(out_dir)["202608"]
    with gzip.open(out_dir / manifest["reportKeys"][0], "rt") as handle:
        text = handle.read()
    assert re.search(r",\d\.\d+E-\d+,", text), "tiny costs in scientific notation"
    assert ',"Amazon Web Services, Inc.",' in text
    assert ',""' not in text, "empty fields are written as nothing, not quoted"
    assert re.search(r",2026-08-01T00:00:00Z/2026-08-01T01:00:00Z,", text)


def test_numbers_are_written_like_java_doubles():
    examples = {
        0.0: "0.0",
        720.0: "720.0",
        0.096: "0.096",
        4e-7: "4.0E-7",
        1.81e-8: "1.81E-8",
        -0.0000125: "-1.25E-5",
        0.001: "0.001",
        12345678.5: "1.23456785E7",
        0.00012345678912: "1.234568E-4",
    }
    for value, text in examples.items():
        assert java_double_text(value) == text
    values = np.random.default_rng(1).lognormal(-6, 4, 5000) * np.where(
        np.arange(5000) % 3 == 0, -1, 1
    )
    vectorised = _numbers(np.append(values, [np.nan, 0.0, 1e7, 3.0])).to_pylist()
    assert vectorised[:-4] == [java_double_text(v) for v in values]
    assert vectorised[-4:] == [None, "0.0", "1.0E7", "3.0"]


# ---------------------------------------------------------------------------------------------
# Re-deliveries, determinism, the committed sample
# ---------------------------------------------------------------------------------------------


def test_redeliveries_leave_superseded_assemblies_beside_the_current(delivery):
    out_dir, truth = delivery
    for label, manifest in manifests(out_dir).items():
        period_dir = out_dir / manifest["reportKeys"][0].rsplit("/", 2)[0]
        folders = sorted(p.name for p in period_dir.iterdir() if p.is_dir())
        expected = truth.periods[f"{label[:4]}-{label[4:]}"]
        assert len(expected.superseded_assembly_ids) == 1
        assert sorted([expected.assembly_id, *expected.superseded_assembly_ids]) == folders
        assert all(manifest["assemblyId"] not in old for old in expected.superseded_assembly_ids)
        old = read_assembly(
            out_dir,
            [
                str(p.relative_to(out_dir))
                for p in sorted((period_dir / expected.superseded_assembly_ids[0]).glob("*.csv.gz"))
            ],
        )
        current = read_assembly(out_dir, manifest["reportKeys"])
        assert old.num_rows < current.num_rows
        assert (
            pc.max(old["lineItem/UsageStartDate"]).as_py()
            < pc.max(current["lineItem/UsageStartDate"]).as_py()
        )
        assert numbers(old, "lineItem/UnblendedCost").sum() != pytest.approx(
            numbers(current, "lineItem/UnblendedCost").sum()
        )


def test_same_seed_gives_identical_bytes(delivery, tmp_path):
    out_dir, _ = delivery
    generate(tmp_path, rows=20_000, months=3, seed=7, redeliveries=1)
    assert tree_bytes(tmp_path) == tree_bytes(out_dir)


def test_different_seed_gives_a_different_delivery(delivery, tmp_path):
    out_dir, truth = delivery
    other = generate(tmp_path, rows=20_000, months=3, seed=8, redeliveries=1)
    assert other.periods["2026-08"].unblended != truth.periods["2026-08"].unblended
    assert set(tree_bytes(tmp_path).values()).isdisjoint(tree_bytes(out_dir).values())


def test_committed_sample_matches_a_fresh_generation(tmp_path):
    progress: list[int] = []
    generate(tmp_path, **SAMPLE_ARGS, progress=progress.append)
    assert progress == sorted(progress) and progress
    fresh, committed = tree_text(tmp_path), tree_text(SAMPLE_DIR)
    assert sorted(committed) == sorted(fresh), "regenerate sample_data/demo (see its README)"
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert not stale, f"stale committed sample files: {stale[:3]}"


def test_cli_writes_and_summarises(tmp_path, capsys):
    assert main([str(tmp_path), "--rows", "4000", "--months", "1", "--seed", "5"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("wrote ") and "2026-08" in out and out.count("\n") == 1
    assert (tmp_path / "ground_truth.json").is_file()


def test_too_few_rows_is_refused_with_the_minimum(tmp_path):
    with pytest.raises(ValueError, match="at least 6000"):
        generate(tmp_path, rows=1_000, months=3)
