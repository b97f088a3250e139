"""Scheduler: RDS DB instances and Aurora DB clusters with a schedule tag, stopped and started.

An instance that belongs to a cluster is left to its cluster (RDS refuses to stop a member on
its own). RDS starts a stopped database again by itself after seven days; the next start
transition then finds it running and only records the transition.
"""

from __future__ import annotations

from lambdas.aws import Scope, paginate
from lambdas.safety import Resource, tag_value

INSTANCE_TYPE = "rds:db"
CLUSTER_TYPE = "rds:cluster"
PERMISSIONS = {
    "rds:DescribeDBInstances",
    "rds:DescribeDBClusters",
    "rds:StopDBInstance",
    "rds:StartDBInstance",
    "rds:StopDBCluster",
    "rds:StartDBCluster",
    "rds:AddTagsToResource",
}
_STATES = {"available": "running", "stopped": "stopped"}


def find(scope: Scope, tag_key: str, ids: list[str] | None = None) -> list[Resource]:
    """DB instances (outside clusters) and DB clusters carrying ``tag_key``, or named by id/ARN."""
    rds = scope.client("rds")
    wanted = {_name(item) for item in ids or []}
    found = []
    for db in paginate(rds, "describe_db_instances", "DBInstances"):
        tags = tag_value(db.get("TagList"))
        if db.get("DBClusterIdentifier") or not _selected(
            db["DBInstanceIdentifier"], tags, tag_key, wanted
        ):
            continue
        replica_of = db.get("ReadReplicaSourceDBInstanceIdentifier")
        found.append(
            _resource(
                scope,
                INSTANCE_TYPE,
                db["DBInstanceIdentifier"],
                db["DBInstanceArn"],
                db["DBInstanceStatus"],
                tags,
                db.get("InstanceCreateTime"),
            )
        )
        if replica_of:
            found[-1].details["not_schedulable"] = (
                f"a read replica of {replica_of}; RDS cannot stop replicas"
            )
    for cluster in paginate(rds, "describe_db_clusters", "DBClusters"):
        tags = tag_value(cluster.get("TagList"))
        if not _selected(cluster["DBClusterIdentifier"], tags, tag_key, wanted):
            continue
        found.append(
            _resource(
                scope,
                CLUSTER_TYPE,
                cluster["DBClusterIdentifier"],
                cluster["DBClusterArn"],
                cluster["Status"],
                tags,
                cluster.get("ClusterCreateTime"),
            )
        )
    return found


def stop(scope: Scope, resource: Resource) -> str:
    rds = scope.client("rds")
    if resource.type == CLUSTER_TYPE:
        rds.stop_db_cluster(DBClusterIdentifier=resource.id)
    else:
        rds.stop_db_instance(DBInstanceIdentifier=resource.id)
    return f"stopped {resource.id}"


def start(scope: Scope, resource: Resource) -> str:
    rds = scope.client("rds")
    if resource.type == CLUSTER_TYPE:
        rds.start_db_cluster(DBClusterIdentifier=resource.id)
    else:
        rds.start_db_instance(DBInstanceIdentifier=resource.id)
    return f"started {resource.id}"


def set_tags(scope: Scope, resource: Resource, tags: dict[str, str]) -> None:
    scope.client("rds").add_tags_to_resource(
        ResourceName=resource.arn, Tags=[{"Key": k, "Value": v} for k, v in tags.items()]
    )


def _selected(name: str, tags: dict[str, str], tag_key: str, wanted: set[str]) -> bool:
    return name in wanted if wanted else tag_key in tags


def _name(identifier: str) -> str:
    # The CUR names databases by ARN (arn:aws:rds:region:account:db:name); plans may too.
    return identifier.rsplit(":", 1)[-1] if identifier.startswith("arn:") else identifier


def _resource(scope, kind, name, arn, status, tags, created) -> Resource:  # noqa: ANN001
    return Resource(
        type=kind,
        id=name,
        arn=arn,
        account_id=scope.account_id,
        region=scope.region,
        tags=tags,
        state=_STATES.get(status, status),
        created=created,
    )
