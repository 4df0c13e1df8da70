"""The dashboard's entry point: authentication, then a router over the pages.

Run by :func:`agentaudit.dashboards.server.serve` (or ``streamlit run``). Viewers get
every page but Revoke (on Findings they read, responders also triage; on Legal holds
they read, responders also place and release); responders get all of them. With no
users configured the app only runs on a loopback address, and says so in a banner.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import streamlit as st

from agentaudit.config import LOOPBACK_HOSTS
from agentaudit.dashboards import get_config
from agentaudit.dashboards._ui import USER_KEY, current_user, fmt
from agentaudit.dashboards.auth import PASSWORD_VARIABLE, RESPONDER, User, authenticate, load_users
from agentaudit.errors import AgentAuditError

# Not "pages/": Streamlit treats a pages/ folder beside the entry script as a v1
# multipage app, and until the first st.navigation call in the process a client could
# ask for a page script directly, skipping the login below.
PAGES = Path(__file__).resolve().parent / "views"
# (file, title, url path = file stem, icon, responders only)
PAGE_SPECS = (
    ("overview.py", "Overview", "overview", ":material/dashboard:", False),
    ("findings.py", "Findings", "findings", ":material/policy:", False),
    ("investigate.py", "Investigate", "investigate", ":material/search:", False),
    ("session.py", "Session forensics", "session", ":material/account_tree:", False),
    ("agents.py", "Agents", "agents", ":material/badge:", False),
    ("agent.py", "Agent profile", "agent", ":material/smart_toy:", False),
    ("blast_radius.py", "Blast radius", "blast_radius", ":material/crisis_alert:", False),
    ("revoke.py", "Revoke", "revoke", ":material/block:", True),
    ("holds.py", "Legal holds", "holds", ":material/gavel:", False),
    ("sql.py", "SQL", "sql", ":material/terminal:", False),
)
LOCAL_USER = User("local", RESPONDER)


@st.cache_resource(show_spinner=False, ttl=300)
def _users(sections_json: str, password: str) -> Mapping[str, User]:
    del password  # part of the cache key; load_users reads it from the environment
    return load_users(json.loads(sections_json))


def configured_users() -> Mapping[str, User]:
    sections: Mapping[str, Any] = get_config().sections
    return _users(
        json.dumps(sections, sort_keys=True, default=str), os.environ.get(PASSWORD_VARIABLE, "")
    )


def _role(users: Mapping[str, User], name: str) -> str | None:
    found = users.get(name)
    return found.role if found else None


def pages_for(user: User) -> list[st.Page]:
    """The pages ``user`` may open; Revoke only for responders."""
    return [
        st.Page(
            str(PAGES / file), title=title, url_path=path, icon=icon, default=path == "overview"
        )
        for file, title, path, icon, responders_only in PAGE_SPECS
        if user.responder or not responders_only
    ]


def _login(users: Mapping[str, User]) -> None:
    st.title("agentaudit")
    with st.form("login"):
        name = st.text_input("User")
        password = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Log in")
    if submitted:
        user = authenticate(users, name.strip(), password)
        if user is None:
            st.error("Unknown user or wrong password.")
        else:
            st.session_state[USER_KEY] = user
            st.rerun()


def main() -> None:
    # An emoji, not a :material/ icon: Streamlit fetches a material favicon from Google
    # Fonts, and a responder's browser should make no request outside the dashboard.
    st.set_page_config(page_title="agentaudit", page_icon="🛡️", layout="wide")
    try:
        users = configured_users()
    except AgentAuditError as exc:
        st.error(fmt("Dashboard configuration error: {}", exc))
        st.stop()
    user = current_user()
    if not users:
        address = st.get_option("server.address") or ""
        if address not in LOOPBACK_HOSTS:
            st.error(
                fmt(
                    "Refusing to serve without login on a non-loopback address. Set {} or "
                    "configure {}.",
                    PASSWORD_VARIABLE,
                    "[dashboard.users]",
                )
            )
            st.stop()
        user = LOCAL_USER
        st.session_state[USER_KEY] = user
        st.warning(
            fmt(
                "No login: no dashboard users are configured, so this dashboard only listens "
                "on {} and everyone who can reach it is a responder.",
                address,
            ),
            icon=":material/lock_open:",
        )
    elif user is None or _role(users, user.name) != user.role:
        # Not logged in, or the account changed or vanished since: log in again.
        st.session_state.pop(USER_KEY, None)
        # Resolve the requested page (and keep its query string) without running it.
        st.navigation(pages_for(LOCAL_USER), position="hidden")
        _login(users)
        st.stop()
    navigation = st.navigation(pages_for(user))
    with st.sidebar:
        st.caption(fmt("Signed in as **{}** ({})", user.name, user.role))
        if users and st.button("Log out"):
            st.session_state.pop(USER_KEY, None)
            st.rerun()
    navigation.run()


main()
