"""Durability speed: the in-process pipeline (sequencer, group commit, release) per mode.

One run measures the ``memory``, ``group`` and ``sync`` durability modes on fresh
temporary journals, driving ``open_exchange`` directly (no sockets) with the seeded mixed
stream of ``engine_bench.build_stream`` (60% place, 25% cancel, 10% replace, 5% ioc; 1,000
wallets, 20 instruments), after the stream's setup commands (listings, deposits; untimed):

1. throughput: a closed loop submits the stream as fast as the pipeline takes it, in
   lists of ``--chunk`` submissions with at most ``--window`` outstanding; only the
   command phase is timed (first send to last answer); process CPU per command and the
   load average are printed beside it, because other work on the machine skews wall time;
2. result latency from the *intended* send time, open loop at ``--latency-load`` (half)
   of the mode's measured maximum: command i is due at ``t0 + i / rate``, whatever is due
   is sent at once, and its latency is (answer released) - (due time), so a stalled
   sender or pipeline is charged to every command it delays (no coordinated omission);
3. replay: records/s of ``recover()`` over the group journal just written, from seq 1 (no
   snapshot); and restart time, ``open_exchange`` called until its first read is answered
   (snapshot load and digest check, tail replay, idempotency window read from the file
   beside the snapshot and brought up to the journal's end, tasks started), on a journal
   of ``--restart-records`` records written through group mode with a snapshot every
   ``--snapshot-every`` (built once, kept beside a marker file and rebuilt when the seed,
   the sizes or the engine's source change): best case, a snapshot at the last record;
   worst case, only the one ``--snapshot-every`` records before it (a crash just before
   the next snapshot); each once more without the window file (the window rebuilt from
   the journal, as before window files or after losing one);
4. the largest ``-wal`` file seen while each durable mode runs (sampled every 5 ms), and
   over the sustained run that builds the restart journal;
5. bytes per remembered key of the idempotency window after 60 s of 50,000 commands/s.

    .venv/bin/python benchmarks/durability_bench.py --seed 1 --commands 200000

Every goal is printed with PASS or MISS; ``--json`` also prints the figures as one line.
The stream is built before anything is timed and then frozen out of the cyclic garbage
collector (``gc.freeze``): it is the benchmark's data, not the service's.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import trio
from engine_bench import (  # type: ignore[import-not-found]  # the sibling script
    START_MS,
    Stream,
    build_stream,
)
from hdrh.histogram import HdrHistogram  # type: ignore[import-untyped]

import hcx.durability.records
import hcx.engine
from hcx import gc_policy
from hcx.durability.idempotency import IdempotencyWindow, request_key
from hcx.durability.journal import Journal
from hcx.durability.replay import recover
from hcx.durability.snapshots import list_snapshots, snapshot_dir
from hcx.durability.window_files import SUFFIX as WINDOW_SUFFIX
from hcx.engine import EngineConfig, Envelope
from hcx.sequencing import Refusal, Reply
from hcx.service.config import DurabilityMode, ServiceConfig
from hcx.service.entries import QueryItem, Submission
from hcx.service.exchange import Exchange
from hcx.service.supervisor import open_exchange

MODES: tuple[DurabilityMode, ...] = ("memory", "group", "sync")
Item = tuple[str, str, int, Any]


class BenchClock:
    """Service time that starts at ``start_ms`` and then runs with the monotonic clock."""

    def __init__(self, start_ms: int) -> None:
        self.start_ms = start_ms
        self.origin_ns = time.perf_counter_ns()

    def now_ms(self) -> int:
        return self.start_ms + (time.perf_counter_ns() - self.origin_ns) // 1_000_000


class Tally:
    """One waiter shared by many submissions: counts answers, wakes the sender."""

    __slots__ = ("done", "event", "refused", "rejected", "wake_at")

    def __init__(self) -> None:
        self.done = 0
        self.refused = 0
        self.rejected = 0
        self.wake_at = 0
        self.event = trio.Event()

    def resolve(self, answer: Reply | Refusal) -> None:
        self.done += 1
        if isinstance(answer, Refusal):
            self.refused += 1
        elif getattr(answer.result, "status", None) == "rejected":
            self.rejected += 1
        if self.done >= self.wake_at:
            self.event.set()

    async def wait_for(self, count: int) -> None:
        while self.done < count:
            self.wake_at = count
            self.event = trio.Event()
            await self.event.wait()


class Timed:
    """A waiter that records answer time - intended send time, in microseconds."""

    __slots__ = ("due", "histogram", "tally")

    def __init__(self, due: float, histogram: HdrHistogram, tally: Tally) -> None:
        self.due = due
        self.histogram = histogram
        self.tally = tally

    def resolve(self, answer: Reply | Refusal) -> None:
        late_us = (trio.current_time() - self.due) * 1e6
        self.histogram.record_value(max(1, round(late_us)))
        self.tally.resolve(answer)


@dataclass
class ModeFigures:
    mode: str
    commands: int = 0
    seconds: float = 0.0
    per_s: float = 0.0
    cpu_us: float = 0.0
    refused: int = 0
    rejected: int = 0
    batches: int = 0
    rows_per_batch: float = 0.0
    latency_rate: float = 0.0
    latency_commands: int = 0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    p999_ms: float = 0.0
    max_ms: float = 0.0
    wal_max_bytes: int = 0


@dataclass
class Figures:
    machine: dict[str, Any] = field(default_factory=dict)
    modes: dict[str, ModeFigures] = field(default_factory=dict)
    replay_records: int = 0
    replay_seconds: float = 0.0
    replay_per_s: float = 0.0
    restart_records: int = 0
    restart_best_s: float = 0.0
    restart_best_replayed: int = 0
    restart_worst_s: float = 0.0
    restart_worst_replayed: int = 0
    restart_best_rebuilt_s: float = 0.0
    restart_worst_rebuilt_s: float = 0.0
    restart_build_wal_max_bytes: int = 0
    window_keys: int = 0
    window_bytes: int = 0
    window_bytes_per_key: float = 0.0
    window_adds_per_s: float = 0.0


def items_of(envelopes: Sequence[Envelope], clock: BenchClock) -> list[Item]:
    """Submissions for ``envelopes``: the service assigns its own seq and ts."""
    ts = clock.now_ms()
    return [(env.wallet, env.request_id, ts, env.command) for env in envelopes]


def config_for(mode: DurabilityMode, db: Path, max_batch: int, **extra: Any) -> ServiceConfig:
    return ServiceConfig(db=str(db), durability=mode, max_batch=max_batch, **extra)


@asynccontextmanager
async def listed_exchange(
    config: ServiceConfig, stream: Stream, clock: BenchClock
) -> AsyncIterator[Exchange]:
    """An exchange with the stream's instruments listed and wallets funded (not timed)."""
    async with open_exchange(config, clock=clock) as exchange:
        setup = items_of(stream.setup, clock)
        for start in range(0, len(setup), 256):
            for answer in await exchange.submit_many(setup[start : start + 256]):
                if not isinstance(answer, Reply) or getattr(answer.result, "status", "") != "ok":
                    raise RuntimeError(f"setup failed: {answer!r}")
        # The collector's settings of ``hcx serve`` after its recovery.
        with gc_policy.tuned():
            yield exchange
        gc.freeze()  # ``tuned`` unfroze everything on exit: the stream goes back


