"""Rebuilding the engine from disk: the newest good snapshot, then the journal tail.

Every record on the way is checked by ``RecordVerifier``: its CRC, that seqs are
contiguous, that its chain value follows from the previous one, and that re-applying its
command through the engine reproduces its bytes exactly (result and events included).
With ``verify_from_start`` the whole journal is replayed from seq 1 and the state at each
snapshot's seq must match that snapshot's digest. The first failure raises
``JournalCorrupt`` naming its seq. Replayed outputs are only compared, never re-sent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import attrs
import cbor2

from hcx.durability.errors import JournalCorrupt
from hcx.durability.journal import Journal
from hcx.durability.records import GENESIS_CHAIN
from hcx.durability.snapshots import digests_by_seq, load_latest
from hcx.durability.verify import RecordVerifier
from hcx.engine import Engine, EngineConfig
from hcx.gc_policy import paused

CONFIG_KEY = "engine_config"
Progress = Callable[[int, int], None]


@attrs.frozen
class Recovered:
    engine: Engine
    last_seq: int
    chain: bytes
    snapshot_seq: int
    replayed: int
    seconds: float


def engine_config(journal: Journal, wanted: EngineConfig) -> EngineConfig:
    """The config the journal was written with; a new journal records ``wanted``."""
    stored = journal.get_meta(CONFIG_KEY)
    if stored is None:
        journal.set_meta(CONFIG_KEY, cbor2.dumps(attrs.asdict(wanted)))
        return wanted
    return EngineConfig(**cbor2.loads(stored))


def recover(
    journal: Journal,
    snapshots: Path | None,
    config: EngineConfig,
    *,
    verify_from_start: bool = False,
    progress: Progress | None = None,
    progress_every: int = 100_000,
) -> Recovered:
    started = time.perf_counter()
    config = engine_config(journal, config)
    last_seq, _ = journal.last()
    engine = Engine(config)
    chain = GENESIS_CHAIN
    snapshot_seq = 0
    expected_digests: dict[int, str] = {}
    if snapshots is not None:
        # A snapshot forked ahead of a commit that a crash then lost describes another
        # history: only one whose chain is the journal's at its seq counts.
        def chain_at(seq: int) -> bytes | None:
            row = journal.read(seq)
            return row.chain if row is not None else None

        if verify_from_start:
            expected_digests = digests_by_seq(snapshots, chain_at)
        else:
            loaded = load_latest(snapshots, last_seq, chain_at)
            if loaded is not None:
                engine, info = loaded
                chain, snapshot_seq = info.chain, info.seq
    with paused():
        engine, chain, replayed = _replay_tail(
            journal,
            engine,
            chain,
            snapshot_seq,
            last_seq,
            expected_digests,
            progress,
            progress_every,
        )
    return Recovered(engine, last_seq, chain, snapshot_seq, replayed, time.perf_counter() - started)


def _replay_tail(
    journal: Journal,
    engine: Engine,
    chain: bytes,
    snapshot_seq: int,
    last_seq: int,
    expected_digests: dict[int, str],
    progress: Progress | None,
    progress_every: int,
) -> tuple[Engine, bytes, int]:
    verifier = RecordVerifier(engine, chain, snapshot_seq, expected_digests)
    verify = verifier.verify
    replayed = 0
    for seq, ts, _key, blob, crc, stored_chain in journal.scan(snapshot_seq):
        verify(seq, ts, blob, crc, stored_chain)
        replayed += 1
        if progress is not None and replayed % progress_every == 0:
            progress(replayed, last_seq - snapshot_seq)
    if verifier.last_seq < last_seq:
        raise JournalCorrupt(verifier.last_seq + 1, "missing")
    return engine, verifier.chain, replayed
