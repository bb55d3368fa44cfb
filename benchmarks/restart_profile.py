"""Where a restart's time goes: the durability bench's worst case, piece by piece.

On the restart journal of ``durability_bench.py`` (``--restart-records`` records written
through group mode, a snapshot every ``--snapshot-every``; built once and reused), this
times each step of a restart from the older of its two newest snapshots, in this process
and in order: the window file read back, the snapshot read (file and CBOR), the engine
restored from it, its digest recomputed (the proof that the restore is faithful), the
journal tail read, each record of the tail through every check replay makes (CRC, hash
chain, CBOR decoding, ``apply``, the comparison of outputs: each step over the whole tail
before the next, so a step's figure is its own), and the window brought up to the
journal's end. The collector is off throughout (replay runs with it paused). Then the
tail once more through ``RecordVerifier`` as replay runs it, record by record; and what
other ways of checking it would cost: decoding only each record's command (item by item,
as a check of re-encoded output bytes would need), encoding a whole record, and the
checks without the comparison of outputs.

    .venv/bin/python benchmarks/restart_profile.py --restart-records 1000000
"""

from __future__ import annotations

import argparse
import gc
import io
import sys
import tempfile
import time
from pathlib import Path

import cbor2
import durability_bench  # type: ignore[import-not-found]  # the sibling script
import trio

from hcx.durability.journal import Journal, RawRow
from hcx.durability.records import _ARITY, chain_next, crc_of, decode_for_replay, reproduces
from hcx.durability.snapshots import list_snapshots, read_snapshot, snapshot_dir
from hcx.durability.verify import RecordVerifier
from hcx.durability.window_build import WindowPlan, extend_stored
from hcx.durability.window_files import load_window
from hcx.engine import Engine
from hcx.service.config import ServiceConfig


def _timed(label: str, count: int, started: float) -> float:
    seconds = time.perf_counter() - started
    per = f", {seconds / count * 1e6:5.2f} us a record" if count > 1 else ""
    print(f"  {label:<34} {seconds:6.3f} s{per}", flush=True)
    return seconds


def profile(db: str) -> None:
    journal = Journal(db, readonly=True)
    last_seq, _ = journal.last()
    last_row = journal.read(last_seq)
    assert last_row is not None
    directory = snapshot_dir(db)
    snapshots = [p for p in list_snapshots(directory) if int(p.stem) <= last_seq]
    if len(snapshots) < 2:
        raise SystemExit(f"{db}: needs two snapshots, has {snapshots}")
    older = snapshots[1]
    config = ServiceConfig(db=db)
    window_ms, future_ms = config.recv_window_ms, config.future_ms

    def chain_at(seq: int) -> bytes | None:
        row = journal.read(seq)
        return row.chain if row is not None else None

    print(f"worst case by piece: snapshot {older.stem.lstrip('0')}, last seq {last_seq}")
    total = 0.0
    started = time.perf_counter()
    stored = load_window(directory, int(older.stem), chain_at, window_ms, future_ms)
    total += _timed("window file read and checked", 1, started)
    if stored is None or stored.seq != int(older.stem):
        raise SystemExit(f"no window file beside {older.name}")
    started = time.perf_counter()
    info, state = read_snapshot(older)
    total += _timed("snapshot read and decoded", 1, started)
    started = time.perf_counter()
    engine = Engine.restore(state)
    total += _timed("engine restored", 1, started)
    started = time.perf_counter()
    if engine.digest() != info.digest:
        raise SystemExit("the snapshot does not prove itself")
    total += _timed("digest recomputed", 1, started)

    started = time.perf_counter()
    rows = list(journal.scan(info.seq))
    count = len(rows)
    total += _timed(f"tail read ({count} records)", count, started)
    blobs = [row[3] for row in rows]
    started = time.perf_counter()
    for blob in blobs:
        crc_of(blob)
    total += _timed("CRC", count, started)
    started = time.perf_counter()
    chain = info.chain
    for blob in blobs:
        chain = chain_next(chain, blob)
    total += _timed("hash chain", count, started)
    started = time.perf_counter()
    for blob in blobs:
        decode_for_replay(blob)  # each dropped at once, as replay drops it
    total += _timed("CBOR decoding", count, started)
    stored_records = [decode_for_replay(blob) for blob in blobs]
    started = time.perf_counter()
    outputs = [engine.apply(record.envelope) for record in stored_records]
    total += _timed("apply", count, started)
    started = time.perf_counter()
    same = all(map(reproduces, blobs, stored_records, outputs))
    total += _timed("comparison of outputs", count, started)
    assert same, "replay diverged"
    started = time.perf_counter()
    plan = WindowPlan(last_row.ts - window_ms - future_ms, window_ms, future_ms)
    window = extend_stored(journal, plan, stored)
    total += _timed("window brought to the end", 1, started)
    assert window is not None
    print(f"  {'sum':<34} {total:6.3f} s ({len(window)} keys in the window)", flush=True)
    del stored_records, outputs
    started = time.perf_counter()
    verifier = RecordVerifier(Engine.restore(state), info.chain, info.seq)
    restored = time.perf_counter() - started
    started = time.perf_counter()
    for seq, ts, _key, blob, crc, row_chain in rows:
        verifier.verify(seq, ts, blob, crc, row_chain)
    seconds = time.perf_counter() - started
    print(
        f"  (the same checks as replay runs them, record by record: {seconds:.3f} s,"
        f" {seconds / count * 1e6:.2f} us a record; engine restored again in {restored:.3f} s)"
    )
    alternatives(state, info.chain, rows)
    journal.close()


