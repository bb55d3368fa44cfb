"""The ``hcx`` command line: one sub-command per job of an operator or a newcomer."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from hcx import demo

EXIT_CORRUPT = 3


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hcx", description="hcx: a durable options exchange")
    commands = parser.add_subparsers(dest="command", required=True)

    demo_cmd = commands.add_parser("demo", help="run a seeded market through the engine")
    demo_cmd.add_argument("--orders", type=int, default=20, help="orders to print")

    replay_cmd = commands.add_parser(
        "replay", help="rebuild and verify a journal offline; non-zero exit on any mismatch"
    )
    replay_cmd.add_argument("--db", required=True, help="journal file")
    replay_cmd.add_argument(
        "--verify",
        action="store_true",
        help="replay from seq 1 and check every snapshot's digest on the way",
    )

    args = parser.parse_args(argv)
    if args.command == "demo":
        return demo.run(args.orders)
    if args.command == "replay":
        return replay(args.db, verify=args.verify)
    parser.error(f"unknown command {args.command}")
    return 2


def replay(db: str, *, verify: bool) -> int:
    from hcx.durability.errors import JournalCorrupt
    from hcx.durability.journal import Journal
    from hcx.durability.replay import recover
    from hcx.durability.snapshots import snapshot_dir
    from hcx.engine import EngineConfig

    if not Path(db).exists():
        print(f"hcx replay: no journal at {db}", file=sys.stderr)
        return 2
    journal = Journal(db)
    try:
        recovered = recover(
            journal,
            snapshot_dir(db),
            EngineConfig(),
            verify_from_start=verify,
            progress=lambda done, total: print(
                f"replayed {done}/{total}", file=sys.stderr, flush=True
            ),
        )
    except JournalCorrupt as exc:
        print(f"hcx replay: CORRUPT at seq {exc.seq}: {exc.why}", file=sys.stderr)
        return EXIT_CORRUPT
    finally:
        journal.close()
    rate = recovered.replayed / recovered.seconds if recovered.seconds else 0.0
    print(f"records replayed: {recovered.replayed} (from snapshot at seq {recovered.snapshot_seq})")
    print(f"final seq: {recovered.last_seq}")
    print(f"digest: {recovered.engine.digest()}")
    print(f"time: {recovered.seconds:.3f}s ({rate:,.0f} records/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
