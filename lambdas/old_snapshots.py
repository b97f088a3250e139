"""Clean-up: EBS snapshots older than N days that no AMI of the account uses.

Left alone: snapshots an AMI's block device mappings name (any AMI the account owns), those
that AWS Backup or Data Lifecycle Manager manage (their own retention rules apply), and the
final snapshots the volume clean-up made, until their ``finops:retain-until`` date.
"""

from __future__ import annotations

from datetime import datetime

from lambdas import marking
from lambdas.aws import Scope, paginate
from lambdas.config import CleanupRule
from lambdas.safety import Resource, tag_value
from lambdas.unattached_volumes import RETAIN_TAG

KIND = "old_snapshots"
RESOURCE_TYPE = "ec2:snapshot"
ACTION = "delete_snapshot"
PERMISSIONS = {
    "ec2:DescribeSnapshots",
    "ec2:DescribeImages",
    "ec2:DeleteSnapshot",
    "ec2:CreateTags",
    "ec2:DeleteTags",
}
_MANAGED_TAGS = ("aws:backup:source-resource", "aws:dlm:lifecycle-policy-id")

set_tags = marking.ec2_set_tags
remove_tags = marking.ec2_remove_tags


def find(scope: Scope, ids: list[str] | None = None) -> list[Resource]:
    ec2 = scope.client("ec2")
    arguments: dict = {"OwnerIds": ["self"]}
    if ids:
        arguments["SnapshotIds"] = [i.rsplit("/", 1)[-1] for i in ids]  # ARNs end in snap-...
    snapshots = paginate(ec2, "describe_snapshots", "Snapshots", **arguments)
    used = _used_by_images(scope)
    return [
        Resource(
            type=RESOURCE_TYPE,
            id=snapshot["SnapshotId"],
            account_id=scope.account_id,
            region=scope.region,
            tags=tag_value(snapshot.get("Tags")),
            state=snapshot.get("State"),
            created=snapshot.get("StartTime"),
            details={
                "size_gib": snapshot.get("VolumeSize"),
                "images": sorted(used.get(snapshot["SnapshotId"], [])),
            },
        )
        for snapshot in snapshots
    ]


def check(resource: Resource, rule: CleanupRule, now: datetime) -> tuple[bool, str]:
    if resource.state != "completed":
        return False, f"snapshot is {resource.state}"
    if resource.details.get("images"):
        return False, f"used by AMI {', '.join(resource.details['images'])}"
    managed = [key for key in _MANAGED_TAGS if key in resource.tags]
    if managed:
        return False, f"managed by AWS ({managed[0]}), which keeps its own retention"
    retain = resource.tags.get(RETAIN_TAG)
    if retain and retain[:10] > now.date().isoformat():
        return False, f"kept until {retain[:10]} ({RETAIN_TAG})"
    age = marking.age_days(resource.created, now)
    if age is None or age < rule.min_age_days:
        return False, f"younger than {rule.min_age_days} days"
    return (
        True,
        f"snapshot of {resource.details.get('size_gib')} GiB, {age:.0f} days old, used by no AMI",
    )


def act(scope: Scope, resource: Resource, rule: CleanupRule, now: datetime) -> str:
    scope.client("ec2").delete_snapshot(SnapshotId=resource.id)
    return f"deleted {resource.id}"


def _used_by_images(scope: Scope) -> dict[str, list[str]]:
    used: dict[str, list[str]] = {}
    for image in paginate(scope.client("ec2"), "describe_images", "Images", Owners=["self"]):
        for mapping in image.get("BlockDeviceMappings", []):
            snapshot_id = mapping.get("Ebs", {}).get("SnapshotId")
            if snapshot_id:
                used.setdefault(snapshot_id, []).append(image["ImageId"])
    return used
