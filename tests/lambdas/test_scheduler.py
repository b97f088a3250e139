"""The scheduler on moto: transitions only, DST with a frozen clock, modes, safety rules."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import boto3
import pytest

from lambdas import aws as aws_module
from lambdas.aws import Sessions
from lambdas.runs import run_scheduler
from tests.lambdas.conftest import (
    REGION,
    Faults,
    decisions,
    ec2,
    instance,
    make_config,
    state_of,
    tags_of,
)

OFFICE = {
    "timezone": "Europe/London",
    "periods": [{"days": "mon-fri", "begin": "08:00", "end": "19:00"}],
}


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def config(apply: bool = True, **schedule):  # noqa: ANN003, ANN201
    return make_config(apply=apply, schedules={"office": {**OFFICE, **schedule}})


def run(cfg, now):  # noqa: ANN001, ANN201
    stream = io.StringIO()
    report = run_scheduler(cfg, now, stream=stream)
    return report, stream


def test_stops_and_starts_on_local_transitions_across_both_dst_switches(aws):
    vm = instance({"finops:schedule": "office"})
    cfg = config()

    run(cfg, utc(2026, 3, 27, 18, 59))  # Friday 18:59 GMT: running, start recorded only
    assert state_of(vm) == "running"
    assert tags_of(vm)["finops:last-action"] == "start@2026-03-27T08:00:00Z"

    report, stream = run(cfg, utc(2026, 3, 27, 19, 5))
    assert state_of(vm) == "stopped" and not report.failed
    assert tags_of(vm)["finops:last-action"] == "stop@2026-03-27T19:00:00Z"
    assert decisions(stream, vm)[0]["reason"].startswith("schedule office (Europe/London): stop")

    run(cfg, utc(2026, 3, 30, 6, 59))  # Monday 07:59 BST: not yet
    assert state_of(vm) == "stopped"
    run(cfg, utc(2026, 3, 30, 7, 1))  # Monday 08:01 BST = 07:01 UTC
    assert state_of(vm) == "running"
    assert tags_of(vm)["finops:last-action"] == "start@2026-03-30T07:00:00Z"

    run(cfg, utc(2026, 10, 23, 18, 1))  # Friday 19:01 BST
    assert state_of(vm) == "stopped"
    run(cfg, utc(2026, 10, 26, 7, 30))  # Monday 07:30 GMT: not yet
    assert state_of(vm) == "stopped"
    run(cfg, utc(2026, 10, 26, 8, 0))
    assert state_of(vm) == "running"


def test_a_person_starting_an_instance_at_night_is_not_fought(aws):
    vm = instance({"finops:schedule": "office"})
    run(config(), utc(2026, 12, 2, 19, 5))
    assert state_of(vm) == "stopped"
    ec2().start_instances(InstanceIds=[vm])  # someone needs it tonight

    report, stream = run(config(), utc(2026, 12, 2, 21, 0))

    assert state_of(vm) == "running"
    assert decisions(stream, vm)[0]["reason"].endswith("already handled")


def test_enforce_corrects_the_state_every_run(aws):
    vm = instance({"finops:schedule": "office"})
    run(config(enforce=True), utc(2026, 12, 2, 19, 5))
    ec2().start_instances(InstanceIds=[vm])

    run(config(enforce=True), utc(2026, 12, 2, 21, 0))

    assert state_of(vm) == "stopped"


def test_stop_only_schedules_never_start(aws):
    vm = instance({"finops:schedule": "office"})
    run(config(mode="stop-only"), utc(2026, 12, 2, 19, 5))
    assert state_of(vm) == "stopped"

    report, stream = run(config(mode="stop-only"), utc(2026, 12, 3, 8, 5))

    assert state_of(vm) == "stopped"
    assert "the schedule is stop-only" in decisions(stream, vm)[0]["reason"]


def test_holiday_keeps_instances_stopped(aws):
    vm = instance({"finops:schedule": "office"})
    cfg = config(holidays=["2026-12-25"])
    run(cfg, utc(2026, 12, 24, 19, 5))
    run(cfg, utc(2026, 12, 25, 9, 0))  # Friday, Christmas Day
    assert state_of(vm) == "stopped"
    run(cfg, utc(2026, 12, 28, 8, 5))
    assert state_of(vm) == "running"


def test_protected_and_production_instances_are_untouched(aws):
    protected = instance({"finops:schedule": "office", "finops:protect": ""})
    production = instance({"finops:schedule": "office", "Environment": "Production"})
    ordinary = instance({"finops:schedule": "office", "env": "dev"})

    report, stream = run(config(), utc(2026, 12, 2, 19, 5))

    assert (state_of(protected), state_of(production), state_of(ordinary)) == (
        "running",
        "running",
        "stopped",
    )
    assert "finops:last-action" not in tags_of(protected)
    assert "finops:last-action" not in tags_of(production)
    assert decisions(stream, protected)[0]["reason"] == "protected by tag finops:protect"
    assert decisions(stream, production)[0]["reason"].startswith(
        "production (environment=production)"
    )


def test_a_schedule_may_allow_production_explicitly(aws):
    production = instance({"finops:schedule": "office", "env": "prod"})
    run(config(production=True), utc(2026, 12, 2, 19, 5))
    assert state_of(production) == "stopped"


def test_dry_run_changes_nothing(aws):
    vm = instance({"finops:schedule": "office"})

    report, stream = run(config(apply=False), utc(2026, 12, 2, 19, 5))

    assert state_of(vm) == "running"
    assert "finops:last-action" not in tags_of(vm)
    assert decisions(stream, vm)[0]["outcome"] == "dry_run"
    assert report.dry_run


def test_unknown_schedule_is_skipped_with_its_name(aws):
    vm = instance({"finops:schedule": "offce"})
    report, stream = run(config(), utc(2026, 12, 2, 19, 5))
    assert state_of(vm) == "running"
    assert decisions(stream, vm)[0]["reason"] == "unknown schedule 'offce' (known: office)"


def test_rds_instances_and_clusters_stop_and_start(aws):
    rds = boto3.client("rds", region_name=REGION)
    tags = [{"Key": "finops:schedule", "Value": "office"}]
    rds.create_db_instance(
        DBInstanceIdentifier="reports",
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        MasterUsername="admin",
        MasterUserPassword="secret-password",
        AllocatedStorage=20,
        Tags=tags,
    )
    rds.create_db_cluster(
        DBClusterIdentifier="analytics",
        Engine="aurora-postgresql",
        MasterUsername="admin",
        MasterUserPassword="secret-password",
        Tags=tags,
    )

    run(config(), utc(2026, 12, 2, 19, 5))

    assert (
        rds.describe_db_instances(DBInstanceIdentifier="reports")["DBInstances"][0][
            "DBInstanceStatus"
        ]
        == "stopped"
    )
    assert (
        rds.describe_db_clusters(DBClusterIdentifier="analytics")["DBClusters"][0]["Status"]
        == "stopped"
    )
    arn = rds.describe_db_instances(DBInstanceIdentifier="reports")["DBInstances"][0][
        "DBInstanceArn"
    ]
    recorded = {
        t["Key"]: t["Value"] for t in rds.list_tags_for_resource(ResourceName=arn)["TagList"]
    }
    assert recorded["finops:last-action"] == "stop@2026-12-02T19:00:00Z"

    run(config(), utc(2026, 12, 3, 8, 5))

    assert (
        rds.describe_db_instances(DBInstanceIdentifier="reports")["DBInstances"][0][
            "DBInstanceStatus"
        ]
        == "available"
    )
    assert (
        rds.describe_db_clusters(DBClusterIdentifier="analytics")["DBClusters"][0]["Status"]
        == "available"
    )


def office_group(size: tuple[int, int, int], **tags: str):  # noqa: ANN201 - boto3 client
    """An Auto Scaling group "web" of (min, max, desired) on the office schedule, and its client."""
    ec2().create_launch_template(
        LaunchTemplateName="web",
        LaunchTemplateData={"ImageId": "ami-12345678", "InstanceType": "t3.micro"},
    )
    autoscaling = boto3.client("autoscaling", region_name=REGION)
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="web",
        LaunchTemplate={"LaunchTemplateName": "web"},
        MinSize=size[0],
        MaxSize=size[1],
        DesiredCapacity=size[2],
        AvailabilityZones=[f"{REGION}a"],
        Tags=[
            {"Key": key, "Value": value, "PropagateAtLaunch": False}
            for key, value in {"finops:schedule": "office", **tags}.items()
        ],
    )
    return autoscaling


def test_auto_scaling_groups_scale_to_zero_and_back(aws):
    autoscaling = office_group((1, 4, 2))

    def group():  # noqa: ANN202
        found = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["web"])
        g = found["AutoScalingGroups"][0]
        return (g["MinSize"], g["MaxSize"], g["DesiredCapacity"]), {
            t["Key"]: t["Value"] for t in g["Tags"]
        }

    run(config(), utc(2026, 12, 2, 19, 5))
    size, tags = group()
    assert size == (0, 0, 0)
    assert tags["finops:saved-size"] == "1,4,2"

    run(config(), utc(2026, 12, 3, 8, 5))
    size, tags = group()
    assert size == (1, 4, 2)
    assert "finops:saved-size" not in tags
    assert tags["finops:last-action"] == "start@2026-12-03T08:00:00Z"


def test_listing_beyond_one_page_sees_every_database(aws, monkeypatch):
    # moto pages RDS replies (20 a page at least, as RDS does); 22 databases need two pages.
    monkeypatch.setattr(aws_module, "PAGE_SIZE", 20)
    rds = boto3.client("rds", region_name=REGION)
    for number in range(22):
        rds.create_db_instance(
            DBInstanceIdentifier=f"db{number}",
            DBInstanceClass="db.t3.micro",
            Engine="postgres",
            MasterUsername="admin",
            MasterUserPassword="secret-password",
            AllocatedStorage=20,
            Tags=[{"Key": "finops:schedule", "Value": "office"}],
        )
    faults = Faults()
    cfg = config()

    report = run_scheduler(
        cfg, utc(2026, 12, 2, 19, 5), stream=io.StringIO(), sessions=Sessions(cfg, faults.session())
    )

    assert faults.count("DescribeDBInstances") == 2
    statuses = {db["DBInstanceStatus"] for db in rds.describe_db_instances()["DBInstances"]}
    assert statuses == {"stopped"}
    assert report.outcomes()["applied"] == 22


def test_instances_of_an_auto_scaling_group_are_left_to_the_group(aws):
    member = instance({"finops:schedule": "office", "aws:autoscaling:groupName": "web"})

    report, stream = run(config(), utc(2026, 12, 2, 19, 5))

    assert state_of(member) == "running"
    assert decisions(stream, member)[0]["reason"] == (
        "schedule office: member of Auto Scaling group web; schedule the group instead"
    )


@pytest.mark.parametrize(
    ("saved", "problem"),
    [
        ("5,1,3", "is not min,max,desired with min <= desired <= max"),
        ("1,4,9", "is not min,max,desired with min <= desired <= max"),
        ("1,4", "is not min,max,desired as whole numbers >= 0"),
        ("-1,4,2", "is not min,max,desired as whole numbers >= 0"),
        ("a,b,c", "is not min,max,desired as whole numbers >= 0"),
    ],
)
def test_a_group_is_not_restored_from_a_saved_size_that_breaks_the_rules(aws, saved, problem):  # noqa: ANN001
    autoscaling = office_group((0, 0, 0), **{"finops:saved-size": saved})

    report, stream = run(config(), utc(2026, 12, 3, 8, 5))

    (line,) = decisions(stream, "web")
    assert (line["outcome"], line["reason"]) == (
        "skipped",
        "schedule office (Europe/London): start at 2026-12-03T08:00:00Z; "
        f"finops:saved-size {saved!r} {problem}",
    )
    (group,) = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["web"])[
        "AutoScalingGroups"
    ]
    assert (group["MinSize"], group["MaxSize"], group["DesiredCapacity"]) == (0, 0, 0)
