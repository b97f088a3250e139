"""Every page of the dashboard in Streamlit's AppTest: it renders, says what is missing, and
shows the marts' numbers.

Numbers are compared as the page shows them (money to the cent), against the marts queried
directly (sample warehouse) or worked out by hand (hand-set marts, fixture_marts.sql).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.review import money
from tests.dashboard.conftest import PAGES, app, mart, messages, metrics

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


# The sample warehouse: the marts on main.


def test_overview_month_total_equals_daily_cost(sample: Path, monkeypatch) -> None:
    ((october, september),) = mart(
        sample,
        "SELECT sum(amortized_cost) FILTER (WHERE billing_period = '2026-10'), "
        "sum(amortized_cost) FILTER (WHERE billing_period = '2026-09') FROM daily_cost",
    )
    shown = metrics(app(sample, monkeypatch))

    # The demo's October has data to its last day, so the month is complete: no forecast left.
    assert shown["Month total"] == money(october, "USD")
    assert shown["Forecast to month end"] == money(october, "USD")
    assert shown["Last month (2026-09)"] == money(september, "USD")


def test_overview_follows_the_account_and_measure_in_the_link(sample: Path, monkeypatch) -> None:
    ((account, unblended),) = mart(
        sample,
        "SELECT account_id, sum(unblended_cost) FROM daily_cost WHERE billing_period = '2026-09' "
        "GROUP BY account_id ORDER BY sum(unblended_cost) DESC LIMIT 1",
    )
    test = app(sample, monkeypatch, period="2026-09", account=account, measure="unblended")

    assert metrics(test)["Month total"] == money(unblended, "USD")
    assert test.sidebar.selectbox(key="account").value == account
    assert test.sidebar.selectbox(key="period").value == "2026-09"


def test_overview_team_movers_come_from_showback(sample: Path, monkeypatch) -> None:
    rows = mart(
        sample,
        "SELECT value, sum(amortized_cost) FILTER (WHERE billing_period = '2026-10') "
        "- sum(amortized_cost) FILTER (WHERE billing_period = '2026-09') AS change "
        "FROM showback_monthly WHERE dimension = 'team' "
        "GROUP BY value ORDER BY abs(change) DESC, value LIMIT 5",
    )
    test = app(sample, monkeypatch)
    teams = test.dataframe[1].value

    assert teams["team"].tolist() == [team for team, _ in rows]
    assert teams["change"].tolist() == pytest.approx([change for _, change in rows])


def test_showback_shows_untagged_and_totals_of_showback_monthly(sample: Path, monkeypatch) -> None:
    rows = dict(
        mart(
            sample,
            "SELECT value, sum(amortized_cost) FROM showback_monthly "
            "WHERE billing_period = '2026-10' AND dimension = 'team' GROUP BY value",
        )
    )
    test = app(sample, monkeypatch, page="showback")
    shown = metrics(test)
    table = test.dataframe[0].value.set_index("value")["cost"].to_dict()

    assert shown["Total, 2026-10"] == money(sum(rows.values()), "USD")
    assert shown["Untagged"] == money(rows["(untagged)"], "USD")
    assert table == pytest.approx(rows)


def test_showback_tag_coverage_equals_the_mart(sample: Path, monkeypatch) -> None:
    rows = dict(
        mart(
            sample,
            "SELECT dimension, coverage FROM tag_coverage WHERE billing_period = '2026-10' "
            "AND account_id = '(all)' AND service = '(all)'",
        )
    )
    coverage = app(sample, monkeypatch, page="showback").dataframe[1].value

    assert dict(zip(coverage["dimension"], coverage["coverage"], strict=True)) == pytest.approx(
        rows
    )


def test_data_page_shows_the_run_log_and_freshness(sample: Path, monkeypatch) -> None:
    test = app(sample, monkeypatch, page="data")
    freshness = test.dataframe[0].value
    runs = test.dataframe[1].value

    assert metrics(test)["Latest day of data"] == "2026-10-31"
    assert sorted(freshness["billing_period"]) == ["2026-08", "2026-09", "2026-10"]
    assert sorted(runs["billing_period"]) == ["2026-08", "2026-09", "2026-10"]
    assert set(runs["outcome"]) == {"ingested"}
    assert "Every invoice's line items add up to the run log's figure." in " ".join(
        s.value for s in test.success
    )


def test_anomalies_page_before_the_detector_ran_says_to_run_it(sample: Path, monkeypatch) -> None:
    # `finops build` made the anomaly views, empty: that is "not run yet", not "none found".
    test = app(sample, monkeypatch, page="anomalies")

    assert "run `finops anomalies` first" in messages(test)


@pytest.mark.parametrize("page", ["savings", "commitments", "sustainability"])
def test_pages_whose_marts_the_build_lacks_say_to_build(
    old_build: Path, monkeypatch, page: str
) -> None:
    test = app(old_build, monkeypatch, page=page)

    assert "run `finops build` first" in messages(test)


def test_sustainability_graviton_share_equals_the_mart(sample: Path, monkeypatch) -> None:
    ((arm, instances),) = mart(
        sample,
        "SELECT sum(amortized_cost) FILTER (WHERE processor_architecture = 'arm64'), "
        "sum(amortized_cost) FROM instance_architecture_monthly WHERE billing_period = '2026-10'",
    )
    test = app(sample, monkeypatch, page="sustainability")

    assert metrics(test)["Instance cost on Arm (Graviton)"] == f"{arm / instances:.1%}"


# Warehouses with nothing to show.


@pytest.mark.parametrize("page", PAGES)
def test_every_page_on_an_empty_warehouse_says_there_is_no_data(
    empty: Path, monkeypatch, page: str
) -> None:
    test = app(empty, monkeypatch, page=page)

    assert "no cost data yet" in messages(test)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_without_a_build_says_run_finops_build(
    tmp_path: Path, monkeypatch, page: str
) -> None:
    test = app(tmp_path, monkeypatch, page=page)

    assert "run `finops ingest` and `finops build` first" in messages(test)


# Hand-set marts with the interfaces' columns (fixture_marts.sql): June 2026 to the 10th.


def test_overview_forecasts_the_month_from_the_daily_rate(hand_set: Path, monkeypatch) -> None:
    shown = metrics(app(hand_set, monkeypatch))

    # June so far: A 100 support + 10 x 12 EC2, B 10 x 3 S3 = 250; days 2-10 cost 15 each, so
    # 20 days left add 300 with no spread. May: 31 x 10 + 100 = 410, to the 10th 200.
    assert shown["Month to date"] == "$250.00"
    assert shown["Forecast to month end"] == "$550.00"
    assert shown["Last month (2026-05)"] == "$410.00"
    # Anomalies overlapping June: the S3 spike (7) and the account trend (20), not May's.
    assert shown["Anomalies this month"] == "2"
    # Each resource once: 20 + 30 + 2 + 32 (the commitment after the graviton move).
    assert shown["Open savings / month"] == "$84.00"


def test_overview_month_to_date_compares_with_the_same_day_last_month(
    hand_set: Path, monkeypatch
) -> None:
    test = app(hand_set, monkeypatch)
    month = next(metric for metric in test.metric if metric.label == "Month to date")

    assert month.delta == "$50.00"  # 250 against 200
    assert "same day last month: $200.00" in [caption.value for caption in test.caption]


def test_overview_service_movers_compare_the_same_days(hand_set: Path, monkeypatch) -> None:
    services = app(hand_set, monkeypatch).dataframe[0].value

    # S3 30 against nothing, EC2 120 against 100 (May 1-10), Support 100 against 100.
    assert services["service"].tolist() == [
        "Amazon Simple Storage Service",
        "Amazon Elastic Compute Cloud",
        "AWS Support (Business)",
    ]
    assert services["change"].tolist() == [30.0, 20.0, 0.0]


def test_overview_net_measure_for_one_account(hand_set: Path, monkeypatch) -> None:
    shown = metrics(app(hand_set, monkeypatch, account="111111111111", measure="net"))

    # A's June: support 100 + 10 x 11 net; then 11 a day for 20 days.
    assert shown["Month to date"] == "$210.00"
    assert shown["Forecast to month end"] == "$430.00"


def test_showback_splits_shared_costs(hand_set: Path, monkeypatch) -> None:
    test = app(hand_set, monkeypatch, page="showback")
    table = test.dataframe[0].value.set_index("value")

    assert metrics(test)["Shared costs allocated"] == "$30.00"
    assert metrics(test)["Untagged"] == "$30.00"
    assert table.loc["payments", ["direct_cost", "shared_cost", "cost"]].tolist() == [150, 20, 170]
    assert table["cost"].sum() == 250


def test_showback_team_filter_keeps_that_team(hand_set: Path, monkeypatch) -> None:
    test = app(hand_set, monkeypatch, page="showback", team="search", measure="unblended")
    table = test.dataframe[0].value

    assert table["value"].tolist() == ["search"]
    assert table["cost"].tolist() == [55]


def test_showback_net_measure_reads_the_net_amortized_columns(hand_set: Path, monkeypatch) -> None:
    test = app(hand_set, monkeypatch, page="showback", measure="net")
    table = test.dataframe[0].value.set_index("value")

    # fixture_marts.sql: payments 2026-06 nets 135 direct + 20 shared.
    assert table.loc["payments", ["direct_cost", "shared_cost", "cost"]].tolist() == [135, 20, 155]
    assert table["cost"].sum() == 155 + 46 + 27


def test_anomalies_page_lists_the_month_with_root_cause(hand_set: Path, monkeypatch) -> None:
    test = app(hand_set, monkeypatch, page="anomalies")
    listed = test.dataframe[0].value
    causes = test.dataframe[1].value

    assert metrics(test)["Anomalies in 2026-06"] == "2"
    assert metrics(test)["Total impact"] == "$27.00"
    assert metrics(test)["Trends: projected monthly cost"] == "$360.00"
    assert listed["impact"].tolist() == [20.0, 7.0]
    # The largest anomaly is chosen first: the account trend, caused by EC2 alone.
    assert causes.to_dict("records") == [
        {
            "dimension": "service",
            "value": "Amazon Elastic Compute Cloud",
            "share": 1.0,
            "impact": 20.0,
        }
    ]


def test_anomalies_page_charts_the_chosen_anomaly(hand_set: Path, monkeypatch) -> None:
    test = app(hand_set, monkeypatch, page="anomalies")
    test.selectbox(key="anomaly").set_value("a-s3").run()
    causes = test.dataframe[1].value

    assert causes["value"].tolist() == ["222222222222", "TimedStorage-ByteHrs"]
    assert causes["impact"].tolist() == [5.6, 1.4]


def test_savings_totals_and_ranges(hand_set: Path, monkeypatch) -> None:
    test = app(hand_set, monkeypatch, page="savings")
    totals = test.dataframe[0].value.set_index("kind")

    # Each resource once: the previous-generation move adds nothing beside the graviton move on
    # i-0aaa, the commitment 32 of its 40 (fixture_marts.sql).
    assert metrics(test)["Estimated saving per month"] == "$84.00"
    assert metrics(test)["Range per month"] == "$58.00 – $110.00"
    assert metrics(test)["Recommendations"] == "5"
    assert totals.loc["total", "co2e_kg_monthly_saved"] == 8.5
    assert totals.loc["previous_generation", "estimated_monthly_saving"] == 0
    assert totals.loc["commitment", "estimated_monthly_saving"] == 32
    assert "No action plan" in messages(test)


def test_savings_follow_the_team_filter(hand_set: Path, monkeypatch) -> None:
    test = app(hand_set, monkeypatch, page="savings", team="payments")

    assert metrics(test)["Estimated saving per month"] == "$22.00"
    assert metrics(test)["Range per month"] == "$17.00 – $27.00"


def test_commitments_utilization_coverage_and_expiry(hand_set: Path, monkeypatch) -> None:
    test = app(hand_set, monkeypatch, page="commitments")
    shown = metrics(test)

    assert shown["Savings plan utilization"] == "80.0%"
    assert shown["Reservation utilization"] == "100.0%"
    assert shown["Saved by commitments in 2026-06"] == "$50.00"
    coverage = test.dataframe[0].value
    assert coverage["coverage"].tolist() == [pytest.approx(0.4)]
    expiring = test.dataframe[2].value
    assert expiring["days_to_expiry"].tolist() == [35]
    # The purchase recommendation is the commitment kind of recommendations.
    assert shown["Estimated saving per month"] == "$40.00"


def test_sustainability_emissions_by_region_and_graviton(hand_set: Path, monkeypatch) -> None:
    test = app(hand_set, monkeypatch, page="sustainability")
    shown = metrics(test)

    assert shown["Emissions, 2026-06"] == "52.0 kg CO2e"
    assert shown["Operational"] == "36.0 kg"
    assert shown["Embodied"] == "16.0 kg"
    assert shown["Instance cost on Arm (Graviton)"] == "25.0%"
    assert shown["kg CO2e saved per month if all are done"] == "8.5 kg"


def test_sustainability_follows_the_env_filter(hand_set: Path, monkeypatch) -> None:
    shown = metrics(app(hand_set, monkeypatch, page="sustainability", env="dev"))

    assert shown["Emissions, 2026-06"] == "10.0 kg CO2e"
    assert shown["Instance cost on Arm (Graviton)"] == "0.0%"


def test_data_page_reads_invoice_reconciliation(hand_set: Path, monkeypatch) -> None:
    test = app(hand_set, monkeypatch, page="data")

    assert "Every invoice's line items add up" in " ".join(s.value for s in test.success)
    assert "No ingest has run" in messages(test)
