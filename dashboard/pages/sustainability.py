"""Sustainability: kg CO2e by service, region and team, Graviton share, carbon of savings."""

from __future__ import annotations

import common
import streamlit as st

from pipelines import charts
from pipelines.review import MartMissing, money, percent, savings_totals

filters = common.filters()
review = common.review()
common.heading("Sustainability", filters)
if not common.has_data(review, filters):
    st.stop()
currency = filters.currency

try:
    by_service = common.query("carbon_by", filters, by="service")
    total, operational, embodied, energy = st.columns(4)
    total.metric(
        f"Emissions, {filters.period}",
        f"{by_service['co2e_kg'].sum():,.1f} kg CO2e",
        border=True,
    )
    operational.metric(
        "Operational", f"{by_service['operational_co2e_kg'].sum():,.1f} kg", border=True
    )
    embodied.metric("Embodied", f"{by_service['embodied_co2e_kg'].sum():,.1f} kg", border=True)
    energy.metric("Energy", f"{by_service['energy_kwh'].sum():,.1f} kWh", border=True)
    tabs = st.tabs(["By service", "By region", "By team"])
    for tab, by in zip(tabs, ("service", "region", "team"), strict=True):
        frame = by_service if by == "service" else common.query("carbon_by", filters, by=by)
        tab.plotly_chart(charts.carbon_bars(frame, by, filters.period), key=f"carbon_{by}")
    trend = common.query("carbon_trend", filters)
    st.plotly_chart(
        charts.lines_by(
            trend.assign(series="kg CO2e"),
            "billing_period",
            "co2e_kg",
            "series",
            "kg CO2e per month",
            {"title": {"text": "kg CO2e"}, "tickformat": ",.3~s"},
        ),
        key="carbon_trend",
    )
    st.caption(
        "Estimates after Cloud Carbon Footprint's method: energy from usage, times the "
        "region's grid intensity, plus the hardware's embodied share."
    )
except MartMissing as error:
    common.missing(error)

st.subheader("Graviton share")
try:
    graviton = common.query("graviton_share", filters)
    arm = graviton["arm64_cost"].sum()
    instances = graviton["instance_cost"].sum()
    st.metric(
        "Instance cost on Arm (Graviton)",
        percent(arm / instances if instances else None),
        delta=f"{money(arm, currency)} of {money(instances, currency)}",
        delta_color="off",
        delta_arrow="off",
        border=True,
    )
    if not graviton.empty:
        shares = graviton.assign(
            share=(graviton["arm64_cost"].fillna(0) / graviton["instance_cost"]).where(
                graviton["instance_cost"] != 0
            )
        )
        st.plotly_chart(
            charts.ratio_bars(
                shares,
                "service",
                "share",
                f"Arm share of instance cost, {filters.period}",
                color="#2ca02c",
            ),
            key="graviton",
        )
except MartMissing as error:
    common.missing(error)

st.subheader("Carbon of the open recommendations")
try:
    recommendations = common.query("recommendation_list", filters)
    by_kind = (
        savings_totals(recommendations)
        .query("kind != 'total'")[["kind", "co2e_kg_monthly_saved", "estimated_monthly_saving"]]
        .sort_values("co2e_kg_monthly_saved", ascending=False)
    )
    st.metric(
        "kg CO2e saved per month if all are done",
        f"{recommendations['co2e_kg_total_saved'].sum():,.1f} kg",
        border=True,
    )
    st.dataframe(
        by_kind,
        hide_index=True,
        column_config={
            "co2e_kg_monthly_saved": st.column_config.NumberColumn(
                "kg CO2e / month", format="%.1f"
            ),
            "estimated_monthly_saving": common.money_column("saving / month", currency),
        },
    )
except MartMissing as error:
    common.missing(error)
