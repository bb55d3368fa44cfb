"""The rule for each documented command: run it (how), or why not; never runs anything.

``test_documented_commands.py`` holds every command that ``documented.py`` finds to
exactly one rule of ``RULES`` (the first whose pattern matches the whole command) and
runs the commands as their rules say. ``NOT_OUTPUT`` names the shown blocks that are not
a program's output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tests.docs import outputs
from tests.docs.documented import Command


@dataclass(frozen=True)
class Skip:
    reason: str


@dataclass(frozen=True)
class Abbreviates:
    """Inline shorthand of a command given in full in a block of the same document."""

    reason: str


@dataclass(frozen=True)
class Run:
    smallest: dict[str, int | float | str] = field(default_factory=dict)
    replace: tuple[tuple[str, str], ...] = ()
    shows: str | None = None  # the first words of the output block the document shows
    check: outputs.Check | None = None
    journal: bool = False  # needs ./hcx.db with history and a key (``journal`` fixture)
    setup: str = ""  # what the document has the reader run first, run before it
    timeout: float = 120


@dataclass(frozen=True)
class Serve:
    """``hcx serve`` with everything: started, checked, stopped with SIGTERM."""

    replace: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class AdminBlock:
    """A line of operations.md's ``hcx admin`` block: the block is run in order against a
    real ``hcx serve`` by ``test_documented_admin_block_against_a_server``."""


# --- the rules ---------------------------------------------------------------------------

SANDBOX_PATHS = (("/tmp/", "{sandbox}/tmp/"),)
ENGINE_SMALL: dict[str, int | float | str] = {
    "--commands": 2000,
    "--wallets": 50,
    "--instruments": 4,
    "--resting": 1000,
}

BACKTEST_CSV = ".venv/bin/python examples/backtest.py --make-csv orders.csv --rows 200"
Action = Skip | Abbreviates | Run | Serve | AdminBlock

RULES: list[tuple[str, Action]] = [
    (
        r"make run",
        Skip(
            "serves the demo until Ctrl-C; the `hcx demo` it starts is started here for "
            "README's client snippet, and what it writes is held to .gitignore"
        ),
    ),
    (r"make test", Skip("this test suite itself")),
    (r"make unit-pure", Skip("part of `make test`: the engine's suites on the pure build")),
    (
        r"\.venv-pure/bin/python benchmarks/engine_bench\.py.*",
        Skip(
            "the engine bench on the pure build (.venv-pure, which `make unit-pure` makes "
            "after these tests); the same lines on .venv run here"
        ),
    ),
    (r"hcx build: pure Python build \(HCX_PURE is set\)", Skip("a line the build prints")),
    (
        r"(\.venv/bin/)?pytest .*",
        Skip("runs tests of this suite a second time (`make test` runs them)"),
    ),
    (
        r"hcx (serve|demo|keys|keys create|serve --auth none|serve --db( path)?|export|admin"
        r"|admin resume SYMBOL|standby|promote|standby --port|replay +--verify)",
        Skip(
            "names a command in the prose (what a program or the reader runs), not a line to copy"
        ),
    ),
    (r"\.venv/bin/hcx", Skip("says where the `hcx` command is in a checkout")),
    (
        r"hcx serve --db hcx\.db --port 8765( .*)?",
        Skip(
            "README's synopsis of `hcx serve` (alternatives a|b, placeholder F): every option "
            "is run by the docs/operations.md command and tests/e2e"
        ),
    ),
    (
        r"hcx serve --db /var/lib/hcx/hcx\.db .*",
        Serve(
            replace=(
                ("/var/lib/hcx/", "{sandbox}/"),
                ("/etc/hcx.toml", "{sandbox}/hcx.toml"),
                ("0.0.0.0", "127.0.0.1"),  # tests listen on loopback only
                ("--port 8765", "--port {port}"),
                ("--metrics-port 9100", "--metrics-port {metrics_port}"),
            )
        ),
    ),
    (
        r"hcx keys create --db hcx\.db --wallet alice --role trader",
        Run(journal=True, check=outputs.lines(r"^wallet alice role trader$", r"^key hcx_\S+$")),
    ),
    (
        r"hcx keys list +--db hcx\.db( --wallet alice)?",
        Run(journal=True, check=outputs.lines(r"^[0-9a-f]+  alice  trader  active$")),
    ),
    (
        r"hcx keys revoke --db hcx\.db --key-id 3f9c0a…",
        Run(
            replace=(("3f9c0a…", "{key_id}"),), journal=True, check=outputs.lines(r"^revoked \w+$")
        ),
    ),
    (r"hcx backup( --verify)?", Run(journal=True, check=outputs.backup)),
    (
        r"hcx backup --db hcx\.db --to /backups/.+ --verify",
        Run(replace=(("/backups/", "{sandbox}/backups/"),), journal=True, check=outputs.backup),
    ),
    (
        r"hcx replay( --db (hcx\.db|PATH))?( --verify)?",
        Run(replace=((" PATH", " hcx.db"),), journal=True, check=outputs.replay),
    ),
    (
        r"\.venv/bin/python benchmarks/engine_bench\.py.*",
        Run(smallest=ENGINE_SMALL, check=outputs.engine),
    ),
    (
        r"\.venv/bin/python benchmarks/durability_bench\.py.*",
        Run(
            smallest={
                "--commands": 2000,
                "--wallets": 50,
                "--instruments": 4,
                "--sync-commands": 200,
                "--latency-seconds": 0.5,
                "--restart-records": 2000,
                "--snapshot-every": 500,
                "--window-rate": 1000,
                "--window-seconds": 1,
                "--restart-journal": "{sandbox}/tmp/restart.db",
            },
            check=outputs.durability,
        ),
    ),
    (
        r"\.venv/bin/python benchmarks/restart_profile\.py.*",
        Run(
            smallest={
                "--restart-records": 2000,
                "--snapshot-every": 500,
                "--wallets": 50,
                "--instruments": 4,
                "--restart-journal": "{sandbox}/tmp/restart-profile.db",
            },
            check=outputs.lines(
                r"^worst case by piece: snapshot \d+",
                r"^  window file read and checked +[\d.]+ s",
                r"^  comparison of outputs +[\d.]+ s, +[\d.]+ us a record",
                r"^  sum +[\d.]+ s",
            ),
        ),
    ),
    (
        r"\.venv/bin/python benchmarks/ws_bench\.py.*",
        Run(
            smallest={"--seconds": 1, "--connections": 2, "--idle": 20, "--subscribers": 4},
            check=outputs.ws,
        ),
    ),
    (
        r"\.venv/bin/python scripts/crash_campaign\.py.*",
        Run(smallest={"--cycles": 2, "--count": 200}, shows="crash campaign:"),
    ),
    (
        r"\.venv/bin/python scripts/chaos\.py.*",
        Run(smallest={"--cycles": 2, "--clients": 1}, shows="chaos:"),
    ),
    (
        r"\.venv/bin/python scripts/fault_campaign\.py.*",
        Run(smallest={"--cycles": 2}, shows="fault campaign:"),
    ),
    (
        r"\.venv/bin/python scripts/fuzz\.py.*",
        Run(
            smallest={"--frames": 200},
            shows="fuzz:",
            check=outputs.lines(r"^fuzz: 200 frames \(100 malformed, 100 mixed\), "),
        ),
    ),
    (
        r"\.venv/bin/python scripts/soak\.py.*",
        Run(
            smallest={
                "--minutes": 0.15,
                "--connections": 10,
                "--subscribers": 4,
                "--slow": 1,
                "--sample": 1,
                "--outbound-messages": 100,
            },
            shows="soak:",
        ),
    ),
    (
        r"\.venv/bin/python examples/simulator\.py.*",
        Run(smallest={"--steps": 10}, check=outputs.simulator),
    ),
    (
        r"\.venv/bin/python benchmarks/web_bench\.py.*",
        Run(
            smallest={"--updates": 20, "--loads": 2},
            replace=(("docs/img/web-view.png", "{sandbox}/web-view.png"),),
        ),
    ),
    (
        r"hcx (serve --db primary|standby --db standby|promote --db standby)\.db --nats "
        r"nats://127\.0\.0\.1:4222 .*",
        Skip(
            "the runbook's three servers on a fixed NATS address: tests/replication runs the "
            "same commands against a real nats-server on a free port"
        ),
    ),
    (
        r"hcx (promote --db standby\.db +--nats URL --port P|standby --db old\.db --nats URL)",
        Skip("a synopsis with placeholders (URL, P); the runbook's block above gives it whole"),
    ),
    (
        r"\.venv/bin/python benchmarks/replication_bench\.py.*",
        Run(
            smallest={
                "--commands": 600,
                "--rounds": 1,
                "--lag-seconds": 1,
                "--lag-rate": 200,
                "--subscribers": 2,
            },
            replace=((" …", ""),),
            timeout=240,
        ),
    ),
    (
        r"\.venv/bin/python scripts/failover_campaign\.py.*",
        Run(smallest={"--cycles": 1}, timeout=240),
    ),
    (
        r"hcx serve --http-port 8080",
        Skip("serves until stopped; tests/web starts it with --http-port and drives the page"),
    ),
    (r"hcx web page at http://HOST:PORT/", Skip("a line hcx prints, quoted in the prose")),
    (
        r"\.venv/bin/python benchmarks/sim_bench\.py.*",
        Run(
            smallest={
                "--commands": 500,
                "--open-exchange": 50,
                "--repeat": 1,
                "--steps": 10,
                "--rows": 100,
            },
            check=outputs.sim_bench,
        ),
    ),
    (
        r"\.venv/bin/python benchmarks/protocol_bench\.py.*",
        Run(smallest={"--rounds": 1, "--freezes": 1, "--orders": 5}, check=outputs.protocol_bench),
    ),
    (
        r"\.venv/bin/python examples/simulator_open_exchange\.py.*",
        Run(smallest={"--steps": 10}, check=outputs.simulator),
    ),
    (
        r"\.venv/bin/python examples/backtest\.py --rows 20000",
        Run(smallest={"--rows": 200}, check=outputs.backtest),
    ),
    (
        # orders.csv is the reader's file; the docstring's --make-csv writes a seeded one.
        r"\.venv/bin/python examples/backtest\.py (--rows 20000 )?--csv orders\.csv .*",
        Run(setup=BACKTEST_CSV, check=outputs.backtest),
    ),
    (
        r"hcx export --db backtest\.db trades --format csv",
        Run(
            setup=f"{BACKTEST_CSV} && "
            ".venv/bin/python examples/backtest.py --csv orders.csv --db backtest.db",
            check=outputs.export_trades_csv,
        ),
    ),
    (
        r"hcx export --db FILE trades\|fills\|orders +--format csv\|jsonl( --out PATH)?",
        Skip(
            "the synopsis of `hcx export` (alternatives a|b, placeholders FILE, PATH); "
            "examples/backtest.py's usage exports a backtest's journal, "
            "tests/simulator/test_journal.py every kind, format and --out"
        ),
    ),
    (
        r"\.venv/bin/python scripts/asyncapi_gen\.py",
        # As written it rewrites docs/asyncapi.json and docs/protocol.md; --check compares.
        Run(replace=(("asyncapi_gen.py", "asyncapi_gen.py --check"),)),
    ),
    (r"export HCX_ADMIN_KEY=hcx_…|hcx admin \w+( .*)?", AdminBlock()),
    (
        r"(benchmarks|scripts|examples)/\S+\.py .*",
        Abbreviates("the campaign table's shorthand for the command of its Reproduce block"),
    ),
]

NOT_OUTPUT = {
    ("docs/architecture.md", "WebSocket frame"): "a diagram of the flow of one command",
    ("docs/engine.md", "required ="): "the collateral formula",
    ("docs/protocol.md", "→ {"): "an example session on the wire (ids elided with …)",
    ("docs/architecture.md", "service/gateway/"): "the modules of a package and their jobs",
    ("docs/architecture.md", "client/"): "the modules of a package and their jobs",
    ("docs/replication.md", "clients ──ws──▶"): "a diagram of the replication topology",
    ("docs/web.md", "hcx web page at"): "what `hcx serve --http-port` prints (tests/web reads it)",
    ("docs/web.md", "content-security-policy:"): "the page's headers (tests/web checks them)",
}


def rule_of(command: Command) -> tuple[str, Action] | None:
    for pattern, action in RULES:
        if re.fullmatch(pattern, command.text):
            return pattern, action
    return None
