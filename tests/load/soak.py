"""Load and soak against a real ``hcx serve``: a crowd of connections, book subscribers,
deliberately slow consumers, and traders at a steady rate, while the server's memory is
sampled.

``run_soak(SoakConfig(...))`` starts the server (the e2e harness's ``launch``, with a
``--config`` holding the soak's limits and a metrics port), lists ``symbols`` markets and
funds the traders, then holds, all at once:

* ``connections`` idle WebSocket connections (opened, never used until the end, when
  each must still answer a ``Ping``);
* ``subscribers`` book subscribers that read everything and check the book's ``seq``
  rises by exactly 1 (no gap);
* ``slow`` slow consumers: a 4 KiB socket receive buffer, subscribed to every book and
  to trades, never reading. The server must cut each with close 1008 and the reason
  ``{"error":"slow_consumer","recovery":"resubscribe"}``. A consumer that never reads
  cannot see a close frame, and the server waits only ``close_timeout_s`` for it to go out
  (then drops the TCP connection: a consumer that reads later gets the buffered messages
  and no close frame, 1006). So the slow consumers start ``slow_stagger_s`` apart, in
  order, and overflow in that order; a watcher polls ``hcx_slow_consumer_closes_total``
  every 50 ms and, when it rises, drains the next slow consumer at once, up to the close
  frame, whose code and reason are recorded. Draining a backlog of megabytes through a
  4 KiB window takes seconds on a loaded 2-core machine, longer than the server's default
  wait: the soak gives the server a longer ``close_timeout_s`` (the close code is what it
  checks, not how long a consumer that stops reading is waited for);
* ``traders`` trader wallets placing limit orders around a mid price at ``rate`` orders
  per second in all (a fixed schedule), with a ``CancelAll`` every 20th command to keep
  the book bounded. Every command's latency (send to durable answer) is recorded.

Every ``sample_s`` seconds the server's RSS (``VmRSS`` in ``/proc/PID/status``), its CPU
time and the slow-consumer metric are sampled. The report has RSS growth after warm-up,
p50/p99/max latency per minute, the cuts and every error; the server must exit 0 on
SIGTERM (sent while everything is still connected) with no traceback.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import resource
import socket
import statistics
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import trio
from trio_websocket import (
    ConnectionClosed,
    WebSocketConnection,
    connect_websocket_url,
)

import hcx.client
from hcx.client import Client, HcxError
from hcx.engine.instruments import expected_symbol
from hcx.engine.numbers import parse_decimal
from tests.e2e.conftest import Server, launch
from tests.e2e.helpers import open_small_window_connection
from tests.e2e.market import EXPIRY_MS

SLOW_CONSUMER_REASON = '{"error":"slow_consumer","recovery":"resubscribe"}'
STRIKES = ("3000", "3100", "3200", "3300", "3400", "3500", "3600", "3700")
FUNDS = "1000000000"
OPEN_CONCURRENCY = 50


@attrs.frozen
class SoakConfig:
    minutes: float = 10.0
    connections: int = 1000
    subscribers: int = 100
    slow: int = 10
    rate: float = 50.0  # orders per second, all traders together
    traders: int = 4
    symbols: int = 2
    sample_s: float = 5.0
    warmup_s: float | None = None  # default: a quarter of the run, at most 120 s
    slow_stagger_s: float = 2.0  # slow consumers start this far apart
    # Server limits for the run (``[gateway]``): a slow consumer is this many messages
    # behind when it is cut; closed orders kept for GetOrder (a bounded cache).
    outbound_messages: int = 1000
    recent_orders_kept: int = 1000
    close_timeout_s: float = 30.0  # how long a cut consumer has to take its close frame
    directory: Path | None = None

    @property
    def seconds(self) -> float:
        return self.minutes * 60.0

    @property
    def warmup(self) -> float:
        if self.warmup_s is not None:
            return self.warmup_s
        return min(120.0, self.seconds / 4)

    def server_config(self, metrics_port: int) -> str:
        return (
            f"metrics_port = {metrics_port}\n"
            "[gateway]\n"
            f"outbound_messages = {self.outbound_messages}\n"
            f"recent_orders_kept = {self.recent_orders_kept}\n"
            f"close_timeout_s = {self.close_timeout_s}\n"
            f"max_connections = {self.connections + self.subscribers + self.slow + 100}\n"
        )


@attrs.define
class Sample:
    t: float  # seconds since trading started (negative: before)
    rss_kb: int
    anon_kb: int
    file_kb: int
    cpu_s: float
    load1: float  # the machine's 1-minute load average (other work competes for the CPUs)
    connections: int
    slow_closes: int
    orders: int


@attrs.define
class MinuteLatency:
    minute: int
    count: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    server_cpu: float  # share of one CPU the server used in that minute
    load1: float  # mean 1-minute load average of the machine


@attrs.define
class SoakReport:
    config: SoakConfig
    samples: list[Sample] = attrs.Factory(list)
    latencies: list[tuple[float, float]] = attrs.Factory(list)  # (t, seconds)
    orders: int = 0
    rejections: Counter[str] = attrs.Factory(Counter)
    trader_errors: list[str] = attrs.Factory(list)
    idle_opened: int = 0
    idle_alive_at_end: int = 0
    subscriber_messages: int = 0
    subscriber_gaps: int = 0
    subscriber_disconnects: list[str] = attrs.Factory(list)
    subscribers_reading: int = 0
    slow_closes: list[tuple[int | None, str | None]] = attrs.Factory(list)
    slow_cut_at: list[float] = attrs.Factory(list)  # t of each metric increase
    peak_connections: int = 0
    exit_code: int | None = None
    traceback_in_log: bool = False
    trading_seconds: float = 0.0
    setup_seconds: float = 0.0
    journal_rows: int = 0

    # --- figures ---------------------------------------------------------------------

    def after_warmup(self) -> list[Sample]:
        return [s for s in self.samples if s.t >= self.config.warmup]

    @property
    def rss_baseline_kb(self) -> int:
        later = self.after_warmup()
        return later[0].rss_kb if later else 0

    @property
    def rss_final_kb(self) -> int:
        return self.samples[-1].rss_kb if self.samples else 0

    @property
    def rss_max_kb(self) -> int:
        later = self.after_warmup()
        return max((s.rss_kb for s in later), default=0)

    @property
    def _anon_baseline_kb(self) -> int:
        later = self.after_warmup()
        return later[0].anon_kb if later else 0

    @property
    def rss_growth(self) -> float:
        """Final RSS over the RSS at the end of warm-up, minus 1."""
        base = self.rss_baseline_kb
        return self.rss_final_kb / base - 1 if base else float("nan")

    @property
    def rss_growth_max(self) -> float:
        """Highest RSS after warm-up over the RSS at the end of warm-up, minus 1."""
        base = self.rss_baseline_kb
        return self.rss_max_kb / base - 1 if base else float("nan")

    def per_minute(self) -> list[MinuteLatency]:
        buckets: dict[int, list[float]] = {}
        for t, seconds in self.latencies:
            buckets.setdefault(int(t // 60), []).append(seconds * 1000)
        out = []
        for minute in sorted(buckets):
            values = sorted(buckets[minute])
            p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
            inside = [s for s in self.samples if 60 * minute <= s.t <= 60 * (minute + 1)]
            cpu = load = float("nan")
            if len(inside) >= 2 and inside[-1].t > inside[0].t:
                cpu = (inside[-1].cpu_s - inside[0].cpu_s) / (inside[-1].t - inside[0].t)
                load = statistics.mean(s.load1 for s in inside)
            out.append(
                MinuteLatency(
                    minute + 1, len(values), statistics.median(values), p99, values[-1], cpu, load
                )
            )
        return out

    def _closes(self) -> str:
        """Each distinct (code, reason) of the slow consumers' closes, with its count."""
        counted = sorted(Counter(self.slow_closes).items(), key=str)
        return ", ".join(
            f"{count} x {'no close' if code is None else code} {reason}"
            for (code, reason), count in counted
        )

    def summary(self) -> str:
        c = self.config
        lines = [
            f"soak: {self.trading_seconds / 60:.1f} min of trading at {c.rate:g} orders/s "
            f"({c.traders} traders, {c.symbols} symbols); setup {self.setup_seconds:.0f} s",
            f"  connections: {self.idle_opened} idle held ({self.idle_alive_at_end} answered "
            f"Ping at the end), {c.subscribers} book subscribers ({self.subscriber_messages} "
            f"messages, {self.subscriber_gaps} gaps, {len(self.subscriber_disconnects)} "
            f"disconnects), {c.slow} slow consumers; peak hcx_connections "
            f"{self.peak_connections}",
            f"  slow consumers cut: {sum(1 for code, _ in self.slow_closes if code == 1008)}"
            f"/{c.slow} with 1008; closes: {self._closes()}; "
            f"cut at t = {', '.join(f'{t:.0f}' for t in self.slow_cut_at) or '-'} s",
            f"  orders: {self.orders} commands, {sum(self.rejections.values())} rejections "
            f"{dict(self.rejections)}, {len(self.trader_errors)} trader errors; journal "
            f"{self.journal_rows} rows",
            f"  RSS: {self.rss_baseline_kb / 1024:.1f} MiB after a {c.warmup:.0f} s warm-up, "
            f"{self.rss_final_kb / 1024:.1f} MiB at the end, max {self.rss_max_kb / 1024:.1f} "
            f"MiB: growth {self.rss_growth:+.1%} (max {self.rss_growth_max:+.1%}); heap "
            f"(RssAnon) {self._anon_baseline_kb / 1024:.1f} -> "
            f"{(self.samples[-1].anon_kb if self.samples else 0) / 1024:.1f} MiB",
            "  latency per minute (place/cancel-all, send to durable answer):",
        ]
        for m in self.per_minute():
            lines.append(
                f"    minute {m.minute:2d}: {m.count:6d} commands  p50 {m.p50_ms:6.2f} ms  "
                f"p99 {m.p99_ms:6.2f} ms  max {m.max_ms:7.2f} ms  (server CPU "
                f"{m.server_cpu:4.0%}, machine load {m.load1:4.1f} on {os.cpu_count()} CPUs)"
            )
        lines.append(
            f"  server: exit {self.exit_code} on SIGTERM, "
            f"{'a traceback' if self.traceback_in_log else 'no traceback'} in its stderr"
        )
        return "\n".join(lines)