class WalSampler:
    """The largest size the ``-wal`` file beside ``db`` reaches while ``run`` goes on."""

    def __init__(self, db: Path, every_s: float = 0.005) -> None:
        self.wal = Path(f"{db}-wal")
        self.every_s = every_s
        self.max_bytes = 0

    async def run(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            with suppress(FileNotFoundError):
                self.max_bytes = max(self.max_bytes, self.wal.stat().st_size)
            await trio.sleep(self.every_s)


@asynccontextmanager
async def wal_sampled(db: Path) -> AsyncIterator[WalSampler]:
    """Sample the ``-wal`` file's size while the block runs."""
    sampler = WalSampler(db)
    async with trio.open_nursery() as nursery:
        await nursery.start(sampler.run)
        yield sampler
        nursery.cancel_scope.cancel()


async def closed_loop(
    exchange: Exchange, commands: Sequence[Envelope], clock: BenchClock, chunk: int, window: int
) -> tuple[float, Tally]:
    """Submit everything in lists of ``chunk``, at most ``window`` outstanding."""
    tally = Tally()
    send = exchange.send
    n = len(commands)
    started = time.perf_counter()
    sent = 0
    while sent < n:
        if sent - tally.done >= window:
            await tally.wait_for(sent - window // 2)
        ts = clock.now_ms()
        batch: list[Submission | QueryItem] = [
            Submission(env.wallet, env.request_id, ts, env.command, tally)
            for env in commands[sent : sent + chunk]
        ]
        await send(batch)
        sent += len(batch)
    await tally.wait_for(n)
    return time.perf_counter() - started, tally


async def open_loop(
    exchange: Exchange, commands: Sequence[Envelope], clock: BenchClock, rate: float
) -> tuple[HdrHistogram, Tally]:
    """Command i is due at t0 + i / rate; whatever is due is sent at once, in one list."""
    histogram = HdrHistogram(1, 120_000_000, 3)  # 1 us .. 120 s
    tally = Tally()
    send = exchange.send
    n = len(commands)
    t0 = trio.current_time() + 0.005
    sent = 0
    while sent < n:
        now = trio.current_time()
        due = min(n, int((now - t0) * rate) + 1) if now >= t0 else 0
        if due <= sent:
            await trio.sleep_until(t0 + sent / rate)
            continue
        ts = clock.now_ms()
        batch: list[Submission | QueryItem] = [
            Submission(
                env.wallet, env.request_id, ts, env.command, Timed(t0 + i / rate, histogram, tally)
            )
            for i, env in zip(range(sent, due), commands[sent:due], strict=True)
        ]
        await send(batch)
        sent = due
    await tally.wait_for(n)
    return histogram, tally


async def measure_mode(
    mode: DurabilityMode,
    stream: Stream,
    commands: Sequence[Envelope],
    args: argparse.Namespace,
    workdir: Path,
    figures: Figures,
) -> None:
    result = ModeFigures(mode, commands=len(commands))
    figures.modes[mode] = result

    # 1. Throughput, closed loop, on a fresh journal.
    db = workdir / f"{mode}-throughput.db"
    clock = BenchClock(START_MS)
    config = config_for(mode, db, args.max_batch)
    async with listed_exchange(config, stream, clock) as exchange, wal_sampled(db) as sampler:
        stats = exchange.writer.stats
        batches0, rows0 = stats.batches, stats.rows
        gc.collect()
        cpu = time.process_time()
        seconds, tally = await closed_loop(exchange, commands, clock, args.chunk, args.window)
        cpu = time.process_time() - cpu
        result.batches = stats.batches - batches0
        result.rows_per_batch = (stats.rows - rows0) / max(result.batches, 1)
    result.seconds = seconds
    result.per_s = len(commands) / seconds
    result.cpu_us = cpu / len(commands) * 1e6
    result.refused, result.rejected = tally.refused, tally.rejected
    result.wal_max_bytes = sampler.max_bytes
    print(
        f"{mode:>6} throughput: {result.per_s:>9,.0f} commands/s ({len(commands)} in"
        f" {seconds:.2f} s, process CPU {result.cpu_us:.1f} us/command, load {load()};"
        f" {result.batches} commits, {result.rows_per_batch:.0f} rows each;"
        f" refused {tally.refused}, rejected {tally.rejected}; wal max"
        f" {sampler.max_bytes / 1e6:.1f} MB)",
        flush=True,
    )

    if mode == "group":
        # 3a. Replay of the journal just written, from seq 1 (no snapshot).
        journal = Journal(str(db))
        try:
            recovered = recover(journal, None, EngineConfig())
        finally:
            journal.close()
        figures.replay_records = recovered.replayed
        figures.replay_seconds = recovered.seconds
        figures.replay_per_s = recovered.replayed / recovered.seconds
        print(
            f"{'group':>6} replay:     {figures.replay_per_s:>9,.0f} commands/s"
            f" ({recovered.replayed} records in {recovered.seconds:.2f} s, no snapshot)",
            flush=True,
        )

    # 2. Latency from the intended send time, open loop at half the measured maximum.
    rate = result.per_s * args.latency_load
    count = min(len(commands), max(1, int(rate * args.latency_seconds)))
    db = workdir / f"{mode}-latency.db"
    clock = BenchClock(START_MS)
    config = config_for(mode, db, args.max_batch)
    async with listed_exchange(config, stream, clock) as exchange, wal_sampled(db) as sampler:
        gc.collect()
        histogram, tally = await open_loop(exchange, commands[:count], clock, rate)
    result.wal_max_bytes = max(result.wal_max_bytes, sampler.max_bytes)
    result.latency_rate = rate
    result.latency_commands = count
    p50, p99, p999 = (histogram.get_value_at_percentile(q) / 1e3 for q in (50, 99, 99.9))
    result.p50_ms, result.p99_ms, result.p999_ms = p50, p99, p999
    result.max_ms = histogram.get_max_value() / 1e3
    print(
        f"{mode:>6} latency:    p50 {p50:.2f} ms, p99 {p99:.2f} ms, p99.9 {p999:.2f} ms,"
        f" max {result.max_ms:.2f} ms ({count} commands at {rate:,.0f}/s;"
        f" refused {tally.refused})",
        flush=True,
    )


# --- restart with snapshots ------------------------------------------------------------


def engine_fingerprint() -> str:
    """A hash of the engine's and the record format's source files."""
    digest = hashlib.sha256()
    # records.py by name: compiled, the module's ``__file__`` is its extension, which
    # would give the compiled and pure builds two fingerprints for one source.
    records = Path(hcx.durability.records.__file__).with_name("records.py")
    roots = [Path(hcx.engine.__file__).parent, records]
    for path in sorted(
        p for root in roots for p in (root.glob("*.py") if root.is_dir() else [root])
    ):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _marker(path: Path) -> Path:
    return Path(f"{path}.bench.json")


async def build_restart_journal(
    path: Path, records: int, args: argparse.Namespace, figures: Figures
) -> None:
    """``records`` records (setup included) through group mode, snapshots every 100,000;
    a marker file beside it lets later runs reuse it."""
    wanted = {
        "seed": args.seed,
        "records": records,
        "wallets": args.wallets,
        "instruments": args.instruments,
        "snapshot_every": args.snapshot_every,
        # A journal replays only on the engine that wrote it: rebuild when its code changes.
        "engine": engine_fingerprint(),
        # Snapshots carry the idempotency window's file beside them since this key.
        "window_files": 1,
    }
    marker = _marker(path)
    if path.exists() and marker.exists():
        built = json.loads(marker.read_text())
        if built.get("wanted") == wanted:
            figures.restart_build_wal_max_bytes = built["wal_max_bytes"]
            print(f"restart journal: reusing {path} ({built['summary']})", flush=True)
            return
    for stale in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), marker):
        stale.unlink(missing_ok=True)
    shutil.rmtree(snapshot_dir(str(path)), ignore_errors=True)
    print(f"restart journal: building {records} records in {path} ...", flush=True)
    started = time.perf_counter()
    stream = build_stream(args.seed, records, args.wallets, args.instruments)
    del stream.commands[records - len(stream.setup) :]
    gc.collect()
    gc.freeze()
    built = time.perf_counter() - started
    config = ServiceConfig(
        db=str(path),
        durability="group",
        max_batch=args.max_batch,
        snapshot_every=args.snapshot_every,
        snapshots_kept=len(range(0, records, args.snapshot_every)) + 1,
    )
    clock = BenchClock(START_MS)
    started = time.perf_counter()
    async with listed_exchange(config, stream, clock) as exchange, wal_sampled(path) as sampler:
        seconds, tally = await closed_loop(
            exchange, stream.commands, clock, args.chunk, args.window
        )
    commands = len(stream.commands)
    del stream
    gc.unfreeze()
    gc.collect()
    figures.restart_build_wal_max_bytes = sampler.max_bytes
    summary = (
        f"built through group mode at {commands / seconds:,.0f} commands/s"
        f" sustained for {seconds:.0f} s, refused {tally.refused}, wal max"
        f" {sampler.max_bytes / 1e6:.1f} MB"
    )
    print(f"restart journal: stream built in {built:.0f} s; {summary}", flush=True)
    marker.write_text(
        json.dumps({"wanted": wanted, "wal_max_bytes": sampler.max_bytes, "summary": summary})
    )


