"""Revoke: ask the admin API to revoke an agent, credential, session or user (responders).

The page only requests; the admin API records the request (``pending``) and the
revocation backends act on it. History comes from ``agentaudit.revocations``.
"""

from __future__ import annotations

import streamlit as st

from agentaudit.dashboards import data
from agentaudit.dashboards._ui import current_user, md, param, safely
from agentaudit.dashboards.revocation_client import (
    MAX_ID,
    MAX_REASON,
    TARGETS,
    RevocationRequestError,
    api_url,
    build_request,
    submit,
)

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
    target_id = st.text_input(
        "Id (agent id, credential id, session id or user id)", param("id"), max_chars=MAX_ID
    )
    reason = st.text_area("Reason (recorded with the revocation)", max_chars=MAX_REASON)
    confirmed = st.checkbox("I confirm: revoke this now")
    submitted = st.form_submit_button("Request revocation", type="primary")

if submitted:
    if not confirmed:
        st.error("Tick the confirmation box to request the revocation.")
    else:
        try:
            request = build_request(target or "", target_id, reason, user.name)
            answer = submit(request)
        except RevocationRequestError as exc:
            st.error(str(exc))
        else:
            st.success(
                f"Revocation of {md(target)} {md(request.id)} requested: status "
                f"{md(answer.get('status', 'unknown'))}, id {md(answer.get('id', '?'))}."
            )
            st.session_state["last_revocation"] = answer
st.caption(f"Requests go to {api_url()}/v1/revocations.")

st.subheader("History")
history = safely(data.revocations, "the revocation history")
if history is not None:
    if history.empty:
        st.info("No revocations have been requested yet.")
    else:
        st.dataframe(history, hide_index=True, width="stretch")
