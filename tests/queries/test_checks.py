"""The data checks in queries/checks: silent on good data, a readable reason on bad data."""

from __future__ import annotations

import shutil
from pathlib import Path

from model_fixtures import line_item

from pipelines.config import queries_folder


def test_checks_pass_on_consistent_line_items(build_models):
    _, result = build_models(
        [
            line_item(line_item_unblended_cost=1.0, resource_tags={"user:Team": "a"}),
            line_item(line_item_line_item_type="Tax", line_item_unblended_cost=0.1),
            line_item(line_item_unblended_cost=None),
        ]
    )
    assert result.checks == (
        "focus_billed_cost_matches_invoices",
        "focus_effective_cost_matches_commitments",
        "invoice_reconciles",
        "known_line_item_types",
        "reconciliation",
        "shared_costs_split_exactly",
        "showback_reconciles",
        "tag_coverage_reconciles",
    )
    assert result.check_failures == ()
    assert result.ok


def test_unknown_line_item_type_is_reported(build_models):
    _, result = build_models([line_item(line_item_line_item_type="RoundingAdjustment")])
    (failure,) = result.check_failures
    assert failure.check == "known_line_item_types"
    assert failure.reason == (
        "line item type 'RoundingAdjustment' is not one staging knows; its 1 line items in USD "
        "count as Adjustment at unblended cost"
    )


def test_reconciliation_reports_line_items_that_staging_lost(build_models, tmp_path: Path):
    # A staging that drops tax lines, as a bad join or filter would.
    queries = tmp_path / "queries"
    shutil.copytree(queries_folder(), queries)
    staging = queries / "staging" / "stg_line_items.sql"
    staging.write_text(
        "SELECT * FROM (\n" + staging.read_text() + "\n) AS staged WHERE line_item_type <> 'Tax'\n"
    )

    _, result = build_models(
        [
            line_item(line_item_unblended_cost=1.0),
            line_item(line_item_line_item_type="Tax", line_item_unblended_cost=0.25),
        ],
        queries=queries,
    )
    reconciliation = [
        failure for failure in result.check_failures if failure.check == "reconciliation"
    ]
    assert [failure.reason for failure in reconciliation] == [
        "stg_line_items has 1 line items and unblended cost 1.0 where line_items has 2 and 1.25 "
        "in USD"
    ]
    assert reconciliation[0].row["billing_period"] == "2024-01"


def test_reconciliation_compares_each_currency_on_its_own(build_models, tmp_path: Path):
    # A staging that books EUR lines as USD keeps the line count and, here, the grand total;
    # only a per-currency comparison sees that 2 EUR went missing and 2 USD appeared.
    queries = tmp_path / "queries"
    shutil.copytree(queries_folder(), queries)
    staging = queries / "staging" / "stg_line_items.sql"
    staging.write_text(
        "SELECT * REPLACE ('USD' AS currency) FROM (\n" + staging.read_text() + "\n) AS staged\n"
    )

    _, result = build_models(
        [
            line_item(line_item_unblended_cost=1.0, line_item_currency_code="USD"),
            line_item(line_item_unblended_cost=2.0, line_item_currency_code="EUR"),
        ],
        queries=queries,
    )
    reconciliation = sorted(
        (failure.row["currency"], failure.reason)
        for failure in result.check_failures
        if failure.check == "reconciliation"
    )
    assert reconciliation == [
        (
            "EUR",
            "stg_line_items has 0 line items and unblended cost 0.0 where line_items has 1 and "
            "2.0 in EUR",
        ),
        (
            "USD",
            "stg_line_items has 2 line items and unblended cost 3.0 where line_items has 1 and "
            "1.0 in USD",
        ),
    ]


def test_checks_pass_on_a_period_that_mixes_currencies(build_models):
    _, result = build_models(
        [
            line_item(line_item_unblended_cost=1.0, line_item_currency_code="USD"),
            line_item(
                line_item_unblended_cost=2.0,
                line_item_currency_code="EUR",
                resource_tags={"user:Team": "a"},
            ),
        ]
    )
    assert result.check_failures == ()


def test_a_currency_missing_from_a_mart_is_reported(build_models, tmp_path: Path):
    # Marts that lose the EUR lines, as a filter or a join on currency might.
    queries = tmp_path / "queries"
    shutil.copytree(queries_folder(), queries)
    for mart in ("showback_monthly", "tag_coverage"):
        path = queries / "marts" / f"{mart}.sql"
        path.write_text(
            f"-- {mart}: without EUR\nSELECT * FROM (\n{path.read_text()}\n) AS mart "
            "WHERE currency <> 'EUR'\n"
        )

    _, result = build_models(
        [
            line_item(line_item_unblended_cost=1.0, line_item_currency_code="USD"),
            line_item(line_item_unblended_cost=2.0, line_item_currency_code="EUR"),
        ],
        queries=queries,
    )
    assert sorted((failure.check, failure.reason) for failure in result.check_failures) == [
        (
            "showback_reconciles",
            "showback_monthly for env has 0 line items and amortized cost 0.0 (direct and shared "
            "pool) where stg_line_items has 1 and 2.0 in EUR",
        ),
        (
            "showback_reconciles",
            "showback_monthly for team has 0 line items and amortized cost 0.0 (direct and shared "
            "pool) where stg_line_items has 1 and 2.0 in EUR",
        ),
        (
            "tag_coverage_reconciles",
            "tag_coverage for env counts 0 line items and amortized cost 0.0 where stg_line_items "
            "has 1 and 2.0 in EUR",
        ),
        (
            "tag_coverage_reconciles",
            "tag_coverage for team counts 0 line items and amortized cost 0.0 where stg_line_items "
            "has 1 and 2.0 in EUR",
        ),
    ]
