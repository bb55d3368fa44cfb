"""Simulator speed against the engine's own apply rate, measured in one run.

The engine benchmark's seeded mixed stream (places, crossing places, cancels, replaces,
IOCs from many wallets; see ``engine_bench.py``) is driven through ``hcx.Simulator``
sessions one call at a time, as a program would: decimal strings in, typed results out.
The same run times the engine's bare ``apply`` over the same stream, so the ratio
compares like with like on this machine at this moment, and ``Simulator.apply`` alone
over the same commands already parsed (the sequencing step, the floor under a call).
Then the same calls (a shorter prefix: it is slow) through ``hcx.open_exchange``
sessions for the old embedded path.
With ``--examples`` it also times ``examples/simulator.py`` against
``examples/simulator_open_exchange.py`` and ``examples/backtest.py`` through either
exchange, in-process (imports excluded), output discarded.

    .venv/bin/python benchmarks/sim_bench.py --commands 100000 --open-exchange 3000 --examples
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import trio

import hcx
from hcx import gc_policy
from hcx.engine import Engine
from hcx.engine.commands import (
    CancelOrder,
    CreateInstrument,
    Deposit,
    Envelope,
    PlaceOrder,
    ReplaceOrder,
    SetIndexPrice,
)
from hcx.engine.numbers import format_decimal
from hcx.protocol.ids import SeededIds

START_MS = 1_790_000_000_000


def _engine_bench() -> ModuleType:
    name = "engine_bench"
    if name in sys.modules:
        return sys.modules[name]
    path = Path(__file__).with_name("engine_bench.py")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def call_of(env: Envelope) -> tuple[str, str, tuple[Any, ...], dict[str, Any]]:
    """The session call that sends ``env``'s command: (wallet, method, args, kwargs)."""
    c = env.command
    fmt = format_decimal
    if type(c) is PlaceOrder:
        kwargs = {"tif": c.tif} if c.tif != "gtc" else {}
        if c.mmp:
            kwargs["mmp"] = True
        return env.wallet, "place_order", (c.symbol, c.side, fmt(c.price), fmt(c.size)), kwargs
    if type(c) is CancelOrder:
        return env.wallet, "cancel_order", (c.order_id,), {}
    if type(c) is ReplaceOrder:
        return env.wallet, "replace_order", (c.order_id, fmt(c.price), fmt(c.size)), {}
    if type(c) is CreateInstrument:
        args = (c.symbol, c.underlying, c.expiry_ms, fmt(c.strike), c.option)
        return "admin", "create_instrument", (*args, fmt(c.tick_size), fmt(c.lot_size)), {}
    if type(c) is SetIndexPrice:
        vol = None if c.vol is None else fmt(c.vol)
        return "admin", "set_index_price", (c.underlying, fmt(c.price)), {"vol": vol}
    if type(c) is Deposit:
        return "admin", "deposit", (c.wallet, fmt(c.amount)), {}
    raise ValueError(f"no session call for {c!r}")


Call = tuple[str, str, tuple[Any, ...], dict[str, Any]]


def run_simulator(
    setup: list[Call], calls: list[Call], journal: str | None
) -> tuple[float, float, str]:
    """Wall and CPU seconds for ``calls`` one at a time (after ``setup``), and the
    final digest."""
    clock = hcx.SimClock(START_MS)
    sim = hcx.Simulator(clock=clock, seed=1, journal=journal)
    sessions: dict[str, Any] = {}

    def bound(call: Call) -> tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]:
        wallet, method, args, kwargs = call
        session = sessions.get(wallet) or sessions.setdefault(wallet, sim.session(wallet))
        return getattr(session, method), args, kwargs

    for call in setup:
        fn, args, kwargs = bound(call)
        fn(*args, **kwargs)
    prepared = [bound(call) for call in calls]
    advance = clock.advance
    with gc_policy.tuned():
        start, cpu = time.perf_counter(), time.process_time()
        for fn, args, kwargs in prepared:
            advance(1)
            fn(*args, **kwargs)
        sim.flush()
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    digest = sim.digest()
    sim.close()
    return seconds, cpu, digest


def run_step(setup: list[Call], stream: Any) -> tuple[float, float]:
    """Wall and CPU seconds of ``Simulator.apply`` alone over the stream's commands,
    already parsed and stamped (no session, no typed result): the sequencing step with
    the simulator's store and history, the floor under any call."""
    clock = hcx.SimClock(START_MS)
    sim = hcx.Simulator(clock=clock, seed=1)
    for wallet, method, args, kwargs in setup:
        getattr(sim.session(wallet), method)(*args, **kwargs)
    ids = SeededIds(1, "step")
    prepared = [(env.wallet, ids(), env.command) for env in stream.commands]
    apply, advance, now = sim.apply, clock.advance, clock.now_ms
    with gc_policy.tuned():
        start, cpu = time.perf_counter(), time.process_time()
        for wallet, request_id, command in prepared:
            advance(1)
            apply(wallet, request_id, now(), command)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    sim.close()
    return seconds, cpu


