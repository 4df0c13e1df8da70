"""Fixtures of the dashboard tests: one seeded chdb store per test module.

chdb opens one store directory per process, so every dashboard test shares the seeded
store; tests never write to it except through the revocations table.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from seed_store import (
    DEMO_AGENT,
    DEMO_CREDENTIAL,
    DEMO_EMAIL,
    DEMO_SESSION,
    DEMO_TRACE,
    DEMO_USER,
    seed,
)

from agentaudit.dashboards import register_store
from agentaudit.store import Store

__all__ = [
    "DEMO_AGENT",
    "DEMO_CREDENTIAL",
    "DEMO_EMAIL",
    "DEMO_SESSION",
    "DEMO_TRACE",
    "DEMO_USER",
]


@pytest.fixture(scope="module")
def seeded_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    directory = tmp_path_factory.mktemp("dashboard-store")
    store = Store.open(f"chdb://{directory}")
    seed(store)
    register_store(store)
    yield store
    register_store(None)
    store.close()
