"""Publish new anomalies to an SNS topic or a Slack-style webhook, each anomaly once.

The anomalies already sent are remembered in ``warehouse/anomalies/notified.json`` (anomaly id
-> when and where it was sent), so a scheduled ``finops anomalies --notify`` sends only what is
new. An anomaly keeps its id while it goes on (the id is made of its currency, measure, kind,
dimension, value and first day), so a spike that lasts three days is sent once.

SNS gets one message per anomaly (the JSON of ``finops anomalies --format json``, with a short
subject), for subscribers that filter or forward. A webhook gets one POST per run with all new
anomalies, as Slack's incoming webhooks read it: ``{"text": ..., "anomalies": [...]}``.

Notes:
    A failed publish raises :class:`NotifyError` and marks nothing sent for that channel, so the
    next run tries again; SNS messages published before the failure are marked sent.
    The webhook is posted with urllib (no extra dependency) with a 10 second time-out.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines.anomalies import FOLDER, NOTIFIED_FILE, Anomaly, as_json
from pipelines.errors import NotifyError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class NotifyResult:
    sent: tuple[str, ...]
    already_sent: tuple[str, ...]


def notify(
    warehouse: Path,
    anomalies: Sequence[Anomaly],
    *,
    sns_topic_arn: str | None = None,
    webhook_url: str | None = None,
    sns_client: Any = None,
    now: datetime | None = None,
) -> NotifyResult:
    """Send the anomalies not sent before; remember them in the warehouse."""
    if not sns_topic_arn and not webhook_url:
        raise NotifyError(
            "--notify: no channel (set [anomalies.notify] sns_topic_arn or webhook_url in "
            "finops.toml, or pass --sns-topic-arn / --webhook-url)"
        )
    state = load_sent(warehouse)
    new = [anomaly for anomaly in anomalies if anomaly.anomaly_id not in state]
    old = tuple(anomaly.anomaly_id for anomaly in anomalies if anomaly.anomaly_id in state)
    logger.info("%d new anomalies to send, %d sent before", len(new), len(old))
    if not new:
        return NotifyResult((), old)

    stamp = (now or datetime.now(UTC)).isoformat()
    sent: list[str] = []
    if sns_topic_arn:
        client = sns_client if sns_client is not None else _sns_client()
        for anomaly, payload in zip(new, as_json(new), strict=True):
            try:
                client.publish(
                    TopicArn=sns_topic_arn,
                    Subject=_subject(anomaly)[:100],
                    Message=json.dumps(payload),
                )
            except Exception as error:  # botocore's ClientError and connection errors
                _save(warehouse, state)
                raise NotifyError(f"{sns_topic_arn}: SNS Publish failed: {error}") from error
            state[anomaly.anomaly_id] = {"sent_at": stamp, "channel": "sns"}
            sent.append(anomaly.anomaly_id)
    if webhook_url:
        _post(webhook_url, {"text": _text(new), "anomalies": as_json(new)})
        for anomaly in new:
            state[anomaly.anomaly_id] = {"sent_at": stamp, "channel": "webhook"}
            if anomaly.anomaly_id not in sent:
                sent.append(anomaly.anomaly_id)
    _save(warehouse, state)
    return NotifyResult(tuple(sent), old)


def load_sent(warehouse: Path) -> dict[str, dict]:
    """The anomalies sent so far: id -> {sent_at, channel}."""
    path = warehouse / FOLDER / NOTIFIED_FILE
    if not path.is_file():
        return {}
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise NotifyError(f"{path}: cannot be read ({error}); expected the JSON it wrote") from None
    if not isinstance(state, dict):
        raise NotifyError(f"{path}: expected a JSON object of anomaly id -> sent")
    return state


def _save(warehouse: Path, state: dict[str, dict]) -> None:
    folder = warehouse / FOLDER
    folder.mkdir(exist_ok=True)
    temporary = folder / f".{NOTIFIED_FILE}.{uuid.uuid4().hex}"
    temporary.write_text(json.dumps(state, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(temporary, folder / NOTIFIED_FILE)


def _sns_client():
    import boto3

    return boto3.client("sns")


def _post(url: str, body: dict) -> None:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        raise NotifyError(f"{url}: webhook answered HTTP {error.code}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        raise NotifyError(f"{url}: webhook not reached ({error})") from None
    if not 200 <= status < 300:
        raise NotifyError(f"{url}: webhook answered HTTP {status}")


def _subject(anomaly: Anomaly) -> str:
    return (
        f"Cost {anomaly.kind}: {anomaly.dimension} {anomaly.dimension_value} "
        f"+{anomaly.impact:,.2f} {anomaly.currency}"
    )


def _text(anomalies: Sequence[Anomaly]) -> str:
    lines = [f"{len(anomalies)} new cost anomal{'y' if len(anomalies) == 1 else 'ies'}:"]
    for anomaly in anomalies:
        cause = anomaly.root_cause[0] if anomaly.root_cause else None
        because = f"; top cause {cause['dimension']} {cause['value']}" if cause else ""
        lines.append(
            f"- {anomaly.first_day}..{anomaly.last_day} {anomaly.kind} in {anomaly.dimension} "
            f"{anomaly.dimension_value}: +{anomaly.impact:,.2f} {anomaly.currency}"
            f" over expected {anomaly.expected_cost:,.2f}{because}"
        )
    return "\n".join(lines)
