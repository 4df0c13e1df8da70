"""Legal holds: the holds on sessions, agents, users and time ranges; place and release.

Everyone who logs in reads the holds (from ``agentaudit.legal_holds``, uncached);
responders also place and release them. The page never records a hold itself: it asks
the admin API (``POST /v1/holds``, ``POST /v1/holds/{id}/release``) with the responder
token and shows what the API answered, its errors as text.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Final

import streamlit as st

from agentaudit.dashboards import data
from agentaudit.dashboards._ui import Markdown, current_user, fmt, md, param, safely
from agentaudit.dashboards.holds_client import (
    MAX_TEXT,
    SCOPES,
    HoldRequestError,
    build_hold,
    build_release,
    hold_rows,
    place,
    release,
)
from agentaudit.dashboards.revocation_client import AdminApiError, api_url

OUTCOME: Final = "hold_outcome"


def _scope(hold: Mapping[str, Any]) -> Markdown:
    """What a hold (as JSON, the API's form) keeps: its scope and id, or its time range."""
    if hold.get("kind") == "time":
        return fmt("the time range {} .. {}", hold.get("from"), hold.get("to"))
    return fmt("{} {}", hold.get("kind", "?"), hold.get("value"))


def _release(hold_id: str, requested_by: str) -> None:
    """Form callback: release ``hold_id`` with the reason typed in its form."""
    reason = str(st.session_state.get(f"hold-release-reason:{hold_id}") or "")
    confirm_key = f"hold-release-confirm:{hold_id}"
    confirmed = bool(st.session_state.get(confirm_key))
    st.session_state[confirm_key] = False  # every release is confirmed anew
    if not confirmed:
        st.session_state[OUTCOME] = {
            "error": fmt("Tick the confirmation box to release hold {}.", hold_id)
        }
        return
    try:
        hold = release(build_release(hold_id, reason, requested_by))
    except (HoldRequestError, AdminApiError) as exc:
        st.session_state[OUTCOME] = {"error": fmt("Release of hold {} failed: {}", hold_id, exc)}
    else:
        st.session_state[OUTCOME] = {
            "done": fmt(
                "Hold {} released: the rows of {} expire with retention again.",
                hold.get("hold_id", hold_id),
                _scope(hold),
            )
        }


def _show_outcome() -> None:
    outcome = st.session_state.get(OUTCOME) or {}
    if outcome.get("done"):
        st.success(md(outcome["done"]))  # Markdown from fmt is shown as is
    if outcome.get("error"):
        st.error(md(outcome["error"]))


st.title("Legal holds")
st.caption(
    "A legal hold keeps every row of a session, an agent, a user or a time range past "
    "retention, and keeps it verifiable, until it is released. Every hold and release is "
    "recorded with who and why."
)
user = current_user()
responder = user is not None and user.responder

if responder and user is not None:
    requested_scope = param("scope")
    with st.form("hold"):
        kind = st.selectbox(
            "Hold the rows of",
            SCOPES,
            index=SCOPES.index(requested_scope) if requested_scope in SCOPES else 0,
            format_func=lambda s: "a time range" if s == "time" else f"a {s}",
        )
        value = st.text_input(
            "Id (session, agent or user id; empty for a time range)",
            param("id"),
            help=fmt("Exactly the recorded id, at most {} characters.", MAX_TEXT),
        )
        left, right = st.columns(2)
        start = left.text_input(
            "From (time range only)",
            placeholder="2026-11-01T00:00:00Z",
            help="ISO 8601, UTC unless it says otherwise.",
        )
        end = right.text_input(
            "To (time range only)",
            placeholder="2026-11-08T00:00:00Z",
            help="ISO 8601, UTC unless it says otherwise.",
        )
        reason = st.text_area("Reason: the matter it is kept for (recorded)", max_chars=MAX_TEXT)
        submitted = st.form_submit_button("Place hold", type="primary")
    if submitted:
        st.session_state.pop(OUTCOME, None)
        try:
            placed = place(
                build_hold(
                    kind or "", value, start=start, end=end, reason=reason, requested_by=user.name
                )
            )
        except (HoldRequestError, AdminApiError) as exc:
            st.session_state[OUTCOME] = {"error": fmt("The hold was not placed: {}", exc)}
        else:
            st.session_state[OUTCOME] = {
                "done": fmt(
                    "Hold {} placed: the rows of {} are kept past retention.",
                    placed.get("hold_id", "?"),
                    _scope(placed),
                )
            }
    st.caption(fmt("Requests go to {}.", api_url() + "/v1/holds"))
else:
    st.info("Responders place and release legal holds; viewers read them.")
_show_outcome()

holds = safely(data.legal_holds, "the legal holds")
if holds is not None:
    active = [h for h in holds if h.active]
    st.subheader("Active holds")
    if not active:
        st.info("No hold is active: retention applies to every row.")
    for hold in reversed(active):  # newest first
        since = dt.datetime.fromtimestamp(hold.placed_ms / 1000, tz=dt.timezone.utc)
        with st.expander(fmt("{} (since {:%Y-%m-%d %H:%M:%S} UTC)", _scope(hold.to_json()), since)):
            st.markdown(
                fmt("Placed by {}: {}  \nHold id {}", hold.placed_by, hold.reason, hold.hold_id)
            )
            if responder and user is not None:
                with st.form(f"hold-release:{hold.hold_id}"):
                    st.text_area(
                        "Reason for the release (recorded)",
                        key=f"hold-release-reason:{hold.hold_id}",
                        max_chars=MAX_TEXT,
                    )
                    st.checkbox(
                        "I confirm: release this hold (its rows expire with retention again)",
                        key=f"hold-release-confirm:{hold.hold_id}",
                    )
                    st.form_submit_button(
                        "Release",
                        key=f"hold-release-submit:{hold.hold_id}",
                        on_click=_release,
                        args=(hold.hold_id, user.name),
                    )
    st.subheader("All holds")
    if not holds:
        st.info("No legal hold has been placed yet.")
    else:
        # A dataframe, not st.table: its cells are plain text, and ids and reasons are
        # typed by people or recorded from spans.
        st.dataframe(hold_rows(holds), hide_index=True, width="stretch")
