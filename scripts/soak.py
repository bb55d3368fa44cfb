"""Load and soak against a real ``hcx serve``: is memory flat, are slow consumers cut,
is latency stable?

    .venv/bin/python scripts/soak.py --minutes 10 --connections 1000 --subscribers 100 \\
        --slow 10 --rate 50

Starts ``hcx serve`` (journal and logs in ``--dir``, default a temp dir) and holds
``--connections`` idle connections, ``--subscribers`` book subscribers and ``--slow``
consumers that subscribe and never read, while ``--traders`` wallets place orders at
``--rate`` orders/s in all for ``--minutes``. Samples the server's RSS every
``--sample`` seconds (one progress line each on stderr) and prints the report: RSS growth
after the warm-up, slow consumers cut (close 1008 and the reason), p50/p99/max command
latency per minute, errors. See ``tests/load/soak.py``.

Exit status 1 if a structural check fails: RSS growth after warm-up of 10% or more, a
slow consumer not cut with 1008 and the documented reason, a trader error or rejection,
a subscriber disconnected or a book gap, an idle connection lost, or the server not
exiting 0 on SIGTERM or logging a traceback. Latency is reported, never judged.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.load.soak import SLOW_CONSUMER_REASON, SoakConfig, main_progress, run_soak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=1000, help="idle connections")
    parser.add_argument("--subscribers", type=int, default=100, help="book subscribers")
    parser.add_argument("--slow", type=int, default=10, help="consumers that never read")
    parser.add_argument("--rate", type=float, default=50.0, help="orders per second, in all")
    parser.add_argument("--traders", type=int, default=4)
    parser.add_argument("--symbols", type=int, default=2)
    parser.add_argument("--sample", type=float, default=5.0, help="seconds between samples")
    parser.add_argument("--warmup", type=float, help="seconds (default: 1/4 of the run, <=120)")
    parser.add_argument("--outbound-messages", type=int, default=1000)
    parser.add_argument("--recent-orders-kept", type=int, default=1000)
    parser.add_argument("--dir", type=Path, help="working directory (journal, server log)")
    args = parser.parse_args(argv)
    config = SoakConfig(
        minutes=args.minutes,
        connections=args.connections,
        subscribers=args.subscribers,
        slow=args.slow,
        rate=args.rate,
        traders=args.traders,
        symbols=args.symbols,
        sample_s=args.sample,
        warmup_s=args.warmup,
        outbound_messages=args.outbound_messages,
        recent_orders_kept=args.recent_orders_kept,
        directory=args.dir,
    )
    report = run_soak(config, main_progress)
    print(report.summary())
    problems = []
    if not report.rss_growth_max < 0.10:
        problems.append(f"RSS grew {report.rss_growth_max:.1%} after warm-up")
    if report.slow_closes != [(1008, SLOW_CONSUMER_REASON)] * config.slow:
        problems.append(f"slow consumers: {report.slow_closes}")
    if report.trader_errors or report.rejections:
        problems.append(f"traders: {report.trader_errors[:5]} {dict(report.rejections)}")
    if report.subscriber_disconnects or report.subscriber_gaps:
        problems.append(
            f"subscribers: {report.subscriber_disconnects[:5]}, {report.subscriber_gaps} gaps"
        )
    if report.idle_alive_at_end != config.connections:
        problems.append(f"{report.idle_alive_at_end}/{config.connections} idle connections left")
    if report.exit_code != 0 or report.traceback_in_log:
        problems.append(f"server exit {report.exit_code}, traceback {report.traceback_in_log}")
    for problem in problems:
        print(f"SOAK FAILED: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
