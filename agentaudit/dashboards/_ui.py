"""Shared page helpers: the logged-in user, the time-window picker, error display.

Pages show recorded values in Markdown only through :func:`md` and :func:`fmt`
(re-exported with :class:`Markdown` from :mod:`._markdown`: see it for why and how).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, TypeVar

import streamlit as st

from agentaudit.dashboards._markdown import Markdown, fmt, md
from agentaudit.dashboards.auth import User
from agentaudit.dashboards.filters import DEFAULT_WINDOW, WINDOWS, FilterError, TimeRange
from agentaudit.errors import AgentAuditError

__all__ = [
    "USER_KEY",
    "Markdown",
    "current_user",
    "fmt",
    "md",
    "param",
    "safely",
    "window_picker",
]

USER_KEY: Final = "agentaudit_user"
T = TypeVar("T")


def current_user() -> User | None:
    user = st.session_state.get(USER_KEY)
    return user if isinstance(user, User) else None


def param(name: str) -> str:
    """A URL query parameter (the last value when repeated), or ``""``."""
    values = st.query_params.get_all(name)
    return values[-1].strip() if values else ""


def safely(action: Callable[[], T], what: str) -> T | None:
    """Run a query; show a clear error (not a traceback) when the store or input fails."""
    try:
        return action()
    except FilterError as exc:
        st.error(fmt("Invalid filter: {}", exc))
    except (AgentAuditError, ValueError) as exc:
        st.error(fmt("Could not load {}: {}", what, exc))
    return None


def window_picker(key: str = "window") -> TimeRange:
    """A window selector synced with the ``window`` query parameter (bad links fall back)."""
    options = list(WINDOWS)
    current = param("window") or DEFAULT_WINDOW
    if current not in options:
        try:
            TimeRange.parse(current)
        except FilterError as exc:
            st.error(fmt("Invalid time window in the link: {}", exc))
            current = DEFAULT_WINDOW
        else:
            options.append(current)
    choice = st.selectbox("Time window", options, index=options.index(current), key=key)
    choice = choice or DEFAULT_WINDOW
    if choice != DEFAULT_WINDOW or "window" in st.query_params:
        st.query_params["window"] = choice
    return TimeRange.parse(choice)
