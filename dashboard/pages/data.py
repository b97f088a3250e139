"""Data: freshness, the ingest run log, reconciliation and the data checks."""

from __future__ import annotations

import common
import pandas as pd
import streamlit as st

from pipelines.errors import FinopsError
from pipelines.query import check_warehouse
from pipelines.review import MartMissing, run_log

filters = common.filters()
review = common.review()
common.heading("Data", filters, applies="")
st.caption(f"Warehouse `{review.warehouse}`; models built {review.built_at:%Y-%m-%d %H:%M} UTC.")

st.subheader("Freshness")
freshness = common.query("freshness", filters)
if freshness.empty:
    st.info("The warehouse has no cost data yet: run `finops ingest SOURCE` and `finops build`.")
else:
    latest = freshness["last_day"].max()
    st.metric("Latest day of data", f"{pd.Timestamp(latest):%Y-%m-%d}", border=True)
    st.dataframe(
        freshness,
        hide_index=True,
        column_config={
            "first_day": st.column_config.DateColumn("first day", format="YYYY-MM-DD"),
            "last_day": st.column_config.DateColumn("last day", format="YYYY-MM-DD"),
            "unblended_cost": st.column_config.NumberColumn("unblended", format="localized"),
            "line_items": st.column_config.NumberColumn("line items", format="localized"),
        },
    )

st.subheader("Run log")
runs = run_log(review.warehouse)
if runs.empty:
    st.info("No ingest has run on this warehouse yet.")
else:
    failed = runs[runs["outcome"] == "failed"]
    if not failed.empty:
        st.warning(f"{len(failed)} failed period runs in the log; the newest is first below.")
    st.dataframe(runs, hide_index=True)

st.subheader("Reconciliation")
try:
    invoices = common.query("invoice_reconciliation", filters)
    off = invoices[invoices["difference"].abs() > 0.005]
    if off.empty:
        st.success("Every invoice's line items add up to the run log's figure.")
    else:
        st.error(f"{len(off)} invoices differ from the run log.")
    st.dataframe(invoices, hide_index=True)
except MartMissing as missing:
    st.info(str(missing))

st.subheader("Data checks")
st.caption("The checks of queries/checks scan the line items, so they run when asked.")
if st.button("Run the data checks", icon=":material/fact_check:"):
    try:
        report = check_warehouse(review.warehouse)
    except FinopsError as error:
        st.error(str(error))
    else:
        failed = {failure.check for failure in report.failures}
        st.dataframe(
            pd.DataFrame(
                {
                    "check": list(report.checks),
                    "result": ["failed" if name in failed else "passed" for name in report.checks],
                }
            ),
            hide_index=True,
        )
        for failure in report.failures:
            st.error(f"{failure.check}: {failure.reason}")
