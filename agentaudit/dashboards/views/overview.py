"""Overview: activity by agent, top tools, unapproved calls steered by untrusted content."""

from __future__ import annotations

import streamlit as st

from agentaudit.dashboards import data
from agentaudit.dashboards._ui import fmt, md, safely, window_picker

st.title("Overview")
window = window_picker()

st.subheader("No human asked for this")
st.caption(
    "Tool calls made without approval while the model's input held untrusted content "
    "(an inbound email, a web page, a tool result). Open a session to see which content "
    "steered which call."
)
unasked = safely(lambda: data.unasked_calls(window), "unapproved calls")
if unasked is not None:
    if unasked.empty:
        st.success("No unapproved tool calls prompted by untrusted content in this window.")
    else:
        sessions = unasked.drop_duplicates("session_id").head(10)
        for row in sessions.itertuples(index=False):
            st.page_link(
                "views/session.py",
                label=fmt(
                    "{}: {} called {} for {} (sources: {})",
                    row.session_id,
                    row.agent_id,
                    row.tool_name,
                    md(row.user_id) or fmt("unknown user"),
                    list(row.source_refs[:3]),
                ),
                icon=":material/warning:",
                query_params={"session": row.session_id},
            )
        st.dataframe(unasked, hide_index=True, width="stretch")

activity = safely(lambda: data.overview_activity(window), "tool-call counts")
series, tools = activity if activity is not None else (None, None)
left, right = st.columns([2, 1])
with left:
    st.subheader("Tool calls over time, by agent")
    if series is not None:
        if series.empty:
            st.info("No tool calls in this window.")
        else:
            chart = series.pivot_table(
                index="bucket", columns="agent_id", values="calls", aggfunc="sum", fill_value=0
            )
            st.line_chart(chart)
with right:
    st.subheader("Top tools")
    if tools is not None:
        if tools.empty:
            st.info("No tool calls in this window.")
        else:
            st.dataframe(tools, hide_index=True, width="stretch")

findings_col, quarantine_col = st.columns(2)
with findings_col:
    st.subheader("Open findings")
    findings = safely(lambda: data.optional_table("findings"), "findings")
    if findings is None:
        st.info("No findings yet: behavioural findings appear here once the detector runs.")
    elif findings.empty:
        st.success("No open findings.")
    else:
        st.dataframe(findings, hide_index=True, width="stretch")
with quarantine_col:
    st.subheader("Quarantined agents")
    quarantine = safely(lambda: data.optional_table("quarantine"), "quarantine")
    if quarantine is None:
        st.info("No quarantine records yet: quarantined agents appear here.")
    elif quarantine.empty:
        st.success("No agent is quarantined.")
    else:
        st.dataframe(quarantine, hide_index=True, width="stretch")

st.subheader("Ingest health")
health = safely(data.ingest_health, "ingest health")
if health is not None:
    a, b, c, d = st.columns(4)
    a.metric("Tool calls stored", fmt("{:,}", health["rows"]))
    b.metric("Spans stored", fmt("{:,}", health["spans"]))
    c.metric("Tool calls received, last 5 min", fmt("{:,}", health["last_5m"]))
    if health["calls_1h"]:
        d.metric("Last received (UTC)", fmt("{:%Y-%m-%d %H:%M:%S}", health["last_received"]))
        st.caption(
            fmt(
                "Last hour: {:,} tool calls in {:,} batches; mean delay from span start to "
                "store {:.1f} s.",
                health["calls_1h"],
                health["batches_1h"],
                health["lag_ms_1h"] / 1000,
            )
        )
    else:
        d.metric("Last received (UTC)", "none in the last hour")
