"""Scheduler: Auto Scaling groups with a schedule tag, scaled to zero and back.

Stopping saves the group's size (min, max, desired) in the tag ``finops:saved-size`` before it
sets all three to zero; starting restores that size and removes the tag. A group at zero with
no saved size is not started (there is nothing to restore to) and the audit log says so.
"""

from __future__ import annotations

from lambdas.aws import Scope, paginate
from lambdas.safety import Resource

RESOURCE_TYPE = "autoscaling:group"
SAVED_SIZE_TAG = "finops:saved-size"
PERMISSIONS = {
    "autoscaling:DescribeAutoScalingGroups",
    "autoscaling:UpdateAutoScalingGroup",
    "autoscaling:CreateOrUpdateTags",
    "autoscaling:DeleteTags",
}


def find(scope: Scope, tag_key: str, ids: list[str] | None = None) -> list[Resource]:
    client = scope.client("autoscaling")
    arguments: dict = (
        {"AutoScalingGroupNames": [_name(i) for i in ids]}
        if ids
        else {"Filters": [{"Name": "tag-key", "Values": [tag_key]}]}
    )
    groups = paginate(client, "describe_auto_scaling_groups", "AutoScalingGroups", **arguments)
    return [
        Resource(
            type=RESOURCE_TYPE,
            id=group["AutoScalingGroupName"],
            arn=group.get("AutoScalingGroupARN"),
            account_id=scope.account_id,
            region=scope.region,
            tags={tag["Key"]: tag.get("Value", "") for tag in group.get("Tags", [])},
            state="running" if group["DesiredCapacity"] > 0 or group["MinSize"] > 0 else "stopped",
            created=group.get("CreatedTime"),
            details={
                "size": (group["MinSize"], group["MaxSize"], group["DesiredCapacity"]),
            },
        )
        for group in groups
    ]


def stop(scope: Scope, resource: Resource) -> str:
    low, high, desired = resource.details["size"]
    set_tags(scope, resource, {SAVED_SIZE_TAG: f"{low},{high},{desired}"})
    scope.client("autoscaling").update_auto_scaling_group(
        AutoScalingGroupName=resource.id, MinSize=0, MaxSize=0, DesiredCapacity=0
    )
    return f"scaled {resource.id} from {low}/{high}/{desired} (min/max/desired) to 0"


def saved_size(resource: Resource) -> tuple[int, int, int]:
    """The (min, max, desired) to restore, from the saved-size tag ``min,max,desired``.

    Raises:
        ValueError: no tag, or not three whole numbers >= 0 with min <= desired <= max;
            the message says which and what was found.

    Notes:
        The tag is all there is to restore from, so anyone allowed to write tags on the group
        chooses the size it comes back at, within these rules. A bound (the size at stop, kept
        where only the scheduler writes) is not implemented: it needs state outside the group.
    """
    saved = resource.tags.get(SAVED_SIZE_TAG)
    if not saved:
        raise ValueError(f"no {SAVED_SIZE_TAG} tag to restore {resource.id} from")
    parts = [part.strip() for part in saved.split(",")]
    if len(parts) != 3 or not all(part.isdigit() and part.isascii() for part in parts):
        raise ValueError(f"{SAVED_SIZE_TAG} {saved!r} is not min,max,desired as whole numbers >= 0")
    low, high, desired = (int(part) for part in parts)
    if not low <= desired <= high:
        raise ValueError(
            f"{SAVED_SIZE_TAG} {saved!r} is not min,max,desired with min <= desired <= max"
        )
    return low, high, desired


def start(scope: Scope, resource: Resource) -> str:
    low, high, desired = saved_size(resource)
    scope.client("autoscaling").update_auto_scaling_group(
        AutoScalingGroupName=resource.id, MinSize=low, MaxSize=high, DesiredCapacity=desired
    )
    scope.client("autoscaling").delete_tags(
        Tags=[
            {"ResourceId": resource.id, "ResourceType": "auto-scaling-group", "Key": SAVED_SIZE_TAG}
        ]
    )
    return f"restored {resource.id} to {low}/{high}/{desired} (min/max/desired)"


def set_tags(scope: Scope, resource: Resource, tags: dict[str, str]) -> None:
    scope.client("autoscaling").create_or_update_tags(
        Tags=[
            {
                "ResourceId": resource.id,
                "ResourceType": "auto-scaling-group",
                "Key": key,
                "Value": value,
                "PropagateAtLaunch": False,
            }
            for key, value in tags.items()
        ]
    )


def _name(identifier: str) -> str:
    # arn:aws:autoscaling:region:account:autoScalingGroup:uuid:autoScalingGroupName/name
    return identifier.rsplit("autoScalingGroupName/", 1)[-1]
