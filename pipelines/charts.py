"""The review's plotly charts, shared by the dashboard's pages and ``finops report``.

Each function takes what a ``pipelines.review`` query returned and gives a figure with a
title, axis titles with units, and money on the axes and in the hover labels.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from pipelines.review import MonthToDate

_LAYOUT = {
    "template": "plotly_white",
    "margin": {"l": 10, "r": 10, "t": 60, "b": 10},
    "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "left", "x": 0},
    "height": 380,
    "font": {"size": 13},
}
_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}
_LEGEND_BELOW = {"orientation": "h", "yanchor": "top", "y": -0.2, "xanchor": "left", "x": 0}
_UP, _DOWN, _NEUTRAL = "#d62728", "#2ca02c", "#1f77b4"


def _plain_text(chart: Callable[..., go.Figure]) -> Callable[..., go.Figure]:
    """Show the data's text as text: plotly reads <b>, <a href>, <br> in labels as markup.

    A tag value, service or account name is drawn as written (``<b>x</b>`` is not bold):
    ``<``, ``>`` and ``&`` become entities, which plotly turns back into those characters.
    """

    @functools.wraps(chart)
    def drawn(*args: Any, **kwargs: Any) -> go.Figure:
        figure = chart(*args, **kwargs)
        for trace in figure.data:
            for attribute in ("x", "y", "text", "hovertext", "customdata"):
                values = getattr(trace, attribute, None)
                if values is not None and not isinstance(values, str):
                    escaped = _escaped(values)
                    if escaped is not None:
                        setattr(trace, attribute, escaped)
            if trace.name:
                trace.name = _entities(trace.name)
        return figure

    return drawn


def _escaped(values: Any) -> np.ndarray | None:
    """The values with their text escaped; None when there is no text (numbers, dates)."""
    array = np.asarray(values, dtype=object)
    texts = [isinstance(value, str) for value in array.flat]
    if not any(texts):
        return None
    flat = [
        _entities(value) if text else value for value, text in zip(array.flat, texts, strict=True)
    ]
    return np.array(flat, dtype=object).reshape(array.shape)


def _entities(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def money_axis(currency: str) -> dict:
    """Axis settings that print money: '$1.2k' and '-$100' for USD, '1.2k EUR' otherwise."""
    if currency == "USD":
        return {"tickformat": "$,.3~s", "title": {"text": currency}}
    return {"ticksuffix": f" {currency}", "tickformat": ",.3~s", "title": {"text": currency}}


def _hover_money(currency: str) -> str:
    symbol = _SYMBOLS.get(currency)
    return f"{symbol}%{{y:,.2f}}" if symbol else f"%{{y:,.2f}} {currency}"


def _hover_money_x(currency: str) -> str:
    symbol = _SYMBOLS.get(currency)
    return f"{symbol}%{{x:,.2f}}" if symbol else f"%{{x:,.2f}} {currency}"


@_plain_text
def cumulative_spend(spend: MonthToDate, currency: str, measure_label: str) -> go.Figure:
    """This month's cumulative spend by day against last month's, with the forecast range."""
    figure = go.Figure()
    daily = spend.daily.copy()
    daily["day"] = pd.to_datetime(daily["usage_date"]).dt.day
    for period, name, dash in (
        (spend.period, f"{spend.period} so far", "solid"),
        (_previous(daily, spend.period), "previous month", "dot"),
    ):
        rows = daily[daily["billing_period"] == period].sort_values("day")
        if rows.empty:
            continue
        figure.add_trace(
            go.Scatter(
                x=rows["day"],
                y=rows["cost"].cumsum(),
                name=name,
                mode="lines",
                line={"dash": dash, "width": 3 if dash == "solid" else 2},
                hovertemplate=f"day %{{x}}: {_hover_money(currency)}<extra>{name}</extra>",
            )
        )
    if spend.as_of is not None and not spend.complete:
        days = [spend.as_of.day, spend.days_in_month]
        figure.add_trace(
            go.Scatter(
                x=days + days[::-1],
                y=[
                    spend.month_to_date,
                    spend.forecast_high,
                    spend.forecast_low,
                    spend.month_to_date,
                ],
                fill="toself",
                fillcolor="rgba(31,119,180,0.15)",
                line={"width": 0},
                name="forecast range (95 %)",
                hoverinfo="skip",
            )
        )
        figure.add_trace(
            go.Scatter(
                x=days,
                y=[spend.month_to_date, spend.forecast],
                name="forecast",
                mode="lines",
                line={"dash": "dash", "color": _NEUTRAL},
                hovertemplate=f"day %{{x}}: {_hover_money(currency)}<extra>forecast</extra>",
            )
        )
    figure.update_layout(
        title=f"Cumulative {measure_label.lower()} by day of month",
        xaxis={"title": {"text": "day of month"}, "range": [1, spend.days_in_month], "dtick": 5},
        yaxis=money_axis(currency),
        **{**_LAYOUT, "legend": _LEGEND_BELOW, "height": 420},
    )
    return figure


@_plain_text
def monthly_trend(trend: pd.DataFrame, currency: str, measure_label: str) -> go.Figure:
    """Stacked monthly cost by service over the trend's periods."""
    figure = go.Figure()
    order = trend.groupby("service")["cost"].sum().sort_values(ascending=False).index
    for service in order:
        rows = trend[trend["service"] == service]
        figure.add_trace(
            go.Bar(
                x=rows["billing_period"],
                y=rows["cost"],
                name=service,
                hovertemplate=f"%{{x}}: {_hover_money(currency)}<extra>{service}</extra>",
            )
        )
    figure.update_layout(
        title=f"{measure_label} per month, by service",
        barmode="stack",
        xaxis={"title": {"text": "billing period"}, "type": "category"},
        yaxis=money_axis(currency),
        **{**_LAYOUT, "height": 420, "legend": {"orientation": "v"}},
    )
    return figure


