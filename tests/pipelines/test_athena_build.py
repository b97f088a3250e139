"""finops build --engine athena: the right SQL, in the right order, against moto's Athena and Glue.

moto's Athena accepts any query and answers with canned results (queued through its
/moto-api/static/athena/query-results endpoint), so these tests pin what is sent: one
CREATE OR REPLACE VIEW per model with sqlglot's Athena text, in dependency order, then the
checks, whose canned rows become check failures.
"""

from __future__ import annotations

import json
import urllib.request
import uuid
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from typer.testing import CliRunner

from pipelines.athena_build import build_athena
from pipelines.cli import app
from pipelines.errors import ModelError, WarehouseError
from pipelines.models import CheckFailure
from pipelines.register import register

MODELS = {
    # Named so that name order and dependency order differ.
    "marts/a_team_cost.sql": (
        "-- a_team_cost: cost per team.\nSELECT team, sum(cost) AS cost FROM m_tagged GROUP BY team"
    ),
    "staging/m_tagged.sql": (
        "-- m_tagged: line items with their team tag.\n"
        "SELECT resource_tags['team'] AS team, line_item_unblended_cost AS cost\n"
        "FROM line_items\n"
        "WHERE billing_period >= (SELECT min(dimension) FROM tag_key_aliases)"
    ),
    "checks/no_negative_team.sql": (
        "-- no_negative_team: no team costs less than nothing.\n"
        "SELECT team, 'team ' || team || ' is negative' AS reason FROM a_team_cost WHERE cost < 0"
    ),
    "checks/known_teams.sql": (
        "-- known_teams: every team is known.\n"
        "SELECT team, 'unknown team' AS reason FROM a_team_cost WHERE team = 'nobody'"
    ),
}


@pytest.fixture
def queries(tmp_path: Path) -> Path:
    folder = tmp_path / "queries"
    for name, sql in MODELS.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(sql + "\n")
    (folder / "seeds").mkdir()
    return folder


@pytest.fixture
def database(aws_env: str) -> str:
    """A registered Glue database over a small warehouse in moto's S3."""
    bucket = f"lake-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    boto3.client("s3").put_object(
        Bucket=bucket, Key="cur/line_items/billing_period=2024-01/part-1.parquet", Body=b"x"
    )
    name = f"finops_{uuid.uuid4().hex[:10]}"
    register(f"s3://{bucket}/cur", name)
    return name


