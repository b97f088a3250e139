"""The FinOps monthly review: `finops dashboard` runs this file with Streamlit.

Pages (dashboard/pages/, one a file) read the marts through dashboard/common.py only. The
global filters live here, in the entrypoint, so they apply to every page and stay in the URL.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Pages import the shared module by name; Streamlit puts only the entrypoint's folder on
# sys.path when it runs the app, and AppTest does not always.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
import streamlit as st  # noqa: E402

st.set_page_config(
    page_title="FinOps monthly review", page_icon=":material/savings:", layout="wide"
)

PAGES = [
    st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
    st.Page("pages/showback.py", title="Showback", icon=":material/groups:"),
    st.Page("pages/anomalies.py", title="Anomalies", icon=":material/warning:"),
    st.Page("pages/savings.py", title="Savings", icon=":material/savings:"),
    st.Page("pages/commitments.py", title="Commitments", icon=":material/handshake:"),
    st.Page("pages/sustainability.py", title="Sustainability", icon=":material/eco:"),
    st.Page("pages/data.py", title="Data", icon=":material/database:"),
]

navigation = st.navigation(PAGES)
common.sidebar()
navigation.run()
