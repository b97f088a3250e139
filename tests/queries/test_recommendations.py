"""Recommendation models on fixtures whose savings are worked out by hand from given rates."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from model_fixtures import line_item, records

# build_models builds the recommendation and carbon models too (tests/queries/conftest.py).
BUILDS_EVERY_MODEL = True

ACCOUNT = "111111111111"
PAYER = "999999999999"
MONDAY = datetime(2024, 1, 15)  # a week of data: Monday 15 to Sunday 21 January 2024
HOURS = [MONDAY + timedelta(hours=h) for h in range(168)]
MONTH = 730 / 168  # the window holds 7 days of data: a month is 730 of its hours
PERIOD = {
    "bill_billing_period_start_date": datetime(2024, 1, 1),
    "bill_billing_period_end_date": datetime(2024, 2, 1),  # 744 hours
}


def instance_hour(start: datetime, **columns) -> dict:
    """One on-demand m5.large hour of a dev instance in us-east-1a at 0.096 USD."""
    defaults = {
        **PERIOD,
        "line_item_usage_account_id": ACCOUNT,
        "line_item_resource_id": "i-0dev",
        "line_item_usage_type": "BoxUsage:m5.large",
        "line_item_availability_zone": "us-east-1a",
        "product_instance_type": "m5.large",
        "line_item_usage_start_date": start,
        "line_item_usage_end_date": start + timedelta(hours=1),
        "line_item_usage_amount": 1.0,
        "line_item_unblended_cost": 0.096,
        "pricing_public_on_demand_cost": 0.096,
        "product": {"vcpu": "2", "memory": "8 GiB"},
        "resource_tags": {"user:Team": "payments", "user:env": "dev"},
    }
    return line_item(**{**defaults, **columns})


def volume_hour(start: datetime, resource_id: str, size_gb: float, zone: str) -> dict:
    """One hourly gp2 line at 0.10 USD per GB-month (744 hours in January)."""
    return line_item(
        **PERIOD,
        line_item_usage_account_id=ACCOUNT,
        line_item_resource_id=resource_id,
        line_item_usage_type="EBS:VolumeUsage.gp2",
        line_item_availability_zone=zone,
        line_item_usage_start_date=start,
        line_item_usage_amount=size_gb / 744,
        line_item_unblended_cost=size_gb * 0.10 / 744,
        pricing_public_on_demand_cost=size_gb * 0.10 / 744,
        resource_tags={"user:Team": "payments", "user:env": "dev"},
    )


def by_kind(connection) -> dict[str, dict]:
    rows = records(connection, "SELECT * FROM recommendations WHERE resource_id = 'i-0dev'")
    return {row["kind"]: row for row in rows}


def test_dev_instance_running_24x7_gets_schedule_graviton_and_spot_counted_once(build_models):
    connection, result = build_models([instance_hour(hour) for hour in HOURS])
    assert result.ok
    rows = by_kind(connection)

    # 108 of the week's 168 hours fall outside weekdays 08:00-20:00 UTC, all billed at 0.096.
    schedule = rows["schedule"]
    assert schedule["estimated_monthly_saving"] == pytest.approx(108 * 0.096 * MONTH)
    assert schedule["saving_low"] == pytest.approx(108 * 0.096 * MONTH * 0.75)
    assert schedule["current_monthly_cost"] == pytest.approx(168 * 0.096 * MONTH)
    assert schedule["confidence"] == "high"
    assert '"tag_value": "weekdays-08-20"' in schedule["action"]

    # m5 -> m8g (CUDOS): m8g.large 0.08976 in us-east-1 against the CUR's 0.096; high with
    # Graviton3 m7g.large at 0.0816.
    graviton = rows["graviton"]
    cost = 168 * 0.096 * MONTH
    assert graviton["estimated_monthly_saving"] == pytest.approx(cost * (1 - 0.08976 / 0.096))
    assert graviton["saving_high"] == pytest.approx(cost * (1 - 0.0816 / 0.096))

    # Spot: the m5.large sample in us-east-1 is 52.8-66.8% below on-demand.
    spot = rows["spot"]
    assert spot["estimated_monthly_saving"] == pytest.approx(cost * 0.598)
    assert (spot["saving_low"], spot["saving_high"]) == pytest.approx((cost * 0.528, cost * 0.668))

    # m5's current families (m7i 0.1008, m7a 0.11592) cost more: no previous_generation.
    assert "previous_generation" not in rows

    # Counted once: schedule first, then graviton on what is left, then spot on the rest.
    left = 1 - 108 / 168
    assert schedule["total_monthly_saving"] == pytest.approx(108 * 0.096 * MONTH)
    assert graviton["total_monthly_saving"] == pytest.approx(cost * (1 - 0.08976 / 0.096) * left)
    assert spot["total_monthly_saving"] == pytest.approx(cost * 0.598 * left * (0.08976 / 0.096))


def test_office_hours_instance_gets_no_schedule(build_models):
    office = [h for h in HOURS if h.weekday() < 5 and 8 <= h.hour < 20]
    connection, _ = build_models([instance_hour(hour) for hour in office])

    assert "schedule" not in by_kind(connection)


def test_schedule_follows_the_configured_team_offset(build_models, tmp_path):
    from pipelines.config import load_config

    config_file = tmp_path / "finops.toml"
    config_file.write_text("[recommendations]\nschedule_utc_offset_hours = 10\n")
    # Running 22:00-10:00 UTC every day is 08:00-20:00 at UTC+10: only the weekend is off.
    hours = [h for h in HOURS if h.hour >= 22 or h.hour < 10]
    connection, _ = build_models(
        [instance_hour(hour) for hour in hours], config=load_config(config_file)
    )
    # Local weekend: Saturday 20 and Sunday 21 (UTC+10) hold 24 of these hours; with only
    # 24 of 108 off-schedule hours billed the instance does not run around the clock.
    assert "schedule" not in by_kind(connection)


def test_idle_address_and_unattached_volume_are_priced_at_their_whole_cost(build_models):
    rows = [instance_hour(hour) for hour in HOURS]
    rows += [
        line_item(
            **PERIOD,
            line_item_usage_account_id=ACCOUNT,
            line_item_resource_id="203.0.113.10",
            line_item_usage_type="ElasticIP:IdleAddress",
            line_item_usage_start_date=hour,
            line_item_usage_amount=1.0,
            line_item_unblended_cost=0.005,
        )
        for hour in HOURS
    ]
    rows += [volume_hour(hour, "vol-orphan", 100, "us-east-1d") for hour in HOURS]
    rows += [volume_hour(hour, "vol-big", 2000, "us-east-1a") for hour in HOURS]
    connection, result = build_models(rows)
    assert result.ok
    found = {
        (row["kind"], row["resource_id"]): row
        for row in records(connection, "SELECT * FROM recommendations")
    }

    address = found[("idle", "203.0.113.10")]
    assert address["estimated_monthly_saving"] == pytest.approx(168 * 0.005 * MONTH)
    assert '"action": "release_elastic_ip"' in address["action"]

    # No instance billed in us-east-1d: the volume is unattached; 100 GB at 0.10 a GB-month.
    orphan = found[("idle", "vol-orphan")]
    assert orphan["estimated_monthly_saving"] == pytest.approx(100 * 0.10 * 730 / 744)
    # Its gp3 change is moot once it is deleted: listed, not counted.
    assert found[("gp3", "vol-orphan")]["counts_in_total"] is False
    assert found[("gp3", "vol-orphan")]["total_monthly_saving"] == 0
    # vol-big shares its zone with the running instance: never called unattached.
    assert ("idle", "vol-big") not in found

    # 2,000 GB gp2 -> gp3 at 80% of the rate, plus 3,000 IOPS above the included 3,000 at
    # 0.06 x the gp3 GB-month rate (0.08) each.
    big = found[("gp3", "vol-big")]
    monthly = 2000 * 0.10 * 730 / 744
    assert big["estimated_monthly_saving"] == pytest.approx(monthly * 0.2 - 3000 * 0.06 * 0.08)
    assert big["saving_high"] == pytest.approx(monthly * 0.2)


def test_commitment_maximises_net_saving_and_reports_half_and_double(build_models):
    # Eligible on-demand EC2 spend: 1.0 an hour for the first 84 hours, 0.5 for the next 84.
    rows = [
        instance_hour(
            hour,
            bill_payer_account_id=PAYER,
            line_item_unblended_cost=1.0 if i < 84 else 0.5,
            pricing_public_on_demand_cost=1.0 if i < 84 else 0.5,
            resource_tags={"user:env": "prod"},
        )
        for i, hour in enumerate(HOURS)
    ]
    connection, _ = build_models(rows)
    (row,) = records(connection, "SELECT * FROM rec_commitment")

    # Covering 0.5/h costs 0.4/h at a 20% discount: 168 x 0.5 - 168 x 0.4 = 16.8 saved in the
    # window; covering 1.0/h would lose 126 - 134.4 = -8.4. Half (0.25/h): 42 - 33.6 = 8.4.
    assert row["commitment_per_hour"] == pytest.approx(0.4)
    assert row["estimated_monthly_saving"] == pytest.approx(16.8 * MONTH)
    assert row["coverage"] == pytest.approx(84 / 126)
    assert row["utilization"] == pytest.approx(1.0)
    assert row["half_monthly_saving"] == pytest.approx(8.4 * MONTH)
    assert row["double_monthly_saving"] == pytest.approx(-8.4 * MONTH)
    assert row["resource_id"] == PAYER


def test_commitment_total_shrinks_with_the_instance_savings_counted_before_it(build_models):
    # The same series as above; its public rate averages 0.75/h, so the m5 -> m8g move
    # (0.08976/h) removes 1 - 0.08976 / 0.75 of the eligible spend, and the commitment's total
    # shrinks by as much.
    rows = [
        instance_hour(
            hour,
            bill_payer_account_id=PAYER,
            line_item_unblended_cost=1.0 if i < 84 else 0.5,
            pricing_public_on_demand_cost=1.0 if i < 84 else 0.5,
            resource_tags={"user:env": "prod"},
        )
        for i, hour in enumerate(HOURS)
    ]
    connection, _ = build_models(rows)
    found = {row["kind"]: row for row in records(connection, "SELECT * FROM recommendations")}

    graviton_share = 1 - 0.08976 / 0.75
    assert found["graviton"]["total_monthly_saving"] == pytest.approx(126 * MONTH * graviton_share)
    assert found["commitment"]["estimated_monthly_saving"] == pytest.approx(16.8 * MONTH)
    assert found["commitment"]["total_monthly_saving"] == pytest.approx(
        16.8 * MONTH * (1 - graviton_share)
    )
