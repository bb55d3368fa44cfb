"""End-to-end speed over loopback WebSocket: a real ``hcx serve`` and this load generator,
in separate processes.

Phases (each on a fresh server, group commit, a real journal file):
1. single-order messages pipelined from several connections: orders/s;
2. ``BulkOrders`` of 50 from several connections: orders/s;
3. result latency p50/p99 at half of each of those rates (open loop: latency counts from
   the intended send time, so a stall is not hidden by a slower sender);
4. phase 1 again while 1,000 idle connections and 100 book subscribers are attached: the
   cost to the order path, in orders/s and in the server's CPU per order (which depends
   far less on what else the machine runs). The bystanders run in a third process (this
   script with ``--bystanders-only URL``), the subscribers reading every book update off
   raw sockets.

    .venv/bin/python benchmarks/ws_bench.py --seconds 10
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
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

    def cpu_seconds(self) -> float:
        """User plus system CPU the server process has used (Linux ``/proc``)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

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


# --- bystanders: their own process -----------------------------------------------------


UPDATE_MARK = b'{"type":"BookUpdate",'


class RawSubscriber:
    """A book subscriber that reads every byte of its stream with as little client work
    as it can, so that what the bench measures is the server's cost of feeding it: a
    plain non-blocking socket served by one ``selectors`` loop for all subscribers (no
    task switch per read), every update counted by a C-speed scan for its opening bytes
    (the server's compact JSON starts each with ``UPDATE_MARK``), no frame parsed. It
    checks that it got every update: after each read, the book ``seq`` of the last
    complete update must be the snapshot's plus the number counted."""

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.updates = 0
        self.gaps = 0
        self.close_code: int | None = None
        self.snapshot_seq: int | None = None
        self.sock: socket.socket | None = None
        self._tail = b""
        self._last = b""

    def connect(self, host: str, port: int) -> None:
        """Connect, subscribe and read up to the snapshot (blocking)."""
        sock = self.sock = socket.create_connection((host, port))
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall(
            (
                f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: hcx.v1.json\r\n\r\n"
            ).encode()
        )
        buffer = b""
        while b"\r\n\r\n" not in buffer:
            buffer += _receive(sock)
        head, _, buffer = buffer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        subscribe = {"type": "Subscribe", "channel": "book", "symbol": self.symbol}
        sock.sendall(_client_frame(json.dumps(subscribe).encode()))
        while self.snapshot_seq is None:
            while (framed := _first_frame(buffer)) is None:
                buffer += _receive(sock)
            payload, buffer = framed
            message = json.loads(payload)
            if message["type"] == "Error":
                raise RuntimeError(f"subscribing to {self.symbol}: {message}")
            if message["type"] == "BookSnapshot":
                self.snapshot_seq = message["seq"]
        sock.setblocking(False)
        if buffer:
            self.feed(buffer)

    def feed(self, data: bytes) -> None:
        """Count the updates in ``data`` (the stream's next bytes); ``b""`` is its end."""
        if not data:
            self.close_code = _close_code(self._last)
            return
        window = self._tail + data
        self.updates += window.count(UPDATE_MARK)
        self._check(window)
        self._tail = window[-(len(UPDATE_MARK) - 1) :]
        self._last = (self._last + data)[-256:]

    def _check(self, window: bytes) -> None:
        at = window.rfind(UPDATE_MARK)
        seq_at = window.find(b'"seq":', at) + 6 if at >= 0 else -1
        end = window.find(b",", seq_at) if seq_at >= 6 else -1
        if end < 0:
            return  # the last update is not complete yet: checked after the next read
        assert self.snapshot_seq is not None
        if int(window[seq_at:end]) != self.snapshot_seq + self.updates:
            self.gaps += 1
            self.snapshot_seq = int(window[seq_at:end]) - self.updates


def _receive(sock: socket.socket) -> bytes:
    data = sock.recv(1 << 16)
    if not data:
        raise RuntimeError("the server closed the connection before the snapshot")
    return data


