"""A hostile finding and baseline are shown as text: every field, on every page showing it.

The store holds the hostile session of ``test_safe_rendering`` plus
:func:`~tests.dashboards.seed_store.seed_hostile_findings`: a finding whose agent, user,
session, tool, rule, summary, group, triage fields, revocation id and evidence (keys and
values) hold links, a tracking image, HTML, Streamlit directives, LaTeX, emoji,
backticks and newline-started headings, and a baseline of the hostile agent whose
tools, transitions, resource types, realms, scopes, fan-out and cadence figures,
learning details and extra keys do too. The same two checks as there: no Markdown
string carries the markup outside a code span, and each value is still shown exactly
(in a code span, a dataframe cell or a plain-text element).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from agentaudit.dashboards import register_store
from agentaudit.dashboards._markdown import visible
from agentaudit.store import Store
from tests.dashboards.markdown_reader import rendered
from tests.dashboards.seed_store import (
    HOSTILE_AGENT,
    HOSTILE_FINDING,
    HOSTILE_OLD_TOOL,
    HOSTILE_SESSION,
    HOSTILE_TOOL,
    hostile,
    seed,
)
from tests.dashboards.test_safe_rendering import (
    _users,  # noqa: F401 - the module's users, as a fixture
    assert_markup_is_inert,
    assert_shows,
    cells,
    open_page,
    values_in,
)


@pytest.fixture(scope="module")
def seeded_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """The hostile store of test_safe_rendering plus the hostile finding and baseline."""
    store = Store.open(f"chdb://{tmp_path_factory.mktemp('hostile-findings-store')}")
    seed(store, hostile_rows=True, findings=True)
    register_store(store)
    yield store
    register_store(None)
    store.close()


def test_overview_lists_the_hostile_finding_as_plain_cells() -> None:
    at = open_page("overview")
    assert_markup_is_inert(at)
    panel = next(d.value for d in at.dataframe if "triage" in d.value.columns)
    row = panel[panel["agent_id"] == HOSTILE_AGENT].iloc[0]
    assert row["summary"] == hostile("summary")
    assert row["severity"] == "critical"


def test_findings_page_shows_every_hostile_field_as_text() -> None:
    at = open_page("findings", finding=HOSTILE_FINDING, state="all")
    assert_markup_is_inert(at)
    assert at.selectbox(key="finding-picker").value == HOSTILE_FINDING
    assert_shows(
        at,
        HOSTILE_AGENT,  # subheader, details, links, form captions and checkbox
        hostile("user"),
        HOSTILE_SESSION,
        HOSTILE_TOOL,
        hostile("rule"),
        hostile("finding-revocation"),
        hostile("triaged-by"),
        hostile("triage-reason"),
    )
    assert visible(hostile("summary")) in [t.value for t in at.text]  # plain text
    (evidence,) = [json.loads(j.proto.body) for j in at.get("json")]
    assert evidence[hostile("evidence-key")] == hostile("evidence-value")
    assert {HOSTILE_AGENT, hostile("rule"), hostile("summary")} <= cells(at)
    # The triggering call, one click from its session.
    (call,) = [p for p in at.get("page_link") if "called" in p.proto.label]
    assert visible(HOSTILE_TOOL) in values_in(call.proto.label)


def test_findings_page_filter_from_a_hostile_link_is_text() -> None:
    at = open_page("findings", agent=HOSTILE_AGENT, severity=hostile("severity"))
    assert_markup_is_inert(at)
    assert any("Invalid severity in the link" in rendered(str(e.value)) for e in at.error)
    assert next(t for t in at.text_input if t.label == "Agent").value == HOSTILE_AGENT


def test_agent_profile_shows_a_hostile_baseline_as_text() -> None:
    at = open_page("agent", agent=HOSTILE_AGENT)
    assert_markup_is_inert(at)
    assert_shows(at, hostile("learning-value"))  # learning details, in the caption
    shown = cells(at)
    assert {
        HOSTILE_OLD_TOOL,
        hostile("resource-type"),
        hostile("realm"),
        hostile("scope"),
        hostile("fanout-figure"),
        hostile("cadence-figure"),
    } <= shown
    (rest,) = [json.loads(j.proto.body) for j in at.get("json")]  # the other keys
    assert rest[hostile("extra-key")] == hostile("extra-value")
    assert HOSTILE_OLD_TOOL in rest["argument_keys"]
