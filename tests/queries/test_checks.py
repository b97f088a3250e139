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
        "known_line_item_types",
        "reconciliation",
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
        "line item type 'RoundingAdjustment' is not one staging knows; its 1 line items count "
        "as Adjustment at unblended cost"
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
        "stg_line_items has 1 line items and unblended cost 1.0 where line_items has 2 and 1.25"
    ]
    assert reconciliation[0].row["billing_period"] == "2024-01"
