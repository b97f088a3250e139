"""Commitments: Savings Plans and RI utilization and coverage, expiring ones, what to buy."""

from __future__ import annotations

import common
import streamlit as st

from pipelines import charts
from pipelines.review import MartMissing, money, percent

filters = common.filters()
review = common.review()
common.heading("Commitments", filters, applies="period, account")
if not common.has_data(review, filters):
    st.stop()
currency = filters.currency

st.subheader("Utilization")
try:
    utilization = common.query("commitment_utilization", filters)
    if utilization.empty:
        st.info(f"No Savings Plan or reservation fee in {filters.period} for these filters.")
    for column, row in zip(
        st.columns(max(len(utilization), 1)), utilization.itertuples(), strict=False
    ):
        column.metric(
            f"{row.commitment_type.replace('_', ' ').capitalize()} utilization",
            percent(row.utilization),
            delta=f"{money(row.unused_commitment_cost, currency)} unused",
            delta_color="off",
            delta_arrow="off",
            border=True,
        )
    days = common.query("commitment_utilization_days", filters)
    if not days.empty:
        st.plotly_chart(
            charts.lines_by(
                days,
                "usage_date",
                "utilization",
                "commitment_type",
                "Utilization per day (used / paid commitment)",
                {"tickformat": ".0%", "range": [0, 1.05], "title": {"text": "utilization"}},
            ),
            key="utilization_days",
        )
except MartMissing as error:
    common.missing(error)

st.subheader("Coverage")
try:
    coverage = common.query("commitment_coverage", filters)
    if filters.account:
        st.caption("Coverage is per service across accounts (the mart has no account).")
    if coverage.empty:
        st.info(f"No commitment-eligible usage in {filters.period}.")
    else:
        labelled = coverage.assign(
            name=coverage["service"] + " (" + coverage["commitment_type"] + ")"
        )
        st.plotly_chart(
            charts.ratio_bars(labelled, "name", "coverage", "Coverage of eligible on-demand cost"),
            key="coverage",
        )
        st.dataframe(
            coverage,
            hide_index=True,
            column_config={
                "covered_on_demand_cost": common.money_column("covered (on-demand)", currency),
                "eligible_on_demand_cost": common.money_column("eligible (on-demand)", currency),
                "coverage": st.column_config.ProgressColumn(
                    "coverage", format="percent", min_value=0, max_value=1
                ),
            },
        )
except MartMissing as error:
    common.missing(error)

st.subheader("Realized savings")
try:
    savings = common.query("commitment_savings", filters)
    st.metric(
        f"Saved by commitments in {filters.period}",
        money(savings["realized_savings"].sum(), currency),
        help="On-demand equivalent cost minus amortized cost.",
        border=True,
    )
    st.dataframe(
        savings,
        hide_index=True,
        column_config={
            "on_demand_equivalent_cost": common.money_column("on-demand equivalent", currency),
            "amortized_cost": common.money_column("amortized", currency),
            "realized_savings": common.money_column("realized savings", currency),
        },
    )
except MartMissing as error:
    common.missing(error)

st.subheader("Expiring within 90 days")
try:
    expiring = common.query("commitments_expiring", filters)
    if expiring.empty:
        st.success("No commitment expires within 90 days of the latest data.")
    else:
        st.dataframe(
            expiring,
            hide_index=True,
            column_config={"monthly_commitment_cost": common.money_column("per month", currency)},
        )
except MartMissing as error:
    common.missing(error)

st.subheader("Purchase recommendation")
try:
    recommendations = common.query("recommendation_list", filters)
    purchase = recommendations[recommendations["kind"] == "commitment"]
    if purchase.empty:
        st.info("No commitment purchase is recommended for these filters.")
    else:
        st.metric(
            "Estimated saving per month",
            money(purchase["estimated_monthly_saving"].sum(), currency),
            border=True,
        )
        st.dataframe(
            purchase[
                [
                    "account_id",
                    "region",
                    "current_monthly_cost",
                    "estimated_monthly_saving",
                    "saving_low",
                    "saving_high",
                    "confidence",
                    "evidence",
                ]
            ],
            hide_index=True,
            column_config={
                "current_monthly_cost": common.money_column("on-demand / month", currency),
                "estimated_monthly_saving": common.money_column("saving / month", currency),
                "saving_low": common.money_column("low", currency),
                "saving_high": common.money_column("high", currency),
            },
        )
except MartMissing as error:
    common.missing(error)