# --- helpers ---------------------------------------------------------------------------


def raise_nofile_limit() -> tuple[int, int]:
    """Soft RLIMIT_NOFILE up to the hard limit (the server inherits it); the old pair."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return soft, hard


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def read_rss_kb(pid: int) -> dict[str, int]:
    """``VmRSS`` and its parts (``RssAnon``: heap; ``RssFile``: mapped files) in KiB."""
    out = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "RssAnon", "RssFile"):
                out[name] = int(value.split()[0])
    return out


def read_cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def read_metrics(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text: str = response.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def symbols_for(count: int) -> list[str]:
    return [
        expected_symbol("BTC", EXPIRY_MS, parse_decimal(strike), "call")
        for strike in STRIKES[:count]
    ]


class Soak:
    def __init__(self, config: SoakConfig, progress: Callable[[str], None] | None) -> None:
        self.config = config
        self.report = SoakReport(config)
        self.progress = progress or (lambda line: None)
        self.symbols = symbols_for(config.symbols)
        self.stopping = False
        self.t0 = 0.0  # trio time trading starts

    def now(self) -> float:
        return trio.current_time() - self.t0

    # --- the crowd -------------------------------------------------------------------

    async def _open_idle(
        self, nursery: trio.Nursery, url: str, limiter: trio.CapacityLimiter, out: list[Any]
    ) -> None:
        async with limiter:
            with trio.fail_after(30):
                ws = await connect_websocket_url(nursery, url, subprotocols=["hcx.v1.json"])
            out.append(ws)

    async def _subscriber(self, nursery: trio.Nursery, url: str, symbol: str) -> None:
        with trio.fail_after(30):
            ws = await connect_websocket_url(nursery, url, subprotocols=["hcx.v1.json"])
        await ws.send_message(
            json.dumps({"type": "Subscribe", "channel": "book", "symbol": symbol})
        )
        report = self.report
        last_seq: int | None = None
        counted = False
        try:
            while True:
                message = json.loads(await ws.get_message())
                kind = message["type"]
                if kind == "BookSnapshot":
                    last_seq = message["seq"]
                elif kind == "BookUpdate":
                    if last_seq is not None and message["seq"] != last_seq + 1:
                        report.subscriber_gaps += 1
                    last_seq = message["seq"]
                    if not counted:
                        report.subscribers_reading += 1
                        counted = True
                report.subscriber_messages += 1
        except ConnectionClosed as exc:
            if not self.stopping:
                report.subscriber_disconnects.append(f"{exc.reason}")

    async def _slow_consumer(self, nursery: trio.Nursery, port: int) -> WebSocketConnection:
        ws = await open_small_window_connection(nursery, port)
        wanted = Counter({"Subscribed": len(self.symbols) + 1, "BookSnapshot": len(self.symbols)})
        for symbol in self.symbols:
            await ws.send_message(
                json.dumps({"type": "Subscribe", "channel": "book", "symbol": symbol})
            )
        await ws.send_message(json.dumps({"type": "Subscribe", "channel": "trades"}))
        with trio.fail_after(30):
            while +wanted:
                wanted[json.loads(await ws.get_message())["type"]] -= 1
        return ws  # and never read again, until the end

    async def _start_slow(
        self, nursery: trio.Nursery, port: int, slow: list[WebSocketConnection]
    ) -> None:
        for _ in range(self.config.slow):
            slow.append(await self._slow_consumer(nursery, port))
            await trio.sleep(self.config.slow_stagger_s)

    async def _watch_cuts(
        self,
        nursery: trio.Nursery,
        metrics_port: int,
        slow: list[WebSocketConnection],
        drained: list[WebSocketConnection],
    ) -> None:
        """The n-th cut is the n-th slow consumer (they start in order, seconds apart):
        drain it at once, while the server still waits to send its close frame."""
        while len(drained) < self.config.slow:
            metrics = await trio.to_thread.run_sync(read_metrics, metrics_port)
            cuts = int(metrics.get("hcx_slow_consumer_closes_total", 0))
            while len(drained) < min(cuts, len(slow)):
                ws = slow[len(drained)]
                drained.append(ws)
                self.report.slow_cut_at.append(round(self.now(), 1))
                nursery.start_soon(self._drain_slow, ws)
            await trio.sleep(0.05)

    async def _drain_slow(self, ws: WebSocketConnection) -> None:
        """Read what reached the slow consumer, up to the close frame."""
        try:
            with trio.fail_after(self.config.close_timeout_s + 10):
                while True:
                    await ws.get_message()
        except ConnectionClosed as exc:
            reason = exc.reason
            code = getattr(reason, "code", None)
            self.report.slow_closes.append(
                (None if code is None else int(code), getattr(reason, "reason", None))
            )
        except trio.TooSlowError:
            self.report.slow_closes.append((None, "still open: never cut"))

    # --- traders ---------------------------------------------------------------------

    async def _trader(self, client: Client, symbol: str, seed: int, deadline: float) -> None:
        config = self.config
        report = self.report
        rng = random.Random(seed)
        interval = config.traders / config.rate
        next_at = trio.current_time() + rng.random() * interval
        count = 0
        while next_at < deadline:
            await trio.sleep_until(next_at)
            scheduled = next_at - self.t0  # latency is bucketed by the schedule
            next_at += interval
            count += 1
            started = time.perf_counter()
            try:
                if count % 20 == 0:
                    await client.cancel_all(symbol=symbol)
                else:
                    side = rng.choice(("buy", "sell"))
                    price = Decimal(rng.randint(900, 1100)) / 10
                    result = await client.place_order(symbol, side, price, rng.randint(1, 3))
                    if result.status == "rejected":
                        report.rejections[str(result.reason)] += 1
            except (HcxError, hcx.client.ConnectionLost) as exc:
                report.trader_errors.append(f"{type(exc).__name__}: {exc}")
                continue
            report.latencies.append((scheduled, time.perf_counter() - started))
            report.orders += 1

    # --- sampling --------------------------------------------------------------------

    async def _sampler(self, server: Server, metrics_port: int) -> None:
        while True:
            await self._sample(server, metrics_port)
            await trio.sleep(self.config.sample_s)

    async def _sample(self, server: Server, metrics_port: int) -> None:
        report = self.report
        metrics = await trio.to_thread.run_sync(read_metrics, metrics_port)
        closes = int(metrics.get("hcx_slow_consumer_closes_total", 0))
        rss = read_rss_kb(server.proc.pid)
        sample = Sample(
            round(self.now(), 1),
            rss["VmRSS"],
            rss.get("RssAnon", 0),
            rss.get("RssFile", 0),
            read_cpu_s(server.proc.pid),
            os.getloadavg()[0],
            int(metrics.get("hcx_connections", 0)),
            closes,
            report.orders,
        )
        report.samples.append(sample)
        report.peak_connections = max(report.peak_connections, sample.connections)
        recent = [s for t, s in report.latencies[-2000:] if t > sample.t - 60]
        p99 = sorted(recent)[int(len(recent) * 0.99)] * 1000 if recent else 0.0
        self.progress(
            f"t={sample.t:7.1f}s rss={sample.rss_kb / 1024:6.1f}MiB "
            f"(anon {sample.anon_kb / 1024:6.1f}) cpu={sample.cpu_s:6.1f}s "
            f"load={sample.load1:4.1f} "
            f"conns={sample.connections:5d} slow_cut={closes:3d} orders={report.orders:7d} "
            f"p99(60s)={p99:6.2f}ms errors={len(report.trader_errors)}"
        )

    # --- the run ---------------------------------------------------------------------

    async def run(self, server: Server, metrics_port: int) -> None:
        config, report = self.config, self.report
        started = self.t0 = trio.current_time()
        async with trio.open_nursery() as nursery:
            async with hcx.client.connect(server.url, wallet="admin", reconnect=False) as admin:
                for symbol, strike in zip(self.symbols, STRIKES, strict=False):
                    listed = await admin.create_instrument(
                        symbol, "BTC", EXPIRY_MS, strike, "call", "0.1", "1"
                    )
                    assert listed.status == "ok", listed
                assert (await admin.set_index_price("BTC", "3000")).status == "ok"
                for i in range(config.traders):
                    assert (await admin.deposit(f"trader{i}", FUNDS)).status == "ok"

            # The crowd: idle connections, subscribers, slow consumers.
            idle: list[WebSocketConnection] = []
            limiter = trio.CapacityLimiter(OPEN_CONCURRENCY)
            async with trio.open_nursery() as opening:
                for _ in range(config.connections):
                    opening.start_soon(self._open_idle, nursery, server.url, limiter, idle)
            report.idle_opened = len(idle)
            self.progress(f"{len(idle)} idle connections open")
            for i in range(config.subscribers):
                nursery.start_soon(
                    self._subscriber, nursery, server.url, self.symbols[i % len(self.symbols)]
                )
            self.progress(f"{config.subscribers} subscribers")

            async with contextlib.AsyncExitStack() as stack:
                traders = [
                    await stack.enter_async_context(
                        hcx.client.connect(server.url, wallet=f"trader{i}", reconnect=False)
                    )
                    for i in range(config.traders)
                ]
                report.setup_seconds = trio.current_time() - started
                self.t0 = trio.current_time()
                sampling = trio.CancelScope()

                async def sample() -> None:
                    with sampling:
                        await self._sampler(server, metrics_port)

                nursery.start_soon(sample)
                slow: list[WebSocketConnection] = []
                drained: list[WebSocketConnection] = []
                nursery.start_soon(self._start_slow, nursery, server.port, slow)
                nursery.start_soon(self._watch_cuts, nursery, metrics_port, slow, drained)
                deadline = self.t0 + config.seconds
                async with trio.open_nursery() as trading:
                    for i, client in enumerate(traders):
                        symbol = self.symbols[i % len(self.symbols)]
                        trading.start_soon(self._trader, client, symbol, i, deadline)
                report.trading_seconds = trio.current_time() - self.t0
                # Memory is judged while the load runs: the last sample is taken now,
                # before the end checks and the shutdown.
                sampling.cancel()
                await self._sample(server, metrics_port)

            # The end: one more sample, the slow consumers' close frames, a Ping on
            # every idle connection; then SIGTERM with everything still connected.
            await trio.sleep(min(config.sample_s, 2.0))
            async with trio.open_nursery() as draining:
                for ws in slow:
                    if ws not in drained:  # never cut: drained here, to tell how it ends
                        drained.append(ws)
                        draining.start_soon(self._drain_slow, ws)
            while len(report.slow_closes) < len(drained):
                await trio.sleep(0.05)
            async with trio.open_nursery() as pinging:
                for index, ws in enumerate(idle):
                    pinging.start_soon(self._ping_idle, ws, index, limiter)
            self.stopping = True
            report.exit_code = await trio.to_thread.run_sync(server.stop)
            nursery.cancel_scope.cancel()

    async def _ping_idle(
        self, ws: WebSocketConnection, index: int, limiter: trio.CapacityLimiter
    ) -> None:
        async with limiter:
            try:
                with trio.fail_after(30):
                    await ws.send_message(json.dumps({"type": "Ping", "id": index}))
                    answer = json.loads(await ws.get_message())
            except (ConnectionClosed, trio.TooSlowError):
                return
            if answer.get("type") == "Pong" and answer.get("id") == index:
                self.report.idle_alive_at_end += 1


def run_soak(config: SoakConfig, progress: Callable[[str], None] | None = None) -> SoakReport:
    """Run the whole soak (blocking) and return its report."""
    raise_nofile_limit()
    directory = config.directory or Path(tempfile.mkdtemp(prefix="hcx-soak-"))
    directory.mkdir(parents=True, exist_ok=True)
    metrics_port = free_port()
    server = launch(directory, config=config.server_config(metrics_port))
    soak = Soak(config, progress)
    try:
        trio.run(soak.run, server, metrics_port)
    finally:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait()
        if server.proc.stdout is not None:
            server.proc.stdout.close()
    report = soak.report
    log = server.log_text()
    report.traceback_in_log = "Traceback" in log
    if report.exit_code is None:
        report.exit_code = server.proc.returncode
    import sqlite3

    with sqlite3.connect(f"file:{server.db}?mode=ro", uri=True) as connection:
        report.journal_rows = int(connection.execute("SELECT count(*) FROM journal").fetchone()[0])
    if progress is not None and report.traceback_in_log:
        progress(log[-3000:])
    return report


def main_progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
