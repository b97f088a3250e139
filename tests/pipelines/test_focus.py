"""FOCUS 1.x exports as a source: AWS rows mapped onto the contract, totals reconciled.

The real sample is the FinOps Foundation's FOCUS 1.0 file (CC BY 4.0), read in place from
../shared/realdata/focus-sample-data/; every expected value is worked out here from the CSV
with csv and Decimal, independently of the code under test.
"""

from __future__ import annotations

import csv
import json
import logging
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from pipelines.errors import IngestFailed
from pipelines.ingest import ingest
from pipelines.models import build
from tests.conftest import REALDATA, line_items, tree_digest

FOCUS_SAMPLE = REALDATA / "focus-sample-data" / "focus_sample.csv"

pytestmark = pytest.mark.skipif(not FOCUS_SAMPLE.is_file(), reason="FOCUS sample not present")


def sample_rows() -> tuple[list[str], list[dict[str, str]]]:
    with FOCUS_SAMPLE.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def aws_rows() -> list[dict[str, str]]:
    return [row for row in sample_rows()[1] if row["ProviderName"] == "AWS"]


def decimal_sum(rows: list[dict[str, str]], column: str) -> Decimal:
    return sum((Decimal(row[column]) for row in rows if row[column] != "NULL"), Decimal(0))


def write_focus(path: Path, header: list[str], rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, quoting=csv.QUOTE_ALL)
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def sample_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    warehouse = tmp_path_factory.mktemp("focus") / "warehouse"
    ingest(str(FOCUS_SAMPLE), warehouse)
    assert build(warehouse).ok
    return warehouse


def test_sample_ingests_its_aws_rows_with_their_exact_billed_cost(sample_warehouse: Path):
    rows = aws_rows()
    expected = decimal_sum(rows, "BilledCost")
    assert len(rows) == 942
    assert expected == Decimal("18.00663861840")

    [(period, count, total)] = line_items(
        sample_warehouse,
        "SELECT billing_period, count(*), sum(line_item_unblended_cost) FROM li GROUP BY 1",
    )
    assert (period, count) == ("2024-09", 942)
    assert abs(Decimal(repr(total)) - expected) < Decimal("1e-9")


