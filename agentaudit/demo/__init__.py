"""The demo agent: realistic agent sessions that make audited tool calls.

``agentaudit up --demo`` runs it in a child process (``python -m agentaudit.demo``)
with ``OTEL_EXPORTER_OTLP_ENDPOINT`` pointing at the collector, so a newcomer sees
rows, including a prompt-injection incident, within seconds. With the frameworks
installed it drives real agents (a LangGraph ReAct agent with a scripted model; a
LangGraph agent whose tools live on an MCP server subprocess over stdio); without them,
a plain scripted agent (:mod:`.runner` decides and says which ran).
"""
