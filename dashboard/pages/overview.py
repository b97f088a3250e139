"""Overview: month to date and forecast, the 12-month trend, top movers, anomalies, savings."""

from __future__ import annotations

import common
import streamlit as st

from pipelines import charts
from pipelines.review import MEASURES, MartMissing, money, savings_totals

filters = common.filters()
review = common.review()
common.heading("Overview", filters, applies="period, account")
if not common.has_data(review, filters):
    st.stop()

currency = filters.currency
spend = common.spend(filters)

# The month at a glance.
month, forecast, last_month, anomalies_box, savings_box = st.columns(5)
month.metric(
    "Month to date" if not spend.complete else "Month total",
    money(spend.month_to_date, currency),
    delta=money(spend.month_to_date - spend.previous_same_point, currency),
    delta_color="inverse",
    help=f"Through {spend.as_of}; the change is against last month to the same day.",
    border=True,
)
month.caption(f"same day last month: {money(spend.previous_same_point, currency)}")
forecast.metric(
    "Forecast to month end",
    money(spend.forecast, currency),
    delta=money(spend.forecast - spend.previous_total, currency),
    delta_color="inverse",
    help="The change is against last month's total. Range: 95 %, from the spread of the "
    "latest 14 days.",
    border=True,
)
forecast.caption(
    f"range {money(spend.forecast_low, currency)} – {money(spend.forecast_high, currency)}"
    if not spend.complete
    else "the period's data is complete"
)
last_month.metric(
    f"Last month ({filters.previous})", money(spend.previous_total, currency), border=True
)

try:
    anomalies = common.query("anomaly_list", filters)
    anomalies_box.metric(
        "Anomalies this month",
        f"{len(anomalies)}",
        help="Anomalies whose days overlap the period; the change is their total impact.",
        delta=money(anomalies["impact"].sum(), currency) if len(anomalies) else None,
        delta_color="inverse",
        border=True,
    )
except MartMissing as error:
    anomalies_box.metric("Anomalies this month", "–", border=True)
    anomalies_box.caption(f"not built yet: run `{error.command}`")

try:
    recommendations = common.query("recommendation_list", filters)
    total = savings_totals(recommendations).iloc[-1]
    savings_box.metric(
        "Open savings / month",
        money(total["estimated_monthly_saving"] if len(recommendations) else 0.0, currency),
        help=f"{len(recommendations)} recommendations; range "
        f"{money(total['saving_low'], currency)} – {money(total['saving_high'], currency)}.",
        border=True,
    )
    if len(recommendations):
        savings_box.caption(
            f"range {money(total['saving_low'], currency)} – "
            f"{money(total['saving_high'], currency)}"
        )
except MartMissing as error:
    savings_box.metric("Open savings / month", "–", border=True)
    savings_box.caption(f"not built yet: run `{error.command}`")

# Where it is heading and where it came from.
left, right = st.columns(2)
left.plotly_chart(
    charts.cumulative_spend(spend, currency, MEASURES[filters.measure]), key="cumulative"
)
trend = common.query("monthly_trend", filters)
right.plotly_chart(charts.monthly_trend(trend, currency, MEASURES[filters.measure]), key="trend")

# What moved.
st.subheader("Top movers")
left, right = st.columns(2)
services = common.query("service_movers", filters, as_of_day=spend.as_of.day if spend.as_of else 31)
left.plotly_chart(
    charts.movers(
        services,
        "service",
        currency,
        f"Services: {filters.period} vs {filters.previous} to the same day",
    ),
    key="service_movers",
)
left.dataframe(
    services,
    hide_index=True,
    column_config={
        "current_cost": common.money_column(filters.period, currency),
        "previous_cost": common.money_column(filters.previous, currency),
        "change": common.money_column("change", currency),
    },
)
try:
    teams = common.query("team_movers", filters)
    right.plotly_chart(
        charts.movers(teams, "team", currency, f"Teams: {filters.period} vs {filters.previous}"),
        key="team_movers",
    )
    right.dataframe(
        teams,
        hide_index=True,
        column_config={
            "current_cost": common.money_column(filters.period, currency),
            "previous_cost": common.money_column(filters.previous, currency),
            "change": common.money_column("change", currency),
        },
    )
except MartMissing as error:
    right.info(str(error))
