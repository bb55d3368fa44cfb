"""The engine benchmark's stream builder and apply loop work (structure only, never speed)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "engine_bench.py"


def _load_bench() -> ModuleType:
    name = "engine_bench"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    return module


def test_small_stream_applies_with_fills_cancels_and_few_rejects() -> None:
    bench = _load_bench()
    stream = bench.build_stream(seed=3, commands=2_000, wallets=50, instruments=4)
    assert len(stream.commands) == 2_000
    assert {"place", "place_crossing", "cancel", "replace", "ioc"} <= set(stream.kinds)

    stats = bench.run(stream)
    assert stats.commands == 2_000
    assert len(stats.samples_ns) == 2_000 and all(t > 0 for t in stats.samples_ns)
    assert stats.trades > 0
    assert stats.cancels_ok > 0 and stats.replaces_ok > 0
    assert sum(stats.rejects.values()) < 0.2 * stats.commands


def test_same_seed_same_final_state() -> None:
    bench = _load_bench()
    first = bench.run(bench.build_stream(seed=5, commands=500, wallets=20, instruments=2))
    second = bench.run(bench.build_stream(seed=5, commands=500, wallets=20, instruments=2))
    assert first.digest == second.digest


def test_resting_orders_all_rest() -> None:
    bench = _load_bench()
    stream = bench.build_stream(seed=1, commands=10, wallets=20, instruments=4)
    retained, rested = bench.resting_memory(stream, 1_000, seed=1, wallets=20)
    assert rested == 1_000
    assert retained > 0
