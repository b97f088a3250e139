"""``finops report``: the monthly review as one self-contained HTML file, for mailing.

The report tells the story of the dashboard's Overview, Showback, Anomalies, Savings and
Sustainability pages for one billing period, with the same queries (``pipelines.review``) and
the same charts (``pipelines.charts``). plotly's JavaScript is embedded once, inline, so the
file opens anywhere without a network. A section whose mart the warehouse lacks says which
command makes it.

Example::

    path = write_report(Path("warehouse"), "2026-10", Path("review-2026-10.html"))

Notes:
    Key figures carry ``data-figure`` and ``data-value`` attributes (the unrounded amount), so
    a test or a script can read them back without parsing formatted money.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from pipelines import charts
from pipelines.errors import FinopsError, WarehouseError
from pipelines.review import (
    MEASURES,
    Filters,
    MartMissing,
    Review,
    money,
    month_to_date,
    percent,
    root_cause,
    savings_totals,
)

PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0;
       color: #1f2933; background: #f7f8fa; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 32px 64px; background: #fff; }
h1 { margin-bottom: 4px; } h2 { margin-top: 40px; border-bottom: 2px solid #e4e7eb;
     padding-bottom: 6px; } h3 { margin-top: 24px; }
.meta { color: #616e7c; font-size: 14px; }
.figures { display: flex; flex-wrap: wrap; gap: 12px; margin: 16px 0; }
.figure { border: 1px solid #e4e7eb; border-radius: 8px; padding: 12px 16px; min-width: 170px; }
.figure .label { color: #616e7c; font-size: 13px; }
.figure .value { font-size: 24px; font-weight: 600; }
.figure .note { color: #616e7c; font-size: 12px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 14px; }
th, td { padding: 4px 10px; border-bottom: 1px solid #e4e7eb; text-align: left; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.missing { background: #eef4fb; border-left: 4px solid #3e7bc4; padding: 8px 12px; }
.up { color: #c62828; } .down { color: #2e7d32; }
"""


def write_report(
    warehouse: Path,
    period: str,
    output: Path | None = None,
    *,
    measure: str = "amortized",
    currency: str | None = None,
) -> Path:
    """Write the review of ``period`` ('YYYY-MM') to ``output`` (default review-PERIOD.html).

    Raises:
        WarehouseError: no finops.duckdb, or no cost data for the period in the currency.
    """
    if not PERIOD.match(period):
        raise WarehouseError(f"{period!r} is not a billing period (expected YYYY-MM)")
    output = Path(output) if output is not None else Path(f"review-{period}.html")
    review = Review(warehouse)
    if currency is not None:
        currencies = review.query("currencies", Filters())["currency"].tolist()
        if currency not in currencies:
            known = ", ".join(currencies) if currencies else "none"
            raise WarehouseError(
                f"{review.database}: no cost data in {currency} (currencies: {known})"
            )
    filters = review.resolve(Filters(period=period, measure=measure, currency=currency))
    periods = review.query("periods", filters)["billing_period"].tolist()
    if period not in periods:
        known = ", ".join(periods) if periods else "none"
        raise WarehouseError(
            f"{review.database}: no {filters.currency} cost data for {period} "
            f"(billing periods: {known})"
        )

    html = render_report(review, filters)
    try:
        output.write_text(html, encoding="utf-8")
    except OSError as error:
        raise FinopsError(f"{output}: cannot write the report ({error.strerror})") from None
    return output


def render_report(review: Review, filters: Filters) -> str:
    """The report's HTML for resolved filters."""
    builder = _Builder()
    generated = dt.datetime.now(dt.UTC)
    builder.add(
        f"<h1>FinOps monthly review: {_e(filters.period)}</h1>"
        f'<p class="meta">{_e(MEASURES[filters.measure])} in {_e(filters.currency)} · '
        f"warehouse {_e(str(review.warehouse))}, models built "
        f"{review.built_at:%Y-%m-%d %H:%M} UTC · report generated {generated:%Y-%m-%d %H:%M} "
        "UTC</p>"
    )
    for title, section in (
        ("Overview", _overview),
        ("Showback", _showback),
        ("Anomalies", _anomalies),
        ("Savings", _savings),
        ("Sustainability", _sustainability),
    ):
        builder.add(f'<section id="{title.lower()}"><h2>{title}</h2>')
        try:
            section(builder, review, filters)
        except MartMissing as error:
            builder.add(f'<p class="missing">{_e(str(error))}.</p>')
        builder.add("</section>")
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>FinOps monthly review {_e(filters.period)}</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{_STYLE}</style></head><body><main>{''.join(builder.parts)}</main></body></html>"
    )


