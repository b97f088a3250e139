"""Publish new anomalies to an SNS topic or a Slack-style webhook, each anomaly once per channel.

What each channel got is remembered in ``warehouse/anomalies/notified.json`` (anomaly id ->
channel -> when it was sent), so a scheduled ``finops anomalies --notify`` sends only what is
new to each channel. An anomaly keeps its id while it goes on (the id is made of its currency,
measure, kind, dimension, value and first day), so a spike that lasts three days is sent once.

SNS gets one message per anomaly (the JSON of ``finops anomalies --format json``, with a short
subject), for subscribers that filter or forward. A webhook gets one POST per run with all new
anomalies, as Slack's incoming webhooks read it: ``{"text": ..., "anomalies": [...]}``.

Notes:
    A channel that fails does not stop the other: what each one delivered is recorded, then
    :class:`NotifyError` names the channels that failed, so the next run sends to those only
    and never repeats a notice to a channel that got it. SNS messages published before a
    failure count as delivered. A channel added later gets the anomalies it has not seen.
    Anomalies recorded before channels were (``{"sent_at", "channel"}``) count as sent to all.
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
from pipelines.errors import ConfigError, NotifyError

logger = logging.getLogger(__name__)

SNS = "sns"
WEBHOOK = "webhook"


@dataclass(frozen=True)
class NotifyResult:
    #: Delivered to at least one channel by this run.
    sent: tuple[str, ...]
    #: Every channel had them already.
    already_sent: tuple[str, ...]


def check_channels(sns_topic_arn: str | None, webhook_url: str | None) -> None:
    """Refuse a channel that cannot be one, as ``[anomalies.notify]`` in finops.toml does.

    Raises:
        NotifyError: neither channel is set.
        ConfigError: the topic is not an ARN, or the webhook is not an http(s) URL (urllib
            would read a file: URL, and Slack's webhooks are https).
    """
    if not sns_topic_arn and not webhook_url:
        raise NotifyError(
            "--notify: no channel (set [anomalies.notify] sns_topic_arn or webhook_url in "
            "finops.toml, or pass --sns-topic-arn / --webhook-url)"
        )
    if sns_topic_arn and not sns_topic_arn.startswith("arn:"):
        raise ConfigError(f"--sns-topic-arn {sns_topic_arn!r}: expected an SNS topic ARN")
    if webhook_url and not webhook_url.startswith(("https://", "http://")):
        raise ConfigError(f"--webhook-url {webhook_url!r}: expected an http(s) URL")


def notify(
    warehouse: Path,
    anomalies: Sequence[Anomaly],
    *,
    sns_topic_arn: str | None = None,
    webhook_url: str | None = None,
    sns_client: Any = None,
    now: datetime | None = None,
) -> NotifyResult:
    """Send each channel the anomalies it has not got; remember them in the warehouse.

    Raises:
        NotifyError: no channel, or a channel failed (after the others were tried and what
            was delivered was recorded).
        ConfigError: a channel that is not an SNS topic ARN or an http(s) URL.
    """
    check_channels(sns_topic_arn, webhook_url)
    channels = [name for name, to in ((SNS, sns_topic_arn), (WEBHOOK, webhook_url)) if to]
    state = load_sent(warehouse)
    pending = {
        channel: [anomaly for anomaly in anomalies if not _got(state, anomaly, channel)]
        for channel in channels
    }
    waiting = {anomaly.anomaly_id for unsent in pending.values() for anomaly in unsent}
    old = tuple(anomaly.anomaly_id for anomaly in anomalies if anomaly.anomaly_id not in waiting)
    logger.info(
        "%d anomalies to send (%s), %d sent before",
        len(waiting),
        ", ".join(f"{len(unsent)} to {channel}" for channel, unsent in pending.items()),
        len(old),
    )
    if not waiting:
        return NotifyResult((), old)

    stamp = (now or datetime.now(UTC)).isoformat()
    delivered: set[str] = set()
    failures: list[str] = []
    try:
        if sns_topic_arn and pending.get(SNS):
            published, failure = _publish(sns_client, sns_topic_arn, pending[SNS])
            _record(state, published, SNS, stamp, delivered)
            if failure:
                failures.append(failure)
        if webhook_url and pending.get(WEBHOOK):
            try:
                body = {"text": _text(pending[WEBHOOK]), "anomalies": as_json(pending[WEBHOOK])}
                _post(webhook_url, body)
            except NotifyError as error:
                failures.append(str(error))
            else:
                _record(state, pending[WEBHOOK], WEBHOOK, stamp, delivered)
    finally:
        # Written even when a channel failed: the retry must not repeat what was delivered.
        _save(warehouse, state)

    if failures:
        raise NotifyError("; ".join(failures))
    sent = tuple(anomaly.anomaly_id for anomaly in anomalies if anomaly.anomaly_id in delivered)
    return NotifyResult(sent, old)


def load_sent(warehouse: Path) -> dict[str, dict]:
    """The anomalies sent so far: id -> channel -> when it was sent."""
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


def _got(state: dict[str, dict], anomaly: Anomaly, channel: str) -> bool:
    entry = state.get(anomaly.anomaly_id)
    # {"sent_at", "channel"} is the record from before channels were kept apart; it then meant
    # "sent", to every channel the run had, so it counts as sent to all.
    return entry is not None and (channel in entry or "sent_at" in entry)


def _record(
    state: dict[str, dict],
    anomalies: Sequence[Anomaly],
    channel: str,
    stamp: str,
    delivered: set[str],
) -> None:
    for anomaly in anomalies:
        state.setdefault(anomaly.anomaly_id, {})[channel] = stamp
        delivered.add(anomaly.anomaly_id)


def _publish(
    client: Any, topic_arn: str, anomalies: Sequence[Anomaly]
) -> tuple[list[Anomaly], str | None]:
    """Publish one message per anomaly until one fails: those published, and the failure."""
    published: list[Anomaly] = []
    try:
        client = client if client is not None else _sns_client()
        for anomaly, payload in zip(anomalies, as_json(anomalies), strict=True):
            client.publish(
                TopicArn=topic_arn,
                Subject=_subject(anomaly)[:100],
                Message=json.dumps(payload),
            )
            published.append(anomaly)
    except Exception as error:  # botocore's ClientError, NoRegionError and connection errors
        return published, f"{topic_arn}: SNS Publish failed: {error}"
    return published, None


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
        because = (
            f"; top cause {_slack(cause['dimension'])} {_slack(cause['value'])}" if cause else ""
        )
        lines.append(
            f"- {anomaly.first_day}..{anomaly.last_day} {_slack(anomaly.kind)} in "
            f"{_slack(anomaly.dimension)} {_slack(anomaly.dimension_value)}: "
            f"+{anomaly.impact:,.2f} {_slack(anomaly.currency)}"
            f" over expected {anomaly.expected_cost:,.2f}{because}"
        )
    return "\n".join(lines)


def _slack(value: object) -> str:
    """A value as Slack text shows it literally.

    Slack reads ``<...>`` as a link or a mention (``<!channel>`` pings everyone), so a tag
    value or resource id could ping or disguise a link; it asks for these three escaped.
    """
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
