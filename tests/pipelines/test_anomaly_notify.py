"""Publishing anomalies: each one once, to SNS (moto, in-process) or a Slack-style webhook."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from datetime import date
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from pipelines.anomalies import Anomaly
from pipelines.anomaly_notify import load_sent, notify
from pipelines.errors import ConfigError, NotifyError


def anomaly(anomaly_id: str, impact: float = 120.0) -> Anomaly:
    return Anomaly(
        anomaly_id=anomaly_id,
        kind="spike",
        dimension="service",
        dimension_value="Amazon Elastic Compute Cloud",
        first_day=date(2026, 7, 21),
        last_day=date(2026, 7, 21),
        detected_on=date(2026, 7, 21),
        measure="amortized_cost",
        currency="USD",
        expected_cost=80.0,
        actual_cost=80.0 + impact,
        impact=impact,
        impact_pct=impact / 80.0,
        score=9.5,
        projected_monthly_cost=None,
        root_cause=[{"dimension": "resource", "value": "i-web1", "share": 1.0, "impact": impact}],
        also_seen_in=["total=total"],
        days=[],
    )


@pytest.fixture
def sns_queue(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        sns, sqs = boto3.client("sns"), boto3.client("sqs")
        topic = sns.create_topic(Name="cost-anomalies")["TopicArn"]
        queue = sqs.create_queue(QueueName="alerts")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
        sns.subscribe(
            TopicArn=topic, Protocol="sqs", Endpoint=arn["Attributes"]["QueueArn"],
            Attributes={"RawMessageDelivery": "true"},
        )  # fmt: skip

        def received() -> list[dict]:
            messages = []
            while True:
                batch = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)
                if not batch.get("Messages"):
                    return messages
                for message in batch["Messages"]:
                    messages.append(json.loads(message["Body"]))
                    sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])

        yield topic, received


def test_sns_sends_each_anomaly_once_across_runs(tmp_path: Path, sns_queue):
    topic, received = sns_queue

    first = notify(tmp_path, [anomaly("a1"), anomaly("a2")], sns_topic_arn=topic)
    assert first.sent == ("a1", "a2")
    assert sorted(message["anomaly_id"] for message in received()) == ["a1", "a2"]

    second = notify(tmp_path, [anomaly("a1"), anomaly("a2"), anomaly("a3")], sns_topic_arn=topic)
    assert second.sent == ("a3",)
    assert second.already_sent == ("a1", "a2")
    (message,) = received()
    assert message["anomaly_id"] == "a3"
    assert message["root_cause"][0]["value"] == "i-web1"
    assert message["first_day"] == "2026-07-21"

    assert notify(tmp_path, [anomaly("a3")], sns_topic_arn=topic).sent == ()
    assert received() == []
    assert set(load_sent(tmp_path)) == {"a1", "a2", "a3"}


class _Hook(BaseHTTPRequestHandler):
    posts: list[dict] = []
    status = 200

    def do_POST(self):  # noqa: N802 - the http.server name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).posts.append(json.loads(body))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    _Hook.posts, _Hook.status = [], 200
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", _Hook
    server.shutdown()
    server.server_close()


def test_webhook_posts_new_anomalies_once_in_slack_form(tmp_path: Path, webhook):
    url, hook = webhook

    notify(tmp_path, [anomaly("a1", 120.0)], webhook_url=url)
    notify(tmp_path, [anomaly("a1", 120.0)], webhook_url=url)

    (post,) = hook.posts
    assert post["text"].startswith("1 new cost anomaly:")
    assert "+120.00 USD" in post["text"]
    assert "top cause resource i-web1" in post["text"]
    assert [a["anomaly_id"] for a in post["anomalies"]] == ["a1"]


def test_failed_webhook_marks_nothing_sent_and_the_next_run_retries(tmp_path: Path, webhook):
    url, hook = webhook
    hook.status = 500

    with pytest.raises(NotifyError, match="HTTP 500"):
        notify(tmp_path, [anomaly("a1")], webhook_url=url)
    assert load_sent(tmp_path) == {}

    hook.status = 200
    assert notify(tmp_path, [anomaly("a1")], webhook_url=url).sent == ("a1",)
    assert len(hook.posts) == 2


def test_notify_without_a_channel_says_how_to_set_one(tmp_path: Path):
    with pytest.raises(NotifyError, match=r"\[anomalies.notify\]"):
        notify(tmp_path, [anomaly("a1")])


def test_webhook_failure_after_sns_records_sns_and_the_retry_posts_only_to_the_webhook(
    tmp_path: Path, sns_queue, webhook
):
    topic, received = sns_queue
    url, hook = webhook
    found = [anomaly("a1"), anomaly("a2"), anomaly("a3")]
    hook.status = 500

    with pytest.raises(
        NotifyError, match=r"^http://127\.0\.0\.1:\d+/hook: webhook answered HTTP 500$"
    ):
        notify(tmp_path, found, sns_topic_arn=topic, webhook_url=url)
    assert len(received()) == 3
    assert {anomaly_id: set(sent) for anomaly_id, sent in load_sent(tmp_path).items()} == {
        "a1": {"sns"},
        "a2": {"sns"},
        "a3": {"sns"},
    }

    hook.status = 200
    retry = notify(tmp_path, found, sns_topic_arn=topic, webhook_url=url)
    assert retry.sent == ("a1", "a2", "a3")
    assert retry.already_sent == ()
    assert received() == []
    assert len(hook.posts) == 2
    assert [a["anomaly_id"] for a in hook.posts[1]["anomalies"]] == ["a1", "a2", "a3"]

    again = notify(tmp_path, found, sns_topic_arn=topic, webhook_url=url)
    assert (again.sent, again.already_sent) == ((), ("a1", "a2", "a3"))
    assert received() == []
    assert len(hook.posts) == 2


def test_failed_sns_still_posts_to_the_webhook_and_names_sns(tmp_path: Path, webhook):
    url, hook = webhook

    class Unreachable:
        def publish(self, **_):
            raise ConnectionError("Could not connect to the endpoint URL")

    with pytest.raises(NotifyError, match=r"^arn:aws:sns:eu-west-1:1:t: SNS Publish failed: Could"):
        notify(
            tmp_path,
            [anomaly("a1")],
            sns_topic_arn="arn:aws:sns:eu-west-1:1:t",
            webhook_url=url,
            sns_client=Unreachable(),
        )
    assert len(hook.posts) == 1
    assert set(load_sent(tmp_path)["a1"]) == {"webhook"}


def test_anomalies_sent_before_channels_were_recorded_are_not_sent_again(tmp_path: Path, webhook):
    url, hook = webhook
    (tmp_path / "anomalies").mkdir()
    (tmp_path / "anomalies" / "notified.json").write_text(
        '{"a1": {"sent_at": "2026-07-21T06:00:00+00:00", "channel": "sns"}}'
    )

    result = notify(tmp_path, [anomaly("a1"), anomaly("a2")], webhook_url=url)

    assert (result.sent, result.already_sent) == (("a2",), ("a1",))
    assert [a["anomaly_id"] for a in hook.posts[0]["anomalies"]] == ["a2"]


def test_webhook_text_escapes_slack_control_characters_in_the_data(tmp_path: Path, webhook):
    url, hook = webhook
    hostile = replace(
        anomaly("a1"),
        dimension_value="données-<!channel> <https://evil.example|click to fix>",
        root_cause=[{"dimension": "resource", "value": "i-1&<@U123>", "share": 1.0}],
    )

    notify(tmp_path, [hostile], webhook_url=url)

    (post,) = hook.posts
    assert post["text"].splitlines()[1] == (
        "- 2026-07-21..2026-07-21 spike in service "
        "données-&lt;!channel&gt; &lt;https://evil.example|click to fix&gt;: +120.00 USD"
        " over expected 80.00; top cause resource i-1&amp;&lt;@U123&gt;"
    )
    assert "<" not in post["text"] and ">" not in post["text"]
    # The machine-readable copy keeps the value as it is.
    assert post["anomalies"][0]["dimension_value"].endswith("click to fix>")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"webhook_url": "file:///etc/passwd"},
            "--webhook-url 'file:///etc/passwd': expected an http(s) URL",
        ),
        (
            {"sns_topic_arn": "cost-anomalies"},
            "--sns-topic-arn 'cost-anomalies': expected an SNS topic ARN",
        ),
    ],
)
def test_a_channel_that_is_not_a_url_or_arn_is_refused_before_anything_is_sent(
    tmp_path: Path, options: dict, message: str
):
    with pytest.raises(ConfigError) as raised:
        notify(tmp_path, [anomaly("a1")], **options)
    assert str(raised.value) == message
    assert load_sent(tmp_path) == {}