class _Builder:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self._charts = 0

    def add(self, text: str) -> None:
        self.parts.append(text)

    def chart(self, figure: go.Figure) -> None:
        # plotly.js goes in once, inline, with the first chart; the others reuse it.
        self._charts += 1
        self.parts.append(
            figure.to_html(
                full_html=False,
                include_plotlyjs=self._charts == 1,
                div_id=f"chart-{self._charts}",
                config={"displaylogo": False, "responsive": True},
            )
        )

    def figures(self, items: Iterable[tuple[str, str, str, float | None, str]]) -> None:
        """Key figures: (id, label, shown text, raw value, note)."""
        cells = []
        for key, label, text, value, note in items:
            raw = "" if value is None else f' data-value="{value!r}"'
            cells.append(
                f'<div class="figure" data-figure="{key}"{raw}><div class="label">{_e(label)}'
                f'</div><div class="value">{_e(text)}</div><div class="note">{_e(note)}</div>'
                "</div>"
            )
        self.add(f'<div class="figures">{"".join(cells)}</div>')

    def table(
        self,
        frame: pd.DataFrame,
        columns: dict[str, str],
        formats: dict[str, Callable[[object], str]] | None = None,
        *,
        key: str = "",
    ) -> None:
        formats = formats or {}
        head = "".join(
            f'<th class="{"num" if name in formats else ""}">{_e(label)}</th>'
            for name, label in columns.items()
        )
        rows = []
        for record in frame.to_dict("records"):
            cells = "".join(
                f'<td class="num">{_e(formats[name](record[name]))}</td>'
                if name in formats
                else f"<td>{_e(_text(record[name]))}</td>"
                for name in columns
            )
            rows.append(f"<tr>{cells}</tr>")
        self.add(
            f'<table data-table="{key}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>"
        )


def _overview(builder: _Builder, review: Review, filters: Filters) -> None:
    currency = filters.currency
    spend = month_to_date(review, filters)
    cash = _money(currency)
    builder.figures(
        [
            (
                "month-total" if spend.complete else "month-to-date",
                "Month total" if spend.complete else f"Month to date (to {spend.as_of})",
                cash(spend.month_to_date),
                spend.month_to_date,
                f"{cash(spend.month_to_date - spend.previous_same_point)} vs the same day "
                "last month",
            ),
            (
                "forecast",
                "Forecast to month end",
                cash(spend.forecast),
                spend.forecast,
                f"range {cash(spend.forecast_low)} – {cash(spend.forecast_high)}"
                if not spend.complete
                else "the period's data is complete",
            ),
            (
                "previous-total",
                f"Last month ({filters.previous})",
                cash(spend.previous_total),
                spend.previous_total,
                f"{cash(spend.previous_same_point)} to the same day",
            ),
        ]
    )
    builder.chart(charts.cumulative_spend(spend, currency, MEASURES[filters.measure]))
    trend = review.query("monthly_trend", filters)
    builder.chart(charts.monthly_trend(trend, currency, MEASURES[filters.measure]))

    movers = {"current_cost": cash, "previous_cost": cash, "change": cash}
    services = review.query(
        "service_movers", filters, as_of_day=spend.as_of.day if spend.as_of else 31
    )
    builder.add(f"<h3>Top movers by service (vs {_e(filters.previous)} to the same day)</h3>")
    builder.table(
        services,
        {
            "service": "service",
            "current_cost": filters.period,
            "previous_cost": filters.previous,
            "change": "change",
        },
        movers,
        key="service-movers",
    )
    teams = review.query("team_movers", filters)
    builder.add(f"<h3>Top movers by team (vs {_e(filters.previous)})</h3>")
    builder.table(
        teams,
        {
            "team": "team",
            "current_cost": filters.period,
            "previous_cost": filters.previous,
            "change": "change",
        },
        movers,
        key="team-movers",
    )


