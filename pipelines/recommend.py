"""Savings recommendations and the action plan: ``finops recommend``.

The recommendations are SQL models (``queries/recommendations/``, one per kind, unioned by
``recommendations``); this module builds them, reads the ranked rows and writes the action plan
that the Lambdas carry out, as JSON conforming to ``lambdas/action_plan.schema.json``.

Example::

    result = recommend(Path("warehouse"), plan_to="plan.json")
    print(result.totals)

Notes:
    The plan holds one entry per recommendation that counts towards the totals (a gp3 change of
    a volume that is proposed for deletion is left out) and whose resource type the executor
    knows (ElastiCache and OpenSearch recommendations stay in the view only). A plan has one
    currency: when the data mixes currencies, the plan takes the one with the largest total
    saving and the others are left out, with a warning.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from pipelines.config import Config
from pipelines.engine import duckdb_config
from pipelines.errors import FinopsError, WarehouseError
from pipelines.models import DATABASE_FILE, build

logger = logging.getLogger(__name__)

PLAN_SCHEMA_VERSION = 1
#: The resource types the action plan's schema knows (lambdas/action_plan.schema.json).
PLAN_RESOURCE_TYPES = frozenset(
    {
        "ec2:instance",
        "ec2:volume",
        "ec2:snapshot",
        "ec2:elastic-ip",
        "ec2:network-interface",
        "ec2:natgateway",
        "elasticloadbalancing:loadbalancer",
        "rds:db",
        "rds:cluster",
        "autoscaling:group",
        "account",
    }
)


@dataclass(frozen=True)
class Totals:
    """What the recommendations of one currency save together, counted once per resource."""

    currency: str
    recommendations: int
    monthly_saving: float
    saving_low: float
    saving_high: float
    co2e_kg_saved: float


@dataclass(frozen=True)
class RecommendResult:
    """The ranked recommendations, their totals per currency and the plan written."""

    recommendations: list[dict[str, Any]]
    totals: list[Totals]
    plan: dict[str, Any] | None = None
    plan_location: str | None = None
    periods: list[str] = field(default_factory=list)


def recommend(
    warehouse: Path,
    config: Config | None = None,
    *,
    plan_to: str | None = None,
    rebuild: bool = True,
    now: datetime | None = None,
) -> RecommendResult:
    """Build the models, read the recommendations and write the action plan.

    Args:
        warehouse: the warehouse folder.
        config: settings (``[recommendations]`` and ``[carbon]`` parameters); defaults if None.
        plan_to: where to write the plan: a local path or ``s3://bucket/key``; None writes none.
        rebuild: build the models first (``finops build``); False reads the last build.
        now: the plan's ``generated_at`` (tests freeze it).

    Raises:
        WarehouseError: no built ``finops.duckdb`` (with ``rebuild=False``).
        FinopsError: the plan cannot be written (the message names the destination).
    """
    if rebuild:
        build(warehouse, config)
    database = warehouse / DATABASE_FILE
    if not database.is_file():
        raise WarehouseError(f"{database}: not built yet (run `finops build` first)")

    with duckdb.connect(str(database), read_only=True, config=duckdb_config()) as connection:
        rows = _records(connection, "SELECT * FROM recommendations ORDER BY rank")
        periods = [
            period
            for (period,) in connection.execute(
                "SELECT DISTINCT billing_period FROM stg_line_items ORDER BY 1"
            ).fetchall()
        ]
    totals = totals_by_currency(rows)
    logger.info("%d recommendations in %d currencies", len(rows), len(totals))

    plan = None
    if plan_to is not None:
        plan = action_plan(rows, warehouse=str(warehouse.resolve()), periods=periods, now=now)
        write_plan(plan, plan_to)
    return RecommendResult(rows, totals, plan, plan_to, periods)


def totals_by_currency(rows: Sequence[dict[str, Any]]) -> list[Totals]:
    """Sum the rows' ``total_*`` columns (each resource counted once) per currency."""
    by_currency: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_currency.setdefault(row["currency"], []).append(row)
    totals = [
        Totals(
            currency=currency,
            recommendations=len(group),
            monthly_saving=sum(row["total_monthly_saving"] for row in group),
            saving_low=sum(row["total_saving_low"] for row in group),
            saving_high=sum(row["total_saving_high"] for row in group),
            co2e_kg_saved=sum(row["co2e_kg_total_saved"] for row in group),
        )
        for currency, group in by_currency.items()
    ]
    return sorted(totals, key=lambda total: -total.monthly_saving)


