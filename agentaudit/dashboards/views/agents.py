"""Agents: every agent seen, catalogued or registered, and one click to its identity card.

The list joins the identity-card catalog (docs/catalog.md), the agent registry and the
store: per agent its owner, card status (signed, unsigned, drifted, none), excess
scopes (granted beyond the minimum), open lint problems and open findings. ``?agent=``
opens the agent's card, built as ``agentaudit card`` builds it: the join, exercised
scopes, problems, open findings, sign-off and drift.

Every value on the page comes from a catalog or from spans: tables are
``st.dataframe`` (plain-text cells), other values go through ``md``/``fmt``. The card's
own Markdown (``card_markdown``) is for a terminal and is only offered as a download,
never rendered here.
"""

from __future__ import annotations

import json
from typing import Any, Final

import pandas as pd
import streamlit as st

from agentaudit.catalog import Card, card_a2a, card_markdown
from agentaudit.dashboards import cards
from agentaudit.dashboards._ui import fmt, md, param, safely

DEFAULT_WINDOW: Final = "30d"
MAX_LINKS: Final = 200
MAX_FINDING_LINKS: Final = 20
SEVERITY_ORDER: Final = {"high": 0, "medium": 1, "low": 2}

st.title("Agents")
state = cards.catalog_state()
if state.path is None:
    st.info(
        "No catalog is configured, so no agent has an identity card (card status none). "
        "Give the dashboard a catalog with --catalog FILE, AGENTAUDIT_CATALOG or catalog in "
        "the config file (docs/catalog.md)."
    )
elif state.error:
    st.error(fmt("The catalog does not load; no card can be shown: {}", state.error))
elif state.catalog is not None:
    st.caption(
        fmt(
            "Identity cards from the catalog {} ({} agents). A card is signed when its newest "
            "sign-off is of the card as it is and nothing since went outside it.",
            str(state.path),
            len(state.catalog.agents),
        )
    )

window = param("since") or DEFAULT_WINDOW
options = list(cards.OBSERVED_WINDOWS)
if window not in options:
    st.error(fmt("Invalid window in the link: {}; showing {}.", window, DEFAULT_WINDOW))
    window = DEFAULT_WINDOW
window = (
    st.selectbox("Observed use over", options, index=options.index(window), key="since")
    or DEFAULT_WINDOW
)
if window != DEFAULT_WINDOW or "since" in st.query_params:
    st.query_params["since"] = window


def _card_header(card: Card) -> None:
    st.header("Identity card")  # no recorded value in a heading: the agent goes below
    st.markdown(fmt("**Agent:** {}", card.agent))
    if card.status == "signed":
        st.success(fmt("Signed by {} at {}.", card.signed_by, card.signed_at))
    elif card.status == "drifted":
        st.error(
            fmt("Drifted since the sign-off by {} at {}:", card.signed_by, card.signed_at)
            if card.signoff is not None
            else fmt("Drifted:")
        )
        for reason in card.drift:
            st.markdown(fmt("- {}", reason))
    elif card.status == "unsigned":
        st.warning(
            fmt(
                "Unsigned: no one has signed this card off. The owner signs it with "
                "{} once it is right.",
                f"agentaudit card sign {card.agent} --by NAME",
            )
        )
    else:
        st.info(
            fmt("{} has no identity card in the catalog: an unbounded blast radius.", card.agent)
        )
    st.markdown(fmt("**Owner:** {}", md(card.owner) or fmt("none written down")))
    if card.registry_owner and card.registry_owner != card.owner:
        st.markdown(fmt("**Owner in the agent registry:** {}", card.registry_owner))
    st.markdown(fmt("**Description:** {}", md(card.description) or fmt("none")))
    st.markdown(fmt("**Audit destination:** {}", md(card.audit_destination) or fmt("none")))
    st.markdown(fmt("**Revocation path:** {}", md(card.revocation_path) or fmt("none")))
    if card.card_hash:
        st.caption(fmt("Card hash {}; exercised scopes over the last {}.", card.card_hash, window))


