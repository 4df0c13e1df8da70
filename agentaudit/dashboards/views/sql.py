"""SQL: a console confined to the audit data (docs/sql.md), with saved forensic queries."""

from __future__ import annotations

import streamlit as st

from agentaudit.dashboards import data
from agentaudit.dashboards._ui import fmt, md
from agentaudit.dashboards.examples import EXAMPLES
from agentaudit.errors import AgentAuditError

st.title("SQL")
st.caption(
    "SELECT queries over the agentaudit tables only: ClickHouse parses each query and "
    "anything reaching outside the audit data (files, URLs, other databases, settings) is "
    "refused. Read-only; at most 100,000 rows and 60 s."
)

example = st.selectbox("Saved forensic queries", list(EXAMPLES)) or next(iter(EXAMPLES))
if st.session_state.get("sql_example") != example:
    st.session_state["sql_example"] = example
    st.session_state["sql_text"] = EXAMPLES[example]
sql = st.text_area("Query", key="sql_text", height=180)
if st.button("Run", type="primary"):
    if not sql.strip():
        st.error("Write a query first.")
    else:
        try:
            result = data.run_sql(sql)
        except AgentAuditError as exc:
            st.error(md(exc))  # quotes the query and the store's answer: never Markdown
        else:
            st.session_state["sql_result"] = result
result = st.session_state.get("sql_result")
if result is not None:
    st.caption(fmt("{:,} rows", len(result)))
    st.dataframe(result, hide_index=True, width="stretch")
    st.download_button(
        "Download CSV",
        result.to_csv(index=False).encode(),
        file_name="agentaudit-query.csv",
        mime="text/csv",
    )
