"""What every page shares: the warehouse's marts through a cache, and the global filters.

The data access is ``pipelines.review`` (the same queries ``finops report`` runs). Here it is
cached: one ``Review`` (the marts copied into memory once) per finops.duckdb and modification
time, and each query's result per filters, so a rebuilt warehouse is read afresh and a page
load after the first costs no scan. Every connection to finops.duckdb is read-only.

The filters (period, currency, measure, account, team, env) are widgets of the entrypoint
bound to the URL's query string, so a view can be shared by its link and survives moving
between pages.
"""

from __future__ import annotations

import os
from dataclasses import astuple
from pathlib import Path

import pandas as pd
import streamlit as st

from pipelines.errors import WarehouseError
from pipelines.models import DATABASE_FILE
from pipelines.review import (
    MEASURES,
    Filters,
    MartMissing,
    MonthToDate,
    Review,
    month_to_date,
)

ALL = "All"


def warehouse() -> Path:
    """The warehouse the app reads: $FINOPS_WAREHOUSE (set by `finops dashboard -w`)."""
    return Path(os.environ.get("FINOPS_WAREHOUSE", "warehouse")).resolve()


def _stamp() -> tuple[str, float]:
    database = warehouse() / DATABASE_FILE
    return str(database), database.stat().st_mtime if database.is_file() else 0.0


@st.cache_resource(max_entries=2, show_spinner="Reading the marts…")
def _review(database: str, mtime: float) -> Review:
    return Review(Path(database).parent)


@st.cache_data(max_entries=512, show_spinner=False)
def _query(database: str, mtime: float, name: str, filters: tuple, extra: tuple) -> pd.DataFrame:
    return _review(database, mtime).query(name, Filters(*filters), **dict(extra))


@st.cache_data(max_entries=128, show_spinner=False)
def _month_to_date(database: str, mtime: float, filters: tuple) -> MonthToDate:
    return month_to_date(_review(database, mtime), Filters(*filters))


def review() -> Review:
    """The cached Review of the current build; stops the page with a message when there is none."""
    try:
        return _review(*_stamp())
    except WarehouseError as error:
        st.warning(f"No warehouse to show yet. {error}.")
        st.caption(
            "`finops run SOURCE -w DIR` ingests a CUR export and builds the models; then "
            "`finops dashboard -w DIR`."
        )
        st.stop()


def query(name: str, filters: Filters, **extra: object) -> pd.DataFrame:
    """A named query of pipelines/sql/review.sql, cached per build and filters.

    Raises:
        MartMissing: the mart it reads is not in this build.
    """
    return _query(*_stamp(), name, astuple(filters), tuple(sorted(extra.items())))


def spend(filters: Filters) -> MonthToDate:
    return _month_to_date(*_stamp(), astuple(filters))


def missing(error: MartMissing) -> None:
    """The helpful message for a mart this build lacks."""
    st.info(f"{error}.", icon=":material/info:")


def filters() -> Filters:
    """The global filters as the sidebar set them (see ``sidebar``)."""
    return st.session_state.get("_filters", Filters())


def sidebar() -> None:
    """The global filters, in the sidebar, bound to the URL's query string."""
    current = review()
    defaults = current.resolve(Filters())

    currencies = current.query("currencies", defaults)["currency"].tolist() or ["USD"]
    with st.sidebar:
        st.header("Filters")
        currency = st.selectbox(
            "Currency",
            currencies,
            key="currency",
            bind="query-params",
            help="Amounts are never added across currencies.",
        )
        base = Filters(currency=currency)
        periods = current.query("periods", base)["billing_period"].tolist()[::-1]
        period = st.selectbox(
            "Billing period",
            periods or [defaults.period],
            key="period",
            bind="query-params",
            help="The month reviewed; trends show the twelve months up to it.",
        )
        # The options are the URL's values too (?measure=net), so they stay short words.
        measure = st.radio(
            "Cost measure",
            list(MEASURES),
            horizontal=True,
            key="measure",
            bind="query-params",
            help="amortized: commitment fees spread over the usage they cover; unblended: as "
            "invoiced; net: amortized after discounts (net amortized).",
        )
        accounts = current.query("accounts", base)["account_id"].tolist()
        account = st.selectbox("Account", [ALL, *accounts], key="account", bind="query-params")
        owners = _owners(current, base)
        team = st.selectbox("Team", [ALL, *owners["team"]], key="team", bind="query-params")
        env = st.selectbox("Env", [ALL, *owners["env"]], key="env", bind="query-params")
        st.caption(
            f"Warehouse `{current.warehouse}`, built "
            f"{current.built_at:%Y-%m-%d %H:%M} UTC. The link holds these filters."
        )

    st.session_state["_filters"] = Filters(
        period=period,
        currency=currency,
        measure=measure,
        account=None if account == ALL else account,
        team=None if team == ALL else team,
        env=None if env == ALL else env,
    )


def _owners(current: Review, base: Filters) -> dict[str, list[str]]:
    try:
        owners = current.query("owners", base)
    except MartMissing:
        return {"team": [], "env": []}
    return {
        dimension: owners.loc[owners["dimension"] == dimension, "value"].tolist()
        for dimension in ("team", "env")
    }


def heading(title: str, filters: Filters, *, applies: str = "period, account, team, env") -> None:
    """The page title and one line saying what is shown and which filters apply."""
    st.title(title)
    scope = [MEASURES[filters.measure], f"in {filters.currency}", filters.period]
    chosen = {
        "account": filters.account,
        "team": filters.team,
        "env": filters.env,
    }
    scope += [f"{name} {value}" for name, value in chosen.items() if value]
    ignored = [name for name, value in chosen.items() if value and name not in applies]
    st.caption(" · ".join(str(part) for part in scope if part))
    if ignored:
        st.caption(
            f"The {' and '.join(ignored)} filter does not apply to this page's marts "
            f"(they have no {' or '.join(ignored)} column)."
        )


def has_data(current: Review, filters: Filters) -> bool:
    """False (and a message) when the warehouse holds no cost yet."""
    if current.query("periods", filters).empty:
        st.info(
            "The warehouse has no cost data yet: run `finops ingest SOURCE` and `finops build`, "
            "or `finops run SOURCE`.",
            icon=":material/info:",
        )
        return False
    return True


def money_column(label: str, currency: str) -> st.column_config.NumberColumn:
    """A table column of money: '$1,234.56' for USD, '€1,234.56' for EUR, else 1,234.56."""
    fmt = {"USD": "dollar", "EUR": "euro"}.get(currency, "localized")
    return st.column_config.NumberColumn(f"{label} ({currency})", format=fmt)