def follow(subscribers: list[RawSubscriber], stop: threading.Event) -> None:
    """Read all subscribers' sockets until ``stop`` is set (a thread of its own)."""
    with selectors.DefaultSelector() as selector:
        for subscriber in subscribers:
            assert subscriber.sock is not None
            selector.register(subscriber.sock, selectors.EVENT_READ, subscriber)
        while not stop.is_set():
            for key, _ in selector.select(timeout=0.1):
                subscriber = key.data
                try:
                    data = key.fileobj.recv(1 << 18)  # type: ignore[union-attr]
                except BlockingIOError:
                    continue
                subscriber.feed(data)
                if not data:
                    selector.unregister(key.fileobj)
        for subscriber in subscribers:
            assert subscriber.sock is not None
            subscriber.sock.close()


def _first_frame(buffer: bytes) -> tuple[bytes, bytes] | None:
    """(payload of the first frame, the rest) once ``buffer`` holds a whole frame."""
    if len(buffer) < 4:
        return None
    size, start = buffer[1] & 0x7F, 2
    if size == 126:
        size, start = int.from_bytes(buffer[2:4], "big"), 4
    elif size == 127:
        if len(buffer) < 10:
            return None
        size, start = int.from_bytes(buffer[2:10], "big"), 10
    if len(buffer) < start + size:
        return None
    return buffer[start : start + size], buffer[start + size :]


def _close_code(last: bytes) -> int | None:
    """The code of a close frame ending the stream (``0x88``, length, code, reason)."""
    for at in range(len(last) - 4, -1, -1):
        if last[at] == 0x88 and at + 2 + (last[at + 1] & 0x7F) == len(last):
            return int.from_bytes(last[at + 2 : at + 4], "big")
    return None if not last else 1006


def _client_frame(payload: bytes) -> bytes:
    """A masked client text frame (a client must mask; the mask is all zero bytes)."""
    assert len(payload) < 126
    return bytes((0x81, 0x80 | len(payload))) + b"\0\0\0\0" + payload


async def run_bystanders(url: str, idle: int, subscribers: int) -> None:
    """Connect ``idle`` idle connections and ``subscribers`` book subscribers, print
    ``ready`` once all are in, stay until stdin closes, then print what the subscribers
    received as JSON."""
    address = url.split("//", 1)[1].split("/", 1)[0]
    host, port = address.rsplit(":", 1)
    stop = trio.Event()
    readers = [RawSubscriber(SYMBOLS[n % len(SYMBOLS)]) for n in range(subscribers)]
    reading = threading.Event()

    async def idle_one(connected: trio.Event) -> None:
        async with open_websocket_url(url):
            connected.set()
            await stop.wait()

    async with trio.open_nursery() as nursery:
        waits = []
        for n in range(idle):
            connected = trio.Event()
            waits.append(connected)
            nursery.start_soon(idle_one, connected)
            if n % 100 == 99:
                await trio.sleep(0)
        for reader in readers:
            await trio.to_thread.run_sync(reader.connect, host, int(port))
        for event in waits:
            await event.wait()
        reader_thread = threading.Thread(target=follow, args=(readers, reading))
        reader_thread.start()
        print("ready", flush=True)
        await trio.to_thread.run_sync(sys.stdin.read, abandon_on_cancel=True)
        reading.set()
        stop.set()
    reader_thread.join()
    counts = [r.updates for r in readers]
    print(
        json.dumps(
            {
                "updates_min": min(counts, default=0),
                "updates_max": max(counts, default=0),
                "updates_total": sum(counts),
                "gaps": sum(r.gaps for r in readers),
                "closed": sorted(r.close_code for r in readers if r.close_code is not None),
            }
        ),
        flush=True,
    )


class Bystanders:
    """``run_bystanders`` in a process of its own, so they compete neither with the
    traders' process nor with the server's except through what the server does for
    them."""

    def __init__(self, url: str, idle: int, subscribers: int) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--bystanders-only",
                url,
                "--idle",
                str(idle),
                "--subscribers",
                str(subscribers),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    async def ready(self) -> None:
        assert self.process.stdout is not None
        with trio.fail_after(120):
            line = await trio.to_thread.run_sync(
                self.process.stdout.readline, abandon_on_cancel=True
            )
        if line.strip() != "ready":
            raise RuntimeError(f"the bystanders did not start: {line!r}")

    async def finish(self) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.close()
        line = await trio.to_thread.run_sync(self.process.stdout.readline)
        await trio.to_thread.run_sync(self.process.wait)
        stats: dict[str, Any] = json.loads(line)
        return stats


