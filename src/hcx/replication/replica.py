"""A standby's read-only exchange: what the gateway needs, answered from replicated state.

``ReplicaExchange`` stands where the gateway expects an ``Exchange``: reads run against
the follower's engine (the primary's state as of the last verified row, with the same
book seq numbers), each applied batch's outputs go to the gateway's publishers (public
channels), and every command is refused with ``read_only``. ``serve_replica`` runs the
gateway on it until cancelled. It never applies or journals anything itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import attrs
import trio

from hcx.durability.journal import Row
from hcx.engine import Engine, Output
from hcx.engine.outputs import Result
from hcx.replication.follower import Follower
from hcx.sequencing import Refusal
from hcx.service.clock import WallClock
from hcx.service.config import ServiceConfig
from hcx.service.entries import QueryItem
from hcx.service.gateway.config import GatewayConfig
from hcx.service.gateway.server import Gateway
from hcx.service.metrics import Metrics

log = logging.getLogger("hcx.replication")
T = TypeVar("T")
READ_ONLY = Refusal("read_only", "this server is a read-only standby; send it to the primary")


@attrs.frozen
class Applied:
    """A replicated record as the gateway's publishers read it."""

    seq: int
    row: Row
    output: Output


class _Released:
    def __init__(self, follower: Follower) -> None:
        self.follower = follower

    @property
    def released_seq(self) -> int:
        return self.follower.stats.applied_seq


class ReplicaExchange:
    read_only = True

    def __init__(self, config: ServiceConfig, follower: Follower) -> None:
        self.config = config
        self.follower = follower
        self.releaser = _Released(follower)
        self.publishers: list[Callable[[list[Any]], None]] = []
        follower.publishers.append(self._publish)

    def add_publisher(self, publish: Callable[[list[Any]], None]) -> None:
        self.publishers.append(publish)

    def _publish(self, rows: list[Row], outputs: list[Output]) -> None:
        applied = [Applied(row.seq, row, output) for row, output in zip(rows, outputs, strict=True)]
        for publish in self.publishers:
            publish(applied)

    @property
    def engine(self) -> Engine:
        assert self.follower.verifier is not None
        return self.follower.verifier.engine

    async def query(self, read: Callable[[Engine], T]) -> T:
        """A read of the replicated state, as of the last verified record."""
        return read(self.engine)

    async def send(self, items: list[Any]) -> None:
        for item in items:
            if isinstance(item, QueryItem):
                item.waiter.resolve(item.read(self.engine))
            else:
                item.waiter.resolve(READ_ONLY)

    def stored_result(self, wallet: str, request_id: str) -> Result | None:
        return self.follower.stored_result(wallet, request_id)

    async def drain(self) -> None:
        return None


async def serve_replica(config: GatewayConfig, replica: ReplicaExchange, metrics: Metrics) -> None:
    """The gateway on ``replica`` until cancelled (then its connections are closed)."""
    gateway = Gateway(config, replica, metrics, WallClock())  # type: ignore[arg-type]
    try:
        async with trio.open_nursery() as handlers:
            await handlers.start(gateway.listen, handlers)
            scheme = "wss" if config.tls_cert else "ws"
            url = f"{scheme}://{config.host}:{gateway.port}/ws"
            log.info("standby: read-only gateway on %s", url)
            print(f"hcx standby read-only on {url}", flush=True)
    finally:
        gateway.close()
