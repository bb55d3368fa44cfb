"""What a session may use of the gateway and the exchange, and nothing more: submitting
commands and reads, stored results, the released seq, journal history, fan-out, the RFQ
desk, rate limits, authentication and its throttling. Never touches a socket.

The listener (``server``) builds one ``SessionServices`` and hands it to every
``Session``; neither imports the other's module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import trio

from hcx.durability.history import events_between, first_kept_seq
from hcx.durability.journal import MEMORY, Journal
from hcx.durability.trade_history import TradeHistory
from hcx.engine import Engine
from hcx.engine.outputs import Result
from hcx.protocol.rfq import RfqDesk
from hcx.service.clock import Clock
from hcx.service.entries import QueryItem, Submission
from hcx.service.exchange import Exchange
from hcx.service.gateway.config import GatewayConfig
from hcx.service.gateway.fanout import CHANNEL_OF_EVENT, Fanout
from hcx.service.gateway.keys import KeyStore
from hcx.service.gateway.limits import AuthThrottle, BucketMap
from hcx.service.metrics import Metrics

T = TypeVar("T")


class SessionServices:
    def __init__(
        self, config: GatewayConfig, exchange: Exchange, metrics: Metrics, clock: Clock
    ) -> None:
        self.config = config
        self.metrics = metrics
        self.clock = clock
        self._exchange = exchange
        # A standby's gateway (``hcx.replication.replica``): commands are refused.
        self.read_only = exchange.read_only
        self.fanout = Fanout(config.recent_orders_kept)
        self.rfq = RfqDesk(config.rfq_ttl_ms)
        exchange.add_publisher(self.fanout.publish)
        self.order_rate = BucketMap(config.order_rate_per_wallet, config.order_burst_per_wallet)
        self.auth_throttle = AuthThrottle(config.failed_auth_per_minute)
        # Set when the exchange is stopping: new commands are refused ``unavailable``.
        self.stopping = False
        # History and keys are read on a connection of their own, off the event loop
        # (in memory there is only the writer's, shared under its limiter).
        self._memory = exchange.config.durability == "memory"
        self._reader = exchange.writer.journal if self._memory else Journal(exchange.config.db)
        self._reader_limiter = exchange.writer.limiter if self._memory else trio.CapacityLimiter(1)
        self._keys = KeyStore(self._reader if not self._memory else Journal(MEMORY))
        self.fanout.trade_history = TradeHistory.load(self._reader, exchange.releaser.released_seq)

    # --- the ordered path through the exchange -------------------------------------------

    async def send(self, items: list[Submission | QueryItem]) -> None:
        """Hand commands and reads to the sequencer; their waiters are resolved by the
        release stage, once everything before them is durable."""
        await self._exchange.send(items)

    async def query(self, read: Callable[[Engine], T]) -> T:
        """``read`` run on the engine in sequence, answered once what it saw is durable."""
        return await self._exchange.query(read)

    def stored_result(self, wallet: str, request_id: str) -> Result | None:
        """The result of a request still in the idempotency window (call it from a read,
        where it is in step with the engine)."""
        return self._exchange.stored_result(wallet, request_id)

    @property
    def released_seq(self) -> int:
        """Every record up to this seq has been released (is durable and published)."""
        return self._exchange.releaser.released_seq

    # --- journal history (resume) ----------------------------------------------------------

    async def first_kept_seq(self) -> int:
        return await trio.to_thread.run_sync(
            first_kept_seq, self._reader, limiter=self._reader_limiter
        )

    async def history(self, wallet: str, channel: str, after: int, upto: int) -> list[Any]:
        """Events of ``channel`` for ``wallet`` in records ``after < seq <= upto``."""

        def wanted(event: Any) -> bool:
            return CHANNEL_OF_EVENT.get(type(event)) == channel and event.wallet == wallet

        return await trio.to_thread.run_sync(
            events_between, self._reader, after, upto, wanted, limiter=self._reader_limiter
        )

    # --- authentication ---------------------------------------------------------------------

    async def verify_key(self, wallet: str, key: str) -> str | None:
        """The role of a live ``key`` of ``wallet``; None if it is not one."""
        role: str | None = await trio.to_thread.run_sync(
            self._keys.verify, wallet, key, limiter=self._reader_limiter
        )
        return role

    def end_auth_attempt(self, remote: str, stamp: float, *, ok: bool) -> None:
        """A failed attempt stays counted (and is counted in the metrics)."""
        if not ok:
            self.metrics.auth_failures.inc()
        self.auth_throttle.end(remote, stamp, ok=ok)

    def close(self) -> None:
        if not self._memory:
            self._reader.close()
