"""The carbon model on a hand-computed fixture: Cloud Carbon Footprint's formula, term by term."""

from __future__ import annotations

from datetime import datetime

import pytest
from model_fixtures import line_item, records

# build_models builds the recommendation and carbon models too (tests/queries/conftest.py).
BUILDS_EVERY_MODEL = True

PERIOD = {
    "bill_billing_period_start_date": datetime(2024, 1, 1),
    "bill_billing_period_end_date": datetime(2024, 2, 1),  # 744 hours
}
PUE = 1.135
US_EAST_1 = 0.000379069 * 1000  # kg CO2e per kWh (CCF, eGRID2020 SERC)
EU_WEST_1 = 0.0002786 * 1000


def test_carbon_totals_equal_the_method_formula(build_models):
    connection, result = build_models(
        [
            # One m5.large hour (Skylake: 0.65-4.26 W per vCPU, 81.32 GB per chip).
            line_item(
                **PERIOD,
                line_item_resource_id="i-1",
                line_item_usage_type="BoxUsage:m5.large",
                product_instance_type="m5.large",
                line_item_usage_amount=1.0,
                product={"vcpu": "2", "memory": "8 GiB"},
                resource_tags={"user:Team": "search"},
            ),
            # 100 GB of gp2 for one hour, billed as GB-months.
            line_item(
                **PERIOD,
                line_item_resource_id="vol-1",
                line_item_usage_type="EBS:VolumeUsage.gp2",
                line_item_usage_amount=100 / 744,
            ),
            # 50 GB-months of S3 Standard in eu-west-1.
            line_item(
                **PERIOD,
                line_item_product_code="AmazonS3",
                product_region_code="eu-west-1",
                line_item_resource_id="bucket-1",
                line_item_usage_type="EU-TimedStorage-ByteHrs",
                line_item_usage_amount=50.0,
            ),
            # 10 GB between regions.
            line_item(
                **PERIOD,
                line_item_resource_id="i-1",
                line_item_usage_type="USE1-EUW1-AWS-Out-Bytes",
                line_item_usage_amount=10.0,
            ),
        ]
    )
    assert result.ok

    compute = 2 * (0.65 + 0.5 * (4.26 - 0.65)) / 1000
    memory = (8 - 81.32 * 2 / 48) * 0.000392
    ebs = 100 / 744 * 744 / 1000 * 1.2 / 1000 * 2  # TB-hours x Wh/TB-h x replication 2
    s3 = 50 * 744 / 1000 * 0.65 / 1000 * 6  # HDD, replication 6
    network = 10 * 0.001
    embodied = 2 * 1000 / 48 / 35040
    expected_us = (compute + memory + ebs + network) * PUE * US_EAST_1
    expected_eu = s3 * PUE * EU_WEST_1

    rows = records(
        connection,
        "SELECT region, team, sum(energy_kwh) AS kwh, sum(operational_co2e_kg) AS op, "
        "sum(embodied_co2e_kg) AS emb, sum(co2e_kg) AS total FROM carbon_monthly "
        "GROUP BY region, team ORDER BY region, team",
    )
    by_key = {(row["region"], row["team"]): row for row in rows}
    assert by_key[("eu-west-1", None)]["op"] == pytest.approx(expected_eu)
    assert by_key[("us-east-1", "search")]["op"] == pytest.approx(
        (compute + memory) * PUE * US_EAST_1
    )
    assert by_key[("us-east-1", "search")]["emb"] == pytest.approx(embodied)
    assert by_key[("us-east-1", None)]["op"] == pytest.approx((ebs + network) * PUE * US_EAST_1)
    total = sum(row["total"] for row in rows)
    assert total == pytest.approx(expected_us + expected_eu + embodied)

    showback = records(
        connection,
        "SELECT value, co2e_kg FROM carbon_showback_monthly WHERE dimension = 'team' "
        "ORDER BY value",
    )
    assert [row["value"] for row in showback] == ["(untagged)", "search"]
    assert sum(row["co2e_kg"] for row in showback) == pytest.approx(total)
