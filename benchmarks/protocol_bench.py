"""Figures of the protocol's product features against a real ``hcx serve`` (group commit,
a journal file), each in its own process:

1. cancel-on-disconnect: a client process (tests/e2e/cod_client.py) armed with
   ``cancel_on_disconnect`` rests ``--orders`` orders and is SIGKILLed; a second
   connection of the wallet, subscribed to ``orders``, times the kill to the last
   ``OrderUpdate`` canceled (the kernel closes a killed process's socket at once, so
   this bounds the time from the close being detected to the orders being canceled);
   then the same with the client frozen by SIGSTOP (no pongs): kill to cancel minus the
   heartbeat's bound (``ping_interval_s`` + ``pong_timeout_s``) is reported beside it;
2. ``GetTrades`` of 1,000 trades: the round trip of one request answered with 1,000
   trades, JSON and CBOR, over a bare trio-websocket connection and over the Python
   client.

    .venv/bin/python benchmarks/protocol_bench.py --rounds 10
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trio
from trio_websocket import open_websocket_url

import hcx.client
from hcx.client import OrderUpdate, PlaceOrderRequest
from hcx.protocol import SUBPROTOCOL_CBOR, SUBPROTOCOL_JSON
from hcx.protocol.codec import decode, encode

ROOT = Path(__file__).resolve().parents[1]
CHILD = ROOT / "tests" / "e2e" / "cod_client.py"
SYMBOL = "BTC-20301231-3000-C"
PING_S, PONG_S = 0.5, 0.5
CONFIG = f"[gateway]\nping_interval_s = {PING_S}\npong_timeout_s = {PONG_S}\n"


def start_server(directory: Path, config: str) -> tuple[subprocess.Popen[bytes], str]:
    directory.mkdir()
    (directory / "hcx.toml").write_text(config)
    command = [sys.executable, "-m", "hcx.cli", "serve", "--db", str(directory / "hcx.db")]
    command += ["--port", "0", "--auth", "none", "--config", str(directory / "hcx.toml")]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    assert line.startswith("hcx listening on "), line
    return proc, line.split()[-1]


async def market(url: str) -> None:
    async with hcx.client.connect(url, wallet="admin") as admin:
        await admin.create_instrument(SYMBOL, "BTC", 1_924_905_600_000, "3000", "call", "0.1", "1")
        await admin.set_index_price("BTC", "3000")
        for wallet in ("alice", "bob"):
            await admin.deposit(wallet, "100000000")


async def one_drop(url: str, orders: int, freeze: bool) -> float:
    """Seconds from the signal to the last of the child's orders canceled."""
    async with (
        hcx.client.connect(url, wallet="alice") as watcher,
        watcher.subscribe_orders() as updates,
    ):
        child = subprocess.Popen(
            [sys.executable, str(CHILD), url, "alice", str(orders)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        ids = {int(x) for x in child.stdout.readline().split()[1:]}
        assert len(ids) == orders
        signalled = time.monotonic()
        os.kill(child.pid, signal.SIGSTOP if freeze else signal.SIGKILL)
        with trio.fail_after(30):
            async for update in updates:
                if isinstance(update, OrderUpdate) and update.reason == "cancel_on_disconnect":
                    ids.discard(update.order_id)
                    if not ids:
                        break
        elapsed = time.monotonic() - signalled
        if freeze:
            os.kill(child.pid, signal.SIGCONT)
        child.kill()
        child.wait()
        child.stdout.close()
        return elapsed


async def trades(url: str, count: int) -> None:
    """``count`` trades: alice rests 50 sells per BulkOrders, bob sweeps them."""
    async with (
        hcx.client.connect(url, wallet="alice") as alice,
        hcx.client.connect(url, wallet="bob") as bob,
    ):
        for _ in range(count // 50):
            sells = [
                PlaceOrderRequest(symbol=SYMBOL, side="sell", price="10", size="1")
                for _ in range(50)
            ]
            await alice.bulk_orders(sells)
            taken = await bob.place_order(SYMBOL, "buy", "10", "50", tif="ioc")
            assert taken.status == "filled", taken


async def get_trades(url: str, subprotocol: str, rounds: int) -> list[float]:
    times = []
    async with hcx.client.connect(url, subprotocol=subprotocol) as client:
        for _ in range(rounds):
            started = time.perf_counter()
            trades = await client.get_trades(SYMBOL, from_seq=1, limit=1000)
            times.append(time.perf_counter() - started)
            assert len(trades) == 1000
    return times


async def raw_get_trades(url: str, subprotocol: str, rounds: int) -> list[float]:
    """The same over a bare trio-websocket connection: the server's part and the wire,
    without the Python client's bookkeeping."""
    request = {"type": "GetTrades", "id": 1, "symbol": SYMBOL, "from_seq": 1, "limit": 1000}
    frame = encode(request, subprotocol)
    times = []
    async with open_websocket_url(url, subprotocols=[subprotocol]) as ws:
        for _ in range(rounds):
            started = time.perf_counter()
            await ws.send_message(frame)
            answer = await ws.get_message()
            times.append(time.perf_counter() - started)
            assert len(decode(answer, subprotocol)["trades"]) == 1000
    return times


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_server(Path(tmp) / "heartbeat", CONFIG)
        try:
            await market(url)
            killed = [await one_drop(url, args.orders, False) for _ in range(args.rounds)]
            frozen = [await one_drop(url, args.orders, True) for _ in range(args.freezes)]
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
        # History on a server with the default heartbeat: the short one above would cut a
        # reader that a loaded machine starves for half a second in the middle of a page.
        proc, url = start_server(Path(tmp) / "history", "")
        try:
            await market(url)
            await trades(url, 1000)
            runs = {
                "JSON, bare socket": await raw_get_trades(url, SUBPROTOCOL_JSON, 50),
                "CBOR, bare socket": await raw_get_trades(url, SUBPROTOCOL_CBOR, 50),
                "JSON, hcx.client": await get_trades(url, SUBPROTOCOL_JSON, 50),
                "CBOR, hcx.client": await get_trades(url, SUBPROTOCOL_CBOR, 50),
            }
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    bound = PING_S + PONG_S
    print(f"cancel-on-disconnect, {args.orders} orders, client SIGKILLed ({args.rounds} runs):")
    print(f"  kill -> last cancel: median {ms(statistics.median(killed))}, max {ms(max(killed))}")
    print(
        f"cancel-on-disconnect, client frozen by SIGSTOP, ping_interval_s {PING_S},"
        f" pong_timeout_s {PONG_S} ({args.freezes} runs):"
    )
    print(
        f"  stop -> last cancel: median {ms(statistics.median(frozen))}, max {ms(max(frozen))}"
        f" (the heartbeat finds the frozen client {ms(PING_S)} to {ms(bound)} after the stop)"
    )
    for name, times in runs.items():
        times.sort()
        print(
            f"GetTrades of 1,000 trades, {name} (50 requests): median"
            f" {ms(statistics.median(times))}, p90 {ms(times[44])}, max {ms(times[-1])}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--freezes", type=int, default=3)
    parser.add_argument("--orders", type=int, default=50)
    trio.run(main, parser.parse_args())
