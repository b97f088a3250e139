"""The plan executor on moto: live re-checks, mark-then-act, schedule tags, the execution log."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest

from lambdas.aws import Sessions
from lambdas.errors import ConfigError
from lambdas.plan import parse_plan
from lambdas.runs import run_plan
from tests.lambdas.action_plans import action, schema_checked_plan
from tests.lambdas.conftest import (
    ACCOUNT,
    REGION,
    days,
    decisions,
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


def at(path: str, problem: str) -> str:
    """The refusal of a problem at ``path`` within the plan's first action."""
    return f"plans/action_plan.json: $.actions[0]{path} (action idle:vol-1): {problem}"


def _conditions(plan: dict) -> dict:
    return plan["actions"][0]["conditions"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda p: p.update(schema_version=2),
            "plans/action_plan.json: $.schema_version: 2 (expected 1)",
        ),
        (
            lambda p: p.update(actions=[1]),
            "plans/action_plan.json: $.actions[0]: 1 is not of type 'object'",
        ),
        (
            lambda p: p["actions"][0].pop("conditions"),
            at("", "'conditions' is a required property"),
        ),
        (
            lambda p: p["actions"][0].update(action="terminate"),
            at(
                ".action",
                "'terminate' is not one of ['apply_schedule_tag', 'release_elastic_ip',"
                " 'delete_volume', 'delete_snapshot', 'delete_network_interface',"
                " 'delete_load_balancer', 'delete_nat_gateway', 'modify_volume_type', 'review']",
            ),
        ),
        (
            lambda p: p["actions"][0]["resource"].pop("region"),
            at(".resource", "'region' is a required property"),
        ),
        (
            lambda p: p["actions"][0].update(resource="vol-1"),
            at(".resource", "'vol-1' is not of type 'object'"),
        ),
        (
            lambda p: p["actions"][0]["resource"].update(account_id="12345"),
            at(".resource.account_id", "'12345' does not match '^[0-9]{12}$'"),
        ),
        (
            lambda p: p["actions"][0].update(estimated_monthly_saving="abc"),
            at(".estimated_monthly_saving", "'abc' is not of type 'number'"),
        ),
        (
            lambda p: p["actions"][0].update(estimated_monthly_saving=-5),
            at(".estimated_monthly_saving", "-5 is less than the minimum of 0"),
        ),
        (
            lambda p: p["actions"][0].update(parameters=[1, 2]),
            at(".parameters", "[1, 2] is not of type 'object'"),
        ),
        (
            lambda p: p["actions"][0].update(parameters={"force": True}),
            at(".parameters", "{'force': True} is expected to be empty"),
        ),
        (
            lambda p: _conditions(p).update(min_idle_days="ten"),
            at(".conditions.min_idle_days", "'ten' is not of type 'integer'"),
        ),
        (
            lambda p: _conditions(p).update(not_tagged="finops:protect"),
            at(".conditions.not_tagged", "'finops:protect' is not of type 'array'"),
        ),
        (
            lambda p: _conditions(p).update(tagged=["x"]),
            at(".conditions", "Additional properties are not allowed ('tagged' was unexpected)"),
        ),
        (
            lambda p: p["actions"][0].update(note="trust me"),
            at("", "Additional properties are not allowed ('note' was unexpected)"),
        ),
        (
            lambda p: p.update(generated_at="yesterday"),
            "plans/action_plan.json: $.generated_at: 'yesterday' is not a UTC date and time"
            " (expected ISO 8601 such as 2026-12-01T06:00:00Z)",
        ),
    ],
)
def test_a_bad_plan_is_refused_naming_the_json_path(change, message):  # noqa: ANN001
    plan = schema_checked_plan([action("delete_volume", "ec2:volume", "vol-1")])
    change(plan)
    with pytest.raises(ConfigError) as raised:
        parse_plan(plan, "plans/action_plan.json")
    assert str(raised.value) == message


@pytest.mark.parametrize("target", ["io2", "banana"])
def test_a_volume_type_other_than_gp3_is_refused(target):  # noqa: ANN001
    gp3 = action("modify_volume_type", "ec2:volume", "vol-1", parameters={"target_type": "gp3"})
    plan = schema_checked_plan([gp3])
    plan["actions"][0]["parameters"]["target_type"] = target
    with pytest.raises(ConfigError) as raised:
        parse_plan(plan, "plan.json")
    assert str(raised.value) == (
        f"plan.json: $.actions[0].parameters.target_type (action gp3:vol-1): {target!r} is not"
        " one of ['gp3']"
    )


