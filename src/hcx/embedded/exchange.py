"""The embedded exchange: ``hcx serve``'s supervisor and gateway, in-process.

``open_exchange`` runs the very same pipeline as the server (sequencer, group-commit
writer, release stage, fan-out) and hands out ``session(wallet)``s: ``hcx.client``
clients connected through an in-process WebSocket, so every command, query and channel
has the client's typed method or async iterator, checked by the same gateway code. With
no ``path`` the journal is SQLite in memory; with one it is a durable file that a later
``open_exchange(path)`` resumes.

Deterministic by construction when driven by a ``SimClock`` and calls awaited one after
another: envelope times come from the clock, request ids from a seeded counter, so the
same seed and calls give the same journal and the same digest. (trio schedules
concurrent tasks in a deliberately shuffled order: calls made concurrently are ordered by
that, not by the seed.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import trio

from hcx.client import Client, connect
from hcx.client.options import Transport
from hcx.engine import EngineConfig
from hcx.protocol import SUBPROTOCOL_LOCAL
from hcx.protocol.ids import SeededIds
from hcx.service.clock import Clock, SimClock, WallClock
from hcx.service.config import ServiceConfig
from hcx.service.exchange import Exchange
from hcx.service.gateway.config import GatewayConfig
from hcx.service.gateway.server import Gateway
from hcx.service.local import local_pair
from hcx.service.metrics import Metrics
from hcx.service.supervisor import open_exchange as open_core

# An embedded program is trusted and fast: no rate limits, no heartbeat.
_EMBEDDED_GATEWAY = GatewayConfig(
    auth="none",
    order_rate_per_wallet=1e12,
    order_burst_per_wallet=1e12,
    message_rate_per_connection=1e12,
    message_burst_per_connection=1e12,
    ping_interval_s=10**9,
)


def local_transport(gateway: Gateway, nursery: trio.Nursery, remote: str) -> Transport:
    """Opens in-process connections to ``gateway``, served by tasks in ``nursery``."""

    async def open_connection(_: trio.Nursery) -> Any:
        client_end, server_end = local_pair(remote=remote)
        nursery.start_soon(gateway.serve_connection, server_end, SUBPROTOCOL_LOCAL, remote)
        return client_end

    return open_connection


@attrs.define
class EmbeddedExchange:
    core: Exchange
    gateway: Gateway
    clock: Clock
    seed: int
    _nursery: trio.Nursery
    # The journal's last seq when the exchange opened: ids continue past what it holds.
    _ids_after: int
    # One sequence per wallet, shared by its sessions: a second session of a wallet must
    # never draw the first's ids (its calls would be answered as repeats).
    _ids: dict[str, SeededIds] = attrs.field(factory=dict)

    @asynccontextmanager
    async def session(self, wallet: str) -> AsyncIterator[Client]:
        """A client acting as ``wallet`` (every session may also use admin commands)."""
        async with connect(
            "local://hcx",
            wallet=wallet,
            transport=local_transport(self.gateway, self._nursery, f"embedded:{wallet}"),
            request_ids=self._ids_of(wallet),
            clock_ms=self.clock.now_ms,
            heartbeat_interval=None,
            reconnect=False,
        ) as client:
            yield client

    def _ids_of(self, wallet: str) -> SeededIds:
        ids = self._ids.get(wallet)
        if ids is None:
            ids = self._ids[wallet] = SeededIds(self.seed, wallet, after=self._ids_after)
        return ids

    async def digest(self) -> str:
        """The engine's full-state digest, once every command before this call is
        durable."""
        digest: str = await self.core.query(lambda engine: engine.digest())
        return digest

    @property
    def last_seq(self) -> int:
        return self.core.releaser.released_seq


@asynccontextmanager
async def open_exchange(
    path: str | None = None,
    *,
    clock: Clock | None = None,
    seed: int = 0,
    engine: EngineConfig | None = None,
    durability: str | None = None,
    snapshot_every: int = 100_000,
) -> AsyncIterator[EmbeddedExchange]:
    """An exchange in this process: in memory without ``path``, durable with one
    (``durability`` "group" by default, or "sync")."""
    mode = durability or ("memory" if path is None else "group")
    if path is None and mode != "memory":
        raise ValueError("a durable exchange needs a path")
    config = ServiceConfig(
        db=path or ":memory:",
        durability=mode,  # type: ignore[arg-type]
        engine=engine or EngineConfig(),
        snapshot_every=snapshot_every,
        # A simulated clock can run far ahead of the wall clock and back again between
        # runs; requests are stamped by the same clock, so no window is needed beyond it.
        recv_window_ms=60_000,
    )
    clock = clock or WallClock()
    async with open_core(config, clock=clock) as core:
        gateway = Gateway(_EMBEDDED_GATEWAY, core, Metrics(), clock)
        try:
            async with trio.open_nursery() as nursery:
                opened_at = core.releaser.released_seq
                yield EmbeddedExchange(core, gateway, clock, seed, nursery, opened_at)
                nursery.cancel_scope.cancel()
        finally:
            gateway.close()


__all__ = ["EmbeddedExchange", "SimClock", "open_exchange"]
