"""Anomalies: each one with its expected against actual chart and its root cause."""

from __future__ import annotations

import common
import streamlit as st

from pipelines import charts
from pipelines.review import MartMissing, money, percent, root_cause

filters = common.filters()
review = common.review()
common.heading("Anomalies", filters)
if not common.has_data(review, filters):
    st.stop()
currency = filters.currency

try:
    anomalies = common.query("anomaly_list", filters)
except MartMissing as error:
    common.missing(error)
    st.stop()

count, impact, trends = st.columns(3)
count.metric(f"Anomalies in {filters.period}", f"{len(anomalies)}", border=True)
impact.metric("Total impact", money(anomalies["impact"].sum(), currency), border=True)
trends.metric(
    "Trends: projected monthly cost",
    money(anomalies.loc[anomalies["kind"] == "trend", "projected_monthly_cost"].sum(), currency),
    border=True,
)
if anomalies.empty:
    st.success(f"No anomaly overlaps {filters.period} for these filters.")
    st.stop()

st.dataframe(
    anomalies[
        [
            "kind",
            "dimension",
            "dimension_value",
            "first_day",
            "last_day",
            "expected_cost",
            "actual_cost",
            "impact",
            "impact_pct",
            "score",
        ]
    ],
    hide_index=True,
    column_config={
        "expected_cost": common.money_column("expected", currency),
        "actual_cost": common.money_column("actual", currency),
        "impact": common.money_column("impact", currency),
        "impact_pct": st.column_config.NumberColumn("impact %", format="percent"),
        "score": st.column_config.NumberColumn("score", format="%.2f"),
        "first_day": st.column_config.DateColumn("first day", format="YYYY-MM-DD"),
        "last_day": st.column_config.DateColumn("last day", format="YYYY-MM-DD"),
        "dimension_value": st.column_config.TextColumn("value"),
    },
)

labels = {
    row.anomaly_id: f"{row.dimension} {row.dimension_value}: {row.first_day:%Y-%m-%d} to "
    f"{row.last_day:%Y-%m-%d}, {money(row.impact, currency)}"
    for row in anomalies.itertuples()
}
chosen = st.selectbox("Anomaly", list(labels), format_func=labels.get, key="anomaly")
anomaly = anomalies.set_index("anomaly_id").loc[chosen]

left, right = st.columns([5, 4])
try:
    days = common.query("anomaly_days", filters, anomaly_id=chosen)
    if days.empty:
        left.info("anomaly_days has no daily series for this anomaly.")
    else:
        left.plotly_chart(
            charts.anomaly_days(
                days,
                currency,
                f"{anomaly['dimension']} {anomaly['dimension_value']}: expected against actual",
            ),
            key="anomaly_days",
        )
except MartMissing as error:
    left.info(str(error))

right.markdown(
    f"**{anomaly['kind'].capitalize()}** on {anomaly['dimension']} "
    f"**{anomaly['dimension_value']}** ({anomaly['measure']}), "
    f"{anomaly['first_day']:%Y-%m-%d} to {anomaly['last_day']:%Y-%m-%d}: expected "
    f"{money(anomaly['expected_cost'], currency)}, actual "
    f"{money(anomaly['actual_cost'], currency)}, impact {money(anomaly['impact'], currency)} "
    f"({percent(anomaly['impact_pct'])})."
)
if anomaly["kind"] == "trend":
    right.markdown(
        f"Projected monthly cost: **{money(anomaly['projected_monthly_cost'], currency)}**."
    )
right.markdown("**Root cause** (largest share first)")
right.dataframe(
    root_cause(anomaly),
    hide_index=True,
    column_config={
        "share": st.column_config.NumberColumn("share", format="percent"),
        "impact": common.money_column("impact", currency),
    },
)
