"""Protocol fuzzing against a live ``hcx serve``, for exactly as many frames as asked.

    .venv/bin/python scripts/fuzz.py --frames 50000 --seed 1

Starts ``hcx serve --auth none`` on a fresh journal (``--dir``, default a temp dir), lists
a market and funds two wallets, then, over two JSON and two CBOR connections:

1. **malformed** (``--malformed-share`` of the frames, default half): only frames that must
   be refused (see ``tests/fuzz/frames.py``), starting with the fixed catalog. Each is
   judged answer by answer. The server is stopped before and after: ``hcx replay`` must
   print the same digest and final seq and the journal keep the same row count.
2. **mixed**: valid-looking messages of every type with random field values, mixed with
   malformed ones; each must get exactly one documented answer. The journal left behind
   must replay with ``--verify``.

Every batch ends with a ``Ping`` on every connection; every stop must exit 0 with no
traceback in the server's stderr. Batches are drawn by hypothesis from ``--seed`` (one
seed per round of ``--examples`` batches); on a failure hypothesis shrinks the batch and
the script prints the first failing batch and the shrunk one, and exits 1. Otherwise it
prints a summary (frames by kind, answers by type and code, the digests) and exits 0.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from tests.fuzz.driver import (
    Fuzzer,
    FuzzFailure,
    LiveServer,
    Stats,
    journal_rows,
    replay_digest,
    setup_market,
)
from tests.fuzz.frames import Frame, any_frame, batches, catalog, malformed_frame


def _rounds(
    fuzzer: Fuzzer, family: Any, *, strict: bool, target: int, seed: int, examples: int
) -> None:
    """Hypothesis rounds of ``examples`` batches each until ``target`` frames were sent."""
    first: list[tuple[list[tuple[int, Frame]], BaseException]] = []
    round_number = 0
    while fuzzer.stats.frames < target:

        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            phases=(Phase.generate, Phase.shrink),
            suppress_health_check=list(HealthCheck),
        )
        @hypothesis_seed(seed * 1_000_003 + round_number)
        @given(batches(family))
        def fuzz(batch: list[tuple[int, Frame]]) -> None:
            if not first:
                # Cut to what is left, so --frames is the number sent (once a batch
                # failed, hypothesis's shrinking replays whole batches).
                batch = batch[: target - fuzzer.stats.frames]
                if not batch:
                    return
            try:
                fuzzer.run(batch, strict=strict)
            except BaseException as failure:
                if not first:
                    first.append((batch, failure))
                raise

        try:
            fuzz()
        except BaseException:
            if first:
                batch, exc = first[0]
                print("\nFIRST FAILURE:", exc, file=sys.stderr)
                for index, frame in batch:
                    print(
                        f"  conn {index}: {frame.label}: {frame.payload[:200]!r}", file=sys.stderr
                    )
            raise
        round_number += 1


def _print_stats(title: str, stats: Stats, seconds: float) -> None:
    print(
        f"\n== {title}: {stats.frames} frames ({stats.json_frames} JSON, {stats.cbor_frames} "
        f"CBOR, {stats.oversized} oversized) in {stats.batches} batches, {seconds:.0f} s "
        f"({stats.frames / max(seconds, 1e-9):.0f} frames/s)"
    )
    print("   frames by kind:")
    for label, count in sorted(stats.family_counts().items(), key=lambda kv: -kv[1]):
        print(f"     {count:7d}  {label}")
    print("   answers:")
    for label, count in sorted(stats.answers.items(), key=lambda kv: -kv[1]):
        print(f"     {count:7d}  {label}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=50_000, help="frames to send in all")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--malformed-share", type=float, default=0.5)
    parser.add_argument("--examples", type=int, default=25, help="batches per hypothesis round")
    parser.add_argument("--dir", help="working directory (journal, server logs); default: temp")
    args = parser.parse_args(argv)

    directory = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="hcx-fuzz-"))
    directory.mkdir(parents=True, exist_ok=True)
    if (directory / "hcx.db").exists():
        parser.error(f"{directory / 'hcx.db'} exists: a fuzz run starts from an empty journal")
    malformed_target = int(args.frames * args.malformed_share)
    mixed_target = args.frames - malformed_target
    live = LiveServer(directory)
    started = time.monotonic()
    try:
        setup_market(live.start())
        live.stop()
        digest, seq = replay_digest(live.db)
        rows = journal_rows(live.db)
        print(f"journal after setup: {rows} rows, final seq {seq}, digest {digest}")

        # Phase 1: malformed only.
        fuzzer = Fuzzer(live.start())
        phase = time.monotonic()
        try:
            fixed = catalog()[:malformed_target]
            if fixed:
                fuzzer.run(fixed, strict=True)
            _rounds(
                fuzzer,
                malformed_frame,
                strict=True,
                target=malformed_target,
                seed=args.seed,
                examples=args.examples,
            )
        finally:
            fuzzer.close()
        live.stop()
        _print_stats("malformed", fuzzer.stats, time.monotonic() - phase)
        digest_after, seq_after = replay_digest(live.db)
        rows_after = journal_rows(live.db)
        print(f"   journal after: {rows_after} rows, final seq {seq_after}, digest {digest_after}")
        if (digest_after, seq_after, rows_after) != (digest, seq, rows):
            raise FuzzFailure("malformed frames changed the journal or the engine's state")
        print("   unchanged: same digest, final seq and row count")
        malformed_stats = fuzzer.stats

        # Phase 2: mixed.
        fuzzer = Fuzzer(live.start())
        phase = time.monotonic()
        try:
            _rounds(
                fuzzer,
                any_frame,
                strict=False,
                target=mixed_target,
                seed=args.seed + 7,
                examples=args.examples,
            )
        finally:
            fuzzer.close()
        live.stop()
        _print_stats("mixed", fuzzer.stats, time.monotonic() - phase)
        digest_mixed, seq_mixed = replay_digest(live.db, verify=True)
        print(
            f"   journal after: {journal_rows(live.db)} rows, final seq {seq_mixed}, "
            f"digest {digest_mixed} (replay --verify ok)"
        )
    except (FuzzFailure, AssertionError) as exc:
        print(f"\nFUZZ FAILED: {exc}", file=sys.stderr)
        print(f"server logs in {directory}", file=sys.stderr)
        return 1
    finally:
        live.kill()
    total = malformed_stats.frames + fuzzer.stats.frames
    print(
        f"\nfuzz: {total} frames ({malformed_stats.frames} malformed, {fuzzer.stats.frames} "
        f"mixed), seed {args.seed}, {time.monotonic() - started:.0f} s, {live.starts} server "
        f"runs, every stop exit 0 with no traceback, no crash"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