@_plain_text
def movers(frame: pd.DataFrame, label: str, currency: str, title: str) -> go.Figure:
    """Horizontal bars of each row's change: red for more spend, green for less."""
    rows = frame.iloc[::-1]
    figure = go.Figure(
        go.Bar(
            x=rows["change"],
            y=rows[label],
            orientation="h",
            marker_color=[_UP if change > 0 else _DOWN for change in rows["change"]],
            hovertemplate=f"%{{y}}: {_hover_money_x(currency)}<extra>change</extra>",
        )
    )
    axis = money_axis(currency)
    axis["title"] = {"text": f"change ({currency})"}
    figure.update_layout(
        title=title,
        xaxis=axis,
        yaxis={"automargin": True},
        **{**_LAYOUT, "height": 300},
    )
    return figure


@_plain_text
def showback_bars(table: pd.DataFrame, currency: str, dimension: str, period: str) -> go.Figure:
    """Direct and shared cost per value of a showback dimension."""
    rows = table.iloc[::-1]
    figure = go.Figure()
    for column, name in (("direct_cost", "direct"), ("shared_cost", "shared (allocated)")):
        figure.add_trace(
            go.Bar(
                x=rows[column],
                y=rows["value"],
                orientation="h",
                name=name,
                hovertemplate=f"%{{y}}: {_hover_money_x(currency)}<extra>{name}</extra>",
            )
        )
    axis = money_axis(currency)
    figure.update_layout(
        title=f"Showback by {dimension}, {period}",
        barmode="stack",
        xaxis=axis,
        yaxis={"automargin": True},
        **{**_LAYOUT, "height": max(300, 40 * len(rows) + 120)},
    )
    return figure


@_plain_text
def lines_by(frame: pd.DataFrame, x: str, y: str, by: str, title: str, axis: dict) -> go.Figure:
    """One line per value of ``by``; billing periods as categories, days on a date axis."""
    figure = go.Figure()
    for name, rows in frame.groupby(by, sort=False):
        figure.add_trace(go.Scatter(x=rows[x], y=rows[y], name=str(name), mode="lines+markers"))
    dates = pd.api.types.is_datetime64_any_dtype(frame[x]) or x == "usage_date"
    xaxis = {"type": "date", "tickformat": "%b %d"} if dates else {"type": "category"}
    figure.update_layout(title=title, yaxis=axis, xaxis=xaxis, **_LAYOUT)
    return figure


