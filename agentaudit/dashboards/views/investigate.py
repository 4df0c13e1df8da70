"""Investigate: filter tool calls; the filters live in the URL so a link can be shared."""

from __future__ import annotations

from urllib.parse import urlencode

import streamlit as st

from agentaudit.dashboards import data
from agentaudit.dashboards._ui import fmt
from agentaudit.dashboards.filters import STATUSES, TIME_BASES, WINDOWS, FilterError, Filters
from agentaudit.dashboards.queries import SORTABLE

st.title("Investigate")

TIME_LABELS = {
    "claimed": "time the agent claims (ts)",
    "received": "time the collector received it",
}

query = {key: st.query_params.get_all(key) for key in st.query_params}
filters: Filters | None
try:
    filters = Filters.from_query(query)
except FilterError as exc:
    st.error(fmt("Invalid filter in the link: {}. Fix it below and apply.", exc))
    filters = None

shown = filters or Filters()
with st.form("filters"):
    c1, c2, c3, c4 = st.columns(4)
    windows = list(WINDOWS)
    if shown.window not in windows:
        windows.append(shown.window)
    window = c1.selectbox("Time window", windows, index=windows.index(shown.window))
    since = c2.text_input("Since (ISO-8601, overrides window)", shown.since)
    until = c3.text_input("Until (ISO-8601)", shown.until)
    # The claimed time is the agent's to set; a backdated call is in the window of the
    # time the collector received it (docs/trust.md, "What a span cannot set").
    basis = c4.selectbox(
        "Window over",
        TIME_BASES,
        index=TIME_BASES.index(shown.time),  # shown is validated: one of TIME_BASES
        format_func=lambda b: TIME_LABELS[b],
    )
    c1, c2, c3, c4 = st.columns(4)
    agent = c1.text_input("Agent", shown.agent)
    user = c2.text_input("User", shown.user)
    session = c3.text_input("Session", shown.session)
    tool = c4.text_input("Tool", shown.tool)
    c1, c2, c3, c4 = st.columns(4)
    resource = c1.text_input("Resource id", shown.resource)
    credential = c2.text_input("Credential id", shown.credential)
    statuses = ["", *STATUSES]
    status = c3.selectbox(
        "Status",
        statuses,
        index=statuses.index(shown.status) if shown.status in statuses else 0,
        format_func=lambda s: s or "any",
    )
    text = c4.text_input("Text in arguments", shown.q)
    untrusted = st.checkbox("Only calls prompted by untrusted content", shown.untrusted)
    applied = st.form_submit_button("Apply filters")

if applied:
    candidate = {
        "window": window or "",
        "since": since,
        "until": until,
        "agent": agent,
        "user": user,
        "session": session,
        "trace": shown.trace,  # no form field: kept from the link
        "tool": tool,
        "resource": resource,
        "credential": credential,
        "status": status or "",
        "q": text,
        "untrusted": "1" if untrusted else "0",
        "time": basis or TIME_BASES[0],
    }
    try:
        filters = Filters.from_query(candidate)
    except FilterError as exc:
        st.error(fmt("Invalid filter: {}", exc))
        filters = None
    else:
        st.query_params.clear()
        st.query_params.update(filters.to_query())

if filters is None:
    st.stop()

s1, s2, _ = st.columns([1, 1, 3])
sort = s1.selectbox("Sort by", SORTABLE, index=0)
descending = s2.toggle("Descending", value=True)
try:
    results = data.investigate(filters, sort=sort or "ts", descending=descending)
except (FilterError, ValueError) as exc:
    st.error(fmt("Invalid filter: {}", exc))
    st.stop()
except Exception as exc:  # a store error: say so instead of a traceback
    st.error(fmt("Could not query tool calls: {}", exc))
    st.stop()

if results.empty:
    st.info("No tool calls match these filters.")
    st.stop()
st.caption(fmt("{:,} tool calls (newest 1,000 at most). Click a header to sort.", len(results)))
results = results.assign(
    link=[f"./session?{urlencode({'session': s})}" if s else "" for s in results["session_id"]]
)
st.dataframe(
    results,
    hide_index=True,
    width="stretch",
    column_config={
        "link": st.column_config.LinkColumn("Session forensics", display_text="open"),
        "untrusted_source": st.column_config.CheckboxColumn("untrusted"),
    },
)
st.download_button(
    "Download CSV",
    results.drop(columns=["link"]).to_csv(index=False).encode(),
    file_name="agentaudit-tool-calls.csv",
    mime="text/csv",
)
