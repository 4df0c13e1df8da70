"""The SQL page with AppTest over the seeded store: hostile queries shown refused, run nothing.

Every query of ``tests/store/hostile_sql.py`` is typed into the page and run: the page
shows the guard's refusal naming what is not allowed, shows no result, and the store
executed nothing. The documented investigator queries still show their results.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from agentaudit.config import Config
from agentaudit.dashboards import register_config
from agentaudit.dashboards._ui import USER_KEY
from agentaudit.dashboards.auth import RESPONDER, User, hash_password
from agentaudit.dashboards.server import APP_PATH
from agentaudit.store import Store
from tests.store.documented_sql import DOCUMENTED
from tests.store.hostile_sql import HOSTILE

TIMEOUT = 60


@pytest.fixture(scope="module", autouse=True)
def responder_config(seeded_store: Store) -> Iterator[None]:
    users = {"rita": {"role": RESPONDER, "password_hash": hash_password("rita-secret")}}
    register_config(
        Config(clickhouse_url="chdb:///unused", sections={"dashboard": {"users": users}})
    )
    yield
    register_config(None)


def sql_page() -> AppTest:
    at = AppTest.from_file(str(APP_PATH), default_timeout=TIMEOUT)
    at.session_state[USER_KEY] = User("rita", RESPONDER)
    at.run()
    at.switch_page("views/sql.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def run_query(at: AppTest, sql: str) -> list[str]:
    """Type ``sql``, press Run; the error messages shown, as plain text."""
    at.text_area[0].input(sql)
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    # The page shows messages as code spans (never Markdown): compare their text.
    return [str(e.value).replace("`", "").replace("\u2060", "") for e in at.error]


def page_text(at: AppTest) -> str:
    """Everything the page sent to the browser: the protobuf text of every element
    (text format: quotes come backslash-escaped)."""
    found = []
    stack = [at._tree]
    while stack:
        node = stack.pop()
        stack.extend(getattr(node, "children", {}).values())
        proto = getattr(node, "proto", None)
        if proto is not None:
            found.append(str(proto))
    return "\n".join(found)


def test_hostile_queries_are_shown_refused_and_run_nothing(seeded_store: Store) -> None:
    at = sql_page()
    before = seeded_store.investigation_stats["executed"]
    for sql, fragment in HOSTILE:
        errors = run_query(at, sql)
        if not sql.strip():
            assert errors == ["Write a query first."]
            continue
        assert len(errors) == 1, (sql, errors)
        assert "refused: " in errors[0], (sql, errors)
        assert fragment in errors[0], (sql, errors)
        assert not at.dataframe, sql  # no result shown
    assert seeded_store.investigation_stats["executed"] == before


def test_reading_the_process_environment_shows_nothing_of_it(seeded_store: Store) -> None:
    environ = Path("/proc/self/environ").read_bytes().decode(errors="replace").split("\0")
    values = [entry.partition("=")[2] for entry in environ if len(entry.partition("=")[2]) >= 8]
    at = sql_page()
    errors = run_query(at, "SELECT file('/proc/self/environ')")
    assert len(errors) == 1
    assert "function 'file' is not allowed" in errors[0]
    assert not at.dataframe
    shown = page_text(at) + repr(errors)
    assert "is not allowed in investigator queries" in page_text(at)  # the text is there
    assert values
    assert not [value for value in values if value in shown]


def test_documented_queries_show_their_results() -> None:
    at = sql_page()
    for where, sql in DOCUMENTED:
        assert run_query(at, sql) == [], where
        assert at.dataframe, where
