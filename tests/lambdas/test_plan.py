"""The plan executor on moto: live re-checks, mark-then-act, schedule tags, the execution log."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest

from lambdas.errors import ConfigError
from lambdas.plan import parse_plan
from lambdas.runs import run_plan
from tests.lambdas.action_plans import action, schema_checked_plan
from tests.lambdas.conftest import (
    REGION,
    days,
    ec2,
    instance,
    make_config,
    tags_of,
    volume,
    volume_ids,
)

GRACE_0 = {
    "unattached_volumes": {"grace_days": 0, "min_age_days": 0},
    "elastic_ips": {"grace_days": 0},
}


def write_plan(tmp_path: Path, actions: list[dict]) -> str:
    path = tmp_path / "action_plan.json"
    path.write_text(json.dumps(schema_checked_plan(actions)))
    return str(path)


def execute(tmp_path, plan_path, now, apply=True, **settings):  # noqa: ANN001, ANN003, ANN201
    cfg = make_config(apply=apply, execution_log=str(tmp_path / "executions"), **settings)
    stream = io.StringIO()
    report = run_plan(cfg, plan_path, now, stream=stream)
    return report, {line["action_id"]: line for line in report.lines}


def now_plus(n: float) -> datetime:
    return datetime.now(UTC) + days(n)


def test_idle_volume_is_marked_then_deleted_and_the_log_says_so(aws, tmp_path):
    vol = volume()
    plan = write_plan(tmp_path, [action("delete_volume", "ec2:volume", vol, saving=8.0)])

    first, lines = execute(tmp_path, plan, now_plus(0), cleanup=GRACE_0)
    assert lines[f"idle:{vol}"]["step"] == "mark"
    assert lines[f"idle:{vol}"]["outcome"] == "applied"
    assert vol in volume_ids()

    second, lines = execute(tmp_path, plan, now_plus(0.1), cleanup=GRACE_0)
    line = lines[f"idle:{vol}"]
    assert vol not in volume_ids()
    assert (line["step"], line["outcome"], line["action"]) == ("act", "applied", "delete_volume")
    assert line["estimated_monthly_saving"] == 8.0
    written = (tmp_path / "executions" / f"{second.run.run_id}.jsonl").read_text().splitlines()
    assert [json.loads(text) for text in written] == second.lines


def test_a_resource_protected_after_marking_is_left_untouched(aws, tmp_path):
    vol = volume()
    plan = write_plan(tmp_path, [action("delete_volume", "ec2:volume", vol)])
    execute(tmp_path, plan, now_plus(0), cleanup=GRACE_0)
    ec2().create_tags(Resources=[vol], Tags=[{"Key": "finops:protect", "Value": "keep"}])

    report, lines = execute(tmp_path, plan, now_plus(0.1), cleanup=GRACE_0)

    assert vol in volume_ids()
    # Protected: not even the mark is removed (the resource is untouched).
    assert lines[f"idle:{vol}"]["outcome"] == "skipped"
    assert lines[f"idle:{vol}"]["reason"] == "protected by tag finops:protect"


def test_a_plan_condition_that_no_longer_holds_removes_the_mark(aws, tmp_path):
    vol = volume()
    blocking = {"not_tagged": ["finops:protect", "keep-until-audit"]}
    plan = write_plan(tmp_path, [action("delete_volume", "ec2:volume", vol, conditions=blocking)])
    execute(tmp_path, plan, now_plus(0), cleanup=GRACE_0)
    assert "finops:marked-for" in tags_of(vol)
    ec2().create_tags(Resources=[vol], Tags=[{"Key": "keep-until-audit", "Value": "2027"}])

    report, lines = execute(tmp_path, plan, now_plus(0.1), cleanup=GRACE_0)

    line = lines[f"idle:{vol}"]
    assert (line["step"], line["outcome"]) == ("unmark", "applied")
    assert line["reason"] == "no longer qualifies: condition not_tagged: carries keep-until-audit"
    assert tags_of(vol) == {"keep-until-audit": "2027"}
    assert vol in volume_ids()


def test_attached_volume_no_longer_matches_the_plan(aws, tmp_path):
    vol = volume()
    ec2().attach_volume(VolumeId=vol, InstanceId=instance(), Device="/dev/sdf")
    plan = write_plan(tmp_path, [action("delete_volume", "ec2:volume", vol)])

    report, lines = execute(tmp_path, plan, now_plus(1), cleanup=GRACE_0)

    assert lines[f"idle:{vol}"]["reason"] == (
        "condition volume_state: is 'in-use', the plan expects 'available'"
    )
    assert tags_of(vol) == {}


def test_schedule_tag_is_applied_except_to_production(aws, tmp_path):
    dev = instance({"env": "dev"})
    prod = instance({"env": "prod"})
    params = {"tag_key": "finops:schedule", "tag_value": "office"}
    plan = write_plan(
        tmp_path,
        [
            action("apply_schedule_tag", "ec2:instance", dev, parameters=params),
            action("apply_schedule_tag", "ec2:instance", prod, parameters=params),
        ],
    )
    schedules = {"office": {"periods": [{"days": "mon-fri", "begin": "08:00", "end": "19:00"}]}}

    report, lines = execute(tmp_path, plan, now_plus(0), schedules=schedules)

    assert tags_of(dev)["finops:schedule"] == "office"
    assert "finops:schedule" not in tags_of(prod)
    assert lines[f"schedule:{prod}"]["reason"] == "condition env_not: env=prod"


def test_gp2_volume_becomes_gp3(aws, tmp_path):
    vol = volume()
    plan = write_plan(
        tmp_path,
        [
            action(
                "modify_volume_type",
                "ec2:volume",
                vol,
                parameters={"target_type": "gp3"},
                conditions={},
            )
        ],
    )

    report, lines = execute(tmp_path, plan, now_plus(0))

    assert ec2().describe_volumes(VolumeIds=[vol])["Volumes"][0]["VolumeType"] == "gp3"
    assert lines[f"gp3:{vol}"]["detail"] == f"changed {vol} from gp2 to gp3"


def test_review_and_unconfigured_accounts_change_nothing(aws, tmp_path):
    vol = volume()
    plan = write_plan(
        tmp_path,
        [
            action("review", "ec2:instance", "i-0123456789abcdef0"),
            action("delete_volume", "ec2:volume", vol, account_id="999999999999"),
        ],
    )

    report, lines = execute(tmp_path, plan, now_plus(1), cleanup=GRACE_0)

    assert lines["graviton:i-0123456789abcdef0"]["step"] == "none"
    assert lines[f"idle:{vol}"]["reason"] == "account 999999999999 is not configured"
    assert tags_of(vol) == {} and not report.run.failed


def test_executing_the_same_plan_again_is_idempotent(aws, tmp_path):
    address = ec2().allocate_address(Domain="vpc")["AllocationId"]
    plan = write_plan(tmp_path, [action("release_elastic_ip", "ec2:elastic-ip", address)])
    execute(tmp_path, plan, now_plus(0), cleanup=GRACE_0)
    execute(tmp_path, plan, now_plus(0.1), cleanup=GRACE_0)

    report, lines = execute(tmp_path, plan, now_plus(0.2), cleanup=GRACE_0)

    assert not report.run.failed
    assert lines[f"idle:{address}"]["outcome"] == "skipped"
    assert lines[f"idle:{address}"]["reason"].startswith("not found live")


def test_dry_run_plan_changes_nothing(aws, tmp_path):
    vol = volume()
    plan = write_plan(tmp_path, [action("delete_volume", "ec2:volume", vol)])
    report, lines = execute(tmp_path, plan, now_plus(0), apply=False, cleanup=GRACE_0)
    assert tags_of(vol) == {}
    assert lines[f"idle:{vol}"]["outcome"] == "dry_run" and lines[f"idle:{vol}"]["dry_run"]


def test_plan_read_from_s3(aws, tmp_path):
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="plans", CreateBucketConfiguration={"LocationConstraint": REGION})
    vol = volume()
    body = json.dumps(schema_checked_plan([action("delete_volume", "ec2:volume", vol)]))
    s3.put_object(Bucket="plans", Key="latest/action_plan.json", Body=body.encode())

    report, lines = execute(
        tmp_path, "s3://plans/latest/action_plan.json", now_plus(0), cleanup=GRACE_0
    )

    assert lines[f"idle:{vol}"]["step"] == "mark"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p.update(schema_version=2), "schema_version 2 (expected 1)"),
        (lambda p: p["actions"][0].pop("conditions"), "actions[1]: missing 'conditions'"),
        (lambda p: p["actions"][0].update(action="terminate"), "unknown action 'terminate'"),
        (lambda p: p["actions"][0]["resource"].pop("region"), "resource.region is missing"),
    ],
)
def test_a_bad_plan_is_refused_naming_the_action(change, message):  # noqa: ANN001
    plan = schema_checked_plan([action("delete_volume", "ec2:volume", "vol-1")])
    change(plan)
    with pytest.raises(ConfigError) as raised:
        parse_plan(plan, "plans/action_plan.json")
    assert str(raised.value).startswith("plans/action_plan.json")
    assert message in str(raised.value)


def test_min_idle_days_stands_in_for_the_minimum_age(aws, tmp_path):
    vol = volume()
    plan = write_plan(
        tmp_path, [action("delete_volume", "ec2:volume", vol, conditions={"min_idle_days": 30})]
    )

    report, lines = execute(tmp_path, plan, now_plus(2), cleanup=GRACE_0)

    assert lines[f"idle:{vol}"]["reason"] == "created 2 days ago, younger than 30 days"
    assert tags_of(vol) == {}
