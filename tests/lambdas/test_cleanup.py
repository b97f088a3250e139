"""The clean-up on moto: mark, grace period, act, unmark, for every kind; the safety rules."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import boto3
import botocore.exceptions

from lambdas import unattached_volumes
from lambdas.aws import Sessions
from lambdas.runs import run_cleanup
from tests.lambdas.conftest import (
    REGION,
    Faults,
    days,
    decisions,
    ec2,
    instance,
    make_config,
    tags_of,
    volume,
    volume_ids,
)

ONLY = {
    kind: {"enabled": False}
    for kind in (
        "unattached_volumes",
        "old_snapshots",
        "elastic_ips",
        "network_interfaces",
        "idle_load_balancers",
    )
}


def config(kind: str, apply: bool = True, **rule):  # noqa: ANN003, ANN201
    """Only ``kind`` enabled, with a 3-day grace period unless the test says otherwise."""
    cleanup = {**ONLY, kind: {"min_age_days": 0, "grace_days": 3, **rule}}
    return make_config(apply=apply, cleanup=cleanup)


def run(cfg, now, sessions=None):  # noqa: ANN001, ANN201
    stream = io.StringIO()
    report = run_cleanup(cfg, now, stream=stream, sessions=sessions)
    return report, stream


def now_plus(n: float) -> datetime:
    return datetime.now(UTC) + days(n)


def test_volume_is_marked_then_snapshotted_and_deleted_after_the_grace_period(aws):
    vol = volume({"team": "data"})
    cfg = config("unattached_volumes")

    report, stream = run(cfg, now_plus(0))
    due = (now_plus(0) + days(3)).date().isoformat()
    assert tags_of(vol)["finops:marked-for"] == f"delete_volume@{due}"
    assert decisions(stream, vol)[0]["action"] == "mark"

    run(cfg, now_plus(2))  # inside the grace period
    assert vol in volume_ids()

    report, stream = run(cfg, now_plus(3))

    assert vol not in volume_ids()
    snapshots = ec2().describe_snapshots(
        Filters=[{"Name": "tag:finops:source-volume", "Values": [vol]}]
    )
    (snapshot,) = snapshots["Snapshots"]
    kept = {t["Key"]: t["Value"] for t in snapshot["Tags"]}
    assert kept["team"] == "data"
    assert kept["finops:retain-until"] == (now_plus(3) + days(90)).date().isoformat()
    line = decisions(stream, vol)[0]
    assert (line["action"], line["outcome"]) == ("delete_volume", "applied")
    assert line["detail"] == f"deleted {vol} after snapshot {snapshot['SnapshotId']}"


def test_volume_attached_during_the_grace_period_is_unmarked_not_deleted(aws):
    vol = volume()
    run(config("unattached_volumes"), now_plus(0))
    ec2().attach_volume(VolumeId=vol, InstanceId=instance(), Device="/dev/sdf")

    report, stream = run(config("unattached_volumes"), now_plus(5))

    assert vol in volume_ids()
    assert "finops:marked-for" not in tags_of(vol)
    line = decisions(stream, vol)[0]
    assert (line["action"], line["outcome"]) == ("unmark", "applied")
    assert line["reason"] == "no longer qualifies: volume is in-use, not unattached"


def test_young_volume_loses_its_mark_when_the_rule_tightens(aws):
    vol = volume()
    run(config("unattached_volumes"), now_plus(0))
    assert "finops:marked-for" in tags_of(vol)

    report, stream = run(config("unattached_volumes", min_age_days=30), now_plus(5))

    assert vol in volume_ids()
    assert "finops:marked-for" not in tags_of(vol)
    line = decisions(stream, vol)[0]
    assert (line["action"], line["outcome"]) == ("unmark", "applied")
    assert line["reason"].startswith("no longer qualifies: created 5 days ago, younger than 30")


def test_dry_run_changes_nothing_not_even_a_tag(aws):
    vol = volume()
    report, stream = run(config("unattached_volumes", apply=False, grace_days=0), now_plus(1))
    assert tags_of(vol) == {}
    assert decisions(stream, vol)[0]["outcome"] == "dry_run"


def test_protected_and_production_volumes_are_never_marked(aws):
    protected = volume({"finops:protect": "legal hold"})
    production = volume({"env": "prod"})
    ordinary = volume()

    report, stream = run(config("unattached_volumes"), now_plus(0))

    assert tags_of(protected) == {"finops:protect": "legal hold"}
    assert tags_of(production) == {"env": "prod"}
    assert "finops:marked-for" in tags_of(ordinary)
    assert decisions(stream, production)[0]["reason"].startswith("production (env=prod)")


def test_a_rule_may_allow_production_explicitly(aws):
    production = volume({"env": "prod"})
    run(config("unattached_volumes", production=True), now_plus(0))
    assert "finops:marked-for" in tags_of(production)


def test_snapshot_used_by_an_ami_is_kept_and_an_orphan_deleted(aws):
    client = ec2()
    orphan = client.create_snapshot(VolumeId=volume())["SnapshotId"]
    image = client.register_image(Name="golden", RootDeviceName="/dev/sda1")["ImageId"]
    # moto makes the image's own root snapshot: that is the one an AMI uses.
    (described,) = client.describe_images(ImageIds=[image])["Images"]
    used = described["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    cfg = config("old_snapshots", grace_days=0)

    run(cfg, now_plus(0))
    report, stream = run(cfg, now_plus(1))

    remaining = {s["SnapshotId"] for s in client.describe_snapshots(OwnerIds=["self"])["Snapshots"]}
    assert used in remaining and orphan not in remaining
    assert decisions(stream, used)[0]["reason"] == f"used by AMI {image}"


def test_final_volume_snapshots_are_kept_until_their_retain_date(aws):
    vol = volume()
    cfg = make_config(
        apply=True,
        cleanup={
            **ONLY,
            "unattached_volumes": {
                "min_age_days": 0,
                "grace_days": 0,
                "snapshot_retention_days": 30,
            },
            "old_snapshots": {"min_age_days": 0, "grace_days": 0},
        },
    )
    run(cfg, now_plus(0))
    run(cfg, now_plus(0.1))  # volume deleted, final snapshot made
    (final,) = ec2().describe_snapshots(OwnerIds=["self"])["Snapshots"]

    report, stream = run(cfg, now_plus(10))

    assert decisions(stream, final["SnapshotId"])[0]["reason"].startswith("kept until")
    assert vol not in volume_ids()


def test_unassociated_elastic_ip_is_released_and_associated_one_kept(aws):
    client = ec2()
    idle = client.allocate_address(Domain="vpc")["AllocationId"]
    busy = client.allocate_address(Domain="vpc")["AllocationId"]
    client.associate_address(AllocationId=busy, InstanceId=instance())
    cfg = config("elastic_ips", grace_days=0)

    run(cfg, now_plus(0))
    report, stream = run(cfg, now_plus(0.1))

    allocations = {a["AllocationId"] for a in client.describe_addresses()["Addresses"]}
    assert allocations == {busy}
    assert decisions(stream, idle)[0]["action"] == "release_elastic_ip"


def test_unused_network_interface_is_deleted(aws):
    client = ec2()
    vpc = client.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = client.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    unused = client.create_network_interface(SubnetId=subnet)["NetworkInterface"][
        "NetworkInterfaceId"
    ]
    cfg = config("network_interfaces", grace_days=0)

    run(cfg, now_plus(0))
    run(cfg, now_plus(0.1))

    remaining = {
        n["NetworkInterfaceId"] for n in client.describe_network_interfaces()["NetworkInterfaces"]
    }
    assert unused not in remaining


def test_load_balancer_without_healthy_targets_is_deleted(aws):
    client = ec2()
    vpc = client.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        client.create_subnet(
            VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{z}"
        )["Subnet"]["SubnetId"]
        for i, z in ((1, "a"), (2, "b"))
    ]
    elbv2 = boto3.client("elbv2", region_name=REGION)
    idle = elbv2.create_load_balancer(Name="idle", Subnets=subnets)["LoadBalancers"][0][
        "LoadBalancerArn"
    ]
    kept = elbv2.create_load_balancer(Name="kept", Subnets=subnets)["LoadBalancers"][0][
        "LoadBalancerArn"
    ]
    elbv2.modify_load_balancer_attributes(
        LoadBalancerArn=kept, Attributes=[{"Key": "deletion_protection.enabled", "Value": "true"}]
    )
    cfg = config("idle_load_balancers", grace_days=0)

    run(cfg, now_plus(0))
    report, stream = run(cfg, now_plus(0.1))

    names = {lb["LoadBalancerName"] for lb in elbv2.describe_load_balancers()["LoadBalancers"]}
    assert names == {"kept"}
    assert decisions(stream, kept)[0]["reason"] == "kept has deletion protection on"
    assert decisions(stream, idle)[0]["outcome"] == "applied"


def test_throttled_call_is_retried(aws, no_backoff):
    vol = volume()
    faults = Faults()
    faults.fail("DescribeVolumes", "RequestLimitExceeded", times=2, status=503)
    cfg = config("unattached_volumes")

    report, stream = run(cfg, now_plus(0), Sessions(cfg, faults.session()))

    assert not report.failed
    # Two throttled attempts and a third that succeeds, then the listing of marked volumes.
    assert faults.count("DescribeVolumes") == 4
    assert "finops:marked-for" in tags_of(vol)


def test_one_failing_resource_does_not_stop_the_others_but_fails_the_run(aws, monkeypatch):
    first, second = volume(), volume()
    cfg = config("unattached_volumes", grace_days=0)
    run(cfg, now_plus(0))
    original = unattached_volumes.act

    def refused_for_first(scope, resource, rule, now):  # noqa: ANN001, ANN202
        if resource.id == first:
            error = {"Error": {"Code": "UnauthorizedOperation", "Message": "not allowed"}}
            raise botocore.exceptions.ClientError(error, "DeleteVolume")
        return original(scope, resource, rule, now)

    monkeypatch.setattr(unattached_volumes, "act", refused_for_first)

    report, stream = run(cfg, now_plus(0.1))

    assert first in volume_ids() and second not in volume_ids()
    assert report.failed
    failed = decisions(stream, first)[0]
    assert (failed["outcome"], failed["error_code"]) == ("failed", "UnauthorizedOperation")
    assert report.problems == [
        f"ec2:volume {first} ({REGION}): delete_volume failed with UnauthorizedOperation"
    ]


def test_blast_radius_stops_the_whole_run(aws):
    created = [volume() for _ in range(3)]
    cfg = config("unattached_volumes", grace_days=0)
    limited = make_config(
        apply=True,
        cleanup=cfg.cleanup
        and {**ONLY, "unattached_volumes": {"min_age_days": 0, "grace_days": 0}},
        blast_radius={"cleanup": {"max_count": 2}},
    )
    run(limited, now_plus(0))

    report, stream = run(limited, now_plus(0.1))

    assert set(created) <= volume_ids()
    assert report.failed
    assert report.problems == ["blast radius: 3 changes exceed max_count 2"]
    assert all(decisions(stream, v)[0]["outcome"] == "skipped" for v in created)


def test_blast_radius_percent_applies_from_the_minimum_population(aws):
    for _ in range(4):
        volume()
    limited = make_config(
        apply=True,
        cleanup={**ONLY, "unattached_volumes": {"min_age_days": 0, "grace_days": 0}},
        blast_radius={"cleanup": {"max_percent": 50, "min_population": 4}},
    )
    run(limited, now_plus(0))
    report, _ = run(limited, now_plus(0.1))
    assert report.problems == ["blast radius: 4 of 4 ec2:volume (100%) exceed max_percent 50"]


def test_a_retried_delete_of_a_gone_volume_is_not_a_failure(aws):
    vol = volume()
    cfg = config("unattached_volumes", grace_days=0)
    run(cfg, now_plus(0))
    faults = Faults()
    # moto deletes the volume and the reply says it is not found: a lost reply, then a retry.
    faults.fail("DeleteVolume", "InvalidVolume.NotFound")

    report, stream = run(cfg, now_plus(0.1), Sessions(cfg, faults.session()))

    assert not report.failed
    assert decisions(stream, vol)[0]["outcome"] == "gone"


def test_marks_are_announced_once_per_run_on_the_topic(aws):
    sns = boto3.client("sns", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    topic = sns.create_topic(Name="finops-notices")["TopicArn"]
    queue = sqs.create_queue(QueueName="notices")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn["Attributes"]["QueueArn"])
    first, second = volume(), volume()
    cfg = make_config(
        apply=True,
        notify_topic_arn=topic,
        cleanup={**ONLY, "unattached_volumes": {"min_age_days": 0, "grace_days": 3}},
    )

    run(cfg, now_plus(0))
    run(cfg, now_plus(1))  # nothing newly marked: no second message

    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    assert len(messages) == 1
    text = json.loads(messages[0]["Body"])["Message"]
    assert first in text and second in text
    assert json.loads(messages[0]["Body"])["Subject"] == "finops clean-up: 2 resources marked"
