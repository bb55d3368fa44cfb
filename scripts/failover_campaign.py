"""A long failover campaign: a replicated primary SIGKILLed again and again under load.

    .venv/bin/python scripts/failover_campaign.py --cycles 200 --seed 7 --verbose

Each cycle's primary re-sends only the last ``--resend-last`` requests (default 20,000;
0 for the whole stream, as the first campaigns did), so a cycle costs about the same at
cycle 200 as at cycle 1; the final run re-sends the whole stream once. The work
directory (journals, the NATS store) is removed at the end unless ``--keep-workdir``
or a promise was broken.

Starts a nats-server (JetStream, ``sync_interval: always``) on 127.0.0.1 in a temporary
directory and runs ``tests/replication/failover.py``'s campaign: each cycle SIGKILLs the
``sync``-mode primary at a random moment, the standby promotes itself
(``--promote-after-ms``), and the promoted journal is judged against every answer given
so far; then the roles swap. A last run answers the whole stream once. Prints:

    failover campaign: N failovers, R replies checked, lost=0, duplicated=0, digest ok
    takeover (SIGKILL -> promoted standby listening): p50 X s, max Y s
    promotion (standby's log: lease taken -> listening): p50 X s, max Y s
    first command accepted (SIGKILL -> promoted standby's answer): p50 X s, p99 Y s, max Z s

and exits 1 (with the first problems on stderr) if any promise was broken.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.harness.crash import ProblemCounts
from tests.replication.failover import FailoverCampaign
from tests.replication.natsd import NatsServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--promote-after-ms", type=int, default=1_000)
    parser.add_argument("--resend-last", type=int, default=20_000)
    parser.add_argument("--keep-workdir", action="store_true")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="hcx-failover-"))
    code = 1
    try:
        code = _run(args, workdir)
        return code
    finally:
        if args.keep_workdir or code != 0:
            print(f"workdir: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def _run(args: argparse.Namespace, workdir: Path) -> int:
    server = NatsServer(workdir / "nats")
    server.start()
    try:
        campaign = FailoverCampaign(
            server.url,
            workdir,
            seed=args.seed,
            promote_after_ms=args.promote_after_ms,
            resend_last=args.resend_last or None,
        )
        rng = random.Random(args.seed)
        for cycle in range(args.cycles):
            campaign.cycle(rng)
            if args.verbose:
                checked = campaign.campaign.replies_checked if campaign.campaign else 0
                print(
                    f"cycle {cycle}: takeover {campaign.takeover_s[-1]:.2f}s, first command "
                    f"{campaign.accepted_s[-1]:.2f}s, {len(campaign.problems)} problems, "
                    f"{checked} replies checked",
                    file=sys.stderr,
                    flush=True,
                )
        campaign.final()
        if campaign.replay_verify(campaign.primary) != 0:
            campaign.problems.append("hcx replay --verify failed on the last primary's journal")
    finally:
        server.stop()
    assert campaign.campaign is not None
    counts = ProblemCounts.of(campaign.problems)
    print(
        f"failover campaign: {campaign.failovers} failovers, "
        f"{campaign.campaign.replies_checked} replies checked, {counts.tail(money=True)}"
    )
    times = sorted(campaign.takeover_s)
    if times:
        print(
            f"takeover (SIGKILL -> promoted standby listening): "
            f"p50 {statistics.median(times):.2f} s, max {times[-1]:.2f} s"
        )
    promotions = sorted(campaign.promotion_s)
    if promotions:
        print(
            f"promotion (standby's log: lease taken -> listening): "
            f"p50 {statistics.median(promotions):.3f} s, max {promotions[-1]:.3f} s"
        )
    accepted = sorted(campaign.accepted_s)
    if accepted:
        p99 = accepted[min(len(accepted) - 1, int(0.99 * len(accepted)))]
        verdict = "PASS" if accepted[-1] <= 3.0 else "MISS"
        print(
            f"first command accepted (SIGKILL -> promoted standby's answer): "
            f"p50 {statistics.median(accepted):.2f} s, p99 {p99:.2f} s, "
            f"max {accepted[-1]:.2f} s (goal <= 3 s) {verdict}"
        )
    if campaign.problems:
        print("\n".join(campaign.problems[:20]), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