def action_plan(
    rows: Sequence[dict[str, Any]],
    *,
    warehouse: str,
    periods: Sequence[str],
    now: datetime | None = None,
) -> dict[str, Any]:
    """The action plan (schema version 1) for the recommendations that count in the totals."""
    totals = totals_by_currency(rows)
    currency = totals[0].currency if totals else "USD"
    if len(totals) > 1:
        logger.warning(
            "the recommendations hold %d currencies; the plan keeps %s only",
            len(totals),
            currency,
        )
    actions = [
        _plan_action(row)
        for row in rows
        if row["currency"] == currency
        and row["counts_in_total"]
        and row["resource_type"] in PLAN_RESOURCE_TYPES
    ]
    generated_at = (now or datetime.now(UTC)).astimezone(UTC)
    return {
        "schema_version": PLAN_SCHEMA_VERSION,
        "generated_at": generated_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "source": {"warehouse": warehouse, "periods": list(periods)},
        "currency": currency,
        "actions": actions,
    }


def write_plan(plan: dict[str, Any], destination: str) -> None:
    """Write the plan as JSON to a local path or ``s3://bucket/key``.

    Raises:
        FinopsError: the destination cannot be written; the message names it.
    """
    body = json.dumps(plan, indent=2, sort_keys=False) + "\n"
    if destination.startswith("s3://"):
        from pipelines import s3

        bucket, key = s3.parse_url(destination)
        if not key or key.endswith("/"):
            raise FinopsError(f"{destination}: expected s3://bucket/key.json for the plan")
        try:
            s3.client().put_object(
                Bucket=bucket, Key=key, Body=body.encode(), ContentType="application/json"
            )
        except Exception as error:  # botocore's ClientError and connection errors alike
            raise FinopsError(f"{destination}: cannot write the action plan: {error}") from error
        return
    path = Path(destination)
    if path.is_dir():
        raise FinopsError(f"{destination}: is a folder (expected the plan's file name)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.writing")
        temporary.write_text(body, encoding="utf-8")
        temporary.replace(path)
    except OSError as error:
        raise FinopsError(f"{destination}: cannot write the action plan: {error}") from error


def _plan_action(row: dict[str, Any]) -> dict[str, Any]:
    action = json.loads(row["action"])
    entry: dict[str, Any] = {
        "id": row["recommendation_id"],
        "kind": row["kind"],
        "action": action["action"],
        "resource": {
            "type": row["resource_type"],
            "id": row["resource_id"],
            "arn": row["resource_id"] if row["resource_id"].startswith("arn:") else None,
            "account_id": row["account_id"],
            "region": row["region"],
        },
        "parameters": action["parameters"],
        "conditions": action["conditions"],
        "reason": row["evidence"],
        "estimated_monthly_saving": round(max(row["estimated_monthly_saving"], 0.0), 6),
        "saving_low": round(max(row["saving_low"], 0.0), 6),
        "saving_high": round(max(row["saving_high"], 0.0), 6),
        "estimated_monthly_kg_co2e": round(max(row["co2e_kg_monthly_saved"], 0.0), 6),
        "tags": {"team": row["team"], "env": row["env"]},
    }
    return entry


def _records(connection: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    cursor = connection.execute(sql)
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
