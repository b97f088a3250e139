"""End to end over HTTP against moto's server: a plan carried out by `finops act plan`.

Instances, volumes and addresses are made on the server; an action plan names them (written
by ``plan_standing_in_for_finops_recommend`` until `finops recommend` lands on main); the CLI
runs the executor twice through the real endpoint (mark, then act after the grace period); the
test then checks that exactly the allowed resources changed, reads the audit log from S3 for
each one's reason, and loads the execution log into a warehouse whose realized_savings mart
lists what was carried out.
"""

from __future__ import annotations

import json
import secrets
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import duckdb
from typer.testing import CliRunner

from pipelines.cli import app
from tests.lambdas.action_plans import action, plan_standing_in_for_finops_recommend

REGION = "us-east-1"


def reset(endpoint: str) -> None:
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=10).close()


def tags(ec2, resource_id: str) -> dict[str, str]:  # noqa: ANN001
    reply = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [resource_id]}])
    return {tag["Key"]: tag["Value"] for tag in reply["Tags"]}


def test_plan_executor_changes_exactly_the_allowed_resources(aws_env: str, tmp_path: Path):
    reset(aws_env)
    ec2 = boto3.client("ec2", region_name=REGION)
    s3 = boto3.client("s3", region_name=REGION)
    assert ec2.meta.endpoint_url == aws_env  # the real HTTP endpoint, not an in-process mock
    bucket = f"finops-audit-{secrets.token_hex(4)}"
    s3.create_bucket(Bucket=bucket)

    image = ec2.describe_images(Owners=["amazon"], MaxResults=5)["Images"][0]["ImageId"]

    def instance(tag_map):  # noqa: ANN001, ANN202
        spec = [
            {
                "ResourceType": "instance",
                "Tags": [{"Key": k, "Value": v} for k, v in tag_map.items()],
            }
        ]
        made = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, TagSpecifications=spec)
        return made["Instances"][0]["InstanceId"]

    def volume(tag_map=None):  # noqa: ANN001, ANN202
        spec = (
            [
                {
                    "ResourceType": "volume",
                    "Tags": [{"Key": k, "Value": v} for k, v in (tag_map or {}).items()],
                }
            ]
            if tag_map
            else []
        )
        return ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=50, TagSpecifications=spec)[
            "VolumeId"
        ]

    dev, prod = instance({"env": "dev"}), instance({"env": "prod"})
    idle_volume, protected_volume, attached_volume = (
        volume(),
        volume({"finops:protect": "legal"}),
        volume(),
    )
    ec2.attach_volume(VolumeId=attached_volume, InstanceId=dev, Device="/dev/sdf")
    idle_address = ec2.allocate_address(Domain="vpc")["AllocationId"]
    busy_address = ec2.allocate_address(Domain="vpc")["AllocationId"]
    ec2.associate_address(AllocationId=busy_address, InstanceId=dev)

    schedule = {"tag_key": "finops:schedule", "tag_value": "office"}
    plan = plan_standing_in_for_finops_recommend(
        [
            action(
                "apply_schedule_tag",
                "ec2:instance",
                dev,
                region=REGION,
                parameters=schedule,
                saving=40.0,
            ),
            action(
                "apply_schedule_tag",
                "ec2:instance",
                prod,
                region=REGION,
                parameters=schedule,
                saving=90.0,
            ),
            action("delete_volume", "ec2:volume", idle_volume, region=REGION, saving=5.0),
            action("delete_volume", "ec2:volume", protected_volume, region=REGION, saving=5.0),
            action("delete_volume", "ec2:volume", attached_volume, region=REGION, saving=5.0),
            action("release_elastic_ip", "ec2:elastic-ip", idle_address, region=REGION, saving=3.6),
            action("release_elastic_ip", "ec2:elastic-ip", busy_address, region=REGION, saving=3.6),
        ]
    )
    s3.put_object(Bucket=bucket, Key="plans/action_plan.json", Body=json.dumps(plan).encode())
    config = {
        "regions": [REGION],
        "audit_log": f"s3://{bucket}",
        "execution_log": f"s3://{bucket}/executions",
        "plan": {"location": f"s3://{bucket}/plans/action_plan.json"},
        "schedules": {
            "office": {
                "timezone": "Europe/London",
                "periods": [{"days": "mon-fri", "begin": "08:00", "end": "19:00"}],
            }
        },
        "cleanup": {
            "unattached_volumes": {"min_age_days": 0, "grace_days": 1},
            "elastic_ips": {"grace_days": 1},
        },
    }
    s3.put_object(Bucket=bucket, Key="config/finops-act.json", Body=json.dumps(config).encode())

    runner = CliRunner()
    now = datetime.now(UTC)
    arguments = ["act", "plan", "--config", f"s3://{bucket}/config/finops-act.json", "--apply"]
    first = runner.invoke(app, [*arguments, "--at", now.isoformat()])
    assert first.exit_code == 0, first.output
    assert "finops:marked-for" in tags(ec2, idle_volume)
    second = runner.invoke(
        app, [*arguments, "--at", (now + timedelta(days=1, hours=1)).isoformat()]
    )
    assert second.exit_code == 0, second.output

    # Exactly the allowed changes: the dev instance's schedule, the idle volume and address.
    volumes = {v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]}
    assert idle_volume not in volumes
    assert {protected_volume, attached_volume} <= volumes
    addresses = {a["AllocationId"] for a in ec2.describe_addresses()["Addresses"]}
    assert idle_address not in addresses and busy_address in addresses
    assert tags(ec2, dev)["finops:schedule"] == "office"
    assert tags(ec2, prod) == {"env": "prod"}
    assert tags(ec2, protected_volume) == {"finops:protect": "legal"}
    assert tags(ec2, attached_volume) == {}
    assert tags(ec2, busy_address) == {}
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
        if line.get("resource_id")
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
    assert (
        why[busy_address]["reason"]
        == "condition address_associated: is True, the plan expects False"
    )
    assert why[prod]["reason"] == "condition env_not: env=prod"
    assert why[dev]["reason"].startswith("already tagged")  # the first run tagged it

    # The pipeline reads the execution logs back: realized_savings lists the three acts.
    warehouse = tmp_path / "warehouse"
    warehouse.mkdir()
    loaded = runner.invoke(
        app, ["act", "ingest-log", f"s3://{bucket}/executions/", "-w", str(warehouse)]
    )
    assert loaded.exit_code == 0, loaded.output
    built = runner.invoke(app, ["build", "-w", str(warehouse)])
    assert built.exit_code == 0, built.output
    with duckdb.connect(str(warehouse / "finops.duckdb"), read_only=True) as connection:
        rows = connection.execute(
            "SELECT action, resource_id, estimated_monthly_saving "
            "FROM realized_savings ORDER BY 1, 2"
        ).fetchall()
    assert rows == sorted(
        [
            ("apply_schedule_tag", dev, 40.0),
            ("delete_volume", idle_volume, 5.0),
            ("release_elastic_ip", idle_address, 3.6),
        ]
    )
