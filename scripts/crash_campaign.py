"""A long SIGKILL campaign against one journal: nothing acknowledged lost, nothing run twice.

    .venv/bin/python scripts/crash_campaign.py --cycles 100 --seed 7 --db /tmp/crash/j.db

Runs ``tests.harness.journal_driver`` on ``--db`` and SIGKILLs it ``--cycles`` times at seeded
random moments, judging the journal after every kill (see ``tests.harness.crash``), then
runs it once to completion and checks the whole stream ran exactly once. Prints one line:

    crash campaign: N kills, R replies checked, lost=0, duplicated=0, digest ok

and exits 1 (with the first problems on stderr) if any promise was broken.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.harness.crash import Campaign


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=100, help="kills to perform")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--db", help="journal path (must not exist); default: a temp dir")
    parser.add_argument("--count", type=int, default=6_000, help="initial stream length")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--snapshot-every", type=int, default=500)
    parser.add_argument("--verbose", action="store_true", help="one line per cycle on stderr")
    args = parser.parse_args(argv)

    db = Path(args.db) if args.db else Path(tempfile.mkdtemp(prefix="hcx-crash-")) / "journal.db"
    if db.exists():
        parser.error(f"{db} exists: a campaign starts from an empty journal")
    db.parent.mkdir(parents=True, exist_ok=True)
    workdir = db.parent / f"{db.name}.crash-outputs"
    workdir.mkdir(exist_ok=True)
    campaign = Campaign(
        db=str(db),
        seed=args.seed,
        count=args.count,
        workdir=workdir,
        concurrency=args.concurrency,
        snapshot_every=args.snapshot_every,
    )
    rng = random.Random(args.seed)
    started = time.monotonic()
    while campaign.kills < args.cycles and campaign.cycles < 3 * args.cycles:
        result = campaign.run_cycle(rng)
        if args.verbose:
            check = result.check
            print(
                f"cycle {result.cycle}: {'killed' if result.killed else 'exited'}, "
                f"{result.replies} replies ({result.new_replies} new), "
                f"last seq {check.last_seq if check else '?'}, "
                f"snapshot {check.snapshot_seq if check else '?'}, "
                f"{time.monotonic() - started:.1f}s",
                file=sys.stderr,
            )
        if campaign.problems:
            break
    if not campaign.problems:
        final = campaign.final_run()
        if args.verbose and final.check is not None:
            print(
                f"final: {final.replies} replies, {final.check.records} records",
                file=sys.stderr,
            )
    for problem in campaign.problems[:20]:
        print(problem, file=sys.stderr)
    print(campaign.summary())
    return 1 if campaign.problems else 0


if __name__ == "__main__":
    sys.exit(main())
