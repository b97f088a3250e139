"""`finops act`: the same functions as the Lambdas, from the command line."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from lambdas.config import load
from pipelines.cli import app
from tests.lambdas.conftest import REGION, instance, state_of, tags_of

EXAMPLE = Path(__file__).resolve().parents[2] / "lambdas" / "finops-act.example.toml"


def test_the_example_configuration_loads():
    config = load(str(EXAMPLE))
    assert not config.apply
    assert config.accounts[0].role_arn == "arn:aws:iam::111122223333:role/finops-actions"
    assert set(config.schedules) == {"office-hours", "weekdays-08-20", "nightly-batch"}
    assert config.limits("cleanup").max_count == 20


def test_act_scheduler_is_a_dry_run_without_apply(aws, tmp_path):
    vm = instance({"finops:schedule": "office"})
    config = tmp_path / "act.json"
    schedules = {"office": {"periods": [{"days": "mon-fri", "begin": "08:00", "end": "19:00"}]}}
    config.write_text(json.dumps({"regions": [REGION], "schedules": schedules}))

    result = CliRunner().invoke(
        app, ["act", "scheduler", "--config", str(config), "--at", "2026-12-02T19:05:00Z"]
    )

    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    (decision,) = [line for line in lines if line.get("resource_id") == vm]
    assert (decision["action"], decision["outcome"]) == ("stop", "dry_run")
    assert state_of(vm) == "running" and "finops:last-action" not in tags_of(vm)
    assert "(dry-run): 1 dry_run" in result.stderr

    applied = CliRunner().invoke(
        app, ["act", "scheduler", "-c", str(config), "--apply", "--at", "2026-12-02T19:05:00Z"]
    )
    assert applied.exit_code == 0, applied.output
    assert state_of(vm) == "stopped"


def test_act_with_a_bad_configuration_exits_1_with_one_line(tmp_path):
    config = tmp_path / "act.toml"
    config.write_text("aply = true\n")
    result = CliRunner().invoke(app, ["act", "cleanup", "--config", str(config)])
    assert result.exit_code == 1
    assert result.stderr.strip().startswith(f"error: {config}: unknown setting 'aply'")


def test_act_with_bad_inline_json_does_not_blame_the_environment(monkeypatch):
    monkeypatch.delenv("FINOPS_ACT_CONFIG", raising=False)
    result = CliRunner().invoke(app, ["act", "cleanup", "--config", '{"apply": 1}'])
    assert result.exit_code == 1
    assert result.stderr.strip().startswith("error: the JSON configuration: ")
    assert "FINOPS_ACT_CONFIG" not in result.stderr