@dataclass
class Restart:
    seconds: float  # open_exchange called .. its first read answered
    recover_seconds: float  # of which recover(): snapshot load and verify, tail replay
    replayed: int
    snapshot_seq: int

    def describe(self, last_seq: int) -> str:
        return (
            f"{self.seconds:.2f} s (recover {self.recover_seconds:.2f} s: snapshot at seq"
            f" {self.snapshot_seq}, {self.replayed} records replayed; last seq {last_seq})"
        )


async def timed_restart(db: Path, last_ts: int) -> Restart:
    """From calling ``open_exchange`` until the exchange answers its first read: recovery,
    the idempotency window rebuilt from the journal tail, the tasks started."""
    clock = BenchClock(last_ts + 1_000)  # restarted a second after the last record
    started = time.perf_counter()
    async with open_exchange(ServiceConfig(db=str(db)), clock=clock) as exchange:
        await exchange.query(lambda engine: engine.last_seq)
        seconds = time.perf_counter() - started
        recovered = exchange.recovered
    return Restart(seconds, recovered.seconds, recovered.replayed, recovered.snapshot_seq)


async def measure_restart(args: argparse.Namespace, workdir: Path, figures: Figures) -> None:
    source = Path(args.restart_journal)
    await build_restart_journal(source, args.restart_records, args, figures)
    journal = Journal(str(source))
    try:
        last_seq, _ = journal.last()
        row = journal.read(last_seq)
        assert row is not None
        last_ts = row[1]
    finally:
        journal.close()
    snapshots = [p for p in list_snapshots(snapshot_dir(str(source))) if int(p.stem) <= last_seq]
    if len(snapshots) < 2:
        raise RuntimeError(f"{source}: needs two snapshots, has {snapshots}")
    # A copy, so the restarts (which may write a final snapshot) leave the source alone.
    db = workdir / "restart.db"
    shutil.copyfile(source, db)
    target = snapshot_dir(str(db))
    target.mkdir()
    newest, older = snapshots[0], snapshots[1]
    figures.restart_records = last_seq

    best = await restart_from(newest, target, db, last_ts, window_file=True)
    figures.restart_best_s, figures.restart_best_replayed = best.seconds, best.replayed
    print(f"restart, best case:  {best.describe(last_seq)}", flush=True)
    rebuilt = await restart_from(newest, target, db, last_ts, window_file=False)
    figures.restart_best_rebuilt_s = rebuilt.seconds
    print(f"restart, best case, window rebuilt: {rebuilt.describe(last_seq)}", flush=True)
    worst = await restart_from(older, target, db, last_ts, window_file=True)
    figures.restart_worst_s, figures.restart_worst_replayed = worst.seconds, worst.replayed
    print(f"restart, worst case: {worst.describe(last_seq)}", flush=True)
    rebuilt = await restart_from(older, target, db, last_ts, window_file=False)
    figures.restart_worst_rebuilt_s = rebuilt.seconds
    print(f"restart, worst case, window rebuilt: {rebuilt.describe(last_seq)}", flush=True)


