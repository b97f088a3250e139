"""The anomaly detector on hand-built daily cost: each hard case alerts or stays quiet."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import pyarrow as pa
import pytest

from pipelines.anomalies import detect, read_cubes
from pipelines.anomaly_config import AnomalySettings, Threshold
from tests.pipelines.anomaly_cases import ACCOUNT_A, DAYS, cube, day, fleet_records, line

SETTINGS = AnomalySettings()


def found(records, settings=SETTINGS):
    return detect([cube(records)], settings).anomalies


def without(records, resource, from_day):
    return [r for r in records if not (r[5] == resource and r[0] >= day(from_day))]


def test_steady_fleet_with_quiet_weekends_raises_no_alert():
    # i-batch costs 120 on weekdays and 15 at weekends: every Monday is 8x the Sunday before.
    for seed in range(1, 6):
        assert found(fleet_records(seed=seed, noise=0.08)) == []


def test_saturday_at_weekday_level_is_a_spike():
    saturday = next(i for i in range(40, 60) if day(i).weekday() == 5)
    records = without(fleet_records(), "i-batch", saturday)
    records = [r for r in fleet_records() if not (r[5] == "i-batch" and r[0] == day(saturday))]
    records.append(line(saturday, "i-batch", 120.0))

    (anomaly,) = found(records)

    assert anomaly.first_day == anomaly.last_day == day(saturday)
    assert anomaly.kind == "spike"
    # Expected is the weekend level (15 with 3% noise), not the weekday one.
    assert 13 < anomaly.expected_cost < 17
    assert anomaly.root_cause[0] == {
        "dimension": "resource",
        "value": "i-batch",
        "share": 1.0,
        "impact": pytest.approx(anomaly.impact, abs=0.5),
    }


def test_new_small_service_in_its_first_days_raises_no_alert():
    # A new Lambda function at 5 a day: infinitely more than its own empty history, but 1% of
    # its account and of the total.
    records = fleet_records()
    records += [
        line(i, "fn-new", 5.0, service="AWS Lambda", usage_type="Lambda-GB-Second")
        for i in range(50, DAYS)
    ]
    assert found(records) == []


def test_new_untagged_resource_that_burns_money_alerts_with_it_as_root_cause():
    records = fleet_records()
    records += [line(i, "i-new", 150.0, team="") for i in range(60, DAYS)]

    (anomaly,) = found(records)

    assert anomaly.first_day == day(60)
    resources = [c for c in anomaly.root_cause if c["dimension"] == "resource"]
    assert resources[0]["value"] == "i-new"
    assert resources[0]["share"] == 1.0
    # 150 a day over the days it ran, before the baseline learns it (10 days at most).
    assert anomaly.impact == pytest.approx(150.0 * ((anomaly.last_day - day(60)).days + 1), rel=0.1)


def test_ended_resource_raises_no_alert():
    records = without(fleet_records(), "i-batch", 40)
    assert found(records) == []


def test_a_spike_after_an_ended_resource_is_still_found():
    records = without(fleet_records(), "i-web2", 30)
    records.append(line(55, "db-main", 200.0))
    (anomaly,) = found(records)
    assert anomaly.first_day == day(55)
    assert anomaly.dimension_value in ("db-main", "InstanceUsage:db.r5.large")


def test_one_off_spike_does_not_raise_the_baseline_for_the_next():
    records = fleet_records()
    for spike in (36, 43):  # two Tuesdays a week apart
        records.append(line(spike, "db-main", 240.0))
    anomalies = found(records)
    assert sorted(a.first_day for a in anomalies) == [day(36), day(43)]
    # The second one is measured against the usual 60, not against the first spike.
    assert all(55 < a.expected_cost < 65 for a in anomalies)


def test_leak_is_a_trend_with_its_projected_monthly_cost():
    start = 35
    records = [
        r[:7] + (r[7] * 1.05 ** max(0, (r[0] - day(start)).days),) if r[5] == "bucket-logs" else r
        for r in fleet_records()
    ]

    (anomaly,) = found(records)

    assert anomaly.kind == "trend"
    assert anomaly.dimension_value == "bucket-logs"
    assert abs((anomaly.first_day - day(start)).days) <= 2
    # Found before the cost has doubled (1.05^14 = 1.98), once the projected excess reaches the
    # resource threshold's 12.5 dollars a day.
    assert (anomaly.detected_on - day(start)).days < 14
    # The run rate at the end is 20 * 1.05^34 = 105 a day; still growing, so the next 30 days
    # cost more than 30 times that, and less than if it kept growing 5% a day (which is more
    # than a straight line projects).
    last = 20 * 1.05 ** (DAYS - 1 - start)
    assert (
        30 * last * 0.9 < anomaly.projected_monthly_cost < sum(last * 1.05**k for k in range(1, 31))
    )


def test_root_cause_ranks_resources_by_their_share_of_the_jump():
    records = fleet_records()
    records += [line(50, "i-web1", 300.0), line(50, "i-web2", 100.0)]

    (anomaly,) = found(records)

    resources = [
        (c["value"], c["share"]) for c in anomaly.root_cause if c["dimension"] == "resource"
    ]
    assert [value for value, _ in resources] == ["i-web1", "i-web2"]
    assert resources[0][1] == pytest.approx(0.75, abs=0.02)
    assert resources[1][1] == pytest.approx(0.25, abs=0.02)
    accounts = [c for c in anomaly.root_cause if c["dimension"] == "account"]
    assert [(c["value"], c["share"]) for c in accounts] == [(ACCOUNT_A, 1.0)]
    impacts = [c["impact"] for c in anomaly.root_cause]
    assert impacts == sorted(impacts, reverse=True)


def test_same_jump_in_several_dimensions_is_one_anomaly():
    records = fleet_records()
    records += [line(50, "i-web1", 300.0), line(50, "i-web2", 100.0)]

    (anomaly,) = found(records)

    # Told on the most specific series that holds the whole jump: both resources share it.
    assert (anomaly.dimension, anomaly.dimension_value) == ("usage_type", "BoxUsage:m5.large")
    for seen in ("total=total", f"account={ACCOUNT_A}", "resource=i-web1", "tag:team=web"):
        assert seen in anomaly.also_seen_in


def test_two_jumps_on_different_days_are_two_anomalies():
    records = fleet_records()
    records += [line(45, "i-web1", 300.0), line(52, "bucket-logs", 200.0)]
    anomalies = found(records)
    assert sorted((a.first_day, a.dimension_value) for a in anomalies) == [
        (day(45), "i-web1"),
        (day(52), "bucket-logs"),
    ]


def test_alert_needs_both_the_absolute_and_the_relative_threshold():
    records = fleet_records() + [line(50, "bucket-logs", 40.0)]  # +40 on 20: +200%, 40 dollars
    assert found(records) == []  # below every dimension's 50-100 dollars
    low = {name: Threshold(30.0, 0.2) for name in SETTINGS.thresholds}
    assert len(found(records, AnomalySettings(thresholds=low))) == 1
    # Same dollars on the 60 a day database: +67%, enough; at +25% required of 300 a day: not.
    picky = {name: Threshold(30.0, 3.0) for name in SETTINGS.thresholds}
    assert found(records, AnomalySettings(thresholds=picky)) == []


# ---------------------------------------------------------------------------------------------
# Through the SQL that reads stg_line_items: month boundaries and currencies.
# ---------------------------------------------------------------------------------------------

STG = """
CREATE TABLE stg_line_items (
    currency VARCHAR, account_id VARCHAR, service VARCHAR, region VARCHAR, usage_type VARCHAR,
    resource_id VARCHAR, tag_dimensions MAP(VARCHAR, VARCHAR), usage_date DATE,
    line_item_usage_start_date TIMESTAMP, line_item_usage_end_date TIMESTAMP,
    charge_category VARCHAR, amortized_cost DOUBLE
)
"""


def _stg(rows, connection=None):
    """stg_line_items with only the columns the detector reads, one row per ``rows`` entry."""
    connection = connection or duckdb.connect()
    connection.execute(STG)
    insert_rows(connection, rows)
    return connection


def insert_rows(connection, rows):
    names = ("currency", "service", "usage_type", "resource_id", "starts", "ends", "category")
    table = pa.table(
        {
            **{name: [row[i] for row in rows] for i, name in enumerate(names)},
            "cost": pa.array([row[7] for row in rows], pa.float64()),
        }
    )
    connection.register("new_rows", table)
    connection.execute(
        f"INSERT INTO stg_line_items SELECT currency, '{ACCOUNT_A}', service, 'eu-west-1', "
        "usage_type, resource_id, MAP {'team': 'web'}, CAST(starts AS DATE), starts, ends, "
        "category, cost FROM new_rows"
    )
    connection.unregister("new_rows")


def _hourly(first: datetime, days: int, per_day: float, **fields):
    rows = []
    for hour in range(days * 24):
        start = first + timedelta(hours=hour)
        rows.append(
            (
                fields.get("currency", "USD"),
                fields.get("service", "Amazon Elastic Compute Cloud"),
                fields.get("usage_type", "BoxUsage:m5.large"),
                fields.get("resource", "i-web1"),
                start,
                start + timedelta(hours=1),
                "Usage",
                per_day / 24,
            )
        )
    return rows


def test_month_start_fees_and_monthly_usage_lines_raise_no_alert():
    first = datetime(2026, 5, 1)
    rows = _hourly(first, 92, 100.0)
    for month in (datetime(2026, 5, 1), datetime(2026, 6, 1), datetime(2026, 7, 1)):
        end = (month + timedelta(days=32)).replace(day=1)
        ec2, support, r53 = "Amazon Elastic Compute Cloud", "AWS Support (Business)", "Route 53"
        rows += [
            ("USD", ec2, "HeavyUsage:m5.large", "", month, end, "Purchase", 900.0),  # RI fee
            ("USD", support, "Dollar", "", month, end, "Purchase", 400.0),
            ("USD", ec2, "", "", month, end, "Tax", 250.0),
            ("USD", r53, "HostedZone", "Z123", month, end, "Usage", 310.0),  # monthly usage
        ]
    connection = _stg(rows)

    (usd,) = read_cubes(connection, "amortized_cost")
    assert detect([usd], SETTINGS).anomalies == []
    # The hosted zone's month is spread over its days: 10 a day in a 31-day month.
    zone = next(i for i, line in enumerate(usd.lines) if line["resource"] == "Z123")
    assert usd.cost[zone, 0] == pytest.approx(10.0)

    # The same data with one real spike mid-June is found, on its day.
    connection.executemany(
        "INSERT INTO stg_line_items SELECT * REPLACE (CAST(? AS DOUBLE) AS amortized_cost) "
        "FROM stg_line_items WHERE resource_id = 'i-web1' AND usage_date = DATE '2026-06-17'",
        [(20.0,)],
    )
    (usd,) = read_cubes(connection, "amortized_cost")
    (anomaly,) = detect([usd], SETTINGS).anomalies
    assert str(anomaly.first_day) == "2026-06-17"
    assert anomaly.impact == pytest.approx(480.0, abs=5)  # 24 more hours at 20


def test_each_currency_is_scanned_apart():
    first = datetime(2026, 5, 1)
    rows = _hourly(first, 60, 100.0) + _hourly(first, 60, 80.0, currency="EUR", resource="i-eu")
    rows += _hourly(datetime(2026, 6, 20), 1, 400.0, currency="EUR", resource="i-eu")
    connection = _stg(rows)

    cubes = read_cubes(connection, "amortized_cost")
    anomalies = detect(cubes, SETTINGS).anomalies

    assert sorted(c.currency for c in cubes) == ["EUR", "USD"]
    (anomaly,) = anomalies
    assert anomaly.currency == "EUR"
    assert anomaly.impact == pytest.approx(400.0, abs=5)


def test_unknown_measure_is_refused():
    connection = _stg(_hourly(datetime(2026, 5, 1), 2, 10.0))
    with pytest.raises(Exception, match="--measure 'cost'"):
        read_cubes(connection, "cost")
