from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.broker.helpers import FakeClock
from tests.broker.vault_double import RunningVault


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def vault() -> Iterator[RunningVault]:
    with RunningVault() as running:
        yield running
