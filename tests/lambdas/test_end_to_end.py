"""End to end over HTTP against moto's server: CUR in, `finops recommend`, `finops act plan`.

Instances, volumes and addresses are made on the server. A month of CUR (legacy CSV, hourly)
names them by the ids moto gave them, with the usage that makes each one a recommendation or
not: instances running around the clock, volumes billed in a zone where no instance hour was
billed, addresses billed as idle. `finops ingest` loads it, `finops recommend` writes the action
plan to S3, and `finops act plan` carries it out twice through the real endpoint (mark, then act
after the grace period). Some resources changed after the month the CUR covers (re-tagged,
protected, attached, associated), so the executor's live re-checks must refuse them. The test
then checks that exactly the allowed resources changed, reads the audit log from S3 for each
one's reason, and loads the execution log into a warehouse whose realized_savings mart lists
what was carried out.
"""

from __future__ import annotations

import csv
import json
import secrets
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import duckdb
import pytest
from typer.testing import CliRunner

from lambdas import config as act_settings
from pipelines.cli import app
from pipelines.config import queries_folder

REGION = "us-east-1"
EXAMPLE_CONFIG = Path(__file__).resolve().parents[2] / "lambdas" / "finops-act.example.toml"
# The month the CUR covers: November 2026 has 30 days, the lookback of the recommendations.
MONTH_START = datetime(2026, 11, 1, tzinfo=UTC)
MONTH_END = datetime(2026, 12, 1, tzinfo=UTC)
INSTANCE_TYPE = "m6g.large"  # already Graviton: no graviton or previous-generation advice
INSTANCE_RATE = 0.077  # USD an hour, on demand
VOLUME_RATE = 0.08 / 730 * 50  # a 50 GB gp3 volume, USD an hour
IDLE_ADDRESS_RATE = 0.005  # USD an idle hour
# The schedule the finops act config defines for the tag value recommend proposes; the test
# works out the off-schedule hours from it (weekdays 08:00-20:00 UTC: recommend's default).
SCHEDULE = "weekdays-08-20"
SCHEDULE_DAYS, SCHEDULE_BEGIN, SCHEDULE_END = range(5), 8, 20


@dataclass(frozen=True)
class Billed:
    """One resource as the CUR bills it: every hour of the month, at one rate."""

    resource_id: str
    usage_type: str
    zone: str
    rate: float
    env: str
    instance_type: str = ""


def reset(endpoint: str) -> None:
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=10).close()


def tags(ec2, resource_id: str) -> dict[str, str]:  # noqa: ANN001
    reply = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [resource_id]}])
    return {tag["Key"]: tag["Value"] for tag in reply["Tags"]}


def hours_of_the_month() -> Iterator[datetime]:
    hour = MONTH_START
    while hour < MONTH_END:
        yield hour
        hour += timedelta(hours=1)


def write_cur(path: Path, account_id: str, resources: list[Billed]) -> None:
    """One billing period of legacy CUR CSV (AWS's column names), an hourly line per resource."""
    header = [
        "bill/BillingPeriodStartDate",
        "bill/BillingPeriodEndDate",
        "bill/PayerAccountId",
        "lineItem/UsageAccountId",
        "lineItem/LineItemType",
        "lineItem/UsageStartDate",
        "lineItem/UsageEndDate",
        "lineItem/ProductCode",
        "lineItem/UsageType",
        "lineItem/ResourceId",
        "lineItem/UsageAmount",
        "lineItem/CurrencyCode",
        "lineItem/UnblendedCost",
        "lineItem/AvailabilityZone",
        "product/regionCode",
        "product/instanceType",
        "pricing/publicOnDemandCost",
        "resourceTags/user:team",
        "resourceTags/user:env",
    ]
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        for hour in hours_of_the_month():
            for billed in resources:
                writer.writerow(
                    [
                        MONTH_START.strftime(stamp),
                        MONTH_END.strftime(stamp),
                        account_id,
                        account_id,
                        "Usage",
                        hour.strftime(stamp),
                        (hour + timedelta(hours=1)).strftime(stamp),
                        "AmazonEC2",
                        billed.usage_type,
                        billed.resource_id,
                        "1.0",
                        "USD",
                        repr(billed.rate),
                        billed.zone,
                        REGION,
                        billed.instance_type,
                        repr(billed.rate),
                        "platform",
                        billed.env,
                    ]
                )