def test_an_invalid_plan_changes_nothing_at_all(aws, tmp_path):
    vol = volume()
    good = action("delete_volume", "ec2:volume", vol)
    bad = action("delete_volume", "ec2:volume", "vol-2", conditions={"min_idle_days": "ten"})
    path = tmp_path / "action_plan.json"
    path.write_text(json.dumps({**schema_checked_plan([good]), "actions": [good, bad]}))

    with pytest.raises(ConfigError, match=r"\$\.actions\[1\]\.conditions\.min_idle_days"):
        execute(tmp_path, str(path), now_plus(1), cleanup=GRACE_0)

    assert tags_of(vol) == {} and vol in volume_ids()
    assert not (tmp_path / "executions").exists()


def test_an_action_in_a_region_not_configured_is_skipped(aws, tmp_path):
    elsewhere = "us-east-1"
    east = boto3.client("ec2", region_name=elsewhere)
    vol = east.create_volume(AvailabilityZone=f"{elsewhere}a", Size=5)["VolumeId"]
    plan = write_plan(tmp_path, [action("delete_volume", "ec2:volume", vol, region=elsewhere)])
    stream = io.StringIO()
    cfg = make_config(apply=True, cleanup=GRACE_0)

    report = run_plan(cfg, plan, now_plus(1), stream=stream)

    reason = f"region {elsewhere} is not configured (regions: {REGION})"
    (line,) = report.lines
    assert (line["step"], line["outcome"], line["reason"]) == ("none", "skipped", reason)
    (audited,) = decisions(stream, vol)
    assert (audited["outcome"], audited["reason"]) == ("skipped", reason)
    assert east.describe_volumes(VolumeIds=[vol])["Volumes"][0].get("Tags", []) == []


def test_sessions_give_no_scope_outside_the_configured_regions(aws):
    sessions = Sessions(make_config())
    assert sessions.scope(ACCOUNT, REGION) is not None
    assert sessions.scope(ACCOUNT, "us-east-1") is None
    unset = Sessions(make_config(regions=[]), boto3.Session(region_name="eu-central-1"))
    assert unset.regions() == ("eu-central-1",)
    assert unset.scope(ACCOUNT, REGION) is None


def test_a_schedule_tag_plan_with_another_tag_key_is_refused(aws, tmp_path):
    vm = instance({"Name": "billing-api"})
    name_tag = {"tag_key": "Name", "tag_value": "office"}
    plan = write_plan(
        tmp_path, [action("apply_schedule_tag", "ec2:instance", vm, parameters=name_tag)]
    )
    schedules = {"office": {"periods": [{"days": "mon-fri", "begin": "08:00", "end": "19:00"}]}}

    with pytest.raises(ConfigError) as raised:
        execute(tmp_path, plan, now_plus(0), schedules=schedules)

    assert str(raised.value) == (
        f"{plan}: $.actions[0].parameters.tag_key: 'Name' is not the configured schedule_tag"
        " 'finops:schedule'"
    )
    assert tags_of(vm) == {"Name": "billing-api"}


def test_a_stale_plan_is_refused_with_its_age_and_the_setting(aws, tmp_path):
    vol = volume()
    now = datetime.now(UTC).replace(microsecond=0)
    generated = now - days(12.5)
    path = tmp_path / "action_plan.json"
    plan = schema_checked_plan([action("delete_volume", "ec2:volume", vol)], generated)
    path.write_text(json.dumps(plan))

    with pytest.raises(ConfigError) as raised:
        execute(tmp_path, str(path), now, cleanup=GRACE_0)

    assert str(raised.value) == (
        f"{path}: the plan was generated at {generated:%Y-%m-%dT%H:%M:%SZ}, 12.5 days before"
        " this run; older than [plan] max_age_days = 7 (run finops recommend again)"
    )
    assert tags_of(vol) == {}
    # A longer limit, set on purpose, lets it through.
    report, lines = execute(tmp_path, str(path), now, cleanup=GRACE_0, plan={"max_age_days": 14})
    assert lines[f"idle:{vol}"]["step"] == "mark"


