"""The ``hcx`` command line: one sub-command per job of an operator or a newcomer.

Exit codes: 0 done, 2 usage or settings, 3 corrupt journal, 4 durability fault (the
journal could not be written: nothing after the fault was answered), 5 engine fault (a
bug; the request is remembered and refused after a restart).
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hcx.build import version_line

EXIT_USAGE = 2
EXIT_CORRUPT = 3
EXIT_DURABILITY = 4
EXIT_ENGINE = 5


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hcx", description="hcx: a durable options exchange")
    parser.add_argument(
        "--version", action="version", version=version_line(), help="version and engine build"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the exchange and its WebSocket gateway")
    serve.add_argument("--db", help="journal file (default ./hcx.db)")
    serve.add_argument("--host", help="listen address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default 8765; 0 picks one)")
    serve.add_argument("--config", help="TOML settings file")
    serve.add_argument("--durability", choices=("group", "sync", "memory"))
    serve.add_argument("--auth", choices=("keys", "none"))
    serve.add_argument("--metrics-port", type=int)
    serve.add_argument("--tls-cert")
    serve.add_argument("--tls-key")
    serve.add_argument("--log-json", action="store_true", help="log lines as JSON")

    keys = commands.add_parser("keys", help="manage API keys")
    keys.add_argument("action", choices=("create", "list", "revoke"))
    keys.add_argument("--db", default="hcx.db")
    keys.add_argument("--wallet")
    keys.add_argument("--role", choices=("trader", "quoter", "admin"), default="trader")
    keys.add_argument("--key-id", help="the key to revoke")

    replay = commands.add_parser(
        "replay", help="rebuild and verify a journal offline; non-zero exit on any mismatch"
    )
    replay.add_argument("--db", required=True, help="journal file")
    replay.add_argument(
        "--verify", action="store_true", help="replay from seq 1 and check every snapshot digest"
    )

    backup = commands.add_parser(
        "backup", help="copy a journal consistently, even while hcx serve is running"
    )
    backup.add_argument("--db", required=True, help="the live journal")
    backup.add_argument("--to", required=True, help="the copy to write (must not exist)")
    backup.add_argument("--verify", action="store_true", help="replay the copy afterwards")

    demo = commands.add_parser(
        "demo", help="hcx serve with a live options market: a chain, funded wallets, a maker"
    )
    demo.add_argument("--db", default="hcx.db", help="journal file (default ./hcx.db)")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8765)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return serve(args)
    if args.command == "keys":
        return keys(args)
    if args.command == "replay":
        return replay(args.db, verify=args.verify)
    if args.command == "backup":
        from hcx.durability.backup import backup

        try:
            pages = backup(args.db, args.to)
        except (OSError, ValueError) as exc:
            print(f"hcx backup: {exc}", file=sys.stderr)
            return EXIT_USAGE
        print(f"copied {pages} pages to {args.to}")
        return replay(args.to, verify=True) if args.verify else 0
    from hcx import demo

    return demo.run(args.db, args.host, args.port)


def serve(args: argparse.Namespace) -> int:
    # Until the service takes SIGTERM over (before it replays the journal), a SIGTERM is
    # noted rather than fatal: the service then stops gracefully as soon as it is up.
    early_signals: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, _frame: early_signals.append(signum))
    import trio

    from hcx.durability.errors import DurabilityError, JournalCorrupt
    from hcx.service.app import configure_logging
    from hcx.service.app import serve as run
    from hcx.service.sequencer import EngineFault
    from hcx.settings import SettingsError, load

    overrides: dict[str, dict[str, Any]] = {"service": {}, "gateway": {}, "top": {}}
    for name, section in (
        ("db", "service"),
        ("durability", "service"),
        ("host", "gateway"),
        ("port", "gateway"),
        ("auth", "gateway"),
        ("tls_cert", "gateway"),
        ("tls_key", "gateway"),
        ("metrics_port", "top"),
    ):
        value = getattr(args, name)
        if value is not None:
            overrides[section][name] = value
    try:
        settings = load(args.config, overrides)
    except (SettingsError, OSError) as exc:
        print(f"hcx serve: {exc}", file=sys.stderr)
        return EXIT_USAGE
    configure_logging(args.log_json)
    try:
        trio.run(
            lambda: run(
                settings.service,
                settings.gateway,
                metrics_port=settings.metrics_port,
                early_signals=early_signals,
            )
        )
    except JournalCorrupt as exc:
        print(f"hcx serve: journal corrupt at seq {exc.seq}: {exc.why}", file=sys.stderr)
        return EXIT_CORRUPT
    except DurabilityError as exc:
        print(f"hcx serve: durability fault, stopped: {exc}", file=sys.stderr)
        return EXIT_DURABILITY
    except EngineFault as exc:
        print(f"hcx serve: engine fault, stopped: {exc}", file=sys.stderr)
        return EXIT_ENGINE
    except KeyboardInterrupt:
        return 0
    return 0


def keys(args: argparse.Namespace) -> int:
    from hcx.durability.journal import Journal
    from hcx.service.gateway.keys import KeyStore

    store = KeyStore(Journal(args.db))
    if args.action == "create":
        if not args.wallet:
            print("hcx keys create: --wallet is required", file=sys.stderr)
            return EXIT_USAGE
        key = store.create(args.wallet, args.role)
        print(f"wallet {args.wallet} role {args.role}")
        print(f"key {key}")
        print("(shown once: only a salted hash is stored)")
    elif args.action == "list":
        for info in store.list(args.wallet):
            state = "revoked" if info.revoked_ms else "active"
            print(f"{info.key_id}  {info.wallet}  {info.role}  {state}")
    else:
        if not args.key_id:
            print("hcx keys revoke: --key-id is required", file=sys.stderr)
            return EXIT_USAGE
        if not store.revoke(args.key_id):
            print(f"hcx keys revoke: no active key {args.key_id}", file=sys.stderr)
            return 1
        print(f"revoked {args.key_id}")
    return 0


def replay(db: str, *, verify: bool) -> int:
    from hcx.durability.errors import JournalCorrupt
    from hcx.durability.journal import Journal
    from hcx.durability.replay import recover
    from hcx.durability.snapshots import snapshot_dir
    from hcx.engine import EngineConfig

    if not Path(db).exists():
        print(f"hcx replay: no journal at {db}", file=sys.stderr)
        return EXIT_USAGE
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
