"""End-to-end speed over loopback WebSocket: a real ``hcx serve`` and this load generator,
in separate processes.

Phases (each on a fresh server, group commit, a real journal file):
1. single-order messages pipelined from several connections: orders/s;
2. ``BulkOrders`` of 50 from several connections: orders/s;
3. result latency p50/p99 at half of each of those rates (open loop: latency counts from
   the intended send time, so a stall is not hidden by a slower sender);
4. phase 1 again while 1,000 idle connections and 100 book subscribers are attached: the
   cost to the order path.

    .venv/bin/python benchmarks/ws_bench.py --seconds 10
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import trio
from trio_websocket import open_websocket_url

from hcx.engine.instruments import expected_symbol
from hcx.engine.numbers import parse_decimal

EXPIRY_MS = 1_924_905_600_000
STRIKES = ("2800", "3000", "3200", "3400")
SYMBOLS = [expected_symbol("BTC", EXPIRY_MS, parse_decimal(k), "call") for k in STRIKES]
CONFIG = """
[engine]
max_open_orders = 10000000
[gateway]
max_connections = 5000
outbound_messages = 100000
outbound_bytes = 268435456
"""


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class Server:
    def __init__(self, workdir: Path) -> None:
        config = workdir / "bench.toml"
        config.write_text(CONFIG)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hcx.cli",
                "serve",
                "--db",
                str(workdir / "bench.db"),
                "--port",
                "0",
                "--auth",
                "none",
                "--config",
                str(config),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("hcx listening on "):
                self.url = line.split()[-1]
                break
        else:
            raise RuntimeError("the server did not start")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)


def place(rng: random.Random) -> dict[str, Any]:
    side = rng.choice(("buy", "sell"))
    price = 100 + rng.randint(-5, 5) * (1 if side == "buy" else -1)
    return {
        "type": "PlaceOrder",
        "request_id": str(uuid.uuid4()),
        "ts": now_ms(),
        "symbol": rng.choice(SYMBOLS),
        "side": side,
        "price": str(price),
        "size": "1",
        "tif": rng.choice(("gtc", "ioc")),
    }


async def setup(url: str, wallets: list[str]) -> None:
    async with open_websocket_url(url) as ws:

        async def ask(message: dict[str, Any]) -> dict[str, Any]:
            await ws.send_message(json.dumps(message))
            answer: dict[str, Any] = json.loads(await ws.get_message())
            return answer

        await ask({"type": "Authenticate", "wallet": "admin"})
        for symbol, strike in zip(SYMBOLS, STRIKES, strict=True):
            await ask(
                {
                    "type": "CreateInstrument",
                    "request_id": str(uuid.uuid4()),
                    "ts": now_ms(),
                    "symbol": symbol,
                    "underlying": "BTC",
                    "expiry_ms": EXPIRY_MS,
                    "strike": strike,
                    "option": "call",
                    "tick_size": "0.1",
                    "lot_size": "1",
                }
            )
        for wallet in wallets:
            await ask(
                {
                    "type": "Deposit",
                    "request_id": str(uuid.uuid4()),
                    "ts": now_ms(),
                    "wallet": wallet,
                    "amount": "1000000000",
                }
            )


async def trader(
    url: str,
    wallet: str,
    seconds: float,
    bulk: int,
    rate: float | None,
    window: int,
    latencies: list[float],
    counts: list[int],
    seed: int,
) -> None:
    """Send for ``seconds``: closed loop with ``window`` messages in flight, or open loop at
    ``rate`` messages/s. Records per-order latency from the intended send time."""
    rng = random.Random(seed)
    async with open_websocket_url(url) as ws:
        await ws.send_message(json.dumps({"type": "Authenticate", "wallet": wallet}))
        await ws.get_message()
        in_flight: dict[str, float] = {}
        free = trio.Semaphore(window)
        deadline = trio.current_time() + seconds
        done = trio.Event()

        async def receive() -> None:
            while not (done.is_set() and not in_flight):
                message = json.loads(await ws.get_message())
                key = str(message.get("id", message.get("request_id")))
                intended = in_flight.pop(key, None)
                if intended is None:
                    continue
                latencies.append(trio.current_time() - intended)
                counts[0] += bulk
                free.release()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(receive)
            start = trio.current_time()
            sent = 0
            while trio.current_time() < deadline:
                intended = start + sent / rate if rate else trio.current_time()
                if rate:
                    await trio.sleep_until(intended)
                await free.acquire()
                if bulk == 1:
                    message = place(rng)
                    key = message["request_id"]
                else:
                    key = f"b{seed}-{sent}"
                    message = {
                        "type": "BulkOrders",
                        "id": key,
                        "orders": [place(rng) for _ in range(bulk)],
                    }
                in_flight[key] = intended
                await ws.send_message(json.dumps(message))
                sent += 1
            done.set()
            with trio.move_on_after(10):
                while in_flight:
                    await trio.sleep(0.01)
            nursery.cancel_scope.cancel()


async def bystanders(
    url: str, idle: int, subscribers: int, ready: trio.Event, stop: trio.Event
) -> None:
    async def idle_one() -> None:
        async with open_websocket_url(url):
            await stop.wait()

    async def subscriber(symbol: str) -> None:
        async with open_websocket_url(url) as ws:
            await ws.send_message(
                json.dumps({"type": "Subscribe", "channel": "book", "symbol": symbol})
            )
            with trio.move_on_after(math.inf) as scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(lambda: stop.wait())

                    async def read() -> None:
                        while True:
                            await ws.get_message()

                    nursery.start_soon(read)
                    await stop.wait()
                    nursery.cancel_scope.cancel()
            del scope

    async with trio.open_nursery() as nursery:
        for _ in range(idle):
            nursery.start_soon(idle_one)
        for n in range(subscribers):
            nursery.start_soon(subscriber, SYMBOLS[n % len(SYMBOLS)])
        await trio.sleep(2 + idle / 500)
        ready.set()
        await stop.wait()


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0


async def phase(
    url: str, connections: int, seconds: float, bulk: int, rate: float | None, window: int
) -> tuple[float, list[float]]:
    wallets = [f"w{n}" for n in range(connections)]
    latencies: list[float] = []
    counts = [0]
    started = trio.current_time()
    per_connection = rate / connections if rate else None
    async with trio.open_nursery() as nursery:
        for n, wallet in enumerate(wallets):
            nursery.start_soon(
                trader, url, wallet, seconds, bulk, per_connection, window, latencies, counts, n
            )
    return counts[0] / (trio.current_time() - started), latencies


async def main(args: argparse.Namespace) -> None:
    wallets = [f"w{n}" for n in range(args.connections)]
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, bulk, window in (("single", 1, 64), ("bulk50", 50, 4)):
            workdir = Path(tmp) / name
            workdir.mkdir()
            server = Server(workdir)
            try:
                await setup(server.url, wallets)
                rate, _ = await phase(
                    server.url, args.connections, args.seconds, bulk, None, window
                )
                half = rate / 2 / bulk
                _, latencies = await phase(
                    server.url, args.connections, args.seconds, bulk, half, window * 4
                )
                results[name] = {
                    "orders_per_s": round(rate),
                    "p50_ms_at_half": round(quantile(latencies, 0.5), 2),
                    "p99_ms_at_half": round(quantile(latencies, 0.99), 2),
                }
                print(
                    f"{name:>7}: {rate:,.0f} orders/s; at half rate: "
                    f"p50 {results[name]['p50_ms_at_half']} ms, "
                    f"p99 {results[name]['p99_ms_at_half']} ms",
                    flush=True,
                )
            finally:
                server.stop()
        workdir = Path(tmp) / "crowded"
        workdir.mkdir()
        server = Server(workdir)
        try:
            await setup(server.url, wallets)
            quiet, _ = await phase(server.url, args.connections, args.seconds, 1, None, 64)
            ready, stop = trio.Event(), trio.Event()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(bystanders, server.url, args.idle, args.subscribers, ready, stop)
                await ready.wait()
                crowded, _ = await phase(server.url, args.connections, args.seconds, 1, None, 64)
                stop.set()
            cost = 1 - crowded / quiet
            results["crowd"] = {
                "quiet": round(quiet),
                "crowded": round(crowded),
                "cost": round(cost, 3),
            }
            print(
                f"  crowd: {quiet:,.0f} orders/s alone, {crowded:,.0f} with "
                f"{args.idle} idle connections and {args.subscribers} book subscribers "
                f"(cost {cost:.1%})",
                flush=True,
            )
        finally:
            server.stop()
    goals = [
        ("single-order messages >= 5,000 orders/s", results["single"]["orders_per_s"] >= 5000),
        ("BulkOrders of 50 >= 20,000 orders/s", results["bulk50"]["orders_per_s"] >= 20000),
        ("crowd costs the order path <= 20%", results["crowd"]["cost"] <= 0.20),
    ]
    for label, ok in goals:
        print(f"  {'PASS' if ok else 'MISS'}  {label}")
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--idle", type=int, default=1000)
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    trio.run(main, parser.parse_args())
