"""The ``hcx`` command line: one sub-command per job of an operator or a newcomer.

Exit codes: 0 done, 2 usage or settings, 3 corrupt journal, 4 durability fault (the
journal could not be written: nothing after the fault was answered), 5 engine fault (a
bug; the request is remembered and refused after a restart), 6 the replication stream
disagrees with the journal (another primary's records), 7 deposed (another primary holds
the stream or the lease), 8 NATS unreachable at a start that needs it.
"""

from __future__ import annotations

import argparse
import datetime
import errno
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from hcx.build import version_line

EXIT_USAGE = 2
EXIT_CORRUPT = 3
EXIT_DURABILITY = 4
EXIT_ENGINE = 5
EXIT_STREAM = 6
EXIT_DEPOSED = 7
EXIT_UNREACHABLE = 8


def _replication_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--nats", help="NATS server URL(s), comma-separated (replication)")
    parser.add_argument("--venue", help="venue name: the stream's and the lease's (default hcx)")


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
    serve.add_argument(
        "--http-port", type=int, help="serve the web page on this port (0 picks one; default none)"
    )
    serve.add_argument("--tls-cert")
    serve.add_argument("--tls-key")
    serve.add_argument("--log-json", action="store_true", help="log lines as JSON")
    _replication_options(serve)
    serve.add_argument(
        "--replication",
        choices=("async", "sync"),
        help="release before (async) or after (sync) the stream's acknowledgement",
    )

    standby = commands.add_parser(
        "standby", help="follow a primary's stream, verified, into this journal; take over"
    )
    promote = commands.add_parser(
        "promote", help="take the lease now, apply the rest of the stream, serve as primary"
    )
    for sub in (standby, promote):
        sub.add_argument("--db", required=True, help="the standby's own journal")
        sub.add_argument("--host", help="listen address once primary (default 127.0.0.1)")
        sub.add_argument("--port", type=int, help="listen port once primary")
        sub.add_argument("--config", help="TOML settings file (as hcx serve)")
        sub.add_argument("--auth", choices=("keys", "none"))
        sub.add_argument("--metrics-port", type=int)
        sub.add_argument("--tls-cert")
        sub.add_argument("--tls-key")
        sub.add_argument("--log-json", action="store_true")
        sub.add_argument("--replication", choices=("async", "sync"), help="once primary")
        _replication_options(sub)
    standby.add_argument(
        "--promote-after-ms",
        type=int,
        help="take over once the primary's lease has not been renewed for this long",
    )

    keys = commands.add_parser("keys", help="manage API keys")
    actions = keys.add_subparsers(dest="action", required=True, metavar="{create,list,revoke}")
    create = actions.add_parser("create", help="create a key and print it (once)")
    create.add_argument("--db", default="hcx.db", help="journal file (default ./hcx.db)")
    create.add_argument("--wallet", required=True, help="the wallet the key acts for")
    create.add_argument("--role", choices=("trader", "quoter", "admin"), default="trader")
    listing = actions.add_parser("list", help="list keys (never the keys themselves)")
    listing.add_argument("--db", default="hcx.db", help="journal file (default ./hcx.db)")
    listing.add_argument("--wallet", help="only this wallet's keys")
    revoke = actions.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("--db", default="hcx.db", help="journal file (default ./hcx.db)")
    revoke.add_argument("--key-id", required=True, help="the key to revoke (from keys list)")

    replay = commands.add_parser(
        "replay", help="rebuild and verify a journal offline; non-zero exit on any mismatch"
    )
    replay.add_argument("--db", default="hcx.db", help="journal file (default ./hcx.db)")
    replay.add_argument(
        "--verify",
        action="store_true",
        help="replay from seq 1, check every snapshot digest and the engine's invariants",
    )

    backup = commands.add_parser(
        "backup", help="copy a journal consistently, even while hcx serve is running"
    )
    backup.add_argument("--db", default="hcx.db", help="the live journal (default ./hcx.db)")
    backup.add_argument(
        "--to",
        help="the copy to write (must not exist; default: beside the journal, "
        "hcx-backup-<UTC time>.db for hcx.db)",
    )
    backup.add_argument("--verify", action="store_true", help="replay the copy afterwards")

    export = commands.add_parser(
        "export", help="trades, fills or order updates of a journal as CSV or JSON lines"
    )
    export.add_argument("kind", choices=("trades", "fills", "orders"))
    export.add_argument("--db", required=True, help="journal file (server or simulator)")
    export.add_argument("--format", choices=("csv", "jsonl"), default="csv")
    export.add_argument("--out", help="file to write (default: standard output)")

    demo = commands.add_parser(
        "demo", help="hcx serve with a live options market: a chain, funded wallets, a maker"
    )
    demo.add_argument("--db", default="hcx.db", help="journal file (default ./hcx.db)")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8765)
    demo.add_argument(
        "--http-port",
        type=int,
        default=8080,
        help="the web page's port (default 8080; 0 picks one)",
    )
    from hcx.admin_cli import add_parser as add_admin

    add_admin(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command in ("serve", "standby", "promote"):
        return serve(args)
    if args.command == "keys":
        return keys(args)
    if args.command == "admin":
        from hcx.admin_cli import run as admin

        return admin(args)
    if args.command == "replay":
        return replay(args.db, verify=args.verify)
    if args.command == "backup":
        from hcx.durability.backup import backup

        target = args.to or default_backup_path(args.db)
        try:
            pages = backup(args.db, target)
        except (OSError, ValueError) as exc:
            print(f"hcx backup: {exc}", file=sys.stderr)
            return EXIT_USAGE
        print(f"copied {pages} pages to {target}")
        return replay(target, verify=True) if args.verify else 0
    if args.command == "export":
        return export(args.db, args.kind, args.format, args.out)
    from hcx import demo

    ran = _listened("demo", lambda: demo.run(args.db, args.host, args.port, args.http_port))
    return 0 if ran else EXIT_USAGE


def _listened(command: str, run: Callable[[], object]) -> bool:
    """Run; False if a port could not be listened on (its reason printed, no traceback)."""
    try:
        run()
        return True
    except BaseExceptionGroup as group:
        leaves = list(_leaves(group))
        if not leaves or not all(isinstance(e, OSError) and e.errno in _LISTEN for e in leaves):
            raise
        for leaf in leaves:
            print(f"hcx {command}: cannot listen: {leaf}", file=sys.stderr)
        return False


_LISTEN = (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES)


def _leaves(group: BaseExceptionGroup[BaseException]) -> Iterator[BaseException]:
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            yield from _leaves(exc)
        else:
            yield exc


def default_backup_path(db: str) -> str:
    """``hcx.db`` -> ``hcx-backup-20261204T192057Z.db`` beside it (UTC, to the second)."""
    path = Path(db)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    return str(path.with_name(f"{path.stem}-backup-{stamp}{path.suffix or '.db'}"))


def serve(args: argparse.Namespace) -> int:
    # Until the service takes SIGTERM over (before it replays the journal), a SIGTERM is
    # noted rather than fatal: the service then stops gracefully as soon as it is up.
    early_signals: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, _frame: early_signals.append(signum))
    import trio

    from hcx.durability.errors import DurabilityError, JournalCorrupt
    from hcx.replication.errors import ReplicationFault
    from hcx.replication.run import run_standby
    from hcx.sequencing import EngineFault
    from hcx.service.app import configure_logging
    from hcx.service.app import serve as run
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
        ("http_port", "top"),
        ("nats", "service"),
        ("replication", "service"),
        ("venue", "service"),
    ):
        value = getattr(args, name, None)
        if value is not None:
            overrides[section]["nats_urls" if name == "nats" else name] = value
    try:
        settings = load(args.config, overrides)
    except (SettingsError, OSError) as exc:
        print(f"hcx {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.command != "serve" and not settings.service.nats_urls:
        print(f"hcx {args.command}: --nats is required", file=sys.stderr)
        return EXIT_USAGE
    configure_logging(args.log_json)
    try:
        if args.command == "serve":
            listened = _listened(
                "serve",
                lambda: trio.run(
                    lambda: run(
                        settings.service,
                        settings.gateway,
                        metrics_port=settings.metrics_port,
                        http_port=settings.http_port,
                        early_signals=early_signals,
                    )
                ),
            )
        else:
            listened = _listened(
                args.command,
                lambda: trio.run(
                    lambda: run_standby(
                        settings,
                        promote_after_ms=getattr(args, "promote_after_ms", None),
                        promote_now=args.command == "promote",
                        early_signals=early_signals,
                    )
                ),
            )
    except JournalCorrupt as exc:
        print(f"hcx {args.command}: journal corrupt at seq {exc.seq}: {exc.why}", file=sys.stderr)
        return EXIT_CORRUPT
    except ReplicationFault as exc:
        return replication_exit(f"hcx {args.command}", exc)
    except DurabilityError as exc:
        print(f"hcx {args.command}: durability fault, stopped: {exc}", file=sys.stderr)
        return EXIT_DURABILITY
    except EngineFault as exc:
        print(f"hcx serve: engine fault, stopped: {exc}", file=sys.stderr)
        return EXIT_ENGINE
    except KeyboardInterrupt:
        return 0
    return 0 if listened else EXIT_USAGE


def replication_exit(who: str, exc: Exception) -> int:
    from hcx.replication.errors import Deposed, Rejected, StreamDisagrees, Unreachable

    print(f"{who}: {exc}", file=sys.stderr)
    if isinstance(exc, Rejected):
        return EXIT_CORRUPT
    if isinstance(exc, StreamDisagrees):
        return EXIT_STREAM
    if isinstance(exc, Deposed):
        return EXIT_DEPOSED
    if isinstance(exc, Unreachable):
        return EXIT_UNREACHABLE
    return EXIT_DURABILITY


def keys(args: argparse.Namespace) -> int:
    from hcx.durability.journal import Journal
    from hcx.service.gateway.keys import KeyStore

    store = KeyStore(Journal(args.db))
    if args.action == "create":
        key = store.create(args.wallet, args.role)
        print(f"wallet {args.wallet} role {args.role}")
        print(f"key {key}")
        print("(shown once: only a salted hash is stored)")
    elif args.action == "list":
        for info in store.list(args.wallet):
            state = "revoked" if info.revoked_ms else "active"
            print(f"{info.key_id}  {info.wallet}  {info.role}  {state}")
    else:
        if not store.revoke(args.key_id):
            print(f"hcx keys revoke: no active key {args.key_id}", file=sys.stderr)
            return 1
        print(f"revoked {args.key_id}")
    return 0


def export(db: str, kind: str, fmt: str, out: str | None) -> int:
    import apsw

    from hcx.durability.exports import journal_rows, write_rows

    if not Path(db).exists():
        print(f"hcx export: no journal at {db}", file=sys.stderr)
        return EXIT_USAGE
    try:
        if out is None:
            count = write_rows(journal_rows(db, kind), kind, fmt, sys.stdout)
            sys.stdout.flush()
        else:
            with open(out, "w", encoding="utf-8", newline="") as handle:
                count = write_rows(journal_rows(db, kind), kind, fmt, handle)
    except BrokenPipeError:
        # The reader stopped reading (``| head``): that is its choice, not an error. Point
        # stdout at /dev/null so the interpreter's own flush at exit stays quiet too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (apsw.Error, ValueError, OSError) as exc:
        print(f"hcx export: {exc}", file=sys.stderr)
        return EXIT_CORRUPT if isinstance(exc, ValueError) else EXIT_USAGE
    print(f"{count} {kind} rows", file=sys.stderr)
    return 0


def replay(db: str, *, verify: bool) -> int:
    from hcx.durability.errors import JournalCorrupt
    from hcx.durability.journal import Journal
    from hcx.durability.replay import recover
    from hcx.durability.snapshots import snapshot_dir
    from hcx.engine import EngineConfig
    from hcx.engine.invariants import violations

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
    if verify:
        broken = violations(recovered.engine.state)
        for problem in broken:
            print(
                f"hcx replay: INVARIANT broken at seq {recovered.last_seq}: {problem}",
                file=sys.stderr,
            )
        if broken:
            return EXIT_ENGINE
    rate = recovered.replayed / recovered.seconds if recovered.seconds else 0.0
    print(f"records replayed: {recovered.replayed} (from snapshot at seq {recovered.snapshot_seq})")
    print(f"final seq: {recovered.last_seq}")
    print(f"digest: {recovered.engine.digest()}")
    print(f"time: {recovered.seconds:.3f}s ({rate:,.0f} records/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
