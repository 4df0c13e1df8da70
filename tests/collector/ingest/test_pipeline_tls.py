"""TLS on the receivers and the admin API (cert/key options), with a self-signed cert."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import time
from pathlib import Path

import grpc
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

from agentaudit.collector.app import Collector
from agentaudit.config import load_config
from agentaudit.store import Store
from tests.collector._otlp import export_request


def _self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _tool_calls_written(collector: Collector) -> int:
    """By this process's writer and by those draining the workers' WALs."""
    drained = collector.pool.tool_calls_written if collector.pool else 0
    return int(collector.health()["tool_calls_written"]) + drained


@pytest.mark.parametrize("workers", [1, 2], ids=["one process", "two workers"])
def test_receivers_and_admin_serve_tls(store: Store, tmp_path: Path, workers: int) -> None:
    cert, key = _self_signed(tmp_path)
    config = load_config(
        {
            "workers": workers,
            "wal_dir": str(tmp_path / "wal"),
            "grpc_port": 0,
            "http_port": 0,
            "api_port": 0,
            "tls_cert": str(cert),
            "tls_key": str(key),
        },
        environ={},
    )
    collector = Collector(config, store=store)
    trust = ssl.create_default_context(cafile=str(cert))
    collector.start()
    try:
        assert collector.admin is not None
        authorization = f"Bearer {collector.config.token}"
        request, _ = export_request(2)
        reply = httpx.post(
            f"https://127.0.0.1:{collector.http_port}/v1/traces",
            content=request.SerializeToString(),
            headers={"content-type": "application/x-protobuf", "authorization": authorization},
            verify=trust,
        )
        assert reply.status_code == 200
        credentials = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
        with grpc.secure_channel(f"127.0.0.1:{collector.grpc_port}", credentials) as channel:
            trace_service_pb2_grpc.TraceServiceStub(channel).Export(
                export_request(1)[0], metadata=(("authorization", authorization),), timeout=10
            )
        deadline = time.monotonic() + 60
        while collector.health()["spans_received"] < 3:  # with workers: once drained
            assert time.monotonic() < deadline
            time.sleep(0.05)
        health = httpx.get(f"https://127.0.0.1:{collector.admin.port}/healthz", verify=trust)
        assert health.json()["spans_received"] == 3
        while _tool_calls_written(collector) < 3:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        collector.stop()
