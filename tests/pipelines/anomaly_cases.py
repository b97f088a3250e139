"""Hand-built daily cost for the anomaly detector's tests: a small steady fleet to change."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

from pipelines.anomalies import Cube

#: A Monday; ten weeks of data.
START = date(2026, 6, 1)
DAYS = 70
ACCOUNT_A, ACCOUNT_B = "111111111111", "222222222222"

#: resource -> (account, service, region, usage_type, team, weekday cost, weekend cost)
FLEET = {
    "i-web1": (ACCOUNT_A, "Amazon Elastic Compute Cloud", "eu-west-1", "BoxUsage:m5.large",
               "web", 40.0, 40.0),
    "i-web2": (ACCOUNT_A, "Amazon Elastic Compute Cloud", "eu-west-1", "BoxUsage:m5.large",
               "web", 40.0, 40.0),
    "i-batch": (ACCOUNT_B, "Amazon Elastic Compute Cloud", "us-east-1", "BoxUsage:c5.xlarge",
                "data", 120.0, 15.0),
    "db-main": (ACCOUNT_A, "Amazon Relational Database Service", "eu-west-1",
                "InstanceUsage:db.r5.large", "web", 60.0, 60.0),
    "bucket-logs": (ACCOUNT_B, "Amazon Simple Storage Service", "us-east-1",
                    "TimedStorage-ByteHrs", "data", 20.0, 20.0),
}  # fmt: skip


def day(index: int) -> date:
    return START + timedelta(days=index)


def fleet_records(seed: int = 1, days: int = DAYS, noise: float = 0.03) -> list[tuple]:
    """The steady fleet: weekday and weekend costs with a few percent of noise a day."""
    rng = np.random.default_rng(seed)
    records = []
    for index in range(days):
        weekend = day(index).weekday() >= 5
        for resource, (*_where, team, wd, we) in FLEET.items():
            cost = (we if weekend else wd) * (1 + rng.normal(0, noise))
            records.append(line(index, resource, cost, team=team))
    return records


def line(index: int, resource: str, cost: float, *, team: str | None = None, **override):
    """One record of ``Cube.from_records`` for a fleet resource (or a new one via override)."""
    account, service, region, usage_type, fleet_team, _wd, _we = FLEET.get(
        resource, (ACCOUNT_A, "Amazon Elastic Compute Cloud", "eu-west-1", "BoxUsage:m5.large",
                   None, 0, 0)
    )  # fmt: skip
    fields = {
        "account": account,
        "service": service,
        "region": region,
        "usage_type": usage_type,
    }
    fields.update(override)
    tags = {"team": team if team is not None else fleet_team}
    return (
        day(index),
        fields["account"],
        fields["service"],
        fields["region"],
        fields["usage_type"],
        resource,
        tags,
        cost,
    )


def cube(records: list[tuple]) -> Cube:
    return Cube.from_records("USD", records)
