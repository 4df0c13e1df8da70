"""Agent profile: what an agent usually does against what it did in the selected window.

First the detector's saved baseline for the agent next to the same figures over the
window (``views/_baseline_panel.py``); then, from the stored calls alone, the window
against the 30 days before it. The figures are over the claimed time; calls received in
the window that claim a time outside it are counted in a warning that links to them.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from agentaudit.dashboards import data
from agentaudit.dashboards._ui import fmt, param, safely, window_picker
from agentaudit.dashboards.charts import comparison_bars
from agentaudit.dashboards.views import _baseline_panel

st.title("Agent profile")
window = window_picker()
known = safely(lambda: data.agents(window), "agents") or []
requested = param("agent")
options = sorted(set(known) | ({requested} if requested else set()))
if not options:
    st.info("No agent made tool calls in this window. Choose a longer window.")
    st.stop()
agent = (
    st.selectbox("Agent", options, index=options.index(requested) if requested else 0) or options[0]
)
st.query_params["agent"] = agent

# The profile is over the claimed time; what arrived in the window dated elsewhere is
# named here, with the receipt-time view of it, so a backdating agent is not a blank page.
elsewhere = safely(lambda: data.agent_calls_claimed_elsewhere(agent, window), "receipt times")
if elsewhere:
    st.warning(
        fmt(
            "Calls of {} received in this window that claim a time outside it (backdated, "
            "or held back before sending): {}. The figures below, over the claimed time, "
            "leave them out.",
            agent,
            elsewhere,
        )
    )
    st.page_link(
        "views/investigate.py",
        label="The calls received in this window",
        icon=":material/search:",
        query_params={
            "agent": agent,
            "since": window.since.isoformat(),
            "until": window.until.isoformat(),
            "time": "received",
        },
    )


def _periods(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.rename(columns={"window_calls": "window", "baseline_calls": "baseline"})


mix = safely(lambda: data.agent_tool_mix(agent, window), "the tool mix")
cadence = safely(lambda: data.agent_cadence(agent, window), "the cadence")
resources = safely(lambda: data.agent_resources(agent, window), "resources")
scopes = safely(lambda: data.agent_scopes(agent, window), "scopes")

_baseline_panel.show(agent, window, mix=mix, hours=cadence, scopes=scopes)

st.subheader("From the stored calls: this window against the 30 days before it")
st.caption("Baseline: the 30 days before the window. Shares are of each period's calls.")
left, right = st.columns(2)
with left:
    st.markdown("**Tool mix**")
    if mix is None or mix.empty:
        st.info("No tool calls for this agent in the window or its baseline.")
    else:
        st.altair_chart(
            comparison_bars(_periods(mix), "tool_name", title="share of calls"), width="stretch"
        )
        new_tools = mix[(mix["baseline_calls"] == 0) & (mix["window_calls"] > 0)]["tool_name"]
        if not new_tools.empty and int(mix["baseline_calls"].sum()) > 0:
            st.warning(fmt("Tools never used in the baseline: {}", list(new_tools)))
        st.dataframe(mix, hide_index=True, width="stretch")
with right:
    st.markdown("**Cadence (calls by hour of day, UTC)**")
    if cadence is None or cadence.empty:
        st.info("No calls to show.")
    else:
        full = pd.DataFrame({"hour": range(24)}).merge(cadence, on="hour", how="left").fillna(0)
        full["hour"] = [f"{h:02d}" for h in full["hour"]]
        st.altair_chart(
            comparison_bars(_periods(full), "hour", title="share of calls", ordinal=True),
            width="stretch",
        )

left, right = st.columns(2)
with left:
    st.markdown("**Resources touched in the window**")
    if resources is None or resources.empty:
        st.info("No resources recorded in this window.")
    else:
        resources = resources.assign(new=resources["baseline_calls"] == 0)
        st.dataframe(resources, hide_index=True, width="stretch")
with right:
    st.markdown("**Credential scopes used**")
    if scopes is None or scopes.empty:
        st.info("No credentials recorded.")
    else:
        st.dataframe(scopes, hide_index=True, width="stretch")
