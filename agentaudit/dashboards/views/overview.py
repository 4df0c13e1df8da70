"""Overview: activity by agent, top tools, unapproved calls steered by untrusted content,
open findings, quarantined agents, ingest health."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from agentaudit.dashboards import data
from agentaudit.dashboards._ui import Markdown, fmt, md, safely, window_picker
from agentaudit.dashboards.charts import activity_bars
from agentaudit.detector.model import SEVERITIES


def _age(seconds: float) -> Markdown:
    """A short duration, as plain text: ``42 s``, ``12 min``, ``3 h``, ``2 d``."""
    seconds = max(seconds, 0.0)
    if seconds >= 86400:
        return fmt("{:,} d", int(seconds // 86400))
    if seconds >= 3600:
        return fmt("{:,} h", int(seconds // 3600))
    if seconds >= 60:
        return fmt("{:,} min", int(seconds // 60))
    return fmt("{:,} s", int(seconds))


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
            st.altair_chart(activity_bars(series), width="stretch")
            step = (series["bucket_end"] - series["bucket"]).max()
            st.caption(
                fmt(
                    "From the first to the last call in the window, in buckets of {}.",
                    _age(pd.Timedelta(step).total_seconds()),
                )
            )
with right:
    st.subheader("Top tools")
    if tools is not None:
        if tools.empty:
            st.info("No tool calls in this window.")
        else:
            st.dataframe(tools, hide_index=True, width="stretch")

findings_col, quarantine_col = st.columns([3, 2])
with findings_col:
    st.subheader("Open findings")
    findings = safely(data.open_findings, "findings")
    if findings is None:
        st.info("No findings yet: behavioural findings appear here once the detector runs.")
    elif findings.empty:
        st.success("No open findings.")
    else:
        rank = {name: i for i, name in enumerate(SEVERITIES)}
        shown = findings.assign(
            rank=findings["severity"].map(lambda s: -rank.get(s, -1)),
            triage=[f"./findings?{urlencode({'finding': f})}" for f in findings["finding_id"]],
        ).sort_values(["rank", "ts"], ascending=[True, False], kind="stable")
        # A dataframe: its cells are plain text, and summaries quote what the agent did.
        st.dataframe(
            shown[["severity", "agent_id", "triage", "summary", "state", "ts"]],
            hide_index=True,
            width="stretch",
            column_config={
                "triage": st.column_config.LinkColumn("Findings page", display_text="triage"),
            },
        )
    st.page_link("views/findings.py", label="Open the Findings page", icon=":material/policy:")
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
    c.metric("Received, last 5 min", fmt("{:,}", health["last_5m"]))
    if health["calls_1h"]:
        # A short value: a metric cuts off what does not fit its column; the full time
        # is in the caption below.
        last = pd.Timestamp(health["last_received"]).tz_localize(None).to_pydatetime()
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        d.metric("Last received", fmt("{} ago", _age((now - last).total_seconds())))
        st.caption(
            fmt(
                "Last received {:%Y-%m-%d %H:%M:%S} UTC. Last hour: {:,} tool calls in {:,} "
                "batches; mean delay from span start to store {:.1f} s.",
                last,
                health["calls_1h"],
                health["batches_1h"],
                health["lag_ms_1h"] / 1000,
            )
        )
    else:
        d.metric("Last received", "none", help="No tool call received in the last hour.")