def alternatives(state: dict[str, object], chain: bytes, rows: list[RawRow]) -> None:
    """What other ways of checking the tail would cost, record by record."""
    blobs = [row[3] for row in rows]
    count = len(rows)
    print("alternatives, record by record:")
    started = time.perf_counter()
    for blob in blobs:
        decoder = cbor2.CBORDecoder(io.BytesIO(blob))
        decoder.fp.seek(_items_start(blob))
        head = [decoder.decode() for _ in range(6)]
        for _ in range(_ARITY[head[5]]):
            decoder.decode()
    _timed("command only, item by item", count, started)
    bodies = [cbor2.loads(blob[1:]) for blob in blobs]
    started = time.perf_counter()
    for body in bodies:
        cbor2.dumps(body)
    _timed("CBOR encoding of the whole record", count, started)
    del bodies
    engine = Engine.restore(state)
    started = time.perf_counter()
    for blob in blobs:
        crc_of(blob)
        chain = chain_next(chain, blob)
        engine.apply(decode_for_replay(blob).envelope)
    _timed("the checks without the comparison", count, started)


def _items_start(blob: bytes) -> int:
    """Where a record's first item starts: after its format byte and array header."""
    extra = blob[1] & 31
    return 2 if extra < 24 else 2 + (1 << (extra - 24))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--restart-records", type=int, default=1_000_000)
    parser.add_argument(
        "--restart-journal",
        default=str(Path(tempfile.gettempdir()) / "hcx-bench-restart.db"),
        help="durability_bench's: built once; reused while the seed, sizes and engine match",
    )
    parser.add_argument("--snapshot-every", type=int, default=100_000)
    parser.add_argument("--wallets", type=int, default=1_000)
    parser.add_argument("--instruments", type=int, default=20)
    args = parser.parse_args(argv)
    # What the bench's journal builder reads of its own arguments.
    args.max_batch, args.chunk, args.window = 512, 256, 16_384
    figures = durability_bench.Figures(machine=durability_bench.machine())
    path = Path(args.restart_journal)
    trio.run(durability_bench.build_restart_journal, path, args.restart_records, args, figures)
    gc.collect()
    gc.disable()
    profile(str(path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
