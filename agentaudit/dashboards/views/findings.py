"""Findings: what the detector raised, its evidence, and triage (responders).

Everyone who logs in reads the findings; responders triage them. The page never writes
a finding: acknowledge, false positive (a reason is required: it becomes an exception
for that agent and rule), escalate (after a confirmation: revokes and quarantines the
agent) and reopen go to the admin API (``POST /v1/findings/{id}/triage``) with the
responder token, which records a new version of the finding. The list is read from the
store uncached, so a triage shows at once. Filters and the open finding are in the URL:
``/findings?state=open&severity=high&agent=…&window=30d&finding=<id>``.
"""

from __future__ import annotations

from typing import Any, Final

import pandas as pd
import streamlit as st

from agentaudit.dashboards import data
from agentaudit.dashboards._markdown import visible
from agentaudit.dashboards._ui import Markdown, current_user, fmt, md, param, safely
from agentaudit.dashboards.evidence import parse, referenced_calls
from agentaudit.dashboards.filters import WINDOWS, FilterError, TimeRange
from agentaudit.dashboards.revocation_client import MAX_REASON, AdminApiError, backend_rows
from agentaudit.dashboards.triage_client import TriageRequestError, build_triage, triage
from agentaudit.detector.model import SEVERITIES, STATES

TRIAGED: Final = "triage_outcome"
STATE_CHOICES: Final = (*STATES, "all")
SEVERITY_CHOICES: Final = ("any", *SEVERITIES)
DEFAULT_WINDOW: Final = "30d"
MAX_LINKS: Final = 20


def _choice(label: Markdown, name: str, options: tuple[str, ...], default: str) -> str:
    """A select box synced with the query parameter ``name`` (bad links fall back)."""
    current = param(name) or default
    if current not in options:
        st.error(fmt("Invalid {} in the link: {}; showing {}.", name, current, default))
        current = default
    labels = {"all": "any state", "any": "any severity"}
    if name == "severity":
        labels.update({s: f"{s} or higher" for s in SEVERITIES})
    chosen = st.selectbox(
        label,
        options,
        index=options.index(current),
        format_func=lambda o: labels.get(o, o),
        key=f"filter-{name}",
    )
    chosen = chosen or default
    if chosen != default or name in st.query_params:
        st.query_params[name] = chosen
    return chosen


def _triage(finding_id: str, state: str, requested_by: str) -> None:
    """Form callback: send the triage typed in the form of ``state``."""
    reason = str(st.session_state.get(f"reason-{state}:{finding_id}") or "")
    outcome: dict[str, Any] = {"finding_id": finding_id, "state": state}
    confirm_key = f"confirm-escalate:{finding_id}"
    confirmed = bool(st.session_state.get(confirm_key))
    st.session_state[confirm_key] = False  # every escalation is confirmed anew
    if state == "escalated" and not confirmed:
        outcome["error"] = fmt("Tick the confirmation box to escalate finding {}.", finding_id)
    else:
        try:
            outcome["answer"] = triage(build_triage(finding_id, state, reason, requested_by))
        except (TriageRequestError, AdminApiError) as exc:
            outcome["error"] = fmt("Triage of finding {} failed: {}", finding_id, exc)
        else:
            data.forget_cached()
    st.session_state[TRIAGED] = outcome


def _status_box(status: str, body: Markdown) -> None:
    if status in ("done", "pending"):
        st.success(body)
    elif status == "partial":
        st.warning(body)
    else:
        st.error(body)


def _show_outcome(finding_id: str) -> None:
    outcome = st.session_state.get(TRIAGED)
    if not outcome or outcome.get("finding_id") != finding_id:
        return
    if outcome.get("error"):
        st.error(md(outcome["error"]))  # Markdown from fmt is shown as is
        return
    answer = outcome.get("answer") or {}
    version = answer.get("finding") or {}
    st.success(
        fmt(
            "Finding {} is now {} (recorded by {}).",
            finding_id,
            version.get("state", outcome["state"]),
            version.get("triaged_by", "?"),
        )
    )
    revocation = answer.get("revocation")
    if isinstance(revocation, dict):
        status = str(revocation.get("status", "unknown"))
        _status_box(
            status,
            fmt("Revocation {} of the agent: status {}.", revocation.get("id", "?"), status),
        )
        rows = backend_rows(revocation)
        if rows:
            st.dataframe(rows, hide_index=True, width="stretch")
        quarantine = revocation.get("quarantine")
        if isinstance(quarantine, dict) and quarantine.get("quarantined"):
            st.info(
                fmt(
                    "Agent {} is quarantined: its runtime refuses its tool calls until a "
                    "responder releases it on the Revoke page.",
                    quarantine.get("agent", "?"),
                )
            )


