"""The ``hcx`` command line: one sub-command per job of an operator or a newcomer."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from hcx import demo


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hcx", description="hcx: a durable options exchange")
    commands = parser.add_subparsers(dest="command", required=True)
    demo_cmd = commands.add_parser("demo", help="run a seeded market through the engine")
    demo_cmd.add_argument("--orders", type=int, default=20, help="orders to print")
    args = parser.parse_args(argv)
    if args.command == "demo":
        return demo.run(args.orders)
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
