"""Revoke: revoke an agent, credential, session or user; release quarantined agents.

Responders only. The page never acts itself: it asks the admin API (revocation, retry
of failed backends, release) and shows the API's per-backend outcome. The quarantined
agents and the history come from the store (``agentaudit.quarantine``,
``agentaudit.revocations``), uncached, so they show the newest state.
"""

from __future__ import annotations

from typing import Any, Final

import streamlit as st

from agentaudit.dashboards import data
from agentaudit.dashboards._ui import Markdown, current_user, fmt, md, param, safely
from agentaudit.dashboards.revocation_client import (
    ID_CHARACTERS,
    MAX_ID,
    MAX_REASON,
    TARGETS,
    AdminApiError,
    RevocationRequestError,
    api_url,
    backend_rows,
    build_release,
    build_request,
    release,
    retry,
    submit,
    summarise_results,
)

REVOKED: Final = "revoke_outcome"
RELEASED: Final = "release_outcome"


def _retry(key: str) -> None:
    """Button callback: run the failed backends of the outcome under ``key`` again."""
    outcome: dict[str, Any] = dict(st.session_state.get(key) or {})
    try:
        answer = retry(str(outcome.get("answer", {}).get("id", "")))
    except (RevocationRequestError, AdminApiError) as exc:
        outcome["error"] = fmt("Retry failed: {}", exc)
    else:
        outcome.update(answer=answer, error="", retried=True)
        data.forget_cached()
    st.session_state[key] = outcome


def _release(agent: str, requested_by: str) -> None:
    """Form callback: release ``agent`` with the reason typed in its form."""
    reason = str(st.session_state.get(f"release-reason:{agent}") or "")
    outcome: dict[str, Any] = {"what": fmt("Release"), "target": "agent", "target_id": agent}
    confirmed = bool(st.session_state.get(f"release-confirm:{agent}"))
    st.session_state[f"release-confirm:{agent}"] = False  # every attempt is confirmed anew
    if not confirmed:
        outcome["error"] = fmt("Tick the confirmation box to release {}.", agent)
    else:
        try:
            outcome["answer"] = release(build_release(agent, reason, requested_by))
        except (RevocationRequestError, AdminApiError) as exc:
            outcome["error"] = fmt("Release of {} failed: {}", agent, exc)
        else:
            st.session_state.pop(REVOKED, None)  # its quarantine state is stale now
            data.forget_cached()
    st.session_state[RELEASED] = outcome


def _status_box(status: str, body: Markdown) -> None:
    """``body`` in green (done, pending), amber (partial) or red (anything else)."""
    if status in ("done", "pending"):
        st.success(body)
    elif status == "partial":
        st.warning(body)
    else:
        st.error(body)


def _show_outcome(key: str) -> None:
    """The last revocation or release: overall status, per-backend table, retry button."""
    outcome = st.session_state.get(key)
    if not outcome:
        return
    answer = outcome.get("answer")
    if answer is not None:
        status = str(answer.get("status", "unknown"))
        _status_box(
            status,
            fmt(
                "{} of {} {} requested: status {}{}, id {}.",
                outcome["what"],
                outcome["target"],
                outcome["target_id"],
                status,
                fmt(" after a retry") if outcome.get("retried") else fmt(""),
                answer.get("id", "?"),
            ),
        )
        rows = backend_rows(answer)
        if rows:
            # A dataframe, not st.table: table cells are Markdown, and the backends'
            # details quote ids and remote error text.
            st.dataframe(rows, hide_index=True, width="stretch")
        else:
            st.caption("The admin API reported no per-backend results.")
        state = answer.get("quarantine")
        if isinstance(state, dict) and state.get("agent"):
            if state.get("quarantined"):
                st.info(
                    fmt(
                        "Agent {} is quarantined: its runtime refuses its tool calls until it "
                        "is released.",
                        state["agent"],
                    )
                )
            else:
                st.info(
                    fmt(
                        "Agent {} is no longer quarantined (state {}).",
                        state["agent"],
                        state.get("state", "?"),
                    )
                )
        if answer.get("link"):
            st.caption(fmt("Alerts link to {}", answer["link"]))
        if status in ("partial", "failed"):
            st.button("Retry failed backends", key=f"{key}-retry", on_click=_retry, args=(key,))
    if outcome.get("error"):
        st.error(md(outcome["error"]))  # Markdown from fmt is shown as is, anything else as text


st.title("Revoke")
user = current_user()
if user is None or not user.responder:
    st.error("Only responders can request revocations. Log in with a responder account.")
    st.stop()

requested_target = param("target")
with st.form("revoke"):
    target = st.selectbox(
        "What to revoke",
        TARGETS,
        index=TARGETS.index(requested_target) if requested_target in TARGETS else 0,
    )
    # No max_chars: Streamlit would silently cut a longer id (from a link) to a different
    # id; build_request refuses it with a clear error instead.
    target_id = st.text_input(
        "Id (agent id, credential id, session id or user id)",
        param("id"),
        help=fmt("At most {} characters: {}.", MAX_ID, ID_CHARACTERS),
    )
    reason = st.text_area("Reason (recorded with the revocation)", max_chars=MAX_REASON)
    confirmed = st.checkbox("I confirm: revoke this now")
    submitted = st.form_submit_button("Request revocation", type="primary")

if submitted:
    for stale in (REVOKED, RELEASED):
        st.session_state.pop(stale, None)
    if not confirmed:
        st.error("Tick the confirmation box to request the revocation.")
    else:
        try:
            request = build_request(target or "", target_id, reason, user.name)
            answer = submit(request)
        except (RevocationRequestError, AdminApiError) as exc:
            st.error(md(exc))  # quotes the typed id: shown as text
        else:
            st.session_state[REVOKED] = {
                "what": fmt("Revocation"),
                "target": request.target,
                "target_id": request.id,
                "answer": answer,
            }
            data.forget_cached()
_show_outcome(REVOKED)
st.caption(fmt("Requests go to {}.", api_url() + "/v1/revocations"))

st.subheader("Quarantined agents")
st.caption(
    "A quarantined agent's runtime refuses its tool calls and the broker mints it no "
    "credentials. Releasing lets it work again; credentials issued before the revocation "
    "stay refused."
)
_show_outcome(RELEASED)
quarantined = safely(data.quarantined_agents, "the quarantined agents")
if quarantined is not None:
    if quarantined.empty:
        st.success("No agent is quarantined.")
    for row in quarantined.itertuples(index=False):
        agent = str(row.agent_id)
        with st.expander(
            fmt("{} (since {:%Y-%m-%d %H:%M:%S} UTC)", agent, row.since), expanded=True
        ):
            st.markdown(
                fmt(
                    "Quarantined by {}: {}  \nRevocation id {}",
                    row.actor,
                    row.reason,
                    row.revocation_id,
                )
            )
            with st.form(f"release:{agent}"):
                st.text_area(
                    "Reason for the release (recorded)",
                    key=f"release-reason:{agent}",
                    max_chars=MAX_REASON,
                )
                st.checkbox("I confirm: release this agent", key=f"release-confirm:{agent}")
                st.form_submit_button(
                    "Release",
                    key=f"release-submit:{agent}",
                    on_click=_release,
                    args=(agent, user.name),
                )

st.subheader("History")
history = safely(data.revocations, "the revocation history")
if history is not None:
    if history.empty:
        st.info("No revocations have been requested yet.")
    else:
        history["results"] = history["results"].map(summarise_results)
        st.dataframe(history, hide_index=True, width="stretch")
