"""Savings: the recommendations by kind, team and account, totals with ranges, the plan."""

from __future__ import annotations

import json

import common
import pandas as pd
import streamlit as st

from pipelines import charts
from pipelines.review import MartMissing, action_plan, money, savings_totals

filters = common.filters()
review = common.review()
common.heading("Savings", filters, applies="account, team, env")
if not common.has_data(review, filters):
    st.stop()
currency = filters.currency

try:
    recommendations = common.query("recommendation_list", filters)
except MartMissing as error:
    common.missing(error)
    st.stop()

kinds = sorted(recommendations["kind"].unique())
chosen = st.multiselect("Kinds", kinds, default=kinds, key="savings_kinds")
shown = recommendations[recommendations["kind"].isin(chosen)]
totals = savings_totals(shown)
total = totals.iloc[-1]

first, second, third = st.columns(3)
first.metric(
    "Estimated saving per month",
    money(total["estimated_monthly_saving"] if len(shown) else 0.0, currency),
    border=True,
)
second.metric(
    "Range per month",
    f"{money(total['saving_low'], currency)} – {money(total['saving_high'], currency)}"
    if len(shown)
    else "–",
    border=True,
)
third.metric("Recommendations", f"{len(shown)}", border=True)

if shown.empty:
    st.info("No recommendation for these filters.")
    st.stop()

left, right = st.columns([3, 2])
left.plotly_chart(charts.savings_by_kind(totals, currency), key="by_kind")
right.dataframe(
    totals,
    hide_index=True,
    column_config={
        "estimated_monthly_saving": common.money_column("saving", currency),
        "saving_low": common.money_column("low", currency),
        "saving_high": common.money_column("high", currency),
        "co2e_kg_monthly_saved": st.column_config.NumberColumn("kg CO2e / month", format="%.1f"),
    },
)

st.subheader("Recommendations")
st.dataframe(
    shown[
        [
            "kind",
            "account_id",
            "region",
            "resource_id",
            "team",
            "env",
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
        "current_monthly_cost": common.money_column("current / month", currency),
        "estimated_monthly_saving": common.money_column("saving / month", currency),
        "saving_low": common.money_column("low", currency),
        "saving_high": common.money_column("high", currency),
        "evidence": st.column_config.TextColumn("evidence", width="large"),
    },
)
st.download_button(
    "Download CSV",
    shown.to_csv(index=False).encode(),
    file_name=f"recommendations_{filters.period}.csv",
    mime="text/csv",
    icon=":material/download:",
)

st.subheader("Action plan")
plan = action_plan(review.warehouse)
if plan is None:
    st.info(
        "No action plan in the warehouse yet: `finops recommend` writes action_plan.json, "
        "which the Lambdas (or `finops act`) carry out."
    )
else:
    actions = pd.DataFrame(plan.get("actions", []))
    in_plan = set(actions["id"]) if not actions.empty else set()
    st.markdown(
        f"Generated {plan.get('generated_at', '?')}: **{len(actions)} actions**; "
        f"{len(in_plan & set(shown['recommendation_id']))} of the {len(shown)} recommendations "
        "shown are in it."
    )
    if not actions.empty:
        st.dataframe(
            actions.groupby(["kind", "action"], as_index=False).agg(
                actions=("id", "count"), saving=("estimated_monthly_saving", "sum")
            ),
            hide_index=True,
            column_config={"saving": common.money_column("saving / month", currency)},
        )
    with st.expander("The plan as JSON"):
        st.code(json.dumps(plan, indent=2)[:20000], language="json")