async def crowd_phase(args: argparse.Namespace, wallets: list[str], workdir: Path) -> Any:
    """Single orders alone, then with the bystanders attached (same server)."""
    workdir.mkdir()
    server = Server(workdir)
    try:
        await setup(server.url, wallets)
        cpu, started = server.cpu_seconds(), trio.current_time()
        quiet, _ = await phase(server.url, args.connections, args.seconds, 1, None, 64)
        quiet_cpu = server.cpu_seconds() - cpu
        quiet_orders = quiet * (trio.current_time() - started)
        crowd = Bystanders(server.url, args.idle, args.subscribers)
        try:
            await crowd.ready()
            cpu, started = server.cpu_seconds(), trio.current_time()
            crowded, _ = await phase(server.url, args.connections, args.seconds, 1, None, 64)
            crowded_cpu = server.cpu_seconds() - cpu
            crowded_seconds = trio.current_time() - started
            crowded_orders = crowded * crowded_seconds
        finally:
            seen = await crowd.finish()
    finally:
        server.stop()
    cost = 1 - crowded / quiet
    # Server CPU per order depends far less than orders/s on what else the machine runs.
    quiet_us = quiet_cpu / quiet_orders * 1e6
    crowded_us = crowded_cpu / crowded_orders * 1e6
    # What the bystanders take of the server's CPU beside the orders it served meanwhile:
    # nearly fixed per second (fan-out is paced by channel_interval_ms), so it is the
    # figure that survives a busy machine; on a quiet one the server is CPU-bound on one
    # core and the orders lose about this share.
    crowd_core = crowded_cpu / crowded_seconds - quiet_us / 1e6 * crowded
    print(
        f"  crowd: {quiet:,.0f} orders/s alone, {crowded:,.0f} with "
        f"{args.idle} idle connections and {args.subscribers} book subscribers "
        f"(cost {cost:.1%}); each subscriber read {seen['updates_min']:,} to "
        f"{seen['updates_max']:,} book updates, gaps {seen['gaps']}, "
        f"cut off {len(seen['closed'])}",
        flush=True,
    )
    print(
        f"  crowd: server CPU {quiet_us:,.0f} us an order alone, {crowded_us:,.0f} us with "
        f"the bystanders ({crowded_us / quiet_us - 1:+.0%}); the bystanders' own share "
        f"{crowd_core:.2f} of a core; load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores",
        flush=True,
    )
    return {
        "quiet": round(quiet),
        "crowded": round(crowded),
        "cost": round(cost, 3),
        "cpu_us_quiet": round(quiet_us, 1),
        "cpu_us_crowded": round(crowded_us, 1),
        "crowd_core": round(crowd_core, 3),
        **seen,
    }


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
            if name not in args.phases:
                continue
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
        if "crowd" in args.phases:
            results["crowd"] = await crowd_phase(args, wallets, Path(tmp) / "crowded")
    goals = [
        ("single-order messages >= 5,000 orders/s", "single", "orders_per_s", 5000),
        ("BulkOrders of 50 >= 20,000 orders/s", "bulk50", "orders_per_s", 20000),
        ("crowd costs the order path <= 20%", "crowd", "cost", 0.20),
    ]
    for label, name, key, goal in goals:
        if name in results:
            value = results[name][key]
            ok = value <= goal if key == "cost" else value >= goal
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
    parser.add_argument(
        "--phases",
        type=lambda text: set(text.split(",")),
        default={"single", "bulk50", "crowd"},
        help="comma-separated subset of single,bulk50,crowd (default: all)",
    )
    parser.add_argument(
        "--bystanders-only",
        metavar="URL",
        help="(internal) run the idle connections and book subscribers against URL",
    )
    arguments = parser.parse_args()
    if arguments.bystanders_only:
        trio.run(run_bystanders, arguments.bystanders_only, arguments.idle, arguments.subscribers)
    else:
        trio.run(main, arguments)