def run_engine(stream: Any) -> tuple[float, float]:
    """Wall and CPU seconds of the bare engine applying the stream (after its setup)."""
    engine = Engine()
    for env in stream.setup:
        engine.apply(env)
    apply = engine.apply
    with gc_policy.tuned():
        start, cpu = time.perf_counter(), time.process_time()
        for env in stream.commands:
            apply(env)
        return time.perf_counter() - start, time.process_time() - cpu


async def _open_exchange(setup: list[Call], calls: list[Call]) -> tuple[float, float]:
    clock = hcx.SimClock(START_MS)
    async with hcx.open_exchange(clock=clock, seed=1) as exchange:
        wallets = sorted({call[0] for call in [*setup, *calls]})
        sessions: dict[str, Any] = {}
        async with trio.open_nursery() as nursery:
            done = trio.Event()

            async def keep(wallet: str, ready: trio.Event) -> None:
                async with exchange.session(wallet) as client:
                    sessions[wallet] = client
                    ready.set()
                    await done.wait()

            for wallet in wallets:
                ready = trio.Event()
                nursery.start_soon(keep, wallet, ready)
                await ready.wait()
            for wallet, method, args, kwargs in setup:
                await getattr(sessions[wallet], method)(*args, **kwargs)
            start, cpu = time.perf_counter(), time.process_time()
            for wallet, method, args, kwargs in calls:
                clock.advance(1)
                await getattr(sessions[wallet], method)(*args, **kwargs)
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
            done.set()
    return seconds, cpu


def _example(name: str) -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"example_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _timed(fn: Callable[[], Any]) -> tuple[float, float]:
    with contextlib.redirect_stdout(io.StringIO()):
        start, cpu = time.perf_counter(), time.process_time()
        fn()
        return time.perf_counter() - start, time.process_time() - cpu


