"""Clean-up: Elastic IP addresses associated with nothing (AWS bills idle addresses).

``DescribeAddresses`` has no paginator: AWS returns every address of the region in one reply
(the account's quota is small), so this is the one list call made without pages.
"""

from __future__ import annotations

from datetime import datetime

from lambdas import marking
from lambdas.aws import Scope
from lambdas.config import CleanupRule
from lambdas.safety import Resource, tag_value

KIND = "elastic_ips"
RESOURCE_TYPE = "ec2:elastic-ip"
ACTION = "release_elastic_ip"
PERMISSIONS = {
    "ec2:DescribeAddresses",
    "ec2:ReleaseAddress",
    "ec2:CreateTags",
    "ec2:DeleteTags",
}

set_tags = marking.ec2_set_tags
remove_tags = marking.ec2_remove_tags


def find(scope: Scope, ids: list[str] | None = None) -> list[Resource]:
    """VPC addresses, or those named by allocation id or public IP (as the CUR names them)."""
    arguments: dict = {"Filters": [{"Name": "domain", "Values": ["vpc"]}]}
    if ids:
        allocations = [i for i in ids if i.startswith("eipalloc-")]
        public_ips = [i for i in ids if not i.startswith("eipalloc-")]
        arguments = {"AllocationIds": allocations} if allocations else {"PublicIps": public_ips}
    addresses = scope.client("ec2").describe_addresses(**arguments)["Addresses"]
    return [
        Resource(
            type=RESOURCE_TYPE,
            id=address["AllocationId"],
            account_id=scope.account_id,
            region=scope.region,
            tags=tag_value(address.get("Tags")),
            state="associated" if address.get("AssociationId") else "unassociated",
            details={
                "public_ip": address.get("PublicIp"),
                "instance_id": address.get("InstanceId"),
                "network_interface_id": address.get("NetworkInterfaceId"),
            },
        )
        for address in addresses
    ]


def check(resource: Resource, rule: CleanupRule, now: datetime) -> tuple[bool, str]:
    public_ip = resource.details.get("public_ip")
    if resource.state == "associated":
        attached = resource.details.get("instance_id") or resource.details.get(
            "network_interface_id"
        )
        return False, f"{public_ip} is associated with {attached}"
    return True, f"{public_ip} is associated with nothing"


def act(scope: Scope, resource: Resource, rule: CleanupRule, now: datetime) -> str:
    scope.client("ec2").release_address(AllocationId=resource.id)
    return f"released {resource.details.get('public_ip')} ({resource.id})"
