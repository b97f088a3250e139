"""Multi-account and multi-region runs, the Lambda handlers, and the configuration's errors."""

from __future__ import annotations

import io
import json
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest

from lambdas import handlers
from lambdas.aws import Sessions
from lambdas.config import SETTINGS, Target, load, parse
from lambdas.errors import ConfigError, RunFailed
from lambdas.runs import run_cleanup
from tests.lambdas.action_plans import action, schema_checked_plan
from tests.lambdas.conftest import REGION, days, decisions, make_config

EXAMPLE = Path(__file__).resolve().parents[2] / "lambdas" / "finops-act.example.toml"

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


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"protect_tag": ""},
            "protect_tag: expected a tag key such as 'finops:protect', not ''",
        ),
        (
            {"schedule_tag": " "},
            "schedule_tag: expected a tag key such as 'finops:protect', not ' '",
        ),
        (
            {"production": {"tag_keys": []}},
            "production.tag_keys must name at least one (non-blank) value, not []",
        ),
        (
            {"production": {"values": []}},
            "production.values must name at least one (non-blank) value, not []",
        ),
        (
            {"production": {"values": [" "]}},
            "production.values must name at least one (non-blank) value, not [' ']",
        ),
        ({"plan": {"max_age_days": 0}}, "plan.max_age_days must be a whole number >= 1, not 0"),
        (
            {"schedules": {"office": {"periods": [{"begin": "08:00", "end": "08:00"}]}}},
            "schedules.office.periods[1]: begin and end are both 08:00, a period of no time"
            " (for a whole day use begin = '00:00', end = '24:00')",
        ),
    ],
)
def test_settings_that_would_turn_a_safety_rule_off_are_refused(raw, message):  # noqa: ANN001
    with pytest.raises(ConfigError) as raised:
        parse(raw, "finops-act.toml")
    assert str(raised.value) == f"finops-act.toml: {message}"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"schedules": {"office": {"periods": [{}], "production": "false"}}},
            "schedules.office: production must be true or false, not 'false'",
        ),
        (
            {"schedules": {"office": {"periods": [{}], "enforce": 1}}},
            "schedules.office: enforce must be true or false, not 1",
        ),
        (
            {"cleanup": {"elastic_ips": {"enabled": "no"}}},
            "cleanup.elastic_ips: enabled must be true or false, not 'no'",
        ),
        (
            {"cleanup": {"elastic_ips": {"production": "false"}}},
            "cleanup.elastic_ips: production must be true or false, not 'false'",
        ),
        (
            {"cleanup": {"elastic_ips": {"grace_days": True}}},
            "cleanup.elastic_ips: grace_days must be a whole number from 0 to 3650, not True",
        ),
        (
            {"cleanup": {"old_snapshots": {"min_age_days": 10**9}}},
            "cleanup.old_snapshots: min_age_days must be a whole number from 0 to 3650, "
            "not 1000000000",
        ),
        (
            {"blast_radius": {"cleanup": {"max_count": True}}},
            "blast_radius.cleanup: max_count must be a whole number >= 0, not True",
        ),
        (
            {"blast_radius": {"plan": {"min_population": -3}}},
            "blast_radius.plan: min_population must be a whole number >= 0, not -3",
        ),
        (
            {"blast_radius": {"plan": {"min_population": 2.5}}},
            "blast_radius.plan: min_population must be a whole number >= 0, not 2.5",
        ),
        (
            {"blast_radius": {"plan": {"max_percent": True}}},
            "blast_radius.plan: max_percent must be between 0 and 100, not True",
        ),
    ],
)
def test_booleans_and_numbers_must_be_of_their_toml_type(raw, message):  # noqa: ANN001
    with pytest.raises(ConfigError) as raised:
        parse(raw, "finops-act.toml")
    assert str(raised.value) == f"finops-act.toml: {message}"


def test_the_example_configuration_shows_every_setting():
    example = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    commented = {
        line.lstrip("# ").split(" ", 1)[0]
        for line in EXAMPLE.read_text(encoding="utf-8").splitlines()
        if line.startswith("# ") and " = " in line
    }
    config = load(str(EXAMPLE))

    assert set(example) | commented == SETTINGS
    assert (config.protect_tag, config.schedule_tag) == ("finops:protect", "finops:schedule")
    assert config.plan_max_age_days == 7
    assert set(example["plan"]) == {"location", "max_age_days"}
    assert set(example["cleanup"]["unattached_volumes"]) == {
        "enabled",
        "min_age_days",
        "grace_days",
        "production",
        "snapshot_retention_days",
    }


def test_plan_handler_decodes_the_object_key_of_an_s3_event(aws, monkeypatch, tmp_path):
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="plans", CreateBucketConfiguration={"LocationConstraint": REGION})
    plan = schema_checked_plan([action("review", "ec2:instance", "i-0123456789abcdef0")])
    s3.put_object(Bucket="plans", Key="p/action plan.json", Body=json.dumps(plan).encode())
    monkeypatch.setattr(handlers, "_CONFIG", make_config(execution_log=str(tmp_path)))
    # What S3 sends for the key "p/action plan.json": URL-encoded, a space as "+".
    event = {
        "Records": [{"s3": {"bucket": {"name": "plans"}, "object": {"key": "p/action+plan.json"}}}]
    }

    summary = handlers.plan(event, None)

    assert summary["outcomes"] == {"skipped": 1}
    lines = (tmp_path / f"{summary['run_id']}.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["action_id"] == "graviton:i-0123456789abcdef0"


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


def test_a_role_of_another_account_than_configured_stops_the_run(aws):
    home = boto3.client("ec2", region_name=REGION).create_volume(
        AvailabilityZone=f"{REGION}a", Size=5
    )["VolumeId"]
    role = f"arn:aws:iam::{OTHER_ACCOUNT}:role/finops-actions"
    cfg = make_config(
        apply=True,
        accounts=[{"account_id": "123456789012", "role_arn": role}],
        cleanup={"unattached_volumes": {"min_age_days": 0}},
    )

    with pytest.raises(ConfigError) as raised:
        run_cleanup(cfg, datetime.now(UTC) + days(1), stream=io.StringIO())

    assert str(raised.value) == (
        f"account 123456789012: role {role} reaches account {OTHER_ACCOUNT} instead; "
        "nothing is done in it"
    )
    tags = boto3.client("ec2", region_name=REGION).describe_volumes(VolumeIds=[home])
    assert tags["Volumes"][0].get("Tags", []) == []


def test_aws_region_alone_gives_the_session_its_region(aws, monkeypatch):
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    # Not us-east-1: that is also what a session without any region falls back to.
    monkeypatch.setenv("AWS_REGION", "eu-central-1")

    sessions = Sessions(parse({}, "finops-act.toml"))

    assert sessions.regions() == ("eu-central-1",)
    assert sessions.session(Target()) == ("123456789012", sessions.base)


def test_without_any_region_setting_the_first_configured_region_is_used(aws, monkeypatch):
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION")

    sessions = Sessions(make_config(regions=[OTHER_REGION, REGION]))

    assert sessions.base.region_name == OTHER_REGION
    assert sessions.session(Target())[0] == "123456789012"
