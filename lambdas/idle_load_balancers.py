"""Clean-up: Application, Network and Gateway Load Balancers with no healthy target.

A load balancer qualifies when it is older than ``min_age_days``, has deletion protection
off, and none of the targets of its target groups is ``healthy`` (none registered counts).
Deleting it leaves its target groups, which cost nothing on their own.

Classic Load Balancers (the ``elb`` API) are not covered yet: their health comes from another
API (DescribeInstanceHealth) that this module does not call.
"""

from __future__ import annotations

from datetime import datetime

import botocore.exceptions

from lambdas import marking
from lambdas.aws import Scope, error_code, paginate
from lambdas.config import CleanupRule
from lambdas.safety import Resource, tag_value

KIND = "idle_load_balancers"
RESOURCE_TYPE = "elasticloadbalancing:loadbalancer"
ACTION = "delete_load_balancer"
PERMISSIONS = {
    "elasticloadbalancing:DescribeLoadBalancers",
    "elasticloadbalancing:DescribeLoadBalancerAttributes",
    "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:DescribeTargetHealth",
    "elasticloadbalancing:DescribeTags",
    "elasticloadbalancing:DeleteLoadBalancer",
    "elasticloadbalancing:AddTags",
    "elasticloadbalancing:RemoveTags",
}


def find(scope: Scope, ids: list[str] | None = None) -> list[Resource]:
    elbv2 = scope.client("elbv2")
    arguments: dict = {"LoadBalancerArns": ids} if ids else {}
    balancers = paginate(elbv2, "describe_load_balancers", "LoadBalancers", **arguments)
    tags = _tags(elbv2, [balancer["LoadBalancerArn"] for balancer in balancers])
    found = []
    for balancer in balancers:
        arn = balancer["LoadBalancerArn"]
        registered, healthy = _targets(elbv2, arn)
        attributes = elbv2.describe_load_balancer_attributes(LoadBalancerArn=arn)["Attributes"]
        protected = any(
            a["Key"] == "deletion_protection.enabled" and a["Value"] == "true" for a in attributes
        )
        found.append(
            Resource(
                type=RESOURCE_TYPE,
                id=arn,
                arn=arn,
                account_id=scope.account_id,
                region=scope.region,
                tags=tags.get(arn, {}),
                state=balancer.get("State", {}).get("Code"),
                created=balancer.get("CreatedTime"),
                details={
                    "name": balancer.get("LoadBalancerName"),
                    "type": balancer.get("Type"),
                    "registered": registered,
                    "healthy": healthy,
                    "deletion_protection": protected,
                },
            )
        )
    return found


def check(resource: Resource, rule: CleanupRule, now: datetime) -> tuple[bool, str]:
    name, details = resource.details.get("name"), resource.details
    if details.get("deletion_protection"):
        return False, f"{name} has deletion protection on"
    if details.get("healthy", 0) > 0:
        return False, f"{name} has {details['healthy']} healthy targets"
    age = marking.age_days(resource.created, now)
    if age is None or age < rule.min_age_days:
        return False, f"{name} is younger than {rule.min_age_days} days"
    return True, (
        f"{details.get('type')} load balancer {name} has no healthy target "
        f"({details.get('registered', 0)} registered), {age:.0f} days old"
    )


def act(scope: Scope, resource: Resource, rule: CleanupRule, now: datetime) -> str:
    scope.client("elbv2").delete_load_balancer(LoadBalancerArn=resource.id)
    return f"deleted {resource.details.get('name')}"


def set_tags(scope: Scope, resource: Resource, tags: dict[str, str]) -> None:
    scope.client("elbv2").add_tags(
        ResourceArns=[resource.id], Tags=[{"Key": k, "Value": v} for k, v in tags.items()]
    )


def remove_tags(scope: Scope, resource: Resource, keys: list[str]) -> None:
    scope.client("elbv2").remove_tags(ResourceArns=[resource.id], TagKeys=keys)


def _targets(elbv2, arn: str) -> tuple[int, int]:  # noqa: ANN001
    registered = healthy = 0
    try:
        groups = paginate(elbv2, "describe_target_groups", "TargetGroups", LoadBalancerArn=arn)
    except botocore.exceptions.ClientError as error:
        # Some endpoints (moto, older regions) answer "no group" with an error, not [].
        if error_code(error) != "TargetGroupNotFound":
            raise
        groups = []
    for group in groups:
        health = elbv2.describe_target_health(TargetGroupArn=group["TargetGroupArn"])
        for target in health.get("TargetHealthDescriptions", []):
            registered += 1
            healthy += target.get("TargetHealth", {}).get("State") == "healthy"
    return registered, healthy


def _tags(elbv2, arns: list[str]) -> dict[str, dict[str, str]]:  # noqa: ANN001
    tags: dict[str, dict[str, str]] = {}
    for start in range(0, len(arns), 20):  # DescribeTags takes at most 20 ARNs
        reply = elbv2.describe_tags(ResourceArns=arns[start : start + 20])
        for description in reply.get("TagDescriptions", []):
            tags[description["ResourceArn"]] = tag_value(description.get("Tags"))
    return tags
