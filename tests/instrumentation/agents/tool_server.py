"""A downstream tool server in its own process: extracts the propagated context.

Serves ``POST /tools/lookup`` on a free port (printed on stdout); runs an audited tool
inside the extracted OTel context and answers with the attributes of its span.
"""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler, HTTPServer

from opentelemetry import context, propagate
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

import agentaudit

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
agentaudit.instrument(tracer_provider=provider, integrations=())


@agentaudit.audited_tool
def lookup(key: str) -> str:
    return key.upper()


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        token = context.attach(propagate.extract({k.lower(): v for k, v in self.headers.items()}))
        try:
            lookup(body["key"])
        finally:
            context.detach(token)
        (span,) = exporter.get_finished_spans()
        exporter.clear()
        payload = json.dumps(
            {
                "attributes": {k: v for k, v in (span.attributes or {}).items()},
                "trace_id": format(span.context.trace_id, "032x"),
                "parent_span_id": format(span.parent.span_id, "016x") if span.parent else "",
                "kind": span.kind.name,
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        return None


assert SpanKind.INTERNAL  # the tool span kind on this side (SERVER is for MCP servers)
server = HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
