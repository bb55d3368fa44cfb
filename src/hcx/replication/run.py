"""The ``hcx standby`` / ``hcx promote`` process: follow, report lag, then maybe serve.

It follows (``standby.follow``) with SIGINT/SIGTERM stopping it cleanly, its lag gauges
on ``metrics_port`` and a read-only gateway on ``--port`` (``replica``); once promoted,
the gateway is closed, that metrics endpoint is closed and
``hcx serve`` runs on the same journal and settings (its own metrics, the gateway on
``--port``), taking the follower's live engine and window instead of reloading them.
It never sequences a command before promotion.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import AsyncIterator, Sequence
from contextlib import ExitStack
from typing import Any

import trio
from prometheus_client import start_http_server

from hcx import gc_policy
from hcx.replication.errors import unwrap
from hcx.replication.follower import Follower
from hcx.replication.metrics import sample_replication
from hcx.replication.replica import ReplicaExchange, serve_replica
from hcx.replication.standby import follow
from hcx.service.app import serve
from hcx.service.metrics import Metrics
from hcx.settings import Settings

log = logging.getLogger("hcx.replication")


async def run_standby(
    settings: Settings,
    *,
    promote_after_ms: int | None,
    promote_now: bool,
    early_signals: Sequence[int] = (),
) -> None:
    stop = trio.Event()
    metrics = Metrics()
    followers: list[Follower] = []
    # The collector settings of the following outlast it: the server goes on with them.
    with ExitStack() as tuning:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            try:
                promoted = await _follow(
                    settings,
                    (promote_after_ms, promote_now),
                    stop,
                    signals,
                    early_signals,
                    metrics,
                    (followers, tuning),
                )
            except BaseExceptionGroup as group:
                fault = unwrap(group)
                if fault is group:
                    raise
                raise fault from None
        if promoted and not stop.is_set():
            state = followers[0].handed_over if followers else None
            followers.clear()
            # The server's own ``tuned`` nests inside the following's and freezes nothing.
            gc_policy.freeze_now()
            print("hcx standby promoted: serving as primary", flush=True)
            await serve(
                settings.service,
                settings.gateway,
                metrics_port=settings.metrics_port,
                state=state,
            )


async def _follow(
    settings: Settings,
    promotion: tuple[int | None, bool],
    stop: trio.Event,
    signals: AsyncIterator[int],
    early_signals: Sequence[int],
    metrics: Metrics,
    handover: tuple[list[Follower], ExitStack],
) -> bool:
    promote_after_ms, promote_now = promotion
    followers, tuning = handover
    server: Any = None
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_wait_for_signal, signals, early_signals, stop)

        def started(follower: Follower) -> None:
            nonlocal server
            followers.append(follower)
            nursery.start_soon(sample_replication, follower, metrics)
            replica = ReplicaExchange(settings.service, follower)
            nursery.start_soon(serve_replica, settings.gateway, replica, metrics)
            if settings.metrics_port is not None:
                server, _ = start_http_server(
                    settings.metrics_port, settings.gateway.host, metrics.registry
                )
            print(f"hcx standby following at seq {follower.stats.applied_seq}", flush=True)

        try:
            promoted = await follow(
                settings.service,
                promote_after_ms=promote_after_ms,
                promote_now=promote_now,
                stop=stop,
                on_follower=started,
                keep_state=True,
                tuning=tuning,
            )
        finally:
            if server is not None:
                server.shutdown()
                server.server_close()
        nursery.cancel_scope.cancel()
    return promoted


async def _wait_for_signal(
    signals: AsyncIterator[int], early_signals: Sequence[int], stop: trio.Event
) -> None:
    if early_signals:
        stop.set()
        return
    async for signum in signals:
        log.info("standby: signal %s received", signal.Signals(signum).name)
        stop.set()
        return
