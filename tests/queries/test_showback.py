"""Showback with shared costs: hand-computed splits per method, and properties over random mixes.

Expected values are worked out by hand in the comments. The property tests run the two showback
models on an in-memory DuckDB over random line items (no warehouse, so they stay fast) and
compare with exact arithmetic done here in Python.
"""

from __future__ import annotations

import shutil
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from pathlib import Path
from types import MappingProxyType

import duckdb
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from model_fixtures import line_item, records

from pipelines.config import (
    CONFIGURED_SEEDS,
    Config,
    SharedCostRule,
    SharedCostSplit,
    queries_folder,
)

ACCOUNT_A = "111111111111"
ACCOUNT_B = "222222222222"
SUPPORT = SharedCostRule("support", product_codes=("AWSSupportBusiness",))
NETWORKING = SharedCostRule("networking", usage_types=("*NatGateway-Hours",))


def support_fee(cost: float, **columns) -> dict:
    return line_item(
        line_item_line_item_type="Fee",
        line_item_product_code="AWSSupportBusiness",
        line_item_unblended_cost=cost,
        **columns,
    )


def team_usage(team: str | None, cost: float, **columns) -> dict:
    tags = {"user:Team": team} if team else None
    return line_item(line_item_unblended_cost=cost, resource_tags=tags, **columns)


def team_rows(connection: duckdb.DuckDBPyConnection, dimension: str = "team") -> list[tuple]:
    return [
        tuple(row.values())
        for row in records(
            connection,
            f"""
            SELECT value, amortized_cost, direct_amortized_cost, shared_amortized_cost,
                   unblended_cost, shared_unblended_cost, line_items
            FROM showback_monthly WHERE dimension = '{dimension}' ORDER BY value
            """,
        )
    ]


def test_support_is_split_proportionally_to_direct_spend_by_default(build_models):
    connection, result = build_models(
        [
            team_usage("a", 60.0),
            team_usage("b", 30.0),
            team_usage("c", 10.0),
            team_usage(None, 5.0),
            support_fee(10.0),
        ],
        config=Config(shared_cost_rules=(SUPPORT,)),
    )
    assert result.ok, result.check_failures
    # 10.00 of support by 60:30:10; the untagged 5.00 stays visible and gets no share.
    assert team_rows(connection) == [
        ("(untagged)", 5.0, 5.0, 0.0, 5.0, 0.0, 1),
        ("a", 66.0, 60.0, 6.0, 66.0, 6.0, 1),
        ("b", 33.0, 30.0, 3.0, 33.0, 3.0, 1),
        ("c", 11.0, 10.0, 1.0, 11.0, 1.0, 1),
    ]


def test_even_split_rounds_to_cents_and_sums_back_exactly(build_models):
    config = Config(
        shared_cost_rules=(SUPPORT,), shared_cost_splits=(SharedCostSplit("team", "even"),)
    )
    connection, result = build_models(
        [team_usage("a", 1.0), team_usage("b", 50.0), team_usage("c", 7.0), support_fee(0.10)],
        config=config,
    )
    assert result.ok, result.check_failures
    # 10 cents in thirds: cumulative bounds round(10/3) = 3, round(20/3) = 7, 10, so 3, 4, 3.
    assert [(row[0], row[3]) for row in team_rows(connection)] == [
        ("a", 0.03),
        ("b", 0.04),
        ("c", 0.03),
    ]


def test_fixed_weights_reach_values_without_direct_spend(build_models):
    weights = MappingProxyType({"a": 0.5, "b": 0.3, "d": 0.2})
    config = Config(
        shared_cost_rules=(NETWORKING,),
        shared_cost_splits=(SharedCostSplit("team", "weights", weights),),
    )
    connection, result = build_models(
        [
            team_usage("a", 1.0),
            team_usage("b", 2.0),
            team_usage("c", 3.0),
            team_usage("a", 20.0, line_item_usage_type="USE1-NatGateway-Hours"),
        ],
        config=config,
    )
    assert result.ok, result.check_failures
    # The NAT gateway is shared even though it carries team a: 20.00 as 10, 6, 4; c gets none.
    assert team_rows(connection) == [
        ("a", 11.0, 1.0, 10.0, 11.0, 10.0, 1),
        ("b", 8.0, 2.0, 6.0, 8.0, 6.0, 1),
        ("c", 3.0, 3.0, 0.0, 3.0, 0.0, 1),
        ("d", 4.0, 0.0, 4.0, 4.0, 4.0, 0),
    ]
    (method,) = connection.execute(
        "SELECT DISTINCT split_method FROM showback_monthly WHERE dimension = 'team'"
    ).fetchone()
    assert method == "weights"


