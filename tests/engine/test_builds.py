"""The compiled engine and the pure-Python one give the same outputs and digests.

The same streams (orders, MMP, RFQ, expiry and settlement) run in this process, on the
build installed here, and in a child process whose ``hcx.engine`` modules (and the
compiled durability modules: records, verify, idempotency) are loaded from their ``.py``
sources even where a compiled module sits beside them; the journal run also encodes each
output as its record, replays the records through ``RecordVerifier`` and asks the
idempotency window for every key, so those modules are held to the same answers. ``make test``
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

import hcx.durability.idempotency
import hcx.durability.records
import hcx.durability.verify
import hcx.engine.engine
from hcx.build import engine_build
from hcx.durability.idempotency import IdempotencyWindow, request_key
from hcx.durability.records import (
    GENESIS_CHAIN,
    chain_next,
    crc_of,
    decode_record,
    encode_record,
    encode_record_as,
)
from hcx.durability.verify import RecordVerifier
from hcx.engine import Engine, Envelope
from hcx.engine.outputs import Fill
from tests.harness.wire_schema import ENV as WIRE_SCHEMA_ENV
from tests.test_bench_smoke import _load_bench

from .helpers import examples
from .test_lifecycle_properties import new_runner, streams
from .test_properties import Runner, seeded_stream

ROOT = Path(__file__).resolve().parents[2]
# What setup.py leaves interpreted; every other engine module is compiled.
INTERPRETED = {"__init__", "config"}
ENGINE_MODULES = sorted(
    path.stem
    for path in Path(hcx.engine.engine.__file__ or "").parent.glob("*.py")
    if path.stem not in INTERPRETED
)
# The durability modules setup.py compiles with the engine (its DURABILITY).
DURABILITY_MODULES = ("idempotency", "records", "verify")

# A finder ahead of the default ones loads every ``hcx.engine`` module from its source;
# then each pickled stream read from stdin is answered with one line, its fingerprint.
_PURE_CHILD = """
import importlib.abc, importlib.util, pickle, sys
from collections.abc import Callable, Iterator
from pathlib import Path

DURABILITY = {"hcx.durability.idempotency", "hcx.durability.records", "hcx.durability.verify"}

class FromSource(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if not name.startswith("hcx.engine.") and name not in DURABILITY:
            return None
        source = Path(path[0]) / (name.rsplit(".", 1)[1] + ".py")
        return importlib.util.spec_from_file_location(name, source)

sys.meta_path.insert(0, FromSource())
import hcx.engine.engine
import hcx.durability.records
from hcx.build import engine_build
from tests.engine.test_builds import RUNS
print(engine_build(), hcx.engine.engine.__file__, hcx.durability.records.__file__, flush=True)
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


def run_journal(envelopes: list[Envelope]) -> Fingerprint:
    """Each output as its record (both formats), the records replayed and verified on a
    fresh engine, and every request key looked up in an idempotency window."""
    engine = Engine()
    window = IdempotencyWindow(60_000)
    records, found = [], []
    for envelope in envelopes:
        output = engine.apply(envelope)
        records.append(encode_record(envelope, envelope.ts_ms - 1, output))
        records.append(encode_record_as(1, envelope, envelope.ts_ms - 1, output))
        key = request_key(envelope.wallet, envelope.request_id)
        found.append(window.candidates(key))
        window.add(key, envelope.seq, envelope.ts_ms)
    replayed = Engine()
    verifier = RecordVerifier(replayed, GENESIS_CHAIN, 0)
    for envelope, blob in zip(envelopes, records[::2], strict=True):
        verifier.verify(
            envelope.seq, envelope.ts_ms, blob, crc_of(blob), chain_next(verifier.chain, blob)
        )
    assert replayed.digest() == engine.digest()
    decoded = [decode_record(blob) for blob in records[1::2]]
    found += [window.candidates(request_key(e.wallet, e.request_id)) for e in envelopes]
    text = repr((records, [record.envelope() for record in decoded], found, verifier.chain))
    return replayed.digest(), hashlib.sha256(text.encode()).hexdigest()


RUNS: dict[str, Callable[[Any], Fingerprint]] = {
    "lifecycle": run_lifecycle,
    "plain": run_plain,
    "envelopes": run_envelopes,
    "journal": run_journal,
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
        build, engine_file, records_file = self.process.stdout.readline().split()
        assert (build, Path(engine_file).name, Path(records_file).name) == (
            "pure",
            "engine.py",
            "records.py",
        )

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
    assert run_journal(envelopes) == pure.run("journal", envelopes)
    # The bench stream trades, and MMP counts the fills of its mmp orders.
    engine = Engine()
    outputs = [engine.apply(envelope) for envelope in envelopes]
    assert any(isinstance(e, Fill) for o in outputs for e in o.events)
    assert any(state.window for state in engine.state.mmp.values())


def test_the_build_is_the_one_asked_for() -> None:
    """``make test`` tests the compiled engine; a pure install (``HCX_PURE=1``) is pure."""
    wanted = "pure" if os.environ.get("HCX_PURE", "") not in ("", "0") else "compiled"
    assert engine_build() == wanted, hcx.engine.engine.__file__


def _compiled_modules() -> list[tuple[Path, str]]:
    """(directory, module name) of every module setup.py compiles."""
    engine_dir = Path(hcx.engine.engine.__file__ or "").parent
    durability_dir = Path(hcx.durability.records.__file__ or "").parent
    return [(engine_dir, name) for name in ENGINE_MODULES] + [
        (durability_dir, name) for name in DURABILITY_MODULES
    ]


def test_no_compiled_module_is_older_than_its_source() -> None:
    """An edited engine module with a stale extension beside it would run the old code."""
    stale = []
    for directory, name in _compiled_modules():
        source = directory / f"{name}.py"
        for compiled in directory.glob(f"{name}.*.so"):
            if compiled.stat().st_mtime < source.stat().st_mtime:
                stale.append(compiled.name)
    assert not stale, f"rebuild with `make` (or pip install -e .): stale {stale}"


def test_every_engine_module_is_compiled_or_none_is() -> None:
    modules = _compiled_modules()
    compiled = {(d, name) for d, name in modules if list(d.glob(f"{name}.*.so"))}
    assert compiled in (set(), set(modules))
    assert (engine_build() == "compiled") == bool(compiled)
    # Loaded from those extensions: the build is the whole set, not the engine alone.
    loaded = [hcx.durability.records, hcx.durability.verify, hcx.durability.idempotency]
    assert {Path(m.__file__ or "").suffix for m in loaded} == ({".so"} if compiled else {".py"})
