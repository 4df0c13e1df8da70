"""Blast radius: scopes an agent held vs. scopes it exercised, resources, credentials."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from agentaudit.dashboards import data
from agentaudit.dashboards._ui import fmt, param, safely, window_picker
from agentaudit.dashboards.scopes import exercised_scopes

st.title("Blast radius")
st.caption(
    "What a compromised agent could reach. Held: every scope on a credential the agent "
    "presented. Exercised: scopes whose resource type (the part before the first '.' or "
    "':') matches a resource type the tool touched. Held but never exercised is excess."
)
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

tools = safely(lambda: data.blast_tools(agent, window), "tools")
credentials = safely(lambda: data.blast_credentials(agent, window), "credentials")
if tools is None or tools.empty:
    st.info("No tool calls for this agent in the window.")
    st.stop()

held: set[str] = set()
exercised: set[str] = set()
rows = []
for row in tools.to_dict("records"):
    presented = list(row["scopes_presented"])
    used = exercised_scopes(presented, list(row["resource_types"]))
    held.update(presented)
    exercised.update(used)
    rows.append(
        {
            "tool": row["tool_name"],
            "calls": row["calls"],
            "scopes exercised": sorted(used),
            "scopes held, unused": sorted(set(presented) - used),
            "resources": row["resources"],
            "sample resources": list(row["sample_resources"]),
        }
    )

a, b, c = st.columns(3)
a.metric("Scopes held", len(held))
b.metric("Scopes exercised", len(exercised))
c.metric("Held, never exercised", len(held - exercised))
if held - exercised:
    st.warning(fmt("Excess scopes: {}", sorted(held - exercised)))
st.subheader("Per tool")
st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")

st.subheader("Credentials seen")
if credentials is None or credentials.empty:
    st.info("No credential ids recorded for this agent.")
else:

    def _lifetime(row: pd.Series) -> str:
        expires = row["expires_at"]
        if not isinstance(expires, dt.datetime) or expires.year <= 1970:
            return "no expiry"
        return str(pd.Timestamp(expires) - pd.Timestamp(row["first_used"])).split(".")[0]

    credentials = credentials.assign(lifetime_from_first_use=credentials.apply(_lifetime, axis=1))
    st.dataframe(credentials, hide_index=True, width="stretch")
