"""`finops anomalies`: the table, the JSON, the views in finops.duckdb, the settings, errors."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from pipelines.anomaly_config import AnomalySettings
from pipelines.anomaly_notify import load_sent
from pipelines.cli import app
from pipelines.config import load_config
from pipelines.errors import ConfigError
from pipelines.ingest import ingest
from pipelines.models import build
from tests.conftest import DEMO
from tests.pipelines import test_anomaly_notify
from tests.pipelines.test_anomalies import STG, _hourly, insert_rows
from tests.sample_warehouse import sample_warehouse

runner = CliRunner()
# SNS in moto with an SQS queue subscribed, and a local webhook: the notifier's own fixtures.
sns_queue, webhook = test_anomaly_notify.sns_queue, test_anomaly_notify.webhook


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    """A warehouse whose finops.duckdb holds only what the detector reads: 60 days of a 100 a
    day instance, with 24 extra hours at 20 on 2026-06-17 (a spike of 480)."""
    folder = tmp_path / "wh"
    folder.mkdir()
    with duckdb.connect(str(folder / "finops.duckdb")) as connection:
        connection.execute(STG)
        rows = _hourly(datetime(2026, 5, 1), 60, 100.0)
        rows += _hourly(datetime(2026, 6, 17), 1, 480.0)
        insert_rows(connection, rows)
    return folder


def test_json_lists_the_spike_with_its_root_cause_and_the_views_show_it(warehouse: Path):
    result = runner.invoke(app, ["anomalies", "-w", str(warehouse), "--format", "json"])

    assert result.exit_code == 0, result.output
    (anomaly,) = json.loads(result.output)
    assert anomaly["first_day"] == anomaly["last_day"] == "2026-06-17"
    assert anomaly["impact"] == pytest.approx(480.0, abs=5)
    assert anomaly["expected_cost"] == pytest.approx(100.0, abs=1)
    assert anomaly["root_cause"][0]["value"] == "i-web1"
    assert anomaly["measure"] == "amortized_cost"

    with duckdb.connect(str(warehouse / "finops.duckdb"), read_only=True) as connection:
        rows = connection.sql("SELECT anomaly_id, impact FROM anomalies").fetchall()
        days = connection.sql(
            "SELECT usage_date, actual_cost FROM anomaly_days WHERE in_anomaly"
        ).fetchall()
    assert rows == [(anomaly["anomaly_id"], anomaly["impact"])]
    assert [(str(d), round(cost)) for d, cost in days] == [("2026-06-17", 580)]


def test_second_run_keeps_the_ids_and_the_first_detection_time(warehouse: Path):
    first = json.loads(
        runner.invoke(app, ["anomalies", "-w", str(warehouse), "--format", "json"]).output
    )
    second = json.loads(
        runner.invoke(app, ["anomalies", "-w", str(warehouse), "--format", "json"]).output
    )
    assert [(a["anomaly_id"], a["detected_at"]) for a in first] == [
        (a["anomaly_id"], a["detected_at"]) for a in second
    ]


def test_table_shows_the_anomaly_and_since_filters_it_out(warehouse: Path):
    result = runner.invoke(app, ["anomalies", "-w", str(warehouse)])
    assert result.exit_code == 0, result.output
    assert "2026-06-17" in result.output
    assert "i-web1" in result.output

    later = runner.invoke(app, ["anomalies", "-w", str(warehouse), "--since", "2026-06-18"])
    assert later.exit_code == 0
    assert "No anomalies." in later.output


def test_notify_to_a_webhook_sends_once(warehouse: Path, monkeypatch):
    from tests.pipelines import test_anomaly_notify as hooks

    server = hooks.HTTPServer(("127.0.0.1", 0), hooks._Hook)
    hooks._Hook.posts, hooks._Hook.status = [], 200
    thread = hooks.threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/"
    try:
        for _ in range(2):
            result = runner.invoke(
                app, ["anomalies", "-w", str(warehouse), "--notify", "--webhook-url", url]
            )
            assert result.exit_code == 0, result.output
    finally:
        server.shutdown()
        server.server_close()
    assert len(hooks._Hook.posts) == 1
    assert "notified 0 new anomalies; 1 were sent before" in result.output


def test_webhook_failing_after_sns_exits_1_and_the_rerun_sends_sns_nothing_again(
    warehouse: Path, sns_queue, webhook
):
    topic, received = sns_queue
    url, hook = webhook
    command = ["anomalies", "-w", str(warehouse), "--notify", "--sns-topic-arn", topic]
    command += ["--webhook-url", url]
    hook.status = 500

    failed = runner.invoke(app, command)

    assert failed.exit_code == 1
    assert f"error: {url}: webhook answered HTTP 500" in failed.output
    assert len(received()) == 1
    assert [set(sent) for sent in load_sent(warehouse).values()] == [{"sns"}]

    hook.status = 200
    retried = runner.invoke(app, command)

    assert retried.exit_code == 0, retried.output
    assert "notified 1 new anomalies; 0 were sent before" in retried.output
    assert received() == []
    assert len(hook.posts) == 2
    assert [set(sent) for sent in load_sent(warehouse).values()] == [{"sns", "webhook"}]


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--webhook-url", "file:///etc/passwd", "'file:///etc/passwd': expected an http(s) URL"),
        ("--sns-topic-arn", "cost-anomalies", "'cost-anomalies': expected an SNS topic ARN"),
    ],
)
def test_notify_to_a_channel_that_cannot_be_one_exits_1_before_the_scan(
    warehouse: Path, option: str, value: str, message: str
):
    result = runner.invoke(app, ["anomalies", "-w", str(warehouse), "--notify", option, value])

    assert result.exit_code == 1
    assert result.output == f"error: {option} {message}\n"
    assert not (warehouse / "anomalies").exists()


def test_bad_measure_exits_1_naming_the_choices(warehouse: Path):
    result = runner.invoke(app, ["anomalies", "-w", str(warehouse), "--measure", "blended"])
    assert result.exit_code == 1
    assert "--measure 'blended'" in result.output
    assert "amortized_cost" in result.output


def test_bad_since_is_a_usage_error(warehouse: Path):
    result = runner.invoke(app, ["anomalies", "-w", str(warehouse), "--since", "June"])
    assert result.exit_code == 2


def test_warehouse_without_a_build_exits_1_saying_to_build(tmp_path: Path):
    result = runner.invoke(app, ["anomalies", "-w", str(tmp_path)])
    assert result.exit_code == 1
    assert "finops build" in result.output


def test_build_has_empty_anomaly_views_before_any_run(tmp_path_factory):
    warehouse = sample_warehouse(tmp_path_factory)
    with duckdb.connect(str(warehouse / "finops.duckdb"), read_only=True) as connection:
        assert connection.execute("SELECT count(*) FROM anomalies").fetchone() == (0,)
        columns = [c[0] for c in connection.sql("SELECT * FROM anomaly_days").description]
    assert columns[:4] == ["anomaly_id", "usage_date", "expected_cost", "actual_cost"]


def test_rebuild_keeps_the_anomalies_found(tmp_path: Path):
    warehouse = tmp_path / "wh"
    ingest(str(DEMO / "cur"), warehouse)
    build(warehouse)
    result = runner.invoke(app, ["anomalies", "-w", str(warehouse), "--format", "json"])
    assert result.exit_code == 0, result.output
    count = len(json.loads(result.output))

    build(warehouse)

    with duckdb.connect(str(warehouse / "finops.duckdb"), read_only=True) as connection:
        assert connection.execute("SELECT count(*) FROM anomalies").fetchone() == (count,)


def test_thresholds_come_from_finops_toml(tmp_path: Path):
    path = tmp_path / "finops.toml"
    path.write_text(
        "[anomalies]\nmeasure = 'unblended_cost'\n"
        "[anomalies.thresholds.service]\nmin_impact = 500\nmin_pct = 0.5\n"
        "[anomalies.notify]\nwebhook_url = 'https://hooks.example.com/x'\n"
    )
    settings = load_config(path).anomalies
    assert settings.measure == "unblended_cost"
    assert settings.threshold("service").min_impact == 500
    assert settings.threshold("service").daily == 125
    assert settings.threshold("tag:team").min_impact == 75  # the default for tags
    assert settings.webhook_url == "https://hooks.example.com/x"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[anomalies]\nthreshold = 1\n", "anomalies.threshold: unknown option"),
        ("[anomalies.thresholds.servce]\nmin_impact = 1\n", "did you mean 'service'"),
        ("[anomalies]\nmeasure = 'cost'\n", "anomalies.measure: 'cost' is not a cost column"),
        ("[anomalies]\nlookback_days = 2\n", "anomalies.lookback_days: 2 is out of range"),
        ("[anomalies.thresholds.total]\nmin_pct = 'ten'\n", "min_pct: 'ten' is not a number"),
    ],
)
def test_bad_anomaly_settings_name_the_key(tmp_path: Path, text: str, message: str):
    path = tmp_path / "finops.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_example_configuration_shows_the_default_anomaly_settings():
    example = Path(__file__).resolve().parents[2] / "finops.toml.example"
    assert load_config(example).anomalies == AnomalySettings()
