"""finops.toml's showback options: business units, shared-cost rules and split methods."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.config import AWS_SUPPORT_PRODUCT_CODES, Config, load_config
from pipelines.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "finops.toml.example"

FULL = """
[tags.env]
values = { live = "prod" }

[business_units]
"111111111111" = "Retail"
"222222222222" = "Platform"

[shared_costs]
method = "even"

[shared_costs.rules.support]
aws_support = true

[shared_costs.rules.networking]
product_codes = ["AWSTransitGateway"]
usage_types = ["*NatGateway-Hours", "*DataTransfer-Regional-Bytes", "odd_%name"]

[shared_costs.rules.platform]
untagged_accounts = ["222222222222"]

[shared_costs.dimensions.team]
method = "weights"
weights = { Payments = 0.6, search = 0.3, "  Data " = 0.1 }

[shared_costs.dimensions.env]
method = "weights"
weights = { live = 0.5, prod = 0.25, dev = 0.25 }

[shared_costs.dimensions.business_unit]
method = "proportional"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "finops.toml"
    path.write_text(text)
    return path


def test_defaults_share_nothing_and_split_proportionally():
    config = Config()
    assert config.shared_cost_rules == ()
    assert config.showback_dimensions() == ("team", "env")
    assert config.split("team").method == "proportional"
    rows = config.seed_rows()
    assert rows["shared_cost_rules"] == []
    assert rows["account_business_units"] == []
    assert rows["shared_cost_splits"] == [("team", "proportional"), ("env", "proportional")]


def test_full_configuration_becomes_the_seed_rows(tmp_path: Path):
    config = load_config(write(tmp_path, FULL))

    assert config.showback_dimensions() == ("team", "env", "business_unit")
    rows = config.seed_rows()
    assert rows["account_business_units"] == [
        ("111111111111", "Retail"),
        ("222222222222", "Platform"),
    ]
    assert rows["shared_cost_rules"] == [
        *(("support", "product_code", code) for code in AWS_SUPPORT_PRODUCT_CODES),
        ("networking", "product_code", "AWSTransitGateway"),
        ("networking", "usage_type", "%NatGateway-Hours"),
        ("networking", "usage_type", "%DataTransfer-Regional-Bytes"),
        # _ and % are literal in a usage type pattern: escaped for LIKE ... ESCAPE '\'.
        ("networking", "usage_type", "odd\\_\\%name"),
        ("platform", "untagged_account", "222222222222"),
    ]
    assert rows["shared_cost_splits"] == [
        ("team", "weights"),
        ("env", "weights"),
        ("business_unit", "proportional"),
    ]
    # Values are compared as staging reports them: trimmed, lower case, through the aliases
    # (live -> prod adds to prod's weight).
    assert rows["shared_cost_weights"] == [
        ("team", "data", 0.1),
        ("team", "payments", 0.6),
        ("team", "search", 0.3),
        ("env", "dev", 0.25),
        ("env", "prod", 0.75),
    ]


def test_method_applies_to_dimensions_without_their_own(tmp_path: Path):
    config = load_config(write(tmp_path, '[shared_costs]\nmethod = "even"\n'))
    assert config.split("env").method == "even"


def test_example_file_shows_the_shared_cost_defaults():
    config = load_config(EXAMPLE)
    assert config.shared_cost_method == "proportional"
    assert config.shared_cost_rules == ()
    assert config.business_units == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[shared_costs]\nmethod = "proportionate"\n',
            r"finops.toml: shared_costs.method: unknown method 'proportionate' \(expected one "
            r"of proportional, even, weights\); did you mean 'proportional'\?",
        ),
        (
            '[shared_costs]\nmethod = "weights"\n',
            r"shared_costs.method: 'weights' needs weights per dimension",
        ),
        (
            '[shared_costs.dimensions.team]\nmethod = "weights"\nweights = { a = 0.5, b = 0.4 }\n',
            r"shared_costs.dimensions.team.weights: add up to 0.9 \(expected 1\)",
        ),
        (
            '[shared_costs.dimensions.team]\nmethod = "weights"\n',
            r"shared_costs.dimensions.team.weights: missing",
        ),
        (
            '[shared_costs.dimensions.team]\nmethod = "even"\nweights = { a = 1.0 }\n',
            r"shared_costs.dimensions.team.weights: only used with method = \"weights\"",
        ),
        (
            '[shared_costs.dimensions.team]\nmethod = "weights"\nweights = { a = -0.5, b = 1.5 }\n',
            r"shared_costs.dimensions.team.weights.a: bad weight -0.5",
        ),
        (
            '[shared_costs.dimensions.tema]\nmethod = "even"\n',
            r"shared_costs.dimensions.tema: unknown dimension \(expected one of team, env\); "
            r"did you mean 'team'\?",
        ),
        (
            '[shared_costs.dimensions.business_unit]\nmethod = "even"\n',
            r"shared_costs.dimensions.business_unit: unknown dimension",
        ),
        ("[shared_costs.rules.support]\n", r"shared_costs.rules.support: no criteria"),
        (
            "[shared_costs.rules.support]\nproduct_code = ['AWSSupportBusiness']\n",
            r"shared_costs.rules.support.product_code: unknown option .*'product_codes'",
        ),
        (
            "[shared_costs.rules.shared]\nuntagged_accounts = ['1234']\n",
            r"shared_costs.rules.shared.untagged_accounts: bad account id '1234'",
        ),
        (
            "[shared_costs.rules.net]\nusage_types = 'NatGateway'\n",
            r"shared_costs.rules.net.usage_types: expected a list of non-empty strings",
        ),
        ("[business_units]\n1234 = 'retail'\n", r"business_units.1234: bad account id"),
        ("[business_units]\n'111111111111' = ''\n", r"business_units.111111111111: bad business"),
        (
            "[business_units]\n'111111111111' = 'a'\n[tags.business_unit]\nkeys = ['bu']\n",
            r"tags.business_unit: the dimension 'business_unit' comes from \[business_units\]",
        ),
        ("[shared_costs]\nmethods = 'even'\n", r"shared_costs.methods: unknown option"),
    ],
)
def test_bad_shared_cost_option_is_a_config_error_naming_the_key(
    tmp_path: Path, text: str, message: str
):
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text))