def _queue_results(endpoint: str, results: list[dict]) -> None:
    request = urllib.request.Request(
        f"{endpoint}/moto-api/static/athena/query-results",
        data=json.dumps({"region": "us-east-1", "results": results}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request) as response:
        assert response.status == 201


def _result(columns: list[str], rows: list[list[str]]) -> dict:
    # Athena repeats the column names as the first row of a SELECT's results.
    header = {"Data": [{"VarCharValue": column} for column in columns]}
    return {
        "column_info": [{"Name": column, "Type": "varchar"} for column in columns],
        "rows": [header] * bool(columns)
        + [{"Data": [{"VarCharValue": value} for value in row]} for row in rows],
    }


def _recording_client() -> tuple[object, list[dict]]:
    athena = boto3.client("athena")
    sent: list[dict] = []
    athena.meta.events.register(
        "provide-client-params.athena.StartQueryExecution",
        lambda params, **_: sent.append(dict(params)),
    )
    return athena, sent


def test_views_are_created_in_dependency_order_then_checks_run(
    queries: Path, database: str, aws_env: str
):
    # moto hands queued results to queries in the order they start: the two views (DDL, no
    # rows), then the checks in name order: known_teams passes, no_negative_team fails once.
    _queue_results(
        aws_env,
        [
            _result([], []),
            _result([], []),
            _result(["team", "reason"], []),
            _result(["team", "reason"], [["ops", "team ops is negative"]]),
        ],
    )
    athena, sent = _recording_client()
    athena.create_work_group(Name="analysts")

    result = build_athena(
        database,
        "s3://results-bucket/athena/",
        workgroup="analysts",
        queries=queries,
        athena=athena,
        sleep=lambda _: None,
    )

    statements = [params["QueryString"] for params in sent]
    assert statements[0] == (
        'CREATE OR REPLACE VIEW "m_tagged" AS\nSELECT\n'
        "  ELEMENT_AT(resource_tags, 'team') AS team,\n  line_item_unblended_cost AS cost\n"
        "FROM line_items\nWHERE\n  billing_period >= (\n    SELECT\n      MIN(dimension)\n"
        "    FROM tag_key_aliases\n  )"
    )
    assert statements[1] == (
        'CREATE OR REPLACE VIEW "a_team_cost" AS\nSELECT\n  team,\n  SUM(cost) AS cost\n'
        "FROM m_tagged\nGROUP BY\n  team"
    )
    assert (
        statements[2] == "SELECT\n  team,\n  'unknown team' AS reason\nFROM a_team_cost\n"
        "WHERE\n  team = 'nobody'"
    )
    assert statements[3] == (
        "SELECT\n  team,\n  CONCAT(CAST('team ' AS VARCHAR), CAST(team AS VARCHAR), "
        "CAST(' is negative' AS VARCHAR)) AS reason\nFROM a_team_cost\nWHERE\n  cost < 0"
    )
    assert len(statements) == 4
    for params in sent:
        assert params["QueryExecutionContext"] == {"Database": database}
        assert params["ResultConfiguration"] == {"OutputLocation": "s3://results-bucket/athena/"}
        assert params["WorkGroup"] == "analysts"
    assert result.models == ("m_tagged", "a_team_cost")
    assert result.checks == ("known_teams", "no_negative_team")
    assert result.check_failures == (
        CheckFailure(
            "no_negative_team",
            "team ops is negative",
            {"team": "ops", "reason": "team ops is negative"},
        ),
    )
    assert not result.ok
    assert len(result.query_ids) == 4


def test_build_stops_before_any_query_when_a_model_cannot_run_on_athena(
    queries: Path, database: str
):
    (queries / "marts" / "z_bad.sql").write_text(
        "SELECT list_sum([1, 2]) AS total FROM a_team_cost\n"
    )
    athena, sent = _recording_client()

    with pytest.raises(ModelError, match=r"z_bad.sql: calls list_sum"):
        build_athena(database, "s3://results/", queries=queries, athena=athena)

    assert sent == []


def test_build_asks_for_register_when_tables_are_missing(queries: Path, aws_env: str):
    glue = boto3.client("glue")
    name = f"finops_{uuid.uuid4().hex[:10]}"
    glue.create_database(DatabaseInput={"Name": name})

    with pytest.raises(
        WarehouseError, match=r"has no table line_items, .*tag_key_aliases.*register"
    ):
        build_athena(name, "s3://results/", queries=queries)
    with pytest.raises(WarehouseError, match=r"does not exist; run `finops register` first"):
        build_athena(f"{name}_missing", "s3://results/", queries=queries)


def test_a_query_athena_fails_names_the_model_file(queries: Path, database: str):
    athena = boto3.client("athena")
    stubber = Stubber(athena)
    stubber.add_response("start_query_execution", {"QueryExecutionId": "q-1"})
    stubber.add_response(
        "get_query_execution", {"QueryExecution": {"Status": {"State": "RUNNING"}}}
    )
    stubber.add_response(
        "get_query_execution",
        {
            "QueryExecution": {
                "Status": {
                    "State": "FAILED",
                    "StateChangeReason": "COLUMN_NOT_FOUND: Column 'team' cannot be resolved",
                }
            }
        },
    )
    waits: list[float] = []

    with stubber, pytest.raises(ModelError) as raised:
        build_athena(
            database,
            "s3://results/",
            queries=queries,
            athena=athena,
            sleep=waits.append,
            poll_seconds=0.5,
        )

    assert str(raised.value) == (
        f"{queries / 'staging' / 'm_tagged.sql'}: Athena query q-1 FAILED: "
        "COLUMN_NOT_FOUND: Column 'team' cannot be resolved"
    )
    assert waits == [0.5]


def test_cli_build_athena_and_register(database: str, aws_env: str, tmp_path: Path):
    runner = CliRunner()

    missing = runner.invoke(app, ["build", "--engine", "athena", "--database", database])
    wrong = runner.invoke(app, ["build", "--engine", "spark"])
    not_s3 = runner.invoke(app, ["register", "--warehouse", str(tmp_path), "--database", "x"])

    assert missing.exit_code == 2
    assert "--engine athena needs --database and --s3-output" in missing.output
    assert wrong.exit_code == 2
    assert not_s3.exit_code == 1
    assert "is not an S3 location (expected s3://bucket/prefix)" in not_s3.output


def test_models_that_read_the_run_log_are_skipped_when_it_is_not_registered(
    queries: Path, database: str, aws_env: str
):
    # finops register does not put _runs in Glue: the reconciliation model and the check on it
    # are left out (with a warning), the rest is built as before.
    (queries / "marts" / "z_invoices.sql").write_text(
        "-- z_invoices: invoices.\nSELECT billing_period FROM run_log_invoices\n"
    )
    (queries / "checks" / "z_invoices_check.sql").write_text(
        "-- z_invoices_check: nothing.\nSELECT billing_period, 'x' AS reason FROM z_invoices\n"
    )
    _queue_results(
        aws_env,
        [
            _result([], []),
            _result([], []),
            _result(["team", "reason"], []),
            _result(["team", "reason"], []),
        ],
    )
    athena, sent = _recording_client()

    result = build_athena(
        database,
        "s3://results-bucket/athena/",
        queries=queries,
        athena=athena,
        sleep=lambda _: None,
    )

    assert result.models == ("m_tagged", "a_team_cost")
    assert result.checks == ("known_teams", "no_negative_team")
    assert not any("run_log" in params["QueryString"] for params in sent)
