"""Scheduler: EC2 instances with a schedule tag, stopped and started.

Instances in a transitional state (``pending``, ``stopping``) are left for the next run.
Instances of an Auto Scaling group (the group would replace them; schedule the group) and Spot
instances are never stopped; the audit log says why.
"""

from __future__ import annotations

from lambdas.aws import Scope, paginate
from lambdas.safety import Resource, tag_value

RESOURCE_TYPE = "ec2:instance"
PERMISSIONS = {
    "ec2:DescribeInstances",
    "ec2:StopInstances",
    "ec2:StartInstances",
    "ec2:CreateTags",
}
_STATES = {"running": "running", "stopped": "stopped"}


def find(scope: Scope, tag_key: str, ids: list[str] | None = None) -> list[Resource]:
    """Instances carrying ``tag_key`` (any value), or the instances named by ``ids``."""
    arguments: dict = (
        {"InstanceIds": ids}
        if ids
        else {
            "Filters": [
                {"Name": "tag-key", "Values": [tag_key]},
                {
                    "Name": "instance-state-name",
                    "Values": ["pending", "running", "stopping", "stopped"],
                },
            ]
        }
    )
    reservations = paginate(scope.client("ec2"), "describe_instances", "Reservations", **arguments)
    return [
        Resource(
            type=RESOURCE_TYPE,
            id=instance["InstanceId"],
            account_id=scope.account_id,
            region=scope.region,
            tags=tag_value(instance.get("Tags")),
            state=_STATES.get(instance["State"]["Name"], instance["State"]["Name"]),
            created=instance.get("LaunchTime"),
            details={
                "instance_type": instance.get("InstanceType"),
                "not_schedulable": _not_schedulable(instance),
            },
        )
        for reservation in reservations
        for instance in reservation["Instances"]
    ]


def stop(scope: Scope, resource: Resource) -> str:
    scope.client("ec2").stop_instances(InstanceIds=[resource.id])
    return f"stopped {resource.id}"


def start(scope: Scope, resource: Resource) -> str:
    scope.client("ec2").start_instances(InstanceIds=[resource.id])
    return f"started {resource.id}"


def set_tags(scope: Scope, resource: Resource, tags: dict[str, str]) -> None:
    scope.client("ec2").create_tags(
        Resources=[resource.id], Tags=[{"Key": k, "Value": v} for k, v in tags.items()]
    )


def _not_schedulable(instance: dict) -> str | None:
    tags = tag_value(instance.get("Tags"))
    group = tags.get("aws:autoscaling:groupName")
    if group:
        # Its group would replace a stopped instance: the group is what gets scheduled.
        return f"member of Auto Scaling group {group}; schedule the group instead"
    if instance.get("InstanceLifecycle") == "spot":
        return "a Spot instance; AWS stops or ends those itself"
    return None
