from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.replication.natsd import NatsServer


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path / "nats")
    server.start()
    try:
        yield server
    finally:
        server.stop()
