"""`finops act`: the same functions as the Lambdas, from the command line."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
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


def test_act_scheduler_is_a_dry_run_without_apply(aws, tmp_path, monkeypatch):
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

    monkeypatch.setattr(
        "pipelines.cli._act_clock", lambda: datetime(2026, 12, 2, 19, 5, tzinfo=UTC)
    )
    applied = CliRunner().invoke(app, ["act", "scheduler", "-c", str(config), "--apply"])
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


def office_config(tmp_path: Path, **settings: object) -> Path:
    config = tmp_path / "act.json"
    schedules = {"office": {"periods": [{"days": "mon-fri", "begin": "08:00", "end": "19:00"}]}}
    config.write_text(json.dumps({"regions": [REGION], "schedules": schedules, **settings}))
    return config


@pytest.mark.parametrize(
    ("arguments", "settings"),
    [(["--apply"], {}), ([], {"apply": True})],
)
def test_at_is_refused_when_the_run_would_apply(aws, tmp_path, arguments, settings):  # noqa: ANN001
    vm = instance({"finops:schedule": "office"})
    config = office_config(tmp_path, **settings)

    result = CliRunner().invoke(
        app, ["act", "scheduler", "-c", str(config), *arguments, "--at", "2026-12-02T19:05:00Z"]
    )

    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: --at previews only; with --apply (or apply = true) the clock is the real one "
        "(add --dry-run to preview)"
    )
    assert state_of(vm) == "running" and "finops:last-action" not in tags_of(vm)


def test_at_out_of_range_is_one_line(aws, tmp_path):
    config = office_config(tmp_path)
    result = CliRunner().invoke(
        app, ["act", "cleanup", "-c", str(config), "--at", "9999-12-31T23:59:59Z"]
    )
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: --at 9999-12-31T23:59:59Z: out of range (expected a time from 2000-01-01 to "
        "2999-12-31)"
    )


def test_dry_run_wins_over_apply_in_the_configuration(aws, tmp_path):
    vm = instance({"finops:schedule": "office"})
    config = office_config(tmp_path, apply=True)

    result = CliRunner().invoke(
        app,
        [
            "act",
            "scheduler",
            "-c",
            str(config),
            "--apply",
            "--dry-run",
            "--at",
            "2026-12-02T19:05Z",
        ],
    )

    assert result.exit_code == 0, result.output
    assert "(dry-run): 1 dry_run" in result.stderr
    assert state_of(vm) == "running" and "finops:last-action" not in tags_of(vm)


def test_the_apply_help_says_the_configuration_applies_too():
    result = CliRunner().invoke(app, ["act", "plan", "--help"], env={"COLUMNS": "200"})
    assert "unless the configuration sets apply = true" in result.stdout
    assert "--dry-run" in result.stdout
