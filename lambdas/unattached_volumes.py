"""Clean-up: EBS volumes unattached for longer than N days; a snapshot first, then the delete.

A volume qualifies when it is ``available`` (attached to nothing) and was created at least
``min_age_days`` ago. AWS does not say when a volume was detached, so the age is a lower
bound that the grace period adds to.

Acting is two steps that survive retries: a snapshot tagged ``finops:source-volume=<id>``
(with the volume's own tags and ``finops:retain-until``) is made, or found when a previous run
made it; the volume is deleted only once that snapshot is ``completed``. A snapshot still
pending leaves the volume for the next run (outcome ``pending``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from lambdas import marking
from lambdas.aws import Scope, paginate
from lambdas.config import CleanupRule
from lambdas.safety import NotYet, Resource, tag_value

KIND = "unattached_volumes"
RESOURCE_TYPE = "ec2:volume"
ACTION = "delete_volume"
SOURCE_TAG = "finops:source-volume"
RETAIN_TAG = "finops:retain-until"
PERMISSIONS = {
    "ec2:DescribeVolumes",
    "ec2:DescribeSnapshots",
    "ec2:CreateSnapshot",
    "ec2:DeleteVolume",
    "ec2:CreateTags",
    "ec2:DeleteTags",
}

set_tags = marking.ec2_set_tags
remove_tags = marking.ec2_remove_tags


def find(scope: Scope, ids: list[str] | None = None) -> list[Resource]:
    """Unattached volumes, or the volumes named by ``ids`` whatever their state."""
    ec2 = scope.client("ec2")
    if ids:
        volumes = paginate(ec2, "describe_volumes", "Volumes", VolumeIds=ids)
    else:
        # Marked volumes too, attached or not: one attached since it was marked gets unmarked.
        found: dict[str, dict] = {}
        for filters in (
            [{"Name": "status", "Values": ["available"]}],
            [{"Name": "tag-key", "Values": [marking.MARK_TAG]}],
        ):
            for item in paginate(ec2, "describe_volumes", "Volumes", Filters=filters):
                found[item["VolumeId"]] = item
        volumes = list(found.values())
    return [
        Resource(
            type=RESOURCE_TYPE,
            id=volume["VolumeId"],
            account_id=scope.account_id,
            region=scope.region,
            tags=tag_value(volume.get("Tags")),
            state=volume["State"],
            created=volume.get("CreateTime"),
            details={"size_gib": volume.get("Size"), "volume_type": volume.get("VolumeType")},
        )
        for volume in volumes
    ]


def check(resource: Resource, rule: CleanupRule, now: datetime) -> tuple[bool, str]:
    if resource.state != "available":
        return False, f"volume is {resource.state}, not unattached"
    age = marking.age_days(resource.created, now)
    if age is None or age < rule.min_age_days:
        return False, f"created {_days(age)} ago, younger than {rule.min_age_days} days"
    size, kind = resource.details.get("size_gib"), resource.details.get("volume_type")
    return True, f"unattached {kind} volume of {size} GiB, created {_days(age)} ago"


def act(scope: Scope, resource: Resource, rule: CleanupRule, now: datetime) -> str:
    ec2 = scope.client("ec2")
    snapshot = _final_snapshot(scope, resource.id)
    if snapshot is None:
        retain_until = (now + timedelta(days=rule.snapshot_retention_days)).date().isoformat()
        kept = {k: v for k, v in resource.tags.items() if not k.startswith(("aws:", "finops:"))}
        tags = {**kept, SOURCE_TAG: resource.id, RETAIN_TAG: retain_until}
        snapshot = ec2.create_snapshot(
            VolumeId=resource.id,
            Description=f"finops clean-up: final snapshot of {resource.id} before deletion",
            TagSpecifications=[
                {
                    "ResourceType": "snapshot",
                    "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
                }
            ],
        )
    if snapshot.get("State") != "completed":
        raise NotYet(
            f"snapshot {snapshot['SnapshotId']} is {snapshot.get('State')}; the volume is deleted "
            "on a later run once it has completed"
        )
    ec2.delete_volume(VolumeId=resource.id)
    return f"deleted {resource.id} after snapshot {snapshot['SnapshotId']}"


def _final_snapshot(scope: Scope, volume_id: str) -> dict | None:
    snapshots = paginate(
        scope.client("ec2"),
        "describe_snapshots",
        "Snapshots",
        OwnerIds=["self"],
        Filters=[{"Name": f"tag:{SOURCE_TAG}", "Values": [volume_id]}],
    )
    usable = [s for s in snapshots if s.get("State") in ("pending", "completed")]
    return max(usable, key=lambda s: s["StartTime"]) if usable else None


def _days(age: float | None) -> str:
    return "an unknown time" if age is None else f"{age:.0f} days"
