"""Clean-up: network interfaces that are ``available`` (attached to nothing).

Interfaces that AWS services manage (requester-managed, or of a type other than
``interface`` and ``efa``, such as those of Lambda, NAT gateways or VPC endpoints) are never
touched: their service deletes them. AWS gives no creation time for an interface, so
``min_age_days`` cannot apply and the grace period is the only wait.
"""

from __future__ import annotations

from datetime import datetime

from lambdas import marking
from lambdas.aws import Scope, paginate
from lambdas.config import CleanupRule
from lambdas.safety import Resource, tag_value

KIND = "network_interfaces"
RESOURCE_TYPE = "ec2:network-interface"
ACTION = "delete_network_interface"
PERMISSIONS = {
    "ec2:DescribeNetworkInterfaces",
    "ec2:DeleteNetworkInterface",
    "ec2:CreateTags",
    "ec2:DeleteTags",
}

set_tags = marking.ec2_set_tags
remove_tags = marking.ec2_remove_tags


def find(scope: Scope, ids: list[str] | None = None) -> list[Resource]:
    ec2 = scope.client("ec2")
    if ids:
        interfaces = paginate(
            ec2, "describe_network_interfaces", "NetworkInterfaces", NetworkInterfaceIds=ids
        )
    else:
        # Marked interfaces too, in use or not: one attached since it was marked gets unmarked.
        found: dict[str, dict] = {}
        for filters in (
            [{"Name": "status", "Values": ["available"]}],
            [{"Name": "tag-key", "Values": [marking.MARK_TAG]}],
        ):
            for item in paginate(
                ec2, "describe_network_interfaces", "NetworkInterfaces", Filters=filters
            ):
                found[item["NetworkInterfaceId"]] = item
        interfaces = list(found.values())
    return [
        Resource(
            type=RESOURCE_TYPE,
            id=interface["NetworkInterfaceId"],
            account_id=scope.account_id,
            region=scope.region,
            tags=tag_value(interface.get("TagSet")),
            state=interface.get("Status"),
            details={
                "interface_type": interface.get("InterfaceType", "interface"),
                "requester_managed": bool(interface.get("RequesterManaged")),
                "subnet_id": interface.get("SubnetId"),
            },
        )
        for interface in interfaces
    ]


def check(resource: Resource, rule: CleanupRule, now: datetime) -> tuple[bool, str]:
    if resource.state != "available":
        return False, f"interface is {resource.state}"
    if resource.details.get("requester_managed"):
        return False, "managed by an AWS service (requester-managed)"
    if resource.details.get("interface_type") not in ("interface", "efa", None):
        return False, f"interface type {resource.details['interface_type']} belongs to a service"
    return True, f"available interface in {resource.details.get('subnet_id')}, attached to nothing"


def act(scope: Scope, resource: Resource, rule: CleanupRule, now: datetime) -> str:
    scope.client("ec2").delete_network_interface(NetworkInterfaceId=resource.id)
    return f"deleted {resource.id}"
