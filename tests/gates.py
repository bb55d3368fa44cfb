"""Test instruments for the commit path: holding a COMMIT open."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from hcx.durability.journal import Row
from hcx.service.exchange import Exchange


class CommitGate:
    """Wraps the writer's commit so a test can hold a COMMIT open."""

    def __init__(self, exchange: Exchange) -> None:
        self.inner = exchange.writer.commit
        self.open = threading.Event()
        self.entered = threading.Event()
        self.open.set()
        self.committed: list[int] = []
        exchange.writer.commit = self

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold commits; always let go, or a failing test would hang on the writer."""
        self.open.clear()
        try:
            yield
        finally:
            self.open.set()

    def __call__(self, rows: Sequence[Row]) -> None:
        self.entered.set()
        self.open.wait()
        self.inner(rows)
        self.committed.extend(row[0] for row in rows)
