"""Blast radius: what a compromised agent could reach, per tool, against its identity card.

With a catalog (docs/catalog.md): per tool the scopes its card grants, the minimum its
action needs, the scopes its calls presented and the ones they exercised (inferred with
the scope vocabularies); excess scopes (granted beyond the minimum) named with what
they allow; scopes presented that the card does not grant. Without one the page says
so and compares presented with exercised only. No guessing from scope-name prefixes
(:mod:`agentaudit.dashboards.scopes`).

Every table counts the agent's calls claimed *or* received in the window, so an agent
that backdates its spans cannot shrink what it reached (docs/trust.md).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from agentaudit.dashboards import cards, data
from agentaudit.dashboards._ui import fmt, param, safely, window_picker
from agentaudit.dashboards.scopes import allows_text, blast_radius, excess_lines

st.title("Blast radius")
st.caption(
    "What a compromised agent could reach. Presented: the scopes on the credentials its "
    "calls carried. Exercised: the presented scope each successful call's action used, as "
    "the scope vocabularies tell it. With an identity card: granted and minimum per tool, "
    "as the catalog writes them. The calls are those claimed or received in the window: "
    "a backdated call counts where it arrived."
)
window = window_picker()
state = cards.catalog_state()
catalog = state.catalog
known = safely(lambda: data.agents(window), "agents") or []
requested = param("agent")
options = sorted(
    set(known) | set(catalog.agent_names if catalog else ()) | ({requested} if requested else set())
)
if not options:
    st.info("No agent made tool calls in this window. Choose a longer window.")
    st.stop()
agent = (
    st.selectbox("Agent", options, index=options.index(requested) if requested else 0) or options[0]
)
st.query_params["agent"] = agent

entry = catalog.agent(agent) if catalog else None
if state.path is None:
    st.info(
        "No catalog is configured, so no tool has a minimum scope to compare with: excess "
        "below is the scopes the calls presented but never exercised. Give the dashboard a "
        "catalog (--catalog FILE, AGENTAUDIT_CATALOG) to judge each tool against its "
        "identity card."
    )
elif state.error:
    st.error(fmt("The catalog does not load, so no card is used: {}", state.error))
elif entry is None:
    st.warning(
        fmt(
            "{} has no identity card in the catalog {}: every tool it calls is off the card.",
            agent,
            str(state.path),
        )
    )
else:
    st.caption(fmt("Judged against {}'s identity card in {}.", agent, str(state.path)))

uses = safely(lambda: cards.tool_uses(agent, window), "tool use")
if uses is None:
    st.stop()
vocab = cards.vocabularies()
radius = blast_radius(uses, vocab, entry=entry, catalogued=catalog is not None)
if not radius:
    st.info("No tool calls for this agent in the window, and no card lists a tool for it.")
    st.stop()

presented = {s for r in radius for s in r.presented}
exercised = {s for r in radius for s in r.exercised}
excess = excess_lines(radius, vocab)
beyond = [(r.tool, s) for r in radius for s in r.beyond_card]
unknown = sorted({s for r in radius for s in r.unknown})
a, b, c, d = st.columns(4)
if entry is not None:
    a.metric("Scopes granted (card)", len({s for r in radius for s in r.granted or ()}))
else:
    a.metric("Scopes presented", len(presented))
b.metric("Scopes exercised", len(exercised))
c.metric("Excess scopes", len(excess))
if catalog is not None:
    d.metric("Presented, not on the card", len(beyond))
else:
    d.metric("Unknown scopes", len(unknown))
if excess:
    st.warning(
        fmt("Granted beyond what the tools need: {}", excess)
        if entry is not None
        else fmt("Presented, never exercised: {}", excess)
    )
if beyond:
    st.error(
        fmt(
            "Presented but not granted by the card (the real credential is wider than the "
            "card says): {}",
            [f"{scope} on {tool}: allows {allows_text(scope, vocab)}" for tool, scope in beyond],
        )
    )
if unknown:
    st.info(
        fmt(
            "No scope vocabulary knows {}, so what they allow cannot be told; a catalog's "
            "min_scopes says what each tool needs.",
            unknown,
        )
    )

st.subheader("Per tool")
st.dataframe(
    pd.DataFrame(
        [
            {
                "tool": r.tool,
                "on card": r.listed,
                "calls": r.calls,
                "granted": list(r.granted) if r.granted is not None else None,
                "minimum": list(r.minimum) if r.minimum is not None else None,
                "presented": list(r.presented),
                "exercised": list(r.exercised),
                "excess": [f"{s}: allows {allows_text(s, vocab, r.provider)}" for s in r.excess],
                "not on the card": list(r.beyond_card),
            }
            for r in radius
        ]
    ),
    hide_index=True,
    width="stretch",
)

tools = safely(lambda: data.blast_tools(agent, window), "resources")
if tools is not None and not tools.empty:
    st.subheader("Resources touched")
    st.dataframe(
        tools[["tool_name", "calls", "resources", "sample_resources"]],
        hide_index=True,
        width="stretch",
    )

st.subheader("Credentials seen")
credentials = safely(lambda: data.blast_credentials(agent, window), "credentials")
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
