"""The compiled engine and the pure-Python one give the same outputs and digests.

The same streams (orders, MMP, RFQ, expiry and settlement) run in this process, on the
build installed here, and in a child process whose ``hcx.engine`` modules are loaded
from their ``.py`` sources even where a compiled module sits beside them. ``make test``
runs this on the compiled build; ``make unit-pure`` runs it again on a pure install.
"""

from __future__ import annotations

import ast
import hashlib
import os
import pickle
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings

import hcx.engine.engine
from hcx.build import engine_build
from hcx.engine import Engine, Envelope
from hcx.engine.outputs import Fill
from tests.harness.wire_schema import ENV as WIRE_SCHEMA_ENV
from tests.test_bench_smoke import _load_bench

from .helpers import examples
from .test_lifecycle_properties import new_runner, streams
from .test_properties import Runner, seeded_stream

ROOT = Path(__file__).resolve().parents[2]
# What setup.py leaves interpreted; every other engine module is compiled.
INTERPRETED = {"__init__", "commands", "config"}
ENGINE_MODULES = sorted(
    path.stem
    for path in Path(hcx.engine.engine.__file__ or "").parent.glob("*.py")
    if path.stem not in INTERPRETED
)

# A finder ahead of the default ones loads every ``hcx.engine`` module from its source;
# then each pickled stream read from stdin is answered with one line, its fingerprint.
_PURE_CHILD = """
import importlib.abc, importlib.util, pickle, sys
from collections.abc import Callable, Iterator
from pathlib import Path

class FromSource(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if not name.startswith("hcx.engine."):
            return None
        source = Path(path[0]) / (name.rsplit(".", 1)[1] + ".py")
        return importlib.util.spec_from_file_location(name, source)

sys.meta_path.insert(0, FromSource())
import hcx.engine.engine
from hcx.build import engine_build
from tests.engine.test_builds import RUNS
print(engine_build(), hcx.engine.engine.__file__, flush=True)
for line in sys.stdin.buffer:
    kind, stream = pickle.loads(bytes.fromhex(line.decode()))
    print(repr(RUNS[kind](stream)), flush=True)
"""

Fingerprint = tuple[str, str]


def _fingerprint(engine: Engine, outputs: list[Any]) -> Fingerprint:
    return engine.digest(), hashlib.sha256(repr(outputs).encode()).hexdigest()


def run_lifecycle(stream: list[tuple[str, Any, int]]) -> Fingerprint:
    runner = new_runner()
    outputs = runner.set_up()
    outputs += [runner.apply(wallet, command, delay) for wallet, command, delay in stream]
    return _fingerprint(runner.engine, outputs)


def run_plain(stream: list[tuple[str, Any, int]]) -> Fingerprint:
    runner = Runner()
    outputs = runner.set_up()
    outputs += [runner.apply(wallet, command, delay) for wallet, command, delay in stream]
    return _fingerprint(runner.engine, outputs)


def run_envelopes(envelopes: list[Envelope]) -> Fingerprint:
    engine = Engine()
    outputs = [engine.apply(envelope) for envelope in envelopes]
    return _fingerprint(engine, outputs)


RUNS: dict[str, Callable[[Any], Fingerprint]] = {
    "lifecycle": run_lifecycle,
    "plain": run_plain,
    "envelopes": run_envelopes,
}


class PureEngine:
    """A child process running the pure-Python engine on the streams it is sent."""

    def __init__(self) -> None:
        # Without the wire schema check: its ``sitecustomize`` would import the codec, and
        # with it the compiled engine, before the child's finder is in place (the child
        # sends no message on the wire).
        env = {k: v for k, v in os.environ.items() if k != WIRE_SCHEMA_ENV}
        self.process = subprocess.Popen(
            [sys.executable, "-c", _PURE_CHILD],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        build, engine_file = self.process.stdout.readline().split()
        assert (build, Path(engine_file).name) == ("pure", "engine.py")

    def run(self, kind: str, stream: Any) -> Fingerprint:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(pickle.dumps((kind, stream)).hex() + "\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline()
        assert answer, "the pure engine's process ended"
        fingerprint: Fingerprint = ast.literal_eval(answer)
        return fingerprint

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def pure() -> Iterator[PureEngine]:
    child = PureEngine()
    yield child
    child.close()


@settings(max_examples=examples(40), deadline=None, database=None)
@given(stream=streams)
def test_compiled_and_pure_agree_on_lifecycle_streams(
    pure: PureEngine, stream: list[tuple[str, Any, int]]
) -> None:
    """Orders, RFQ fills, MMP, expiry and settlement: the lifecycle generator reaches all
    of them (``test_streams_reach_the_lifecycle_cases``)."""
    assert run_lifecycle(stream) == pure.run("lifecycle", stream)


def test_compiled_and_pure_agree_on_seeded_and_bench_streams(pure: PureEngine) -> None:
    for seed in (1, 2, 3):
        stream = seeded_stream(seed, 600)
        assert run_plain(stream) == pure.run("plain", stream)
    bench = _load_bench()
    built = bench.build_stream(seed=5, commands=4_000, wallets=60, instruments=6, mmp_share=0.4)
    envelopes = [*built.setup, *built.commands]
    assert run_envelopes(envelopes) == pure.run("envelopes", envelopes)
    # The bench stream trades, and MMP counts the fills of its mmp orders.
    engine = Engine()
    outputs = [engine.apply(envelope) for envelope in envelopes]
    assert any(isinstance(e, Fill) for o in outputs for e in o.events)
    assert any(state.window for state in engine.state.mmp.values())


def test_the_build_is_the_one_asked_for() -> None:
    """``make test`` tests the compiled engine; a pure install (``HCX_PURE=1``) is pure."""
    wanted = "pure" if os.environ.get("HCX_PURE", "") not in ("", "0") else "compiled"
    assert engine_build() == wanted, hcx.engine.engine.__file__


def test_no_compiled_module_is_older_than_its_source() -> None:
    """An edited engine module with a stale extension beside it would run the old code."""
    engine_dir = Path(hcx.engine.engine.__file__ or "").parent
    stale = []
    for name in ENGINE_MODULES:
        source = engine_dir / f"{name}.py"
        for compiled in engine_dir.glob(f"{name}.*.so"):
            if compiled.stat().st_mtime < source.stat().st_mtime:
                stale.append(compiled.name)
    assert not stale, f"rebuild with `make` (or pip install -e .): stale {stale}"


def test_every_engine_module_is_compiled_or_none_is() -> None:
    engine_dir = Path(hcx.engine.engine.__file__ or "").parent
    compiled = {name for name in ENGINE_MODULES if list(engine_dir.glob(f"{name}.*.so"))}
    assert compiled in (set(), set(ENGINE_MODULES))
    assert (engine_build() == "compiled") == bool(compiled)
