"""Replication cost and lag: the in-process pipeline without replication, ``async`` and
``sync``, in one run against one local nats-server (JetStream, ``sync_interval: always``).

1. throughput: durability ``group``, a closed loop submitting the seeded mixed stream of
   ``engine_bench.build_stream`` in lists of ``--chunk`` with at most ``--window``
   outstanding, first send to last answer; each mode on a fresh journal and its own
   venue (stream); printed as commands/s and as a ratio to the run without replication;
2. lag at half load: ``async`` mode, open loop at half its measured throughput (or
   ``--lag-rate``) for ``--lag-seconds``, a standby in its own process (this script with
   ``--standby``) following the stream; per row, (wall ms applied on the standby) - (the
   primary's sequencing ts): p50/p99/max. ``--lag-compare-gc`` runs it twice, the
   standby first with CPython's default collector settings (as it was), then with
   ``hcx serve``'s (``gc_policy.tuned``, what ``hcx standby`` uses);
3. fan-out: ``--rounds`` paired rounds of the primary's ``async`` throughput with a
   standby (``hcx standby``) serving 0 and ``--subscribers`` book subscribers (a process
   of their own); each round's cost, then the median and spread. ``--pin`` puts the
   primary on CPU 0 and the standby and its subscribers on CPU 1.

The primary runs with ``hcx serve``'s collector settings (``gc_policy.tuned``).

    .venv/bin/python benchmarks/replication_bench.py --seed 1 --commands 60000

Failover time is measured by ``scripts/failover_campaign.py`` (SIGKILL -> first command
answered by the promoted standby).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine_bench import build_stream  # type: ignore[import-not-found]  # the sibling script
from tests.replication.natsd import NatsServer

from hcx import gc_policy
from hcx.durability.journal import Journal
from hcx.replication.attach import open_replication
from hcx.replication.standby import follow
from hcx.sequencing import Reply
from hcx.service.config import ServiceConfig
from hcx.service.entries import Submission
from hcx.service.supervisor import open_exchange


class Tally:
    __slots__ = ("done", "event", "lat", "wake_at")

    def __init__(self) -> None:
        self.done = 0
        self.wake_at = 0
        self.event = trio.Event()

    def resolve(self, answer: Any) -> None:
        self.done += 1
        if self.done >= self.wake_at:
            self.event.set()

    async def wait_for(self, count: int) -> None:
        while self.done < count:
            self.wake_at = count
            self.event = trio.Event()
            await self.event.wait()


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def run_mode(
    mode: str,
    url: str,
    workdir: Path,
    stream: Any,
    chunk: int,
    window: int,
    venue: str | None = None,
    on_setup: Callable[[], Awaitable[None]] | None = None,
) -> float:
    config = ServiceConfig(
        db=str(workdir / f"{mode}.db"),
        nats_urls=(url,) if mode != "none" else (),
        replication="sync" if mode == "sync" else "async",
        venue=venue or f"bench_{mode}_{workdir.name}",
    )
    workdir.mkdir(exist_ok=True)
    async with (
        open_replication(config) as replication,
        open_exchange(config, stage=replication.stage, publishers=replication.publishers) as ex,
    ):
        with gc_policy.tuned():  # as ``hcx serve``
            return await closed_loop(ex, stream, chunk, window, on_setup)


async def closed_loop(
    ex: Any,
    stream: Any,
    chunk: int,
    window: int,
    on_setup: Callable[[], Awaitable[None]] | None = None,
) -> float:
    for start in range(0, len(stream.setup), 256):
        for answer in await ex.submit_many(
            [
                (e.wallet, e.request_id, now_ms(), e.command)
                for e in stream.setup[start : start + 256]
            ]
        ):
            assert isinstance(answer, Reply)
    if on_setup is not None:
        await on_setup()
    tally = Tally()
    commands = stream.commands
    started = time.perf_counter()
    sent = 0
    while sent < len(commands):
        await tally.wait_for(sent - window + chunk)
        part = commands[sent : sent + chunk]
        ts = now_ms()
        await ex.send([Submission(e.wallet, e.request_id, ts, e.command, tally) for e in part])
        sent += len(part)
    await tally.wait_for(len(commands))
    return len(commands) / (time.perf_counter() - started)


async def lag_phase(
    url: str, workdir: Path, stream: Any, rate: float, seconds: float, untuned: bool = False
) -> dict[str, Any]:
    workdir.mkdir(exist_ok=True)
    config = ServiceConfig(db=str(workdir / "lag.db"), nats_urls=(url,), venue=workdir.name)
    out = workdir / "lags.json"
    standby = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--standby",
            url,
            "--venue",
            workdir.name,
            "--db",
            str(workdir / "lag-standby.db"),
            "--out",
            str(out),
        ]
        + (["--untuned-gc"] if untuned else [])
    )
    try:
        async with (
            open_replication(config) as replication,
            open_exchange(config, stage=replication.stage, publishers=replication.publishers) as ex,
        ):
            with gc_policy.tuned():  # as ``hcx serve``
                await ex.submit_many(
                    [(e.wallet, e.request_id, now_ms(), e.command) for e in stream.setup]
                )
                # The timed phase starts once the standby holds the setup (its start-up is
                # not lag).
                standby_db = workdir / "lag-standby.db"
                with trio.fail_after(60):
                    while standby_last(standby_db) < len(stream.setup):
                        await trio.sleep(0.05)
                tally = Tally()
                commands = stream.commands
                total = min(len(commands), int(rate * seconds))
                t0 = trio.current_time()
                sent = 0
                while sent < total:
                    due = int((trio.current_time() - t0) * rate) + 1
                    due = min(due, total)
                    if due > sent:
                        ts = now_ms()
                        await ex.send(
                            [
                                Submission(e.wallet, e.request_id, ts, e.command, tally)
                                for e in commands[sent:due]
                            ]
                        )
                        sent = due
                    await trio.sleep(0.001)
                await tally.wait_for(total)
                await trio.sleep(2.0)
    finally:
        standby.send_signal(signal.SIGTERM)
        standby.wait(60)
    # In the order applied: the setup's rows first, not timed.
    ordered = json.loads(out.read_text())[len(stream.setup) :]
    slow = [i for i, lag in enumerate(ordered) if lag > 200]
    if slow:
        print(f"rows over 200 ms: {len(slow)}, positions {slow[0]}..{slow[-1]} of {len(ordered)}")
    lags = sorted(ordered)

    def pct(p: float) -> int:
        return lags[min(len(lags) - 1, int(p * len(lags)))] if lags else -1

    return {
        "rows": len(lags),
        "p50_ms": pct(0.5),
        "p99_ms": pct(0.99),
        "max_ms": lags[-1] if lags else -1,
    }


def subscribers_main(url: str, symbols: list[str], count: int, out: str) -> int:
    """``count`` connections to a standby's read-only gateway, each subscribed to one
    book (retrying until the standby knows the instrument), reading until SIGTERM; writes
    ``OUT.ready`` once all are subscribed, then how many messages they got after that."""
    import asyncio

    import websockets

    received = [0]
    subscribed = [0]
    all_in = asyncio.Event()

    async def one(index: int, stop: asyncio.Event) -> None:
        async with websockets.connect(url, max_size=None) as ws:
            await ws.send(json.dumps({"type": "Authenticate", "id": 1, "wallet": f"s{index}"}))
            symbol = symbols[index % len(symbols)]
            message = {"type": "Subscribe", "id": 2, "channel": "book", "symbol": symbol}
            await ws.send(json.dumps(message))
            while not stop.is_set():
                answer = json.loads(await ws.recv())
                if answer.get("id") != 2:
                    continue
                if answer.get("type") == "Subscribed":
                    break
                await asyncio.sleep(0.2)  # not listed on the standby yet
                await ws.send(json.dumps(message))
            subscribed[0] += 1
            if subscribed[0] == count:
                all_in.set()
            while not stop.is_set():
                try:
                    await asyncio.wait_for(ws.recv(), 0.5)
                except TimeoutError:
                    continue
                if all_in.is_set():
                    received[0] += 1

    async def run() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        tasks = [asyncio.create_task(one(i, stop)) for i in range(count)]
        await all_in.wait()
        Path(out + ".ready").write_text("ready")
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(run())
    Path(out).write_text(json.dumps(received[0]))
    return 0


async def fanout_phase(
    url: str,
    workdir: Path,
    stream: Any,
    subscribers: int,
    chunk: int,
    window: int,
    pin: bool = False,
) -> tuple[float, int]:
    """The primary's throughput (``async``) with a standby serving ``subscribers`` book
    subscribers, and how many messages the subscribers received."""
    venue = f"bench_subs{subscribers}_{workdir.name}"
    work = workdir / venue
    work.mkdir(parents=True)
    standby = subprocess.Popen(
        [
            sys.executable, "-m", "hcx.cli", "standby", "--db", str(work / "standby.db"),
            "--nats", url, "--venue", venue, "--port", "0", "--auth", "none",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    if pin:
        os.sched_setaffinity(standby.pid, {1})
    clients = None
    out = str(work / "received.json")
    try:
        line = ""
        while "read-only on" not in line:
            line = standby.stdout.readline() if standby.stdout else ""
            if not line and standby.poll() is not None:
                raise RuntimeError("the standby did not start")
        gateway = line.split()[-1]
        if subscribers:
            symbols = [listing.symbol for listing in stream.listings]
            clients = subprocess.Popen(
                [
                    sys.executable, __file__, "--subscribers-of", gateway,
                    "--symbols", ",".join(symbols), "--count", str(subscribers), "--out", out,
                ]
            )  # fmt: skip
            if pin:
                os.sched_setaffinity(clients.pid, {1})

        async def subscribed() -> None:
            # After the primary's setup (the listings): every subscriber on its book.
            with trio.fail_after(60):
                while subscribers and not Path(out + ".ready").exists():
                    await trio.sleep(0.05)
            await trio.sleep(1.0)

        rate = await run_mode(
            "async", url, work, stream, chunk, window, venue=venue, on_setup=subscribed
        )
    finally:
        for process in (clients, standby):
            if process is not None:
                process.send_signal(signal.SIGTERM)
                process.wait(60)
    received = json.loads(Path(out).read_text()) if subscribers else 0
    return rate, int(received)


def standby_last(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        journal = Journal(str(db), readonly=True)
    except Exception:
        return 0
    try:
        return journal.last()[0]
    except Exception:
        return 0
    finally:
        journal.close()


def standby_main(url: str, venue: str, db: str, out: str, untuned: bool) -> int:
    lags: list[int] = []
    if untuned:
        # The standby as it was before it took ``hcx serve``'s collector settings.
        import hcx.replication.standby as standby_module

        standby_module.gc_policy = SimpleNamespace(tuned=contextlib.nullcontext)  # type: ignore[attr-defined,assignment]
    stop = trio.Event()

    async def run() -> None:
        with trio.open_signal_receiver(signal.SIGTERM) as signals:
            async with trio.open_nursery() as nursery:

                async def on_signal() -> None:
                    async for _ in signals:
                        stop.set()
                        return

                nursery.start_soon(on_signal)

                def started(follower: Any) -> None:
                    follower.stats.observer = lags.extend

                await follow(
                    ServiceConfig(db=db, nats_urls=(url,), venue=venue),
                    stop=stop,
                    on_follower=started,
                )
                nursery.cancel_scope.cancel()

    trio.run(run)
    Path(out).write_text(json.dumps(lags))
    return 0


def fanout_rounds(url: str, workdir: Path, stream: Any, args: argparse.Namespace) -> None:
    """Paired rounds (a standby with 0 subscribers, one with ``--subscribers``; the order
    alternates so that drift in the machine's other load falls on both): the cost of
    each round, then their median and spread."""
    costs: list[float] = []
    rates: dict[int, list[float]] = {0: [], args.subscribers: []}
    for round_ in range(args.rounds or 1):
        pair = (0, args.subscribers) if round_ % 2 == 0 else (args.subscribers, 0)
        got: dict[int, float] = {}
        for subs in pair:
            rate, received = trio.run(
                fanout_phase, url, workdir / f"f{round_}", stream, subs, args.chunk,
                args.window, args.pin,
            )  # fmt: skip
            got[subs] = rate
            rates[subs].append(rate)
            print(
                f"round {round_} primary with standby + {subs} subscribers: {rate:,.0f}/s"
                + (f" ({received:,} messages to the subscribers)" if subs else ""),
                flush=True,
            )
        costs.append(1 - got[args.subscribers] / got[0])
        print(f"round {round_} cost {costs[-1]:+.1%}", flush=True)
    middle = statistics.median(costs)
    verdict = "PASS" if middle <= 0.05 else "MISS"
    print(
        f"{args.subscribers} book subscribers on a standby cost the primary: median "
        f"{middle:+.1%} of {len(costs)} paired rounds (goal <= 5%) {verdict}; spread "
        f"{min(costs):+.1%} .. {max(costs):+.1%}; median rates "
        f"{statistics.median(rates[0]):,.0f}/s without, "
        f"{statistics.median(rates[args.subscribers]):,.0f}/s with"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--commands", type=int, default=60_000)
    parser.add_argument("--chunk", type=int, default=64)
    parser.add_argument("--window", type=int, default=2_048)
    parser.add_argument("--lag-seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--lag-rate", type=float, help="commands/s of the lag phase (default: half of async)"
    )
    parser.add_argument(
        "--subscribers", type=int, default=200, help="book subscribers on a standby (0: skip)"
    )
    parser.add_argument(
        "--lag-compare-gc",
        action="store_true",
        help="run the lag phase twice: the standby with CPython's default collector "
        "settings (as before), then with hcx serve's (gc_policy.tuned)",
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="fan-out rounds with this process (the primary) on CPU 0 and the standby and "
        "its subscribers on CPU 1: a stand-in for a standby on a machine of its own",
    )
    parser.add_argument("--standby", help=argparse.SUPPRESS)
    parser.add_argument("--venue", help=argparse.SUPPRESS)
    parser.add_argument("--untuned-gc", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--subscribers-of", help=argparse.SUPPRESS)
    parser.add_argument("--symbols", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.standby:
        return standby_main(args.standby, args.venue, args.db, args.out, args.untuned_gc)
    if args.subscribers_of:
        return subscribers_main(args.subscribers_of, args.symbols.split(","), args.count, args.out)
    workdir = Path(tempfile.mkdtemp(prefix="hcx-repl-bench-"))
    server = NatsServer(workdir / "nats")
    server.start()
    if args.pin and not {0, 1} <= os.sched_getaffinity(0):
        print("--pin: CPUs 0 and 1 are not both available here; not pinning")
        args.pin = False
    if args.pin:
        # After the NATS server started: it stays free to run on either CPU.
        os.sched_setaffinity(0, {0})
    try:
        stream = build_stream(args.seed, args.commands, 1_000, 20)
        figures: dict[str, float] = {}
        # Interleaved rounds, the best of each mode: the machine's other load moves.
        for round_ in range(args.rounds):
            for mode in ("none", "async", "sync"):
                rate = trio.run(
                    run_mode,
                    f"{mode}",
                    server.url,
                    workdir / f"r{round_}",
                    stream,
                    args.chunk,
                    args.window,
                )
                figures[mode] = max(figures.get(mode, 0.0), rate)
                print(f"round {round_} {mode:5s}: {rate:9,.0f} commands/s", flush=True)
        for mode in figures:
            print(f"throughput {mode:5s}: {figures[mode]:9,.0f} commands/s (best)")
        for mode, goal in (("async", 0.9), ("sync", 0.7)) if figures else ():
            ratio = figures[mode] / figures["none"]
            verdict = "PASS" if ratio >= goal else "MISS"
            print(f"ratio {mode}/none: {ratio:.2f} (goal >= {goal}) {verdict}")
        if args.lag_seconds > 0:
            lag_stream = build_stream(args.seed + 1, args.commands, 1_000, 20)
            lag_rate = args.lag_rate or (figures["async"] / 2 if figures else 1_000.0)
            for untuned in (True, False) if args.lag_compare_gc else (False,):
                lag = trio.run(
                    lag_phase, server.url, workdir / f"lag{int(untuned)}", lag_stream, lag_rate,
                    args.lag_seconds, untuned,
                )  # fmt: skip
                verdict = "PASS" if 0 <= lag["p99_ms"] <= 50 else "MISS"
                setting = "default (as before)" if untuned else "tuned"
                print(
                    f"lag commit->standby applied at {lag_rate:,.0f}/s, standby collector "
                    f"{setting}: rows {lag['rows']}, p50 {lag['p50_ms']} ms, "
                    f"p99 {lag['p99_ms']} ms (goal <= 50) {verdict}, max {lag['max_ms']} ms",
                    flush=True,
                )
        if args.subscribers:
            fanout_rounds(server.url, workdir, stream, args)
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"load average: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