def _label(row: Any) -> str:
    """A finding in the picker (select-box options are plain text)."""
    when = pd.Timestamp(row.ts).strftime("%Y-%m-%d %H:%M")
    return visible(f"{row.severity.upper()} · {row.agent_id} · {row.rule} · {when} · {row.state}")


def _triggering_calls(finding: dict[str, Any], evidence: Any) -> None:
    st.subheader("Triggering calls")
    refs = referenced_calls(finding, evidence)
    if not refs:
        st.info("The finding names no tool call.")
        return
    calls = safely(
        lambda: data.triggering_calls([(r.trace_id, r.span_id) for r in refs]), "the calls"
    )
    if calls is None:
        return
    if calls.empty:
        st.info("The calls the finding names are not in the store (yet).")
    for call in calls.head(MAX_LINKS).itertuples(index=False):
        where = {"session": call.session_id} if call.session_id else {"trace": call.trace_id}
        st.page_link(
            "views/session.py",
            label=fmt(
                "{:%Y-%m-%d %H:%M:%S} UTC: {} called {} ({}), session {}",
                pd.Timestamp(call.ts).to_pydatetime(),
                call.agent_id,
                call.tool_name,
                call.status,
                md(call.session_id) or fmt("none"),
            ),
            icon=":material/account_tree:",
            query_params=where,
        )
    if not calls.empty:
        st.dataframe(calls, hide_index=True, width="stretch")
    found = set(zip(calls.get("trace_id", []), calls.get("span_id", []), strict=True))
    for ref in refs:
        if (ref.trace_id, ref.span_id) in found or any(t == ref.trace_id for t, _ in found):
            continue
        if ref.session_id:  # not stored (yet), but the evidence names its session
            st.page_link(
                "views/session.py",
                label=fmt("Session {} (trace {})", ref.session_id, ref.trace_id),
                icon=":material/account_tree:",
                query_params={"session": ref.session_id},
            )


def _triage_forms(finding: dict[str, Any], requested_by: str) -> None:
    finding_id, agent, state = finding["finding_id"], finding["agent_id"], finding["state"]
    st.subheader("Triage")
    _show_outcome(finding_id)
    acknowledge, false_positive, escalate = st.columns(3)
    with acknowledge, st.form(f"triage-acknowledged:{finding_id}"):
        st.caption("Seen and being handled: it leaves the open list.")
        st.text_area(
            "Note (optional)", key=f"reason-acknowledged:{finding_id}", max_chars=MAX_REASON
        )
        st.form_submit_button(
            "Acknowledge",
            key=f"submit-acknowledged:{finding_id}",
            on_click=_triage,
            args=(finding_id, "acknowledged", requested_by),
            disabled=state == "acknowledged",
        )
    with false_positive, st.form(f"triage-false_positive:{finding_id}"):
        st.caption(
            fmt("Not a problem: no new finding for agent {} and rule {}.", agent, finding["rule"])
        )
        st.text_area(
            "Reason (required)", key=f"reason-false_positive:{finding_id}", max_chars=MAX_REASON
        )
        st.form_submit_button(
            "Mark false positive",
            key=f"submit-false_positive:{finding_id}",
            on_click=_triage,
            args=(finding_id, "false_positive", requested_by),
            disabled=state == "false_positive",
        )
    with escalate:
        if state == "escalated":
            st.warning(
                fmt(
                    "Escalated by {}: revocation {}.",
                    md(finding["triaged_by"]) or fmt("the detector"),
                    md(finding["revocation_id"]) or fmt("none recorded"),
                )
            )
        else:
            with st.form(f"triage-escalated:{finding_id}"):
                st.caption(fmt("Revoke agent {} everywhere and quarantine it.", agent))
                st.text_area(
                    "Reason (recorded with the revocation)",
                    key=f"reason-escalated:{finding_id}",
                    max_chars=MAX_REASON,
                )
                st.checkbox(
                    fmt("I confirm: revoke agent {} now", agent),
                    key=f"confirm-escalate:{finding_id}",
                )
                st.form_submit_button(
                    "Escalate",
                    key=f"submit-escalated:{finding_id}",
                    type="primary",
                    on_click=_triage,
                    args=(finding_id, "escalated", requested_by),
                )
    if state != "open":
        st.button(
            "Reopen",
            key=f"submit-open:{finding_id}",
            on_click=_triage,
            args=(finding_id, "open", requested_by),
            help="Back to the open list; a false positive's exception is lifted.",
        )


