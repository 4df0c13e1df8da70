"""The demo agent: scripted agent sessions that make audited tool calls.

``agentaudit up --demo`` runs it in a child process (``python -m agentaudit.demo``)
with ``OTEL_EXPORTER_OTLP_ENDPOINT`` pointing at the collector, so a newcomer sees
rows, including a prompt-injection incident, within seconds.
"""