def test_other_providers_are_skipped_with_a_warning_that_reconciles(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    _, rows = sample_rows()
    others: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        if row["ProviderName"] != "AWS":
            others.setdefault(row["ProviderName"], []).append(row)

    with caplog.at_level(logging.WARNING, logger="pipelines.focus"):
        result = ingest(str(FOCUS_SAMPLE), tmp_path / "warehouse")

    [record] = result.records
    assert record.rows_in == 942
    for provider, skipped in others.items():
        cost = decimal_sum(skipped, "BilledCost")
        assert any(
            f"{len(skipped)} row(s) of provider {provider}" in message
            and f"BilledCost {cost}" in message
            for message in caplog.messages
        ), provider
    assert {provider: len(skipped) for provider, skipped in others.items()} == {
        "Microsoft": 51,
        "Oracle": 7,
    }


def test_effective_cost_is_the_amortized_cost_of_savings_plan_covered_usage(
    sample_warehouse: Path,
):
    rows = aws_rows()
    covered = [row for row in rows if row["CommitmentDiscountType"] == "Savings Plan"]
    others = [row for row in rows if row["CommitmentDiscountType"] != "Savings Plan"]
    # AWS's rules: covered usage at its effective cost, everything else here (on-demand usage
    # and one credit) at its billed cost. The anonymized sample's EffectiveCost of on-demand
    # rows is not their BilledCost (613 rows differ), so the file's EffectiveCost total is kept
    # in product['focus_effective_cost'] and checked there instead.
    expected_amortized = decimal_sum(covered, "EffectiveCost") + decimal_sum(others, "BilledCost")

    with duckdb.connect(str(sample_warehouse / "finops.duckdb"), read_only=True) as db:
        [(covered_amortized, amortized, effective)] = db.execute(
            "SELECT sum(amortized_cost) FILTER (WHERE line_item_type = 'SavingsPlanCoveredUsage'),"
            " sum(amortized_cost),"
            " sum(CAST(product['focus_effective_cost'] AS DECIMAL(38, 11)))"
            " FROM stg_line_items"
        ).fetchall()

    assert abs(Decimal(repr(covered_amortized)) - decimal_sum(covered, "EffectiveCost")) < Decimal(
        "1e-9"
    )
    assert abs(Decimal(repr(amortized)) - expected_amortized) < Decimal("1e-9")
    assert effective == decimal_sum(rows, "EffectiveCost") == Decimal("13.00000000000")


def test_the_four_savings_plan_rows_are_covered_usage(sample_warehouse: Path):
    expected = sorted(
        row["Id"] for row in aws_rows() if row["CommitmentDiscountType"] == "Savings Plan"
    )
    assert len(expected) == 4

    found = line_items(
        sample_warehouse,
        "SELECT product['focus_id'], savings_plan_savings_plan_a_r_n IS NOT NULL FROM li "
        "WHERE line_item_line_item_type = 'SavingsPlanCoveredUsage' ORDER BY 1",
    )
    assert found == [(row_id, True) for row_id in expected]
    types = dict(
        line_items(sample_warehouse, "SELECT line_item_line_item_type, count(*) FROM li GROUP BY 1")
    )
    assert types == {"Usage": 937, "SavingsPlanCoveredUsage": 4, "Credit": 1}


def test_null_text_is_missing(sample_warehouse: Path):
    rows = aws_rows()
    no_zone = sum(row["AvailabilityZone"] == "NULL" for row in rows)
    no_resource = sum(row["ResourceId"] == "NULL" for row in rows)

    [(zones, resources, null_texts)] = line_items(
        sample_warehouse,
        "SELECT count(*) FILTER (WHERE line_item_availability_zone IS NULL), "
        "count(*) FILTER (WHERE line_item_resource_id IS NULL), "
        "count(*) FILTER (WHERE list_contains(map_values(product), 'NULL') "
        "OR line_item_availability_zone = 'NULL') FROM li",
    )
    assert (zones, resources, null_texts) == (no_zone, no_resource, 0)
    assert no_zone > 0 and no_resource > 0


def test_tags_from_json_land_in_resource_tags_as_written(sample_warehouse: Path):
    tagged: dict[str, int] = {}
    for row in aws_rows():
        if row["Tags"] == "NULL":
            continue
        for key, value in json.loads(row["Tags"]).items():
            if value is not None and str(value).strip():
                tagged[key] = tagged.get(key, 0) + 1

    [(application, org, spaced_org)] = line_items(
        sample_warehouse,
        "SELECT count(resource_tags['application']), count(resource_tags['org']), "
        "count(resource_tags[' org']) FROM li",
    )
    assert application == tagged["application"]
    assert (org, spaced_org) == (tagged.get("org", 0), tagged.get(" org", 0))
    assert application > 0


def test_bad_json_tags_are_refused_and_the_warehouse_is_unchanged(tmp_path: Path):
    warehouse = tmp_path / "warehouse"
    ingest(str(FOCUS_SAMPLE), warehouse)
    before = tree_digest(warehouse / "line_items")
    header, rows = sample_rows()
    bad_row = next(number for number, row in enumerate(rows, start=1) if row["Tags"] != "NULL")
    rows[bad_row - 1]["Tags"] = '{"application": "broken"'
    source = write_focus(tmp_path / "focus_sample.csv", header, rows)

    with pytest.raises(IngestFailed) as caught:
        ingest(str(source), warehouse)

    message = str(caught.value)
    assert str(source) in message
    assert f"row {bad_row}" in message
    assert "column 'Tags'" in message
    assert tree_digest(warehouse / "line_items") == before


# --- a hand-made AWS FOCUS file: commitments, purchases and periods ---------------------------

HEADER = [
    "BilledCost",
    "EffectiveCost",
    "ListCost",
    "ChargeCategory",
    "CommitmentDiscountType",
    "CommitmentDiscountStatus",
    "CommitmentDiscountId",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "BillingCurrency",
    "ProviderName",
    "ServiceName",
    "SubAccountId",
    "Tags",
]


def aws_row(billed: str, effective: str, category: str, kind: str = "", status: str = "") -> dict:
    return {
        "BilledCost": billed,
        "EffectiveCost": effective,
        "ListCost": billed,
        "ChargeCategory": category,
        "CommitmentDiscountType": kind,
        "CommitmentDiscountStatus": status,
        "CommitmentDiscountId": "arn:aws:savingsplans::1:savingsplan/x" if kind else "",
        "ChargePeriodStart": "2026-08-03T00:00:00Z",
        "ChargePeriodEnd": "2026-08-03T01:00:00Z",
        "BillingPeriodStart": "2026-08-01T00:00:00Z",
        "BillingPeriodEnd": "2026-09-01T00:00:00Z",
        "BillingCurrency": "USD",
        "ProviderName": "AWS",
        "ServiceName": "Amazon Elastic Compute Cloud",
        "SubAccountId": "111122223333",
        "Tags": '{"team": "data", "env": ""}',
    }


def test_commitments_map_to_cur_types_whose_amortization_is_effective_cost(tmp_path: Path):
    rows = [
        aws_row("1.00", "1.00", "Usage"),
        aws_row("0", "0.60", "Usage", "Savings Plan", "Used"),
        aws_row("0", "0.25", "Usage", "Savings Plan", "Unused"),
        aws_row("0", "0.70", "Usage", "Reservation", "Used"),
        aws_row("0", "0.05", "Usage", "Reservation", "Unused"),
        aws_row("0.85", "0", "Purchase", "Savings Plan"),
        aws_row("0.75", "0", "Purchase", "Reservation"),
        aws_row("0.10", "0.10", "Tax"),
        aws_row("-0.20", "-0.20", "Credit"),
        aws_row("-0.05", "-0.05", "Adjustment"),
    ]
    source = write_focus(tmp_path / "focus.csv", HEADER, rows)
    warehouse = tmp_path / "warehouse"
    ingest(str(source), warehouse)
    assert build(warehouse).ok

    with duckdb.connect(str(warehouse / "finops.duckdb"), read_only=True) as db:
        found = db.execute(
            "SELECT line_item_type, charge_category, round(unblended_cost, 6), "
            "round(amortized_cost, 6) FROM stg_line_items ORDER BY unblended_cost, amortized_cost"
        ).fetchall()
    assert sorted(found) == sorted(
        [
            ("Usage", "Usage", 1.0, 1.0),
            ("SavingsPlanCoveredUsage", "Usage", 0.0, 0.6),
            ("SavingsPlanRecurringFee", "Purchase", 0.0, 0.25),
            ("DiscountedUsage", "Usage", 0.0, 0.7),
            ("RIFee", "Purchase", 0.0, 0.05),
            ("SavingsPlanUpfrontFee", "Purchase", 0.85, 0.0),
            ("Fee", "Purchase", 0.75, 0.0),
            ("Tax", "Tax", 0.1, 0.1),
            ("Credit", "Credit", -0.2, -0.2),
            ("Refund", "Adjustment", -0.05, -0.05),
        ]
    )
    effective = sum(Decimal(row["EffectiveCost"]) for row in rows)
    assert round(sum(amortized for *_, amortized in found), 6) == float(effective) == 2.45
    tags = line_items(warehouse, "SELECT DISTINCT resource_tags FROM li")
    assert tags == [({"team": "data"},)]


def test_a_file_with_two_aws_billing_periods_is_refused_with_its_row(tmp_path: Path):
    later = aws_row("2.00", "2.00", "Usage")
    later["BillingPeriodStart"] = "2026-09-01T00:00:00Z"
    source = write_focus(tmp_path / "focus.csv", HEADER, [aws_row("1.00", "1.00", "Usage"), later])
    warehouse = tmp_path / "warehouse"

    with pytest.raises(IngestFailed) as caught:
        ingest(str(source), warehouse)

    message = str(caught.value)
    assert "row 2" in message and "column 'BillingPeriodStart'" in message
    assert not list((warehouse / "line_items").glob("*/*.parquet"))


def test_a_file_without_aws_rows_is_refused(tmp_path: Path):
    row = aws_row("1.00", "1.00", "Usage")
    row["ProviderName"] = "Microsoft"
    source = write_focus(tmp_path / "focus.csv", HEADER, [row])

    with pytest.raises(IngestFailed) as caught:
        ingest(str(source), tmp_path / "warehouse")

    assert "no AWS line items (1 row(s) of other providers)" in str(caught.value)