def test_untagged_spend_of_a_named_account_is_shared_and_other_untagged_stays(build_models):
    config = Config(shared_cost_rules=(SharedCostRule("platform", untagged_accounts=(ACCOUNT_B,)),))
    connection, result = build_models(
        [
            team_usage("a", 30.0),
            team_usage("b", 10.0),
            team_usage(None, 4.0),
            team_usage(None, 8.0, line_item_usage_account_id=ACCOUNT_B),
            team_usage("b", 2.0, line_item_usage_account_id=ACCOUNT_B),
        ],
        config=config,
    )
    assert result.ok, result.check_failures
    # Account B's untagged 8.00 goes 30:12 (b's direct spend is 10 + 2): 5.714.. -> 5.71, 2.29.
    assert [(row[0], row[1], row[3]) for row in team_rows(connection)] == [
        ("(untagged)", 4.0, 0.0),
        ("a", pytest.approx(35.71), pytest.approx(5.71)),
        ("b", pytest.approx(14.29), pytest.approx(2.29)),
    ]


def test_business_units_come_from_the_account_map(build_models):
    config = Config(
        business_units=MappingProxyType({ACCOUNT_A: "Retail"}), shared_cost_rules=(SUPPORT,)
    )
    connection, result = build_models(
        [
            team_usage("a", 30.0),
            team_usage("b", 10.0, line_item_usage_account_id=ACCOUNT_B),
            support_fee(4.0, line_item_usage_account_id=ACCOUNT_B),
        ],
        config=config,
    )
    assert result.ok, result.check_failures
    # Only Retail has direct spend among business units, so it carries all of the support;
    # account B is unmapped: its usage is the business unit '(untagged)'.
    assert [(row[0], row[1], row[2], row[3]) for row in team_rows(connection, "business_unit")] == [
        ("(untagged)", 10.0, 10.0, 0.0),
        ("Retail", 34.0, 30.0, 4.0),
    ]


def test_a_pool_nobody_can_receive_stays_visible_as_untagged(build_models):
    connection, result = build_models(
        [team_usage(None, 3.0), support_fee(2.5)], config=Config(shared_cost_rules=(SUPPORT,))
    )
    assert result.ok, result.check_failures
    assert team_rows(connection) == [("(untagged)", 5.5, 3.0, 2.5, 5.5, 2.5, 1)]


def test_without_rules_nothing_is_shared(build_models):
    connection, result = build_models([team_usage("a", 3.0), support_fee(2.5)])
    assert result.ok, result.check_failures
    assert team_rows(connection) == [
        ("(untagged)", 2.5, 2.5, 0.0, 2.5, 0.0, 1),
        ("a", 3.0, 3.0, 0.0, 3.0, 0.0, 1),
    ]


def test_a_broken_split_is_reported_by_the_check(build_models, tmp_path: Path):
    # A split that loses a cent, as an off-by-one in the bounds would.
    queries = tmp_path / "queries"
    shutil.copytree(queries_folder(), queries)
    path = queries / "marts" / "showback_monthly.sql"
    text = path.read_text()
    path.write_text(
        text.replace(
            "combined.shared_amortized_cost,\n    combined.direct_net_unblended_cost +",
            "combined.shared_amortized_cost - 0.01 AS shared_amortized_cost,\n"
            "    combined.direct_net_unblended_cost +",
        )
    )
    _, result = build_models(
        [team_usage("a", 3.0), support_fee(2.5)],
        config=Config(shared_cost_rules=(SUPPORT,)),
        queries=queries,
    )
    reasons = [f.reason for f in result.check_failures if f.check == "shared_costs_split_exactly"]
    # Both dimensions lose it: env has no values, so its pool is shown on '(untagged)'.
    assert sorted(reasons) == [
        f"shared amortized_cost of {dimension} adds up to 249 cents where the shared pool is 250 "
        "cents in USD"
        for dimension in ("env", "team")
    ]


# --- properties over random tag mixes --------------------------------------------------------

TEAMS = ("a", "b", "c", "d")
SHOWBACK_MODELS = ("marts/showback_attribution.sql", "marts/showback_monthly.sql")
CHECKS = ("checks/shared_costs_split_exactly.sql", "checks/showback_reconciles.sql")


@pytest.fixture(scope="module")
def showback_db() -> duckdb.DuckDBPyConnection:
    """The showback models as views over a small stg_line_items table, in memory."""
    connection = duckdb.connect()
    connection.execute(
        "CREATE TABLE stg_line_items (billing_period VARCHAR, account_id VARCHAR, "
        "service_code VARCHAR, usage_type VARCHAR, currency VARCHAR, "
        "tag_dimensions MAP(VARCHAR, VARCHAR), unblended_cost DOUBLE, amortized_cost DOUBLE, "
        "net_unblended_cost DOUBLE, net_amortized_cost DOUBLE)"
    )
    for name, columns in CONFIGURED_SEEDS.items():
        spec = ", ".join(f"{column} {kind}" for column, kind in columns)
        connection.execute(f"CREATE TABLE {name} ({spec})")
    for model in SHOWBACK_MODELS:
        path = queries_folder() / model
        connection.execute(f"CREATE VIEW {path.stem} AS {path.read_text()}")
    yield connection
    connection.close()


