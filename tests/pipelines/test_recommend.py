"""finops recommend on the real WorkshopCUR months: sound recommendations and a valid plan."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import jsonschema
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.ingest import ingest
from pipelines.recommend import recommend
from tests.conftest import CLOUDACADEMY, REPO

MONTH_FILES = {"10": "Oct", "11": "Nov", "12": "Dec"}
SCHEMA = json.loads((REPO / "lambdas" / "action_plan.schema.json").read_text())


@pytest.fixture(scope="module")
def workshop(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    root = tmp_path_factory.mktemp("workshop_recommend")
    for month, name in MONTH_FILES.items():
        folder = root / "cur" / "year=2018" / f"month={month}"
        folder.mkdir(parents=True)
        (folder / f"{name}.parquet").symlink_to(
            CLOUDACADEMY / f"{name}2018-WorkshopCUR-00001.snappy.parquet"
        )
    ingest(str(root / "cur"), root / "wh")
    result = recommend(
        root / "wh", plan_to=str(root / "plan.json"), now=datetime(2026, 12, 4, tzinfo=UTC)
    )
    return root, result


def raw_costs() -> dict[str, float]:
    """Unblended plus the effective cost of reserved hours per resource id, from the raw files."""
    costs: dict[str, float] = {}
    payers: set[str] = set()
    for name in MONTH_FILES.values():
        table = pq.read_table(
            CLOUDACADEMY / f"{name}2018-WorkshopCUR-00001.snappy.parquet",
            columns=[
                "line_item_resource_id",
                "line_item_unblended_cost",
                "reservation_effective_cost",
                "bill_payer_account_id",
            ],
        ).to_pylist()
        for row in table:
            payers.add(row["bill_payer_account_id"])
            resource = row["line_item_resource_id"]
            if resource:
                cost = row["line_item_unblended_cost"] + (row["reservation_effective_cost"] or 0)
                costs[resource] = costs.get(resource, 0.0) + cost
    return costs | {payer: float("inf") for payer in payers}


def test_each_recommendation_points_at_a_real_resource_and_saves_less_than_it_costs(workshop):
    _root, result = workshop
    costs = raw_costs()

    assert result.recommendations
    for row in result.recommendations:
        assert row["resource_id"] in costs, row["recommendation_id"]
        assert 0 <= row["estimated_monthly_saving"] <= row["current_monthly_cost"] + 1e-9
        assert row["saving_low"] <= row["estimated_monthly_saving"] <= row["saving_high"]
        # A month of the resource never exceeds what it cost over the three months of data
        # (the window is December's 31 days: the busiest month at most).
        if row["kind"] != "commitment":
            assert row["current_monthly_cost"] <= costs[row["resource_id"]] * 1.02


def test_totals_count_each_resource_once(workshop):
    _root, result = workshop
    (totals,) = result.totals

    per_resource: dict[str, float] = {}
    for row in result.recommendations:
        if row["counts_in_total"]:
            key = row["resource_id"]
            per_resource[key] = per_resource.get(key, 0.0) + row["total_monthly_saving"]
    assert totals.monthly_saving == pytest.approx(sum(per_resource.values()))
    for row in result.recommendations:
        assert per_resource.get(row["resource_id"], 0) <= row["current_monthly_cost"] + 1e-9
    assert totals.saving_low <= totals.monthly_saving <= totals.saving_high


def test_action_plan_conforms_to_the_schema(workshop):
    root, result = workshop
    plan = json.loads((root / "plan.json").read_text())

    jsonschema.Draft202012Validator(SCHEMA).validate(plan)
    assert plan == result.plan
    assert plan["generated_at"] == "2026-12-04T00:00:00Z"
    assert plan["source"]["periods"] == ["2018-10", "2018-11", "2018-12"]
    counted = {row["recommendation_id"] for row in result.recommendations if row["counts_in_total"]}
    assert {action["id"] for action in plan["actions"]} == counted


def test_recommendations_view_has_the_agreed_columns(workshop):
    root, _result = workshop
    with duckdb.connect(str(root / "wh" / "finops.duckdb"), read_only=True) as connection:
        columns = [c[0] for c in connection.execute("SELECT * FROM recommendations").description]
        carbon = [c[0] for c in connection.execute("SELECT * FROM carbon_monthly").description]
    assert columns[:17] == [
        "recommendation_id", "kind", "account_id", "region", "resource_id", "resource_type",
        "service_code", "team", "env", "currency", "current_monthly_cost",
        "estimated_monthly_saving", "saving_low", "saving_high", "co2e_kg_monthly_saved",
        "confidence", "evidence",
    ]  # fmt: skip
    assert "action" in columns
    assert carbon[:6] == ["billing_period", "account_id", "service", "region", "team", "env"]
    assert {"energy_kwh", "operational_co2e_kg", "embodied_co2e_kg", "co2e_kg"} <= set(carbon)


def test_cli_prints_the_ranked_table_and_writes_the_plan(workshop, tmp_path):
    root, _result = workshop
    plan = tmp_path / "out" / "plan.json"

    outcome = CliRunner().invoke(
        app,
        ["recommend", "-w", str(root / "wh"), "--plan", str(plan), "--no-rebuild"],
        terminal_width=200,
    )

    assert outcome.exit_code == 0, outcome.output
    assert "Total (" in outcome.output and "kg CO2e a month" in outcome.output
    jsonschema.Draft202012Validator(SCHEMA).validate(json.loads(plan.read_text()))


def test_settings_with_no_rebuild_are_refused_not_ignored(workshop, tmp_path):
    # They would not apply: the recommendations were built with the last build's settings.
    root, _result = workshop
    config = tmp_path / "finops.toml"
    config.write_text("[recommendations]\nmin_monthly_saving = 5\n")
    plan = tmp_path / "plan.json"

    outcome = CliRunner().invoke(
        app,
        [
            "recommend",
            "-w",
            str(root / "wh"),
            "-c",
            str(config),
            "--no-rebuild",
            "--plan",
            str(plan),
        ],
    )

    assert outcome.exit_code == 2
    assert "drop --no-rebuild to use them" in outcome.output
    assert not plan.exists()


def test_plan_to_an_unwritable_place_is_a_clear_error(workshop):
    root, _result = workshop
    outcome = CliRunner().invoke(
        app, ["recommend", "-w", str(root / "wh"), "--no-rebuild", "--plan", "/proc/nope/plan.json"]
    )
    assert outcome.exit_code == 1
    assert "/proc/nope/plan.json: cannot write the action plan" in outcome.output


def test_plan_to_a_folder_is_a_clear_error(workshop, tmp_path):
    root, _result = workshop
    outcome = CliRunner().invoke(
        app, ["recommend", "-w", str(root / "wh"), "--no-rebuild", "--plan", str(tmp_path)]
    )
    assert outcome.exit_code == 1
    assert f"{tmp_path}: is a folder (expected the plan's file name)" in outcome.output
