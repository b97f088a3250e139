"""Showback: cost by any showback dimension and period, shared costs split, untagged visible."""

from __future__ import annotations

import common
import streamlit as st

from pipelines import charts
from pipelines.review import MartMissing, money, percent

filters = common.filters()
review = common.review()
common.heading("Showback", filters, applies="period, team, env")
if not common.has_data(review, filters):
    st.stop()
currency = filters.currency

try:
    dimensions = common.query("showback_dimensions", filters)["dimension"].tolist()
except MartMissing as error:
    common.missing(error)
    st.stop()

dimension = st.selectbox("Show by", dimensions, key="showback_dimension")
value = {"team": filters.team, "env": filters.env}.get(dimension)
table = common.query("showback_table", filters, dimension=dimension, value=value)
if table.empty:
    st.info(f"No showback by {dimension} in {filters.period} for these filters.")
    st.stop()

total = table["cost"].sum()
untagged = table.loc[table["value"] == "(untagged)", "cost"].sum()
shared = table["shared_cost"].sum()
first, second, third = st.columns(3)
first.metric(f"Total, {filters.period}", money(total, currency), border=True)
second.metric(
    "Untagged",
    money(untagged, currency),
    delta=f"{percent(untagged / total if total else None)} of the total",
    delta_color="off",
    delta_arrow="off",
    border=True,
)
third.metric("Shared costs allocated", money(shared, currency), border=True)

st.plotly_chart(charts.showback_bars(table, currency, dimension, filters.period), key="bars")
st.dataframe(
    table,
    hide_index=True,
    column_config={
        "value": st.column_config.TextColumn(dimension),
        "direct_cost": common.money_column("direct", currency),
        "shared_cost": common.money_column("shared", currency),
        "cost": common.money_column("total", currency),
        "share": st.column_config.NumberColumn("share", format="percent"),
    },
)
st.download_button(
    "Download CSV",
    table.assign(billing_period=filters.period, dimension=dimension, currency=currency)
    .to_csv(index=False)
    .encode(),
    file_name=f"showback_{dimension}_{filters.period}.csv",
    mime="text/csv",
    icon=":material/download:",
)

trend = common.query("showback_trend", filters, dimension=dimension, value=value)
st.plotly_chart(
    charts.lines_by(
        trend,
        "billing_period",
        "cost",
        "value",
        f"Showback by {dimension} per month",
        charts.money_axis(currency),
    ),
    key="trend",
)

st.subheader("Tag coverage")
try:
    coverage = common.query("tag_coverage", filters)
    st.dataframe(
        coverage,
        hide_index=True,
        column_config={
            "tagged_amortized_cost": common.money_column("tagged (amortized)", currency),
            "total_amortized_cost": common.money_column("total (amortized)", currency),
            "coverage": st.column_config.ProgressColumn(
                "coverage", format="percent", min_value=0, max_value=1
            ),
        },
    )
    st.caption("The share of amortized cost that carries each tag, for the account filter.")
except MartMissing as error:
    common.missing(error)