def time_examples(steps: int, rows: int, repeat: int) -> dict[str, float]:
    """Seconds of each example's run on either exchange (same seed, same work): the
    fastest of ``repeat`` runs each, taken in turns, so that a burst of other work on
    the machine does not decide a ratio."""
    on_sim, on_open = _example("simulator"), _example("simulator_open_exchange")
    backtest = _example("backtest")
    figures: dict[str, float] = {}

    def best(key: str, fn: Callable[[], Any]) -> None:
        wall, cpu = _timed(fn)
        figures[key] = min(figures.get(key, wall), wall)
        figures[f"{key}_cpu"] = min(figures.get(f"{key}_cpu", cpu), cpu)

    with tempfile.TemporaryDirectory() as tmp:
        orders = str(Path(tmp) / "orders.csv")
        backtest.main(["--make-csv", orders, "--rows", str(rows)])
        for _ in range(repeat):
            best("simulator_example_sim_s", lambda: on_sim.main(7, steps, None))
            best("simulator_example_open_s", lambda: trio.run(on_open.main, 7, steps, None))
            best("backtest_sim_s", lambda: backtest.main(["--csv", orders]))
            best(
                "backtest_open_s",
                lambda: backtest.main(["--csv", orders, "--via", "open_exchange"]),
            )
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--commands", type=int, default=100_000)
    parser.add_argument("--wallets", type=int, default=200)
    parser.add_argument("--instruments", type=int, default=20)
    parser.add_argument(
        "--open-exchange", type=int, default=3_000, help="calls through open_exchange (0: skip)"
    )
    parser.add_argument("--examples", action="store_true", help="also time the examples")
    parser.add_argument("--steps", type=int, default=360, help="simulator example steps")
    parser.add_argument("--rows", type=int, default=5_000, help="backtest example rows")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (the fastest counts)")
    parser.add_argument("--json", action="store_true", help="also print one JSON line")
    args = parser.parse_args(argv)

    bench = _engine_bench()
    stream = bench.build_stream(args.seed, args.commands, args.wallets, args.instruments)
    setup = [call_of(env) for env in stream.setup]
    calls = [call_of(env) for env in stream.commands]
    n = len(calls)

    # The fastest of ``--repeat`` rounds of each, taken in turns: on a shared machine a
    # burst of other work must not decide a ratio. CPU time is the steadier measure there
    # (a process waiting for a core is not charged); wall time is what a user waits.
    best: dict[str, float] = {}

    def keep(key: str, value: float) -> None:
        best[key] = max(best.get(key, 0.0), value)

    digest = file_digest = ""
    for _ in range(args.repeat):
        stats = bench.run(stream, keep_samples=False)
        keep("engine_bench_apply", n / (stats.apply_ns / 1e9))
        wall, cpu = run_engine(stream)
        keep("engine_wall", n / wall)
        keep("engine_cpu", n / cpu)
        wall, cpu = run_step(setup, stream)
        keep("step_wall", n / wall)
        keep("step_cpu", n / cpu)
        wall, cpu, digest = run_simulator(setup, calls, None)
        keep("sim_wall", n / wall)
        keep("sim_cpu", n / cpu)
        with tempfile.TemporaryDirectory() as tmp:
            wall, cpu, file_digest = run_simulator(setup, calls, str(Path(tmp) / "sim.db"))
        keep("sim_file_wall", n / wall)
        keep("sim_file_cpu", n / cpu)
    assert file_digest == digest, "a journal must not change the outcome"
    print(f"{n} commands; the fastest of {args.repeat} rounds; calls (or commands) per second")
    print(f"engine_bench apply rate (summed apply times): {best['engine_bench_apply']:>10,.0f}")
    print(f"{'':24} {'wall':>10} {'cpu':>10} {'x engine (wall, cpu)':>22}")
    rows = (
        ("engine apply loop", "engine"),
        ("Simulator.apply alone", "step"),
        ("Simulator, no journal", "sim"),
    )
    for label, key in (*rows, ("Simulator, file journal", "sim_file")):
        wall_rate, cpu_rate = best[f"{key}_wall"], best[f"{key}_cpu"]
        print(
            f"{label:<24} {wall_rate:>10,.0f} {cpu_rate:>10,.0f}"
            f" {wall_rate / best['engine_wall']:>11.2f} {cpu_rate / best['engine_cpu']:>10.2f}"
        )
    figures: dict[str, Any] = {"commands": n, **{k: round(v) for k, v in best.items()}}
    figures["sim_vs_engine_bench_apply"] = round(best["sim_wall"] / best["engine_bench_apply"], 3)
    figures["sim_vs_engine_cpu"] = round(best["sim_cpu"] / best["engine_cpu"], 3)
    figures["step_vs_engine_cpu"] = round(best["step_cpu"] / best["engine_cpu"], 3)
    figures["sim_file_vs_engine_cpu"] = round(best["sim_file_cpu"] / best["engine_cpu"], 3)
    if args.open_exchange:
        k = min(args.open_exchange, n)
        open_wall = open_cpu = 0.0
        for _ in range(args.repeat):
            wall, cpu = trio.run(_open_exchange, setup, calls[:k])
            open_wall, open_cpu = max(open_wall, k / wall), max(open_cpu, k / cpu)
        print(
            f"{'open_exchange, memory':<24} {open_wall:>10,.0f} {open_cpu:>10,.0f}"
            f"  (Simulator: {best['sim_wall'] / open_wall:.1f} x wall,"
            f" {best['sim_cpu'] / open_cpu:.1f} x cpu; first {k} calls)"
        )
        figures["open_exchange_wall"], figures["open_exchange_cpu"] = (
            round(open_wall),
            round(open_cpu),
        )
        figures["sim_vs_open_exchange_cpu"] = round(best["sim_cpu"] / open_cpu, 1)
    print(f"state digest {digest}")
    if args.examples:
        timings = time_examples(args.steps, args.rows, args.repeat)
        examples = (("examples/simulator.py", "simulator_example"), ("backtest", "backtest"))
        for label, key in examples:
            sim_s, open_s = timings[f"{key}_sim_s"], timings[f"{key}_open_s"]
            sim_c, open_c = timings[f"{key}_sim_s_cpu"], timings[f"{key}_open_s_cpu"]
            print(
                f"{label:<22} Simulator {sim_s:6.2f} s wall {sim_c:6.2f} s cpu;"
                f" open_exchange {open_s:6.2f} s wall {open_c:6.2f} s cpu"
                f" ({open_s / sim_s:.1f} x faster wall, {open_c / sim_c:.1f} x cpu)"
            )
            figures[f"{key}_speedup_wall"] = round(open_s / sim_s, 1)
            figures[f"{key}_speedup_cpu"] = round(open_c / sim_c, 1)
        figures.update({k: round(v, 3) for k, v in timings.items()})
    if args.json:
        print(json.dumps(figures, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
