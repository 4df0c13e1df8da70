"""Session forensics: the ordered timeline and the provenance chain of every tool call.

Deep links: ``?session=<session id>`` or ``?trace=<trace id>``.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pandas as pd
import streamlit as st

from agentaudit.dashboards import data
from agentaudit.dashboards._ui import current_user, fmt, md, param, safely
from agentaudit.dashboards.filters import MAX_VALUE_CHARS
from agentaudit.dashboards.provenance import ProvenanceCall, as_list, provenance_dot

st.title("Session forensics")

c1, c2 = st.columns(2)
session = c1.text_input("Session id", param("session"), max_chars=MAX_VALUE_CHARS).strip()
trace = c2.text_input(
    "or trace id", param("trace") if not session else "", max_chars=MAX_VALUE_CHARS
).strip()
if session:
    st.query_params.clear()
    st.query_params["session"] = session
    trace = ""
elif trace:
    st.query_params.clear()
    st.query_params["trace"] = trace
else:
    st.info("Enter a session id or a trace id, or open a session from the Overview or Investigate.")
    st.stop()

found = safely(lambda: data.session_tool_calls(session=session, trace=trace), "the session")
if found is None:
    st.stop()
calls: pd.DataFrame = found
if calls.empty:
    st.warning(
        fmt("No tool calls recorded for session {}. Check the id (it is matched exactly).", session)
        if session
        else fmt(
            "No tool calls recorded for trace {}. Check the id (it is matched exactly).", trace
        )
    )
    st.stop()

models = safely(
    lambda: data.session_model_calls(
        trace_ids=sorted(set(calls["trace_id"])),
        prompt_hashes=sorted({h for h in calls["prompt_hash"] if h}),
    ),
    "model calls",
)
if models is None:
    models = pd.DataFrame(columns=["ts", "prompt_hash", "model", "name", "span_id", "source_refs"])
model_of = {str(r.prompt_hash): str(r.model) for r in models.itertuples() if r.prompt_hash}

first = calls.iloc[0]
a, b, c, d = st.columns(4)
a.metric("Agent", fmt("{}", sorted(set(calls["agent_id"]))))
b.metric("User", fmt("{}", sorted(set(calls["user_id"]) - {""})) or "unknown")
c.metric("Tool calls", len(calls))
alerts = int(((calls["untrusted_source"] == 1) & (calls["approval_status"] == "none")).sum())
d.metric("Unapproved + untrusted", alerts)

st.subheader("Provenance chain")
st.caption(
    "source content → model call → tool call → resource. Red sources are untrusted; a "
    "red tool call was made without approval while untrusted content was in the prompt."
)
chain = [
    ProvenanceCall.from_row(row, model_of.get(str(row["prompt_hash"]), ""))
    for row in calls.to_dict("records")
]
st.graphviz_chart(provenance_dot(chain), width="stretch")
for call in chain:
    if call.untrusted and call.unapproved:
        untrusted = [
            ref
            for ref, trust in zip(call.source_refs, call.source_trust, strict=False)
            if trust == "untrusted"
        ]
        st.error(
            fmt(
                "{} ran without approval; its prompt contained untrusted content from {}.",
                call.tool_name,
                untrusted,
            )
        )

user = current_user()
if user is not None and user.responder:
    for agent_id in sorted(set(calls["agent_id"])):
        st.page_link(
            "views/revoke.py",
            label=fmt("Request revocation of agent {}", agent_id),
            icon=":material/block:",
            query_params={"target": "agent", "id": agent_id},
        )

st.subheader("Timeline")
events: list[dict[str, Any]] = []
for row in models.to_dict("records"):
    events.append(
        {
            "ts": row["ts"],
            "kind": "model call",
            "what": row["name"],
            "prompt": str(row["prompt_hash"])[:19],
            "sources": ", ".join(as_list(row["source_refs"])),
            "approval": "",
            "status": "",
        }
    )
for row in calls.to_dict("records"):
    events.append(
        {
            "ts": row["ts"],
            "kind": "tool call",
            "what": row["tool_name"],
            "prompt": str(row["prompt_hash"])[:19],
            "sources": ", ".join(row["source_refs"]),
            "approval": row["approval"],
            "status": row["status"],
        }
    )
timeline = pd.DataFrame(events).sort_values("ts", kind="stable")
st.dataframe(timeline, hide_index=True, width="stretch")

st.subheader("Tool calls")
for row in calls.to_dict("records"):
    alert = bool(row["untrusted_source"] and row["approval_status"] == "none")
    with st.expander(
        fmt("{:%H:%M:%S} {}", row["ts"], row["tool_name"])
        + (" ⚠ untrusted, not approved" if alert else ""),
        expanded=alert,
    ):
        left, right = st.columns(2)
        with left:
            st.markdown("**Arguments** (redacted)")
            try:
                st.json(json.loads(row["arguments"]) if row["arguments"] else {})
            except ValueError:
                st.code(row["arguments"])
            if row["redactions"]:
                st.caption(fmt("Redacted: {}", [f"{k} ×{v}" for k, v in row["redactions"].items()]))
            st.markdown(
                fmt(
                    "**Resources:** {}",
                    fmt("{}", list(row["resource_ids"])) or fmt("none recorded"),
                )
            )
        with right:
            expires = row["credential_expires_at"]
            expiry = fmt("no expiry recorded")
            if isinstance(expires, dt.datetime) and expires.year > 1970:
                expiry = fmt("{:%Y-%m-%d %H:%M:%S} UTC", expires)
            st.markdown(
                fmt(
                    "**Credential:** {}  \n**Scopes:** {}  \n**Expires:** {}  \n"
                    "**Approval:** {} {} {}  \n**Sent by:** {} {}  \n"
                    "**Decision / status:** {} / {} {}  \n"
                    "**Result hash:** {}  \n**Arguments hash:** {}  \n**Prompt hash:** {}  \n"
                    "**Trace / span:** {} / {}",
                    md(row["credential_id"]) or fmt("none"),
                    fmt("{}", list(row["credential_scopes"])) or fmt("none"),
                    expiry,
                    row["approval"],
                    row["approver"],
                    row["approval_grant_id"],
                    row["sent_by"] or "(before attribution)",
                    "⚠ claims another agent id" if row["agent_mismatch"] else "",
                    row["decision"],
                    row["status"],
                    row["error_type"],
                    row["result_hash"],
                    row["arguments_hash"],
                    row["prompt_hash"],
                    row["trace_id"],
                    row["span_id"],
                )
            )
