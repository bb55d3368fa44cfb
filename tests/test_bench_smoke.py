"""The engine benchmark's stream builder and apply loop work (structure only, never speed)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

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


def test_the_simulator_benchmark_runs_and_the_journal_changes_no_outcome(capsys: Any) -> None:
    _load_bench()
    path = BENCH.with_name("sim_bench.py")
    spec = importlib.util.spec_from_file_location("sim_bench", path)
    assert spec is not None and spec.loader is not None
    sim_bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sim_bench)
    argv = ["--commands", "300", "--wallets", "20", "--instruments", "4", "--repeat", "1"]
    assert sim_bench.main([*argv, "--open-exchange", "50", "--json"]) == 0
    out = capsys.readouterr().out
    figures = json.loads(out.strip().splitlines()[-1])
    assert figures["commands"] == 300
    assert figures["sim_cpu"] > 0 and figures["open_exchange_cpu"] > 0
    assert "state digest " in out  # main asserts the file journal changed no outcome
