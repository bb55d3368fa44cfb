"""``hcx serve``: the exchange, the gateway and the metrics endpoint in one supervised run.

Shutdown on SIGINT or SIGTERM: stop accepting connections, answer new commands with
``unavailable``, let every accepted command commit and be answered, flush what the
connections still have queued, close them (1001), write the final snapshot, return.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from functools import partial
from typing import Any

import attrs
import trio

from hcx import gc_policy
from hcx.durability.idempotency import IdempotencyWindow
from hcx.durability.replay import Recovered
from hcx.replication.attach import open_replication
from hcx.replication.metrics import sample_replication
from hcx.service.clock import Clock, WallClock
from hcx.service.config import ServiceConfig
from hcx.service.exchange import Exchange
from hcx.service.gateway.config import GatewayConfig
from hcx.service.gateway.server import Gateway
from hcx.service.metrics import Metrics
from hcx.service.supervisor import open_exchange

log = logging.getLogger("hcx")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(
            {
                "ts": round(record.created, 3),
                "level": record.levelname.lower(),
                "logger": record.name,
                "msg": record.getMessage(),
            }
        )


def configure_logging(json_logs: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if json_logs else logging.Formatter("%(asctime)s %(name)s %(message)s")
    )
    root = logging.getLogger("hcx")
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    root.propagate = False


@attrs.define
class Running:
    """What a started server exposes to its caller (tests, ``hcx demo``)."""

    exchange: Exchange
    gateway: Gateway
    url: str
    stop: trio.Event = attrs.Factory(trio.Event)
    page_url: str | None = None


async def serve(
    service: ServiceConfig,
    gateway_config: GatewayConfig,
    *,
    metrics_port: int | None = None,
    http_port: int | None = None,
    clock: Clock | None = None,
    on_ready: Callable[[Running], Any] | None = None,
    handle_signals: bool = True,
    early_signals: Sequence[int] = (),
    state: tuple[Recovered, IdempotencyWindow] | None = None,
    task_status: Any = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run until SIGINT/SIGTERM (``handle_signals``) or ``Running.stop``.

    ``state`` is a promoted standby's live engine and window (``open_exchange``).

    Signals are taken over before the journal is replayed, which can take a while: one
    that arrives while starting (or before, noted by the caller in ``early_signals``)
    stops the server gracefully as soon as it is up, instead of killing the start-up.
    """
    ports = (metrics_port, http_port)
    if not handle_signals:
        await _serve(service, gateway_config, None, (), ports, clock, on_ready, state, task_status)
        return
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        await _serve(
            service,
            gateway_config,
            signals,
            early_signals,
            ports,
            clock,
            on_ready,
            state,
            task_status,
        )


async def _serve(
    service: ServiceConfig,
    gateway_config: GatewayConfig,
    signals: AsyncIterator[int] | None,
    early_signals: Sequence[int],
    ports: tuple[int | None, int | None],
    clock: Clock | None,
    on_ready: Callable[[Running], Any] | None,
    state: tuple[Recovered, IdempotencyWindow] | None,
    task_status: Any,
) -> None:
    clock = clock or WallClock()
    metrics = Metrics()
    metrics_port, http_port = ports
    async with (
        open_replication(service) as replication,
        open_exchange(
            service,
            clock=clock,
            stage=replication.stage,
            publishers=replication.publishers,
            state=state,
        ) as exchange,
    ):
        # After recovery: the recovered state is frozen out of the collector's walks.
        with gc_policy.tuned():
            recovered = exchange.recovered
            metrics.replay_seconds.set(recovered.seconds)
            metrics.replayed_records.set(recovered.replayed)
            exchange.writer.stats.observer = metrics.commit
            gateway = Gateway(gateway_config, exchange, metrics, clock)
            exchange.add_publisher(lambda entries: metrics.last_seq.set(entries[-1].seq))
            if metrics_port is not None:
                metrics.serve(metrics_port, gateway_config.host)
            try:
                async with trio.open_nursery() as handlers:
                    async with trio.open_nursery() as listening:
                        await listening.start(gateway.listen, handlers)
                        scheme = "wss" if gateway_config.tls_cert else "ws"
                        running = Running(
                            exchange, gateway, f"{scheme}://{gateway_config.host}:{gateway.port}/ws"
                        )
                        if http_port is not None:
                            # Imported only when asked for: hypercorn and starlette would
                            # add to every start.
                            from hcx.web.server import web_page

                            running.page_url = await listening.start(
                                partial(web_page, gateway_config, gateway.port, http_port)
                            )
                            log.info("web page at %s", running.page_url)
                            print(f"hcx web page at {running.page_url}", flush=True)
                        log.info("listening on %s", running.url)
                        print(f"hcx listening on {running.url}", flush=True)
                        if on_ready is not None:
                            on_ready(running)
                        task_status.started(running)
                        listening.start_soon(_sample_queues, exchange, gateway, metrics)
                        if replication.replicator is not None:
                            listening.start_soon(
                                sample_replication, replication.replicator, metrics
                            )
                        if signals is not None:
                            listening.start_soon(
                                _wait_for_signal, signals, early_signals, running.stop
                            )
                        await running.stop.wait()
                        log.info("shutdown: no new connections or commands")
                        gateway.announce_shutdown()
                        listening.cancel_scope.cancel()
                    started = time.monotonic()
                    await exchange.drain()
                    with trio.move_on_after(2):
                        while any(s.outbound.queued_bytes for s in list(gateway.sessions)):
                            await trio.sleep(0.01)
                    handlers.cancel_scope.cancel()
                    log.info("shutdown: drained in %.3fs", time.monotonic() - started)
            finally:
                gateway.close()
    log.info("shutdown complete")


async def _wait_for_signal(
    signals: AsyncIterator[int], early_signals: Sequence[int], stop: trio.Event
) -> None:
    for signum in early_signals:
        log.info("signal %s received while starting", signal.Signals(signum).name)
        stop.set()
        return
    async for signum in signals:
        log.info("signal %s received", signal.Signals(signum).name)
        stop.set()
        return


async def _sample_queues(exchange: Exchange, gateway: Gateway, metrics: Metrics) -> None:
    sequencer = exchange.sequencer
    while True:
        metrics.queue_depth.labels("requests").set(
            sequencer.requests.statistics().current_buffer_used
        )
        metrics.queue_depth.labels("journal").set(
            exchange.writer.entries.statistics().current_buffer_used
        )
        metrics.queue_depth.labels("release").set(
            exchange.releaser.committed.statistics().current_buffer_used
        )
        metrics.subscriptions.set(gateway.fanout.subscriber_count())
        await trio.sleep(1.0)
