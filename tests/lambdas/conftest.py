"""Fixtures for the Lambdas: moto in-process, a configuration builder, a frozen clock."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import botocore.retries.bucket
import botocore.retries.standard
import pytest
from moto import mock_aws

from lambdas import config as config_module

REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's default account
# A Wednesday, so "now" is an ordinary working day unless a test moves it.
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch):
    """moto in-process for every AWS call of the test, in REGION, with no real credentials."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    # moto's thousand public AMIs come with snapshots "owned" by the test account: noise here.
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    with mock_aws():
        yield


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries count attempts, not seconds (backoff, and adaptive mode's rate limiter)."""
    monkeypatch.setattr(
        botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda self, context: 0
    )
    monkeypatch.setattr(botocore.retries.bucket.TokenBucket, "acquire", lambda self, *a, **k: True)


def make_config(**settings: Any) -> config_module.Config:
    """A configuration in REGION, dry-run unless ``apply=True``; settings as in the TOML."""
    raw: dict[str, Any] = {"regions": [REGION], **settings}
    return config_module.parse(json.loads(json.dumps(raw)), "test config")


def audit_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def decisions(stream: io.StringIO, resource_id: str) -> list[dict[str, Any]]:
    return [line for line in audit_lines(stream) if line.get("resource_id") == resource_id]


def ec2():
    return boto3.client("ec2", region_name=REGION)


def tags_of(resource_id: str) -> dict[str, str]:
    reply = ec2().describe_tags(Filters=[{"Name": "resource-id", "Values": [resource_id]}])
    return {tag["Key"]: tag["Value"] for tag in reply["Tags"]}


def days(n: float) -> timedelta:
    return timedelta(days=n)


def instance(tags: dict[str, str] | None = None) -> str:
    tag_list = [{"Key": k, "Value": v} for k, v in (tags or {}).items()]
    spec = [{"ResourceType": "instance", "Tags": tag_list}] if tag_list else []
    reply = ec2().run_instances(
        ImageId="ami-12345678",
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.micro",
        TagSpecifications=spec,
    )
    return reply["Instances"][0]["InstanceId"]


def state_of(instance_id: str) -> str:
    reply = ec2().describe_instances(InstanceIds=[instance_id])
    return reply["Reservations"][0]["Instances"][0]["State"]["Name"]


def volume(tags: dict[str, str] | None = None) -> str:
    tag_list = [{"Key": k, "Value": v} for k, v in (tags or {}).items()]
    spec = [{"ResourceType": "volume", "Tags": tag_list}] if tag_list else []
    reply = ec2().create_volume(
        AvailabilityZone=f"{REGION}a", Size=100, VolumeType="gp2", TagSpecifications=spec
    )
    return reply["VolumeId"]


def volume_ids() -> set[str]:
    return {v["VolumeId"] for v in ec2().describe_volumes()["Volumes"]}


class Faults:
    """Answers chosen AWS calls with an error before they reach moto; counts every attempt."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self._pending: dict[str, list[tuple[int, str, str | None]]] = {}

    def fail(
        self,
        operation: str,
        code: str,
        *,
        times: int = 1,
        status: int = 400,
        when: str | None = None,
    ) -> None:
        """The next ``times`` calls of ``operation`` (whose body contains ``when``) fail."""
        self._pending.setdefault(operation, []).extend([(status, code, when)] * times)

    def session(self) -> boto3.Session:
        session = boto3.Session(region_name=REGION)
        session.events.register_first("before-send", self._before_send)
        return session

    def count(self, operation: str) -> int:
        return self.calls.count(operation)

    def _before_send(self, request, **kwargs):  # noqa: ANN001, ANN003, ANN202
        operation = kwargs["event_name"].rsplit(".", 1)[-1]
        self.calls.append(operation)
        body = request.body.decode() if isinstance(request.body, bytes) else str(request.body or "")
        pending = self._pending.get(operation, [])
        for position, (status, code, when) in enumerate(pending):
            if when is None or when in body:
                pending.pop(position)
                return _error_response(request.url, status, code)
        return None


def _error_response(url: str, status: int, code: str):  # noqa: ANN202
    from botocore.awsrequest import AWSResponse

    body = (
        f"<Response><Errors><Error><Code>{code}</Code><Message>injected {code}</Message>"
        "</Error></Errors><RequestID>test</RequestID></Response>"
    ).encode()

    class Raw:
        def stream(self, **_kwargs):  # noqa: ANN003, ANN202
            yield body

    return AWSResponse(url, status, {"Content-Type": "text/xml"}, Raw())