def test_a_plan_from_the_future_is_refused(aws, tmp_path):
    path = tmp_path / "action_plan.json"
    generated = datetime(2026, 12, 3, 6, 0, tzinfo=UTC)
    path.write_text(json.dumps(schema_checked_plan([], generated)))

    with pytest.raises(ConfigError) as raised:
        execute(tmp_path, str(path), datetime(2026, 12, 2, 18, 0, tzinfo=UTC))

    assert str(raised.value) == (
        f"{path}: the plan was generated at 2026-12-03T06:00:00Z, after the time this run"
        " evaluates at (2026-12-02T18:00:00Z)"
    )


def test_only_gp2_volumes_are_changed_to_gp3(aws, tmp_path):
    vol = ec2().create_volume(AvailabilityZone=f"{REGION}a", Size=100, VolumeType="io1", Iops=500)
    gp3 = {"target_type": "gp3"}
    plan = write_plan(
        tmp_path, [action("modify_volume_type", "ec2:volume", vol["VolumeId"], parameters=gp3)]
    )

    report, lines = execute(tmp_path, plan, now_plus(0))

    line = lines[f"gp3:{vol['VolumeId']}"]
    assert (line["outcome"], line["reason"]) == (
        "skipped",
        "io1 to gp3 is not made (only gp2 to gp3)",
    )
    live = ec2().describe_volumes(VolumeIds=[vol["VolumeId"]])["Volumes"][0]
    assert live["VolumeType"] == "io1"


def test_min_idle_days_stands_in_for_the_minimum_age(aws, tmp_path):
    vol = volume()
    plan = write_plan(
        tmp_path, [action("delete_volume", "ec2:volume", vol, conditions={"min_idle_days": 30})]
    )

    report, lines = execute(tmp_path, plan, now_plus(2), cleanup=GRACE_0)

    assert lines[f"idle:{vol}"]["reason"] == "created 2 days ago, younger than 30 days"
    assert tags_of(vol) == {}


def test_a_folder_given_as_the_plan_is_refused_by_name(tmp_path):
    with pytest.raises(ConfigError) as raised:
        run_plan(make_config(), str(tmp_path), now_plus(0))
    assert str(raised.value) == f"{tmp_path}: is a folder (expected a file)"


def test_an_account_id_the_credentials_do_not_reach_is_skipped(aws, tmp_path):
    vol = volume()
    gp3 = action(
        "modify_volume_type",
        "ec2:volume",
        vol,
        account_id="111122223333",
        parameters={"target_type": "gp3"},
    )
    plan = write_plan(tmp_path, [gp3])

    report, lines = execute(tmp_path, plan, now_plus(0), accounts=[{"account_id": "111122223333"}])

    assert lines[f"gp3:{vol}"]["outcome"] == "skipped"
    assert lines[f"gp3:{vol}"]["reason"] == (
        f"account 111122223333: the credentials reach account {ACCOUNT} instead; "
        "nothing is done in it"
    )
    assert ec2().describe_volumes(VolumeIds=[vol])["Volumes"][0]["VolumeType"] == "gp2"


def _schedule(resource_id: str, value: str) -> dict:
    tag = {"tag_key": "finops:schedule", "tag_value": value}
    return action("apply_schedule_tag", "ec2:instance", resource_id, parameters=tag)


