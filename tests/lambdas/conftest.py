"""Fixtures for the Lambdas: moto in-process, a configuration builder, a frozen clock."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
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
    with mock_aws():
        yield


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries count attempts, not seconds."""
    monkeypatch.setattr(
        botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda self, context: 0
    )


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