def recommendation_parameter(name: str) -> float:
    """A parameter of the recommendations as the seed sets it (recommendation_parameters.csv)."""
    with (queries_folder() / "seeds" / "recommendation_parameters.csv").open() as file:
        return next(float(row["value"]) for row in csv.DictReader(file) if row["parameter"] == name)


def act_config(bucket: str, plan_location: str) -> dict:
    """finops act's settings: audit and execution logs in the bucket, the proposed schedule."""
    return {
        "regions": [REGION],
        "audit_log": f"s3://{bucket}",
        "execution_log": f"s3://{bucket}/executions",
        # The executor's clock runs up to 9 days past the plan (min_idle_days, then the grace
        # period): more than the default max_age_days of a week.
        "plan": {"location": plan_location, "max_age_days": 14},
        "schedules": {
            SCHEDULE: {
                "timezone": "UTC",
                "periods": [
                    {
                        "days": "mon-fri",
                        "begin": f"{SCHEDULE_BEGIN:02d}:00",
                        "end": f"{SCHEDULE_END:02d}:00",
                    }
                ],
            }
        },
        "cleanup": {
            "unattached_volumes": {"min_age_days": 0, "grace_days": 1},
            "elastic_ips": {"grace_days": 1},
        },
    }


def test_recommend_plan_changes_exactly_the_allowed_resources(
    aws_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    reset(aws_env)
    ec2 = boto3.client("ec2", region_name=REGION)
    s3 = boto3.client("s3", region_name=REGION)
    assert ec2.meta.endpoint_url == aws_env  # the real HTTP endpoint, not an in-process mock
    account_id = boto3.client("sts", region_name=REGION).get_caller_identity()["Account"]
    bucket = f"finops-audit-{secrets.token_hex(4)}"
    s3.create_bucket(Bucket=bucket)
    image = ec2.describe_images(Owners=["amazon"], MaxResults=5)["Images"][0]["ImageId"]
    busy_zone, quiet_zone = f"{REGION}a", f"{REGION}b"

    def instance(zone: str, tag_map: dict[str, str]) -> str:
        made = ec2.run_instances(
            ImageId=image,
            MinCount=1,
            MaxCount=1,
            InstanceType=INSTANCE_TYPE,
            Placement={"AvailabilityZone": zone},
            TagSpecifications=[
                {
                    "ResourceType": "instance",
                    "Tags": [{"Key": k, "Value": v} for k, v in tag_map.items()],
                }
            ],
        )
        return made["Instances"][0]["InstanceId"]

    def volume(tag_map: dict[str, str] | None = None) -> str:
        tag_list = [{"Key": k, "Value": v} for k, v in (tag_map or {}).items()]
        made = ec2.create_volume(
            AvailabilityZone=quiet_zone,
            Size=50,
            VolumeType="gp3",
            TagSpecifications=[{"ResourceType": "volume", "Tags": tag_list}] if tag_list else [],
        )
        return made["VolumeId"]

    # The live resources, as they are now.
    dev = instance(busy_zone, {"env": "dev"})
    prod = instance(busy_zone, {"env": "prod"})
    retagged = instance(busy_zone, {"env": "prod"})  # dev in the CUR's month; production now
    newcomer = instance(quiet_zone, {"env": "dev"})  # launched after the CUR's month
    idle_volume, protected_volume, attached_volume = (
        volume(),
        volume({"finops:protect": "legal"}),
        volume(),
    )
    ec2.attach_volume(VolumeId=attached_volume, InstanceId=newcomer, Device="/dev/sdf")
    idle_address = ec2.allocate_address(Domain="vpc")["AllocationId"]
    busy_address = ec2.allocate_address(Domain="vpc")
    ec2.associate_address(AllocationId=busy_address["AllocationId"], InstanceId=dev)
    instances_before = {i: tags(ec2, i) for i in (dev, prod, retagged, newcomer)}
    volumes_before = {v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]}

    # A month of CUR naming them by the ids moto gave them (its dates are the CUR's own: the
    # executor only looks at resources as they are now). A CUR names an address by its
    # allocation id or by its public IP; the executor looks up either, so the busy one goes by
    # its IP.
    def instance_hours(instance_id: str, env: str) -> Billed:
        usage_type = f"BoxUsage:{INSTANCE_TYPE}"
        return Billed(instance_id, usage_type, busy_zone, INSTANCE_RATE, env, INSTANCE_TYPE)

    month = [
        instance_hours(dev, "dev"),
        instance_hours(prod, "prod"),
        instance_hours(retagged, "dev"),
        *(
            Billed(v, "EBS:VolumeUsage.gp3", quiet_zone, VOLUME_RATE, "dev")
            for v in (idle_volume, protected_volume, attached_volume)
        ),
        Billed(idle_address, "ElasticIP:IdleAddress", "", IDLE_ADDRESS_RATE, "dev"),
        Billed(busy_address["PublicIp"], "ElasticIP:IdleAddress", "", IDLE_ADDRESS_RATE, "dev"),
    ]
    cur = tmp_path / "cur"
    cur.mkdir()
    write_cur(cur / "cur-2026-11.csv", account_id, month)
    planted_days = (MONTH_END - MONTH_START).days
    assert planted_days <= recommendation_parameter("lookback_days")  # all in the window
    window_hours = 24 * planted_days
    off_schedule_hours = sum(
        1
        for hour in hours_of_the_month()
        if not (hour.weekday() in SCHEDULE_DAYS and SCHEDULE_BEGIN <= hour.hour < SCHEDULE_END)
    )

    # finops ingest, then finops recommend (which builds the models) writing the plan to S3.
    runner = CliRunner()
    warehouse = tmp_path / "warehouse"
    plan_location = f"s3://{bucket}/plans/action_plan.json"
    ingested = runner.invoke(app, ["ingest", str(cur), "-w", str(warehouse)])
    assert ingested.exit_code == 0, ingested.output
    recommended = runner.invoke(
        app, ["recommend", "-w", str(warehouse), "--plan", plan_location], terminal_width=200
    )
    assert recommended.exit_code == 0, recommended.output
    plan = json.loads(s3.get_object(Bucket=bucket, Key="plans/action_plan.json")["Body"].read())

    # The plan asks for exactly what the CUR supports; reviews are for people and change nothing.
    changes = {
        (a["action"], a["resource"]["id"]): a for a in plan["actions"] if a["action"] != "review"
    }
    assert set(changes) == {
        ("apply_schedule_tag", dev),
        ("apply_schedule_tag", retagged),
        ("delete_volume", idle_volume),
        ("delete_volume", protected_volume),
        ("delete_volume", attached_volume),
        ("release_elastic_ip", idle_address),
        ("release_elastic_ip", busy_address["PublicIp"]),
    }
    assert all(a["resource"]["id"] not in (prod, newcomer) for a in plan["actions"])
    schedule_tag = changes["apply_schedule_tag", dev]
    assert schedule_tag["parameters"] == {"tag_key": "finops:schedule", "tag_value": SCHEDULE}
    # Savings: the window's cost of what would stop, scaled to a month.
    to_a_month = recommendation_parameter("hours_per_month") / window_hours
    assert schedule_tag["estimated_monthly_saving"] == pytest.approx(
        off_schedule_hours * INSTANCE_RATE * to_a_month
    )
    assert changes["delete_volume", idle_volume]["estimated_monthly_saving"] == pytest.approx(
        window_hours * VOLUME_RATE * to_a_month
    )
    assert changes["release_elastic_ip", idle_address]["estimated_monthly_saving"] == pytest.approx(
        window_hours * IDLE_ADDRESS_RATE * to_a_month
    )

    config = act_config(bucket, plan_location)
    # The example configuration ships the schedule this test shows recommend and act agree on.
    shipped = act_settings.load(str(EXAMPLE_CONFIG)).schedules
    assert shipped[SCHEDULE] == act_settings.parse(config).schedules[SCHEDULE]
    s3.put_object(Bucket=bucket, Key="config/finops-act.json", Body=json.dumps(config).encode())

    # finops act plan, twice: mark, then act once the grace period is over. recommend asks for
    # min_idle_days on volumes, checked against their age; moto made them just now, so the
    # executor's clock starts that many days (and one more) on. --at is for previews only, so
    # the test freezes the command's real clock instead.
    min_idle_days = changes["delete_volume", idle_volume]["conditions"]["min_idle_days"]
    first_run = datetime.now(UTC) + timedelta(days=min_idle_days + 1)
    arguments = ["act", "plan", "--config", f"s3://{bucket}/config/finops-act.json", "--apply"]
    monkeypatch.setattr("pipelines.cli._act_clock", lambda: first_run)
    first = runner.invoke(app, arguments)
    assert first.exit_code == 0, first.output
    assert "finops:marked-for" in tags(ec2, idle_volume)
    second_run = first_run + timedelta(days=1, hours=1)
    monkeypatch.setattr("pipelines.cli._act_clock", lambda: second_run)
    second = runner.invoke(app, arguments)
    assert second.exit_code == 0, second.output

    # Exactly the allowed changes: the dev instance's schedule, the idle volume and address.
    volumes = {v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]}
    assert volumes == volumes_before - {idle_volume}
    addresses = {a["AllocationId"] for a in ec2.describe_addresses()["Addresses"]}
    assert addresses == {busy_address["AllocationId"]}
    assert tags(ec2, dev) == {**instances_before[dev], "finops:schedule": SCHEDULE}
    for unchanged in (prod, retagged, newcomer):
        assert tags(ec2, unchanged) == instances_before[unchanged]
    running = ec2.describe_instances(
        Filters=[{"Name": "instance-state-name", "Values": ["running"]}]
    )
    assert {i["InstanceId"] for r in running["Reservations"] for i in r["Instances"]} == set(
        instances_before
    )
    assert tags(ec2, protected_volume) == {"finops:protect": "legal"}
    assert tags(ec2, attached_volume) == {}
    assert tags(ec2, busy_address["AllocationId"]) == {}
    final = ec2.describe_snapshots(
        Filters=[{"Name": "tag:finops:source-volume", "Values": [idle_volume]}]
    )
    assert len(final["Snapshots"]) == 1

    # The audit log in S3 says why, for each resource, on the run that acted.
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="audit/plan/")["Contents"]
    assert len(listed) == 2
    latest = max(listed, key=lambda item: item["Key"])
    body = s3.get_object(Bucket=bucket, Key=latest["Key"])["Body"].read().decode()
    why = {
        line["resource_id"]: line
        for line in map(json.loads, body.splitlines())
        if line.get("resource_id") and line.get("action") != "review"
    }
    assert (
        why[idle_volume]["outcome"] == "applied" and why[idle_volume]["action"] == "delete_volume"
    )
    assert why[idle_address]["outcome"] == "applied"
    # The plan's own condition names the opt-out tag first; safety.py would refuse it anyway.
    assert why[protected_volume]["reason"] == "condition not_tagged: carries finops:protect"
    assert (
        why[attached_volume]["reason"]
        == "condition volume_state: is 'in-use', the plan expects 'available'"
    )
    # The plan named the busy address by its public IP; the audit names what was found live.
    assert (
        why[busy_address["AllocationId"]]["reason"]
        == "condition address_associated: is True, the plan expects False"
    )
    assert why[retagged]["reason"] == "condition env_not: env=prod"
    assert why[dev]["reason"] == f"already tagged finops:schedule={SCHEDULE}"  # tagged by run 1
    assert prod not in why and newcomer not in why

    # The pipeline reads the execution logs back: realized_savings lists the three acts.
    loaded = runner.invoke(
        app, ["act", "ingest-log", f"s3://{bucket}/executions/", "-w", str(warehouse)]
    )
    assert loaded.exit_code == 0, loaded.output
    built = runner.invoke(app, ["build", "-w", str(warehouse)])
    assert built.exit_code == 0, built.output
    with duckdb.connect(str(warehouse / "finops.duckdb"), read_only=True) as connection:
        realized = connection.execute(
            "SELECT action, resource_id, estimated_monthly_saving FROM realized_savings"
        ).fetchall()
    acted = [
        ("apply_schedule_tag", dev),
        ("delete_volume", idle_volume),
        ("release_elastic_ip", idle_address),
    ]
    assert {(action, resource): saving for action, resource, saving in realized} == {
        key: pytest.approx(changes[key]["estimated_monthly_saving"]) for key in acted
    }