@pytest.mark.parametrize(
    ("actions", "message"),
    [
        (
            [_schedule("i-1", "office"), _schedule("i-1", "nightly")],
            "plan.json: $.actions[1].id: 'schedule:i-1' is the id of $.actions[0] as well "
            "(expected unique action ids)",
        ),
        (
            [
                _schedule("i-1", "office"),
                {**_schedule("i-1", "nightly"), "id": "schedule:i-1:again"},
            ],
            "plan.json: $.actions[1] (action schedule:i-1:again): i-1 is changed by "
            "$.actions[0] (action schedule:i-1) already (expected one changing action per "
            "resource)",
        ),
        (
            [
                action("delete_volume", "ec2:volume", "vol-1"),
                action(
                    "modify_volume_type", "ec2:volume", "vol-1", parameters={"target_type": "gp3"}
                ),
            ],
            "plan.json: $.actions[1] (action gp3:vol-1): vol-1 is changed by $.actions[0] "
            "(action idle:vol-1) already (expected one changing action per resource)",
        ),
        (
            [
                action(
                    "modify_volume_type", "ec2:instance", "i-1", parameters={"target_type": "gp3"}
                )
            ],
            "plan.json: $.actions[0].resource.type (action gp3:i-1): modify_volume_type does "
            "not act on 'ec2:instance' (expected one of ['ec2:volume'])",
        ),
        (
            [action("delete_volume", "ec2:snapshot", "snap-1")],
            "plan.json: $.actions[0].resource.type (action idle:snap-1): delete_volume does "
            "not act on 'ec2:snapshot' (expected one of ['ec2:volume'])",
        ),
    ],
)
def test_duplicate_and_misfit_actions_refuse_the_plan(actions, message):  # noqa: ANN001
    with pytest.raises(ConfigError) as raised:
        parse_plan(schema_checked_plan(actions), "plan.json")
    assert str(raised.value) == message


def test_a_review_of_a_resource_the_plan_changes_is_allowed(aws, tmp_path):
    vol = volume()
    gp3 = action("modify_volume_type", "ec2:volume", vol, parameters={"target_type": "gp3"})
    plan = write_plan(tmp_path, [gp3, action("review", "ec2:volume", vol)])

    report, lines = execute(tmp_path, plan, now_plus(0))

    assert lines[f"gp3:{vol}"]["outcome"] == "applied"
    assert lines[f"graviton:{vol}"]["step"] == "none"


def test_two_schedules_for_one_instance_change_nothing(aws, tmp_path):
    vm = instance()
    first = _schedule(vm, "office")
    second = {**_schedule(vm, "nightly"), "id": "schedule:again"}
    plan = write_plan(tmp_path, [first, second])

    with pytest.raises(ConfigError, match="expected one changing action per resource"):
        execute(tmp_path, plan, now_plus(0), schedules=OFFICE_AND_NIGHTLY)

    assert tags_of(vm) == {}


OFFICE_AND_NIGHTLY = {
    "office": {"periods": [{"days": "mon-fri", "begin": "08:00", "end": "19:00"}]},
    "nightly": {"periods": [{"days": "daily", "begin": "01:00", "end": "05:00"}]},
}


def test_reviews_do_not_pad_the_population_of_max_percent(aws, tmp_path):
    volumes = [volume(), volume()]
    gp3 = {"target_type": "gp3"}
    plan = write_plan(
        tmp_path,
        [action("modify_volume_type", "ec2:volume", v, parameters=gp3) for v in volumes]
        + [action("review", "ec2:volume", v) for v in volumes],
    )
    limits = {"plan": {"max_percent": 50, "min_population": 1}}

    report, lines = execute(tmp_path, plan, now_plus(0), blast_radius=limits)

    assert report.run.problems == ["blast radius: 2 of 2 ec2:volume (100%) exceed max_percent 50"]
    for v in volumes:
        assert lines[f"gp3:{v}"]["outcome"] == "skipped"
        assert ec2().describe_volumes(VolumeIds=[v])["Volumes"][0]["VolumeType"] == "gp2"


@pytest.mark.parametrize(
    ("token", "shown"),
    [
        ("NaN", "NaN"),
        ("Infinity", "Infinity"),
        ("-Infinity", "-Infinity"),
        ("1e999", "1e999"),
        ("9" * 400, "9" * 17 + "..."),
    ],
)
def test_a_plan_with_nan_or_infinity_is_refused(aws, tmp_path, token, shown):  # noqa: ANN001
    vol = volume()
    text = json.dumps(schema_checked_plan([action("delete_volume", "ec2:volume", vol)]))
    path = tmp_path / "action_plan.json"
    path.write_text(
        text.replace('"estimated_monthly_saving": 10.0', f'"estimated_monthly_saving": {token}')
    )

    with pytest.raises(ConfigError) as raised:
        execute(tmp_path, str(path), now_plus(0), cleanup=GRACE_0)

    assert str(raised.value) == f"{path}: {shown} is not a finite number (expected e.g. 12.5)"
    assert tags_of(vol) == {} and not (tmp_path / "executions").exists()
