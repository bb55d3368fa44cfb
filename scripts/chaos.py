"""A long chaos campaign: SIGKILL a real ``hcx serve`` again and again under trading clients.

    .venv/bin/python scripts/chaos.py --cycles 100 --clients 4 --seed 1 --db /tmp/chaos/hcx.db

Starts ``hcx serve`` on ``--db`` (``--auth none`` on loopback, durability ``group``, a
small ``snapshot_every``), lists a chain and funds ``--clients`` wallets, which then trade
with ``hcx.client`` (orders that cross, cancels, replaces, bulk orders, cancel-alls,
withdrawals; an admin deposits and moves the index). The server is SIGKILLed ``--cycles``
times at seeded random moments (with its snapshot children, mostly) and restarted on the
same journal; the clients reconnect and re-send what was unanswered with the same
request_id and ts. After every kill the journal is judged (see ``tests.harness.chaos``);
at the end the server stops on SIGTERM, everything sent must have been answered and be in
the journal exactly once, and ``hcx replay --verify`` must reach the same digest. Prints:

    chaos: N kills, C commands answered, R resent, lost=0, duplicated=0, money ok, digest ok

and exits 1 (with the first problems on stderr) if any promise was broken. Every request
and answer is logged to ``<db>.chaos.jsonl``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import trio
from tests.harness.chaos import ChaosCampaign


def _report(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=100, help="kills to perform")
    parser.add_argument(
        "--seconds", type=float, default=None, help="stop killing after this long (default: none)"
    )
    parser.add_argument("--clients", type=int, default=4, help="trading wallets")
    parser.add_argument(
        "--connections-per-wallet", type=int, default=2, help="hcx.client connections per wallet"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--db", help="journal path (must not exist); default: a temp dir")
    parser.add_argument("--snapshot-every", type=int, default=200)
    parser.add_argument("--durability", choices=("group", "sync"), default="group")
    parser.add_argument(
        "--run-max-s", type=float, default=1.0, help="longest run after new work before a kill"
    )
    parser.add_argument("--keep-outputs", action="store_true", help="keep every server's logs")
    parser.add_argument("--verbose", action="store_true", help="one line per kill on stderr")
    args = parser.parse_args(argv)

    db = Path(args.db) if args.db else Path(tempfile.mkdtemp(prefix="hcx-chaos-")) / "hcx.db"
    if db.exists():
        parser.error(f"{db} exists: a campaign starts from an empty journal")
    db.parent.mkdir(parents=True, exist_ok=True)
    workdir = db.parent / f"{db.name}.chaos-outputs"
    workdir.mkdir(exist_ok=True)
    started = time.monotonic()
    with open(db.parent / f"{db.name}.chaos.jsonl", "w") as log:
        campaign = ChaosCampaign(
            db=str(db),
            seed=args.seed,
            workdir=workdir,
            clients=args.clients,
            connections_per_wallet=args.connections_per_wallet,
            snapshot_every=args.snapshot_every,
            durability=args.durability,
            run_max_s=args.run_max_s,
            keep_outputs=args.keep_outputs,
            log=log,
            report=(lambda line: print(line, file=sys.stderr, flush=True))
            if args.verbose
            else None,
        )
        trio.run(campaign.run, args.cycles, args.seconds)
    for problem in campaign.problems[:20]:
        print(problem, file=sys.stderr)
    print(f"{campaign.details()} in {time.monotonic() - started:.0f}s", file=sys.stderr)
    print(campaign.summary())
    return 1 if campaign.problems else 0


if __name__ == "__main__":
    sys.exit(main())