async def restart_from(
    snapshot: Path, target: Path, db: Path, last_ts: int, *, window_file: bool
) -> Restart:
    """A restart with only ``snapshot`` in ``target`` and, if ``window_file``, the
    idempotency window's file written beside it (else the window is rebuilt from the
    journal, as after a crash that lost that file)."""
    for path in target.iterdir():
        path.unlink()
    shutil.copyfile(snapshot, target / snapshot.name)
    window = snapshot.with_name(f"{snapshot.stem}{WINDOW_SUFFIX}")
    if window_file:
        if not window.exists():
            raise RuntimeError(f"{window} is missing: rebuild the restart journal")
        shutil.copyfile(window, target / window.name)
    return await timed_restart(db, last_ts)


# --- idempotency window ----------------------------------------------------------------


def measure_window(rate: int, seconds: int, wallets: int, figures: Figures) -> None:
    window = IdempotencyWindow(60_000, 1_000)
    count = rate * seconds
    names = [f"w{n:05d}" for n in range(wallets)]
    started = time.perf_counter()
    add = window.add
    for i in range(count):
        add(request_key(names[i % wallets], f"r{i}"), i + 1, START_MS + i * 1_000 // rate)
    elapsed = time.perf_counter() - started
    figures.window_keys = len(window)
    figures.window_bytes = window.nbytes()
    figures.window_bytes_per_key = window.nbytes() / len(window)
    figures.window_adds_per_s = count / elapsed
    print(
        f"idempotency window: {len(window):,} keys, {window.nbytes() / 1e6:.1f} MB,"
        f" {figures.window_bytes_per_key:.1f} bytes/key ({count / elapsed:,.0f} adds/s"
        " with request_key)",
        flush=True,
    )


# --- the report ------------------------------------------------------------------------


def load() -> str:
    """The 1-minute load average: other work on this machine skews every figure."""
    return f"{os.getloadavg()[0]:.1f}"


def machine() -> dict[str, Any]:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cores": os.cpu_count(), "cpu": model, "python": platform.python_version()}


def goals(figures: Figures) -> list[tuple[str, bool, str]]:
    memory, group, sync = (figures.modes.get(m) for m in MODES)
    out: list[tuple[str, bool, str]] = []
    if group is not None:
        out.append(("group >= 60,000 commands/s", group.per_s >= 60_000, f"{group.per_s:,.0f}/s"))
        if memory is not None:
            ratio = group.per_s / memory.per_s
            out.append(("group >= 0.8 x memory", ratio >= 0.8, f"{ratio:.2f} x"))
        if sync is not None:
            ratio = group.per_s / sync.per_s
            out.append(("group >= 10 x sync", ratio >= 10, f"{ratio:.1f} x"))
        out.append(
            ("group p99 <= 10 ms at half max rate", group.p99_ms <= 10, f"{group.p99_ms:.2f} ms")
        )
    if figures.replay_seconds:
        out.append(
            (
                "replay >= 150,000 commands/s",
                figures.replay_per_s >= 150_000,
                f"{figures.replay_per_s:,.0f}/s",
            )
        )
    if figures.restart_records:
        label = f"restart with snapshot <= 1.5 s for {figures.restart_records:,} records"
        out.append(
            (
                label,
                figures.restart_worst_s <= 1.5,
                f"worst {figures.restart_worst_s:.2f} s, best {figures.restart_best_s:.2f} s"
                f" (with the window rebuilt from the journal: worst"
                f" {figures.restart_worst_rebuilt_s:.2f} s,"
                f" best {figures.restart_best_rebuilt_s:.2f} s)",
            )
        )
    if figures.window_keys:
        out.append(
            (
                "idempotency window <= 64 bytes/key",
                figures.window_bytes_per_key <= 64,
                f"{figures.window_bytes_per_key:.1f} B/key",
            )
        )
    return out


async def main_async(args: argparse.Namespace) -> Figures:
    figures = Figures(machine=machine())
    m = figures.machine
    print(f"machine: {m['cores']} cores, {m['cpu']}, Python {m['python']}", flush=True)
    modes = [mode for mode in MODES if mode in args.modes]
    with tempfile.TemporaryDirectory(prefix="hcx-durability-bench-") as tmp:
        workdir = Path(tmp)
        if modes:
            started = time.perf_counter()
            stream = build_stream(args.seed, args.commands, args.wallets, args.instruments)
            mix = ", ".join(f"{k} {c}" for k, c in sorted(stream.kinds.items()))
            print(
                f"stream: {len(stream.commands)} commands ({mix}) after {len(stream.setup)}"
                f" setup commands; built in {time.perf_counter() - started:.1f} s",
                flush=True,
            )
            # The stream is the benchmark's own data: keep the collector off it.
            gc.collect()
            gc.freeze()
            for mode in modes:
                count = args.sync_commands if mode == "sync" else args.commands
                await measure_mode(mode, stream, stream.commands[:count], args, workdir, figures)
            del stream
            gc.unfreeze()
            gc.collect()
        if args.restart_records:
            await measure_restart(args, workdir, figures)
    if args.window_seconds:
        measure_window(args.window_rate, args.window_seconds, args.wallets, figures)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--commands", type=int, default=200_000, help="for memory and group")
    parser.add_argument("--sync-commands", type=int, default=20_000)
    parser.add_argument("--wallets", type=int, default=1_000)
    parser.add_argument("--instruments", type=int, default=20)
    parser.add_argument("--modes", nargs="*", default=list(MODES), choices=MODES)
    parser.add_argument("--max-batch", type=int, default=512)
    parser.add_argument("--chunk", type=int, default=256, help="submissions per list")
    parser.add_argument("--window", type=int, default=16_384, help="outstanding commands")
    parser.add_argument(
        "--latency-load", type=float, default=0.5, help="offered rate / measured maximum"
    )
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    parser.add_argument(
        "--restart-records", type=int, default=1_000_000, help="0: skip the restart figures"
    )
    parser.add_argument(
        "--restart-journal",
        default=str(Path(tempfile.gettempdir()) / "hcx-bench-restart.db"),
        help="built once; reused while the seed, the sizes and the engine's source match",
    )
    parser.add_argument("--snapshot-every", type=int, default=100_000)
    parser.add_argument("--window-rate", type=int, default=50_000)
    parser.add_argument("--window-seconds", type=int, default=60, help="0: skip")
    parser.add_argument(
        "--switch-interval",
        type=float,
        default=None,
        help="sys.setswitchinterval for the run (default: leave the interpreter's)",
    )
    parser.add_argument(
        "--gc-threshold",
        type=int,
        nargs=3,
        default=None,
        metavar=("GEN0", "GEN1", "GEN2"),
        help="gc.set_threshold for the run (default: leave the interpreter's)",
    )
    parser.add_argument("--json", action="store_true", help="also print one JSON line")
    args = parser.parse_args(argv)
    if args.gc_threshold is not None:
        gc.set_threshold(*args.gc_threshold)
    if args.switch_interval is not None:
        sys.setswitchinterval(args.switch_interval)

    figures = trio.run(main_async, args)
    print()
    for label, ok, value in goals(figures):
        print(f"{'PASS' if ok else 'MISS'}  {label}: {value}")
    if args.json:
        data = asdict(figures)
        print(json.dumps(data, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
