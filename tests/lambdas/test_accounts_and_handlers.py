"""Multi-account and multi-region runs, the Lambda handlers, and the configuration's errors."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import boto3
import pytest

from lambdas import handlers
from lambdas.config import load, parse
from lambdas.errors import ConfigError, RunFailed
from lambdas.runs import run_cleanup
from tests.lambdas.conftest import REGION, days, decisions, make_config

OTHER_ACCOUNT = "111111111111"
OTHER_REGION = "us-east-1"


def assumed_ec2(region: str):  # noqa: ANN201
    sts = boto3.client("sts", region_name=REGION)
    credentials = sts.assume_role(
        RoleArn=f"arn:aws:iam::{OTHER_ACCOUNT}:role/finops-actions", RoleSessionName="setup"
    )["Credentials"]
    return boto3.client(
        "ec2",
        region_name=region,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def test_cleanup_reaches_every_region_of_an_assumed_account(aws):
    in_ireland = assumed_ec2(REGION).create_volume(AvailabilityZone=f"{REGION}a", Size=5)
    in_virginia = assumed_ec2(OTHER_REGION).create_volume(AvailabilityZone="us-east-1a", Size=5)
    home = boto3.client("ec2", region_name=REGION).create_volume(
        AvailabilityZone=f"{REGION}a", Size=5
    )
    cfg = make_config(
        apply=True,
        regions=[REGION, OTHER_REGION],
        accounts=[
            {
                "account_id": OTHER_ACCOUNT,
                "role_arn": f"arn:aws:iam::{OTHER_ACCOUNT}:role/finops-actions",
            }
        ],
        cleanup={"unattached_volumes": {"min_age_days": 0}},
    )
    stream = io.StringIO()

    run_cleanup(cfg, datetime.now(UTC) + days(1), stream=stream)

    for made, region in ((in_ireland, REGION), (in_virginia, OTHER_REGION)):
        (line,) = decisions(stream, made["VolumeId"])
        assert (line["account_id"], line["region"], line["action"]) == (
            OTHER_ACCOUNT,
            region,
            "mark",
        )
    assert decisions(stream, home["VolumeId"]) == []  # the home account is not configured


def test_handler_reads_the_configuration_once_and_reports(aws, monkeypatch):
    monkeypatch.setattr(handlers, "_CONFIG", None)
    monkeypatch.setenv("FINOPS_ACT_CONFIG", json.dumps({"regions": [REGION]}))

    summary = handlers.cleanup({}, None)
    monkeypatch.setenv("FINOPS_ACT_CONFIG", "{not json")  # read once: the change is not seen
    again = handlers.cleanup({}, None)

    assert summary["dry_run"] is True and summary["function"] == "cleanup"
    assert again["dry_run"] is True


def test_handler_raises_when_the_run_failed(aws, monkeypatch):
    # An audit bucket that does not exist: the run's lines are on stdout, but it must fail.
    config = {"regions": [REGION], "audit_log": "s3://no-such-audit-bucket/finops"}
    monkeypatch.setattr(handlers, "_CONFIG", parse(config))

    with pytest.raises(RunFailed) as raised:
        handlers.scheduler({}, None)

    assert "audit log not saved to s3://no-such-audit-bucket/finops: NoSuchBucket" in str(
        raised.value
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"aply": True}, "unknown setting 'aply'"),
        ({"apply": "yes"}, "apply must be true or false"),
        ({"accounts": [{"account_id": "12345"}]}, "accounts[1]: account_id '12345' is not"),
        ({"cleanup": {"old_volumes": {}}}, "cleanup.old_volumes: unknown clean-up kind"),
        ({"cleanup": {"elastic_ips": {"grace_days": -1}}}, "grace_days must be a whole number"),
        ({"blast_radius": {"cleanup": {"max_percent": 150}}}, "max_percent must be between"),
    ],
)
def test_bad_settings_are_refused_with_their_name(raw, message):  # noqa: ANN001
    with pytest.raises(ConfigError) as raised:
        parse(raw, "finops-act.toml")
    assert str(raised.value).startswith("finops-act.toml: ")
    assert message in str(raised.value)


def test_toml_configuration_file(tmp_path):
    path = tmp_path / "finops-act.toml"
    path.write_text(
        'apply = true\nregions = ["eu-west-1"]\n'
        '[schedules.office]\ntimezone = "Europe/Paris"\n'
        'periods = [{ days = "mon-fri", begin = "07:30", end = "20:00" }]\n'
        "[cleanup.elastic_ips]\ngrace_days = 2\n"
    )
    config = load(str(path))
    assert config.apply and config.regions == ("eu-west-1",)
    assert config.schedules["office"].timezone.key == "Europe/Paris"
    assert config.rule("elastic_ips").grace_days == 2
    assert config.rule("unattached_volumes").grace_days == 7  # the default