def _showback(builder: _Builder, review: Review, filters: Filters) -> None:
    currency = filters.currency
    cash = _money(currency)
    table = review.query("showback_table", filters, dimension="team", value=None)
    total = float(table["cost"].sum())
    untagged = float(table.loc[table["value"] == "(untagged)", "cost"].sum())
    builder.figures(
        [
            ("showback-total", "Showback total", cash(total), total, "all teams"),
            (
                "untagged",
                "Untagged",
                cash(untagged),
                untagged,
                f"{percent(untagged / total if total else None)} of the total",
            ),
            (
                "shared",
                "Shared costs allocated",
                cash(float(table["shared_cost"].sum())),
                float(table["shared_cost"].sum()),
                "split across teams"
                if table["shared_cost"].abs().sum()
                else "no shared-cost rule in finops.toml matched",
            ),
        ]
    )
    builder.chart(charts.showback_bars(table, currency, "team", filters.period))
    builder.table(
        table,
        {
            "value": "team",
            "direct_cost": "direct",
            "shared_cost": "shared",
            "cost": "total",
            "share": "share",
        },
        {"direct_cost": cash, "shared_cost": cash, "cost": cash, "share": percent},
        key="showback-team",
    )
    try:
        coverage = review.query("tag_coverage", filters)
    except MartMissing:
        return
    builder.add("<h3>Tag coverage</h3>")
    builder.table(
        coverage,
        {
            "dimension": "tag",
            "tagged_amortized_cost": "tagged (amortized)",
            "total_amortized_cost": "total (amortized)",
            "coverage": "coverage",
        },
        {"tagged_amortized_cost": cash, "total_amortized_cost": cash, "coverage": percent},
        key="tag-coverage",
    )


def _anomalies(builder: _Builder, review: Review, filters: Filters) -> None:
    currency = filters.currency
    cash = _money(currency)
    anomalies = review.query("anomaly_list", filters)
    impact = float(anomalies["impact"].sum())
    builder.figures(
        [
            (
                "anomalies",
                "Anomalies",
                f"{len(anomalies)}",
                float(len(anomalies)),
                f"overlapping {filters.period}",
            ),
            ("anomaly-impact", "Total impact", cash(impact), impact, "actual minus expected"),
        ]
    )
    if anomalies.empty:
        builder.add("<p>No anomaly this month.</p>")
        return
    builder.table(
        anomalies,
        {
            "kind": "kind",
            "dimension": "dimension",
            "dimension_value": "value",
            "first_day": "from",
            "last_day": "to",
            "expected_cost": "expected",
            "actual_cost": "actual",
            "impact": "impact",
            "impact_pct": "impact %",
        },
        {"expected_cost": cash, "actual_cost": cash, "impact": cash, "impact_pct": percent},
        key="anomalies",
    )
    for anomaly in anomalies.head(3).to_dict("records"):
        title = f"{anomaly['dimension']} {anomaly['dimension_value']}: expected against actual"
        builder.add(f"<h3>{_e(title)}</h3>")
        try:
            days = review.query("anomaly_days", filters, anomaly_id=anomaly["anomaly_id"])
            if days.empty:
                builder.add("<p>anomaly_days has no daily series for this anomaly.</p>")
            else:
                builder.chart(charts.anomaly_days(days, currency, title))
        except MartMissing as error:
            builder.add(f'<p class="missing">{_e(str(error))}.</p>')
        causes = root_cause(anomaly)
        if not causes.empty:
            builder.table(
                causes,
                {"dimension": "root cause", "value": "value", "share": "share", "impact": "impact"},
                {"share": percent, "impact": cash},
                key=f"root-cause-{anomaly['anomaly_id']}",
            )