def _details(finding: dict[str, Any], responder: bool, requested_by: str) -> None:
    st.subheader("Finding")  # no recorded value in a heading: they stay body text
    st.markdown(fmt("**Rule** {} · **severity** {}", finding["rule"], finding["severity"]))
    st.text(visible(finding["summary"]))
    st.markdown(
        fmt(
            "Raised {:%Y-%m-%d %H:%M:%S} UTC for agent {} (user {}, session {}), tool {}, "
            "score {:.2f}.  \nAction taken: {}{}.  \nState: {}{}",
            pd.Timestamp(finding["ts"]).to_pydatetime(),
            finding["agent_id"],
            md(finding["user_id"]) or fmt("unknown"),
            md(finding["session_id"]) or fmt("none"),
            md(finding["tool_name"]) or fmt("none"),
            float(finding["score"]),
            finding["action"],
            fmt(", revocation {}", finding["revocation_id"]) if finding["revocation_id"] else "",
            finding["state"],
            fmt(" by {}: {}", finding["triaged_by"], md(finding["triage_reason"]) or fmt("no note"))
            if finding["triaged_by"]
            else "",
        )
    )
    left, right = st.columns(2)
    left.page_link(
        "views/agent.py",
        label=fmt("Agent profile of {}", finding["agent_id"]),
        icon=":material/smart_toy:",
        query_params={"agent": finding["agent_id"]},
    )
    # Over the receipt time: the detector acted on what arrived, whatever time it claims.
    right.page_link(
        "views/investigate.py",
        label=fmt("Every call of {} received in the last 24 h", finding["agent_id"]),
        icon=":material/search:",
        query_params={"agent": finding["agent_id"], "window": "24h", "time": "received"},
    )
    evidence = parse(finding["evidence"])
    st.subheader("Evidence")
    if isinstance(evidence, dict | list):
        st.json(evidence, expanded=True)
    else:
        st.code(str(evidence), language=None)
    _triggering_calls(finding, evidence)
    if responder:
        _triage_forms(finding, requested_by)
    else:
        st.info("Responders triage findings; viewers read them.")


st.title("Findings")
st.caption(
    "Behaviour the detector found outside an agent's baseline. Acknowledge what is being "
    "handled, mark a false positive (with a reason: the detector stops raising it for "
    "that agent and rule) or escalate to a revocation of the agent."
)
user = current_user()
responder = user is not None and user.responder

c1, c2, c3, c4 = st.columns(4)
with c1:
    state = _choice(fmt("State"), "state", STATE_CHOICES, "open")
with c2:
    severity = _choice(fmt("Severity"), "severity", SEVERITY_CHOICES, "any")
with c3:
    agent = st.text_input("Agent", param("agent"), key="filter-agent").strip()
    if agent or "agent" in st.query_params:
        st.query_params["agent"] = agent
with c4:
    window_label = _choice(fmt("Raised in the last"), "window", tuple(WINDOWS), DEFAULT_WINDOW)

try:
    since = TimeRange.parse(window_label).since
except FilterError as exc:  # pragma: no cover - the choices are valid windows
    st.error(md(exc))
    st.stop()
listed = safely(
    lambda: data.findings(
        states=() if state == "all" else (state,),
        severities=() if severity == "any" else SEVERITIES[SEVERITIES.index(severity) :],
        agent=agent,
        since=since,
    ),
    "findings",
)
if listed is None:
    st.info("No findings yet: the detector records its findings here once it runs.")
    st.stop()

requested = param("finding")
if listed.empty:
    st.success("No findings match these filters.")
else:
    st.caption(fmt("{:,} findings (newest 200 at most), newest first.", len(listed)))
    st.dataframe(
        listed[["ts", "severity", "agent_id", "rule", "summary", "action", "state", "finding_id"]],
        hide_index=True,
        width="stretch",
    )

labels = {row.finding_id: _label(row) for row in listed.itertuples(index=False)}
if requested and requested not in labels:
    labels = {requested: visible(f"{requested} (from the link)"), **labels}
if not labels:
    st.stop()
ids = list(labels)
chosen = st.selectbox(
    "Finding",
    ids,
    index=ids.index(requested) if requested in labels else 0,
    format_func=lambda finding_id: labels.get(finding_id, finding_id),
    key="finding-picker",
)
chosen = chosen or ids[0]
st.query_params["finding"] = chosen
missing = object()
details = safely(lambda: data.finding(chosen) or missing, "the finding")
if details is missing:
    st.warning(fmt("No finding {} in the store.", chosen))
elif isinstance(details, dict):
    _details(details, responder, user.name if user else "")
