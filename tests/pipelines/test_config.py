"""load_config: finops.toml merged over the seed defaults; bad files name the file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.config import Config, fold_tag_key, load_config
from pipelines.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "finops.toml.example"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "finops.toml"
    path.write_text(text)
    return path


def aliases(config: Config, dimension: str) -> tuple[tuple[str, ...], dict[str, str]]:
    found = config.dimension(dimension)
    return found.key_aliases, dict(found.value_aliases)


def test_defaults_come_from_the_seeds():
    config = Config()
    assert [dimension.name for dimension in config.tag_dimensions] == ["team", "env"]
    assert aliases(config, "team") == (("team", "ownerteam", "owner"), {})
    assert aliases(config, "env") == (
        ("env", "environment", "stage"),
        {"prd": "prod", "production": "prod", "development": "dev", "stg": "staging"},
    )


def test_no_file_gives_the_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    assert load_config(None) == Config()


def test_default_file_in_the_working_directory_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    write(tmp_path, '[tags.team]\nkeys = ["squad"]\n')
    monkeypatch.chdir(tmp_path)
    config = load_config(None)
    assert config.source == Path("finops.toml")
    assert aliases(config, "team") == (("squad",), {})


def test_named_file_that_is_missing_is_a_config_error(tmp_path: Path):
    with pytest.raises(ConfigError, match="nope.toml: no such configuration file"):
        load_config(tmp_path / "nope.toml")


def test_dev_null_gives_the_defaults():
    # Named explicitly and empty: no setting changed (it is not a regular file).
    config = load_config(Path("/dev/null"))
    assert aliases(config, "team") == aliases(Config(), "team")
    assert config.source == Path("/dev/null")


def test_keys_replace_the_default_list_folded_and_in_order(tmp_path: Path):
    path = write(tmp_path, '[tags.team]\nkeys = ["user:Squad", "Owner-Team", "squad", "team"]\n')
    assert aliases(load_config(path), "team") == (("squad", "ownerteam", "team"), {})


def test_values_are_added_to_the_default_aliases(tmp_path: Path):
    path = write(tmp_path, '[tags.env]\nvalues = { " QA " = "Test", prd = "production" }\n')
    keys, values = aliases(load_config(path), "env")
    assert keys == ("env", "environment", "stage")
    assert values == {
        "prd": "production",
        "production": "prod",
        "development": "dev",
        "stg": "staging",
        "qa": "test",
    }


def test_new_dimension_is_added_after_the_defaults(tmp_path: Path):
    path = write(
        tmp_path, '[tags.cost_center]\nkeys = ["CostCenter"]\nvalues = { cc1 = "finance" }\n'
    )
    config = load_config(path)
    assert [dimension.name for dimension in config.tag_dimensions] == ["team", "env", "cost_center"]
    assert config.tag_key_alias_rows()[-1] == ("cost_center", "costcenter", 1)
    assert config.tag_value_alias_rows()[-1] == ("cost_center", "cc1", "finance")


def test_example_file_loads_and_restates_the_defaults():
    config = load_config(EXAMPLE)
    assert config.tag_dimensions == Config().tag_dimensions


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[tag.team]\n", r"finops.toml: tag: unknown option .*did you mean 'tags'\?"),
        ('[tags.team]\nkey = ["a"]\n', r"finops.toml: tags.team.key: unknown option .*'keys'"),
        ('[tags.team]\nkeys = "team"\n', r"tags.team.keys: expected a non-empty list"),
        ("[tags.team]\nkeys = []\n", r"tags.team.keys: expected a non-empty list"),
        ('[tags.team]\nkeys = ["::"]\n', r"tags.team.keys: bad tag key '::'"),
        ("[tags.env]\nvalues = { prd = 1 }\n", r"tags.env.values.prd: bad canonical value 1"),
        ('[tags.env]\nvalues = ["prd"]\n', r"tags.env.values: expected a table"),
        ('[tags.cost_center]\nvalues = { a = "b" }\n', r"tags.cost_center.keys: missing"),
        ('[tags.Cost-Center]\nkeys = ["cc"]\n', r"tags.Cost-Center: bad dimension name"),
        ('tags = "team"\n', r"finops.toml: tags: expected a table"),
        ("[tags.team\n", r"finops.toml: not valid TOML"),
    ],
)
def test_bad_file_is_a_config_error_naming_file_and_key(tmp_path: Path, text: str, message: str):
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text))


@pytest.mark.parametrize(
    ("key", "folded"),
    [
        ("user:Team", "team"),
        ("user_team", "team"),
        ("Team", "team"),
        ("user:owner_team", "ownerteam"),
        ("user_owner_team", "ownerteam"),
        ("User:Cost Center", "costcenter"),
        ("aws:createdBy", "awscreatedby"),
        ("aws_created_by", "awscreatedby"),
        ("username", "username"),
    ],
)
def test_fold_tag_key(key: str, folded: str):
    assert fold_tag_key(key) == folded


def test_named_path_that_is_a_directory_says_so(tmp_path: Path):
    with pytest.raises(ConfigError, match="is a directory") as raised:
        load_config(tmp_path)
    assert str(raised.value) == (
        f"{tmp_path}: is a directory (expected a TOML file such as finops.toml)"
    )


def test_recommendation_and_carbon_parameters_override_the_seeds(tmp_path):
    from pipelines.config import load_config

    path = tmp_path / "finops.toml"
    path.write_text("[recommendations]\nlookback_days = 14\n\n[carbon]\ncpu_utilization = 0.3\n")

    config = load_config(path)

    assert dict(config.parameters["recommendation_parameters"]) == {"lookback_days": 14.0}
    assert dict(config.parameters["carbon_parameters"]) == {"cpu_utilization": 0.3}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[recommendations]\nlookback_dayz = 14\n", "did you mean 'lookback_days'"),
        ("[carbon]\ncpu_utilization = 'high'\n", "carbon.cpu_utilization: 'high' is not a number"),
        ("recommendations = 3\n", "recommendations: expected a table"),
    ],
)
def test_bad_parameters_name_the_key(tmp_path, text, message):
    from pipelines.config import load_config

    path = tmp_path / "finops.toml"
    path.write_text(text)

    with pytest.raises(ConfigError, match=message):
        load_config(path)


@pytest.mark.parametrize(
    ("section", "key", "value", "expected"),
    [
        ("carbon", "cpu_utilization", "-2", "0..1"),
        ("recommendations", "schedule_start_hour", "25", "0..23"),
        ("recommendations", "schedule_end_hour", "0", "1..24"),
        ("recommendations", "hours_per_month", "8760", "672..744"),
        ("recommendations", "schedule_utc_offset_hours", "-13", "-12..14"),
        ("recommendations", "min_monthly_saving", "-1.5", "0 or more"),
        ("recommendations", "lookback_days", "0", "1..366"),
        ("recommendations", "schedule_weekdays_only", "2", "0..1"),
        ("recommendations", "spot_discount_high", "nan", "0..1"),
        ("recommendations", "idle_nat_gb_per_day", "inf", "0 or more"),
        ("carbon", "embodied_server_vcpus", "0", "1 or more"),
        ("carbon", "server_lifespan_hours", "0", "1 or more"),
    ],
)
def test_parameter_out_of_its_range_is_refused_with_the_range(
    tmp_path: Path, section: str, key: str, value: str, expected: str
):
    path = write(tmp_path, f"[{section}]\n{key} = {value}\n")

    with pytest.raises(ConfigError) as raised:
        load_config(path)

    assert str(raised.value) == (
        f"{path}: {section}.{key}: {value} is out of range (expected {expected})"
    )


def test_fraction_of_an_hour_is_refused_where_only_whole_hours_mean_something(tmp_path: Path):
    path = write(tmp_path, "[recommendations]\nschedule_start_hour = 8.5\n")

    with pytest.raises(ConfigError) as raised:
        load_config(path)

    assert str(raised.value) == (
        f"{path}: recommendations.schedule_start_hour: 8.5 is not a whole number"
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "[recommendations]\nschedule_start_hour = 20\n",
            "recommendations.schedule_start_hour: 20 is not before schedule_end_hour 20 "
            "(expected a schedule that starts before it stops, within one day)",
        ),
        (
            "[recommendations]\nschedule_start_hour = 22\nschedule_end_hour = 6\n",
            "recommendations.schedule_start_hour: 22 is not before schedule_end_hour 6 "
            "(expected a schedule that starts before it stops, within one day)",
        ),
        (
            "[recommendations]\nschedule_end_hour = 7\n",
            "recommendations.schedule_end_hour: 7 is not after schedule_start_hour 8 "
            "(expected a schedule that starts before it stops, within one day)",
        ),
        (
            "[recommendations]\nspot_discount_low = 0.8\n",
            "recommendations.spot_discount_low: 0.8 is above spot_discount_high 0.75 "
            "(expected the low discount at most the high one)",
        ),
    ],
)
def test_parameters_that_bound_each_other_are_refused_in_the_wrong_order(
    tmp_path: Path, text: str, problem: str
):
    path = write(tmp_path, text)

    with pytest.raises(ConfigError) as raised:
        load_config(path)

    assert str(raised.value) == f"{path}: {problem}"


def test_parameters_at_the_ends_of_their_ranges_are_kept(tmp_path: Path):
    path = write(
        tmp_path,
        "[recommendations]\nschedule_start_hour = 0\nschedule_end_hour = 24\n"
        "schedule_utc_offset_hours = 5.5\nlookback_days = 14.0\n\n"
        "[carbon]\ncpu_utilization = 1\nembodied_server_kg = 0\n",
    )

    config = load_config(path)

    assert dict(config.parameters["recommendation_parameters"]) == {
        "schedule_start_hour": 0.0,
        "schedule_end_hour": 24.0,
        "schedule_utc_offset_hours": 5.5,
        "lookback_days": 14.0,
    }
    assert dict(config.parameters["carbon_parameters"]) == {
        "cpu_utilization": 1.0,
        "embodied_server_kg": 0.0,
    }


def test_every_seed_parameter_has_a_range_that_holds_its_default():
    from pipelines.config import PARAMETER_SECTIONS, seed_parameters

    for seed in PARAMETER_SECTIONS.values():
        for parameter in seed_parameters(seed).values():
            assert parameter.low <= parameter.default, parameter
            assert parameter.high is None or parameter.default <= parameter.high, parameter
            assert not parameter.whole or parameter.default.is_integer(), parameter