def _tools(card: Card) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    for tool in card.tools:
        granted, minimum = tool.granted_scopes, tool.min_scopes
        rows.append(
            {
                "tool": tool.name,
                "action": tool.action,
                "credential": tool.credential,
                "granted": list(granted) if granted is not None else None,
                "minimum": list(minimum) if minimum is not None else None,
                "excess": [s for s in granted or () if s not in (minimum or ())],
                "exercised": list(tool.exercised_scopes),
                "lifetime_s": tool.lifetime_s,
                "resource argument": tool.resource_argument,
                "calls": tool.calls,
            }
        )
    return pd.DataFrame(rows)


def _problems(card: Card) -> pd.DataFrame:
    rows = [
        {
            "severity": p.severity,
            "problem": p.problem,
            "tool": p.tool,
            "detail": p.detail,
            "where": f"{p.location.path}:{p.location.line}" if p.location else "",
        }
        for p in sorted(card.problems, key=lambda p: SEVERITY_ORDER.get(p.severity, 3))
    ]
    return pd.DataFrame(rows, columns=["severity", "problem", "tool", "detail", "where"])


def show_card(agent: str) -> None:
    st.page_link(
        "views/agents.py",
        label="All agents",
        icon=":material/arrow_back:",
        query_params={"since": window},
    )
    card = safely(lambda: cards.agent_card(agent, window), "the card")
    if card is None:
        return
    _card_header(card)
    st.subheader(fmt("Tools ({})", len(card.tools)))
    if card.tools:
        st.dataframe(_tools(card), hide_index=True, width="stretch")
    else:
        st.info("No tool is written down for this agent.")
    st.subheader(fmt("Problems ({})", len(card.problems)))
    if card.problems:
        st.dataframe(_problems(card), hide_index=True, width="stretch")
    else:
        st.success("No lint problem: the card and the observed use agree.")
    st.subheader(fmt("Open findings ({})", len(card.findings)))
    for finding in card.findings[:MAX_FINDING_LINKS]:
        st.page_link(
            "views/findings.py",
            label=fmt(
                "{} {} at {}: {}",
                str(finding.get("severity", "")),
                str(finding.get("rule", "")),
                str(finding.get("ts", "")),
                str(finding.get("summary", "")),
            ),
            icon=":material/policy:",
            query_params={"finding": str(finding.get("finding_id", "")), "window": "all"},
        )
    if not card.findings:
        st.success("No open finding.")
    st.subheader("The card as a document")
    left, middle, right = st.columns(3)
    document = card.to_json()
    left.download_button(
        "Download JSON",
        json.dumps(document, ensure_ascii=False, indent=2),
        file_name="card.json",
        mime="application/json",
    )
    middle.download_button(
        "Download Markdown", card_markdown(card), file_name="card.md", mime="text/markdown"
    )
    right.download_button(
        "Download A2A AgentCard",
        json.dumps(card_a2a(card), ensure_ascii=False, indent=2),
        file_name="agent-card.json",
        mime="application/json",
    )
    with st.expander("The card as JSON (agentaudit card --format json)"):
        st.json(document)


def show_list() -> None:
    table = safely(lambda: cards.agents_table(window), "the agents")
    if table is None:
        return
    if table.empty:
        st.info("No agent is catalogued, registered or seen in this window.")
        return
    counts = table["card"].value_counts()
    a, b, c, d = st.columns(4)
    a.metric("Agents", len(table))
    b.metric("Signed cards", int(counts.get("signed", 0)))
    c.metric("Drifted or unsigned", int(counts.get("drifted", 0) + counts.get("unsigned", 0)))
    d.metric("Without a card", int(counts.get("none", 0)))
    st.dataframe(table, hide_index=True, width="stretch")
    st.subheader("Open a card")
    for row in table.head(MAX_LINKS).to_dict("records"):
        st.page_link(
            "views/agents.py",
            label=fmt(
                "{}: card {} · problems {} · open findings {}",
                str(row["agent"]),
                str(row["card"]),
                int(row["problems"]),
                int(row["open findings"]),
            ),
            icon=":material/badge:",
            query_params={"agent": str(row["agent"]), "since": window},
        )


chosen = param("agent")
if chosen:
    show_card(chosen)
else:
    show_list()