def _savings(builder: _Builder, review: Review, filters: Filters) -> None:
    currency = filters.currency
    cash = _money(currency)
    recommendations = review.query("recommendation_list", filters)
    if recommendations.empty:
        builder.figures([("savings", "Open savings per month", cash(0.0), 0.0, "")])
        builder.add("<p>No open recommendation.</p>")
        return
    totals = savings_totals(recommendations)
    total = totals.iloc[-1]
    builder.figures(
        [
            (
                "savings",
                "Open savings per month",
                cash(total["estimated_monthly_saving"]),
                float(total["estimated_monthly_saving"]),
                f"range {cash(total['saving_low'])} – {cash(total['saving_high'])}",
            ),
            (
                "recommendations",
                "Recommendations",
                f"{len(recommendations)}",
                float(len(recommendations)),
                "",
            ),
        ]
    )
    builder.chart(charts.savings_by_kind(totals, currency))
    builder.table(
        totals,
        {
            "kind": "kind",
            "recommendations": "count",
            "estimated_monthly_saving": "saving",
            "saving_low": "low",
            "saving_high": "high",
        },
        {"estimated_monthly_saving": cash, "saving_low": cash, "saving_high": cash},
        key="savings-by-kind",
    )
    builder.add("<h3>The twenty largest</h3>")
    builder.table(
        recommendations.head(20),
        {
            "kind": "kind",
            "account_id": "account",
            "resource_id": "resource",
            "team": "team",
            "estimated_monthly_saving": "saving / month",
            "confidence": "confidence",
            "evidence": "evidence",
        },
        {"estimated_monthly_saving": cash},
        key="recommendations",
    )


def _sustainability(builder: _Builder, review: Review, filters: Filters) -> None:
    currency = filters.currency
    cash = _money(currency)
    kg = lambda value: f"{_number(value):,.1f} kg"  # noqa: E731 - a formatter, named for once
    missing: list[str] = []
    try:
        by_service = review.query("carbon_by", filters, by="service")
        total = float(by_service["co2e_kg"].sum())
        builder.figures(
            [
                ("co2e", "Emissions", f"{total:,.1f} kg CO2e", total, filters.period),
                (
                    "operational",
                    "Operational",
                    kg(by_service["operational_co2e_kg"].sum()),
                    float(by_service["operational_co2e_kg"].sum()),
                    "",
                ),
                (
                    "embodied",
                    "Embodied",
                    kg(by_service["embodied_co2e_kg"].sum()),
                    float(by_service["embodied_co2e_kg"].sum()),
                    "",
                ),
            ]
        )
        for by in ("service", "region", "team"):
            frame = by_service if by == "service" else review.query("carbon_by", filters, by=by)
            builder.chart(charts.carbon_bars(frame, by, filters.period))
    except MartMissing as error:
        missing.append(str(error))

    try:
        graviton = review.query("graviton_share", filters)
        arm = float(graviton["arm64_cost"].sum())
        instances = float(graviton["instance_cost"].sum())
        builder.add("<h3>Graviton share</h3>")
        builder.figures(
            [
                (
                    "graviton-share",
                    "Instance cost on Arm (Graviton)",
                    percent(arm / instances if instances else None),
                    arm / instances if instances else None,
                    f"{cash(arm)} of {cash(instances)}",
                )
            ]
        )
    except MartMissing as error:
        missing.append(str(error))

    try:
        recommendations = review.query("recommendation_list", filters)
        saved = float(recommendations["co2e_kg_total_saved"].sum())
        builder.add("<h3>Carbon of the open recommendations</h3>")
        builder.figures(
            [("co2e-saved", "kg CO2e saved per month if all are done", kg(saved), saved, "")]
        )
    except MartMissing as error:
        missing.append(str(error))
    for message in missing:
        builder.add(f'<p class="missing">{_e(message)}.</p>')


def _money(currency: str) -> Callable[[object], str]:
    return lambda value: money(_number(value), currency)


def _number(value: object) -> float | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    return float(value)


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, pd.Timestamp | dt.datetime):
        return f"{value:%Y-%m-%d}"
    return str(value)


def _e(text: str) -> str:
    return html.escape(text, quote=True)