def load(connection: duckdb.DuckDBPyConnection, config: Config, lines: list[tuple]) -> None:
    for name, rows in config.seed_rows().items():
        connection.execute(f"DELETE FROM {name}")
        if rows:
            marks = ", ".join("?" for _ in rows[0])
            connection.executemany(f"INSERT INTO {name} VALUES ({marks})", rows)
    connection.execute("DELETE FROM stg_line_items")
    connection.executemany(
        "INSERT INTO stg_line_items VALUES ('2024-01', ?, ?, 'Usage', 'USD', "
        "map_from_entries(?), ?, ?, ?, ?)",
        [
            (
                account,
                code,
                [{"key": "team", "value": team}] if team else [],
                cost,
                cost,
                cost,
                cost,
            )
            for account, code, team, cost in lines
        ],
    )


line_strategy = st.tuples(
    st.sampled_from((ACCOUNT_A, ACCOUNT_B)),
    st.sampled_from(("AmazonEC2", "AmazonEC2", "AWSSupportBusiness")),
    st.sampled_from((*TEAMS, None)),
    # Sub-cent amounts, as CUR writes them (up to 1e-4 here), from 0 to 10,000.
    st.integers(min_value=0, max_value=100_000_000).map(lambda units: units / 10_000),
)
weights_strategy = st.lists(
    st.integers(min_value=0, max_value=1000), min_size=len(TEAMS), max_size=len(TEAMS)
).filter(lambda numbers: sum(numbers) > 0)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=st.lists(line_strategy, min_size=1, max_size=25),
    method=st.sampled_from(("proportional", "even", "weights")),
    weights=weights_strategy,
    share_account_b=st.booleans(),
)
# Found by CI: a pool that sums to exactly a half cent (1161.275 USD) that a float sum put on either
# side of the half depending on the order it added the lines in.
@example(
    lines=[
        (ACCOUNT_A, "AWSSupportBusiness", "a", cost)
        for cost in (0.0146, 0.6966, 1.6996, 2.8948, 2.8948, 15.7838, 993.9461)
    ]
    + [
        (ACCOUNT_A, "AWSSupportBusiness", "b", 143.0121),
        (ACCOUNT_B, "AWSSupportBusiness", "a", 0.3326),
    ],
    method="proportional",
    weights=[0, 0, 0, 1],
    share_account_b=False,
)
def test_split_sums_exactly_and_never_goes_negative(
    showback_db, lines, method, weights, share_account_b
):
    rules = [SUPPORT]
    if share_account_b:
        rules.append(SharedCostRule("platform", untagged_accounts=(ACCOUNT_B,)))
    split_weights = {
        team: weight / sum(weights) for team, weight in zip(TEAMS, weights, strict=True)
    }
    split = SharedCostSplit(
        "team", method, MappingProxyType(split_weights if method == "weights" else {})
    )
    config = Config(shared_cost_rules=tuple(rules), shared_cost_splits=(split,))
    load(showback_db, config, lines)

    # Worked out here exactly: which lines are shared, the pool, each team's direct spend.
    exact_total = sum(Decimal(str(cost)) for *_, cost in lines)
    shared = [
        line
        for line in lines
        if line[1] == "AWSSupportBusiness"
        or (share_account_b and line[0] == ACCOUNT_B and not line[2])
    ]
    exact_pool = sum((Decimal(str(cost)) for *_, cost in shared), Decimal(0))
    direct_teams = {team for line in lines if line not in shared for team in [line[2]] if team}

    rows = records(
        showback_db,
        "SELECT value, direct_amortized_cost, shared_amortized_cost, amortized_cost "
        "FROM showback_monthly WHERE dimension = 'team'",
    )
    shares = {row["value"]: row["shared_amortized_cost"] for row in rows}
    share_cents = {value: round(share * 100) for value, share in shares.items()}
    pool_cents = int((exact_pool * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))

    # The split adds up to the pool in whole cents; SQL's pool may sit on the other side of a
    # half cent from the exact one only by float error.
    assert all(abs(share * 100 - round(share * 100)) < 1e-6 for share in shares.values())
    assert abs(sum(share_cents.values()) - pool_cents) <= (
        1 if abs((exact_pool * 100) % 1 - Decimal("0.5")) < Decimal("1e-6") else 0
    )
    # Every value: direct + shared; all values: the exact total within the pool's rounding.
    assert abs(Decimal(str(sum(row["amortized_cost"] for row in rows))) - exact_total) <= Decimal(
        "0.005"
    ) + Decimal("1e-6")
    # Non-negative inputs give nobody a negative share.
    assert all(cents >= 0 for cents in share_cents.values())
    # '(untagged)' receives a share only when nobody else can.
    receivers = set(split_weights) if method == "weights" else direct_teams
    if receivers:
        assert share_cents.get("(untagged)", 0) == 0
    # Each receiver is within a cent of its exact share of the (SQL) pool.
    if method != "proportional" and receivers and pool_cents:
        pool = sum(share_cents.values())
        if method == "even":
            exact = {team: Fraction(pool, len(receivers)) for team in receivers}
        else:
            exact = {team: pool * Fraction(split_weights[team]) for team in receivers}
        for team, share in exact.items():
            assert abs(share_cents.get(team, 0) - share) < 1, (team, share_cents, exact)

    for check in CHECKS:
        assert showback_db.execute((queries_folder() / check).read_text()).fetchall() == []