@_plain_text
def anomaly_days(days: pd.DataFrame, currency: str, title: str) -> go.Figure:
    """Expected against actual cost per day of one anomaly."""
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=days["usage_date"],
            y=days["expected_cost"],
            name="expected",
            mode="lines",
            line={"dash": "dash", "color": "#7f7f7f"},
            hovertemplate=f"%{{x|%Y-%m-%d}}: {_hover_money(currency)}<extra>expected</extra>",
        )
    )
    figure.add_trace(
        go.Scatter(
            x=days["usage_date"],
            y=days["actual_cost"],
            name="actual",
            mode="lines+markers",
            line={"color": _UP},
            fill="tonexty",
            fillcolor="rgba(214,39,40,0.12)",
            hovertemplate=f"%{{x|%Y-%m-%d}}: {_hover_money(currency)}<extra>actual</extra>",
        )
    )
    figure.update_layout(
        title=title,
        xaxis={"title": {"text": "day"}, "tickformat": "%b %d", "dtick": 86_400_000},
        yaxis=money_axis(currency),
        **_LAYOUT,
    )
    return figure


@_plain_text
def savings_by_kind(totals: pd.DataFrame, currency: str) -> go.Figure:
    """Estimated monthly saving per kind, with the low-high range as error bars."""
    rows = totals[totals["kind"] != "total"]
    figure = go.Figure(
        go.Bar(
            x=rows["kind"],
            y=rows["estimated_monthly_saving"],
            error_y={
                "type": "data",
                "symmetric": False,
                "array": (rows["saving_high"] - rows["estimated_monthly_saving"]).clip(lower=0),
                "arrayminus": (rows["estimated_monthly_saving"] - rows["saving_low"]).clip(lower=0),
            },
            marker_color=_DOWN,
            hovertemplate=f"%{{x}}: {_hover_money(currency)}<extra>per month</extra>",
        )
    )
    axis = money_axis(currency)
    axis["title"] = {"text": f"{currency} per month"}
    figure.update_layout(
        title="Estimated monthly saving by kind (bars: low to high)",
        xaxis={"title": {"text": "kind"}},
        yaxis=axis,
        **_LAYOUT,
    )
    return figure


@_plain_text
def ratio_bars(frame: pd.DataFrame, x: str, y: str, title: str, color: str | None = None):
    """Horizontal bars of a 0..1 ratio (``y``) per name (``x``), shown in percent."""
    rows = frame.iloc[::-1]
    figure = go.Figure(
        go.Bar(
            x=rows[y],
            y=rows[x],
            orientation="h",
            marker_color=color or _NEUTRAL,
            text=[f"{value:.0%}" if pd.notna(value) else "" for value in rows[y]],
            textposition="outside",
            hovertemplate="%{y}: %{x:.1%}<extra></extra>",
        )
    )
    figure.update_layout(
        title=title,
        xaxis={"tickformat": ".0%", "range": [0, 1.1], "title": {"text": "share"}},
        yaxis={"automargin": True},
        **{**_LAYOUT, "height": max(220, 40 * len(rows) + 140)},
    )
    return figure


@_plain_text
def carbon_bars(frame: pd.DataFrame, by: str, period: str) -> go.Figure:
    """kg CO2e per service, region or team: operational and embodied stacked."""
    rows = frame.head(12).iloc[::-1]
    figure = go.Figure()
    for column, name in (("operational_co2e_kg", "operational"), ("embodied_co2e_kg", "embodied")):
        figure.add_trace(
            go.Bar(
                x=rows[column],
                y=rows["name"],
                orientation="h",
                name=name,
                hovertemplate=f"%{{y}}: %{{x:,.1f}} kg CO2e<extra>{name}</extra>",
            )
        )
    figure.update_layout(
        title=f"kg CO2e by {by}, {period}",
        barmode="stack",
        xaxis={"title": {"text": "kg CO2e"}, "tickformat": ",.3~s"},
        yaxis={"automargin": True},
        **{**_LAYOUT, "height": max(300, 34 * len(rows) + 120)},
    )
    return figure


def _previous(daily: pd.DataFrame, period: str) -> str | None:
    others = sorted(p for p in daily["billing_period"].unique() if p < period)
    return others[-1] if others else None
