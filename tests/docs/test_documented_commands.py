"""Every command README.md, docs/ and the programs' docstrings give runs as written.

Each documented command (``tests/docs/documented.py`` finds them: fenced ``sh`` blocks,
inline code in the prose, the usage lines of benchmarks/, scripts/ and examples/) meets
exactly one rule below: run it, or skip it with the reason. A new command without a rule,
or a rule that no longer matches anything, fails here, so a document cannot drift from the
program unnoticed. A command is run in a sandbox (``tests/docs/sandbox.py``) through
``sh`` exactly as written, except for what its rule names: the smallest settings
(``--cycles 2``, ``--seconds 1``: a value as written is only ever lowered, a missing flag
appended), and the machine paths of an example moved into the sandbox. It must exit 0;
its output's structure is checked (never a speed), and where a document shows what the
program prints, every line of it must appear with the same shape.
"""

from __future__ import annotations

import datetime
import json
import re
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.docs import outputs
from tests.docs.documented import (
    PROGRAM_DIRS,
    ROOT,
    Command,
    commands,
    fenced,
    missing_shape,
    shape,
    shown,
    snippets,
)
from tests.docs.sandbox import Sandbox, copy_into, free_port


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
WORKERS = 3  # commands run at once
Done = subprocess.CompletedProcess[str]
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
    (
        r"(\.venv/bin/)?pytest .*",
        Skip("runs tests of this suite a second time (`make test` runs them)"),
    ),
    (
        r"hcx (serve|demo|keys|keys create|serve --auth none|serve --db( path)?|export|admin"
        r"|admin resume SYMBOL)",
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
            "examples/backtest.py's usage exports a backtest's journal, tests/simulator every form"
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
    ("docs/web.md", "hcx web page at"): "what `hcx serve --http-port` prints (tests/web reads it)",
    ("docs/web.md", "content-security-policy:"): "the page's headers (tests/web checks them)",
}


def _rule(command: Command) -> tuple[str, Action] | None:
    for pattern, action in RULES:
        if re.fullmatch(pattern, command.text):
            return pattern, action
    return None


def _shrink(command: str, smallest: dict[str, int | float | str]) -> str:
    """Each flag's value as written lowered to the smallest (a path: replaced), or the
    flag appended when the command does not give it."""
    for flag, small in smallest.items():
        found = re.search(rf"{re.escape(flag)}(?:=|\s+)(\S+)", command)
        if found is None:
            command += f" {flag} {small}"
            continue
        value: int | float | str = small
        if not isinstance(small, str):
            value = min(type(small)(found.group(1)), small)
        command = command[: found.start(1)] + str(value) + command[found.end(1) :]
    return command


def _grouped() -> dict[str, list[Command]]:
    by_text: dict[str, list[Command]] = {}
    for command in commands():
        by_text.setdefault(command.text, []).append(command)
    return by_text


def _runs() -> list[pytest.param]:  # type: ignore[valid-type]
    params = []
    for text, where in _grouped().items():
        matched = _rule(where[0])
        if matched and isinstance(matched[1], Run):
            params.append(pytest.param(text, matched[1], id=f"{where[0].source}: {text}"))
    return params


# --- fixtures ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Journal:
    directory: Path
    key_id: str


@pytest.fixture(scope="session")
def journal(tmp_path_factory: pytest.TempPathFactory) -> Journal:
    """./hcx.db with history (the simulator's, settled) and a key of alice's, as the
    operations.md block creates it first."""
    sandbox = Sandbox.create(tmp_path_factory.mktemp("journal"))
    made = sandbox.run(
        ".venv/bin/python examples/simulator.py --seed 7 --steps 10 --db hcx.db && "
        "hcx keys create --db hcx.db --wallet alice && hcx keys list --db hcx.db",
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    key_id = made.stdout.strip().splitlines()[-1].split()[0]
    template = tmp_path_factory.mktemp("journal-files")
    for path in sandbox.directory.glob("hcx.db*"):
        if path.is_dir():
            shutil.copytree(path, template / path.name)
        else:
            shutil.copy2(path, template / path.name)
    return Journal(template, key_id)


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    yield Sandbox.create(tmp_path / "checkout")


# --- the tests ---------------------------------------------------------------------------


def test_every_documented_command_has_a_rule_and_every_rule_a_command() -> None:
    found = commands()
    assert len(found) > 40, "the extraction found almost nothing: is it broken?"
    unruled = [f"{c.source}: {c.text}" for c in found if _rule(c) is None]
    assert not unruled, "documented commands without a rule:\n" + "\n".join(unruled)
    used = {_rule(c)[0] for c in found}  # type: ignore[index]
    assert [p for p, _ in RULES if p not in used] == []


def test_every_benchmark_script_and_example_is_run() -> None:
    run = " ".join(param.values[0] for param in _runs())
    for directory in PROGRAM_DIRS:
        for path in sorted((ROOT / directory).glob("*.py")):
            assert f"{directory}/{path.name}" in run, f"no documented command runs {path}"


def test_shorthands_name_a_documented_command() -> None:
    blocks: dict[str, list[str]] = {}
    for command in commands():
        name = command.source.split(":")[0]
        if not command.source.endswith("(docstring)"):
            blocks.setdefault(name, []).append(command.text)
    for command in commands():
        matched = _rule(command)
        if matched and isinstance(matched[1], Abbreviates):
            full = f".venv/bin/python {command.text}"
            name = command.source.split(":")[0]
            assert any(text.startswith(full) for text in blocks[name]), (
                f"{command.source}: {command.text!r} begins no command of {name}"
            )


def test_every_shown_block_is_a_programs_output_or_named() -> None:
    claimed = {a.shows for _, a in RULES if isinstance(a, Run) and a.shows}
    for block in shown():
        name = block.source.split(":")[0]
        first = block.text.lstrip().splitlines()[0]
        owners = [s for s in claimed if first.startswith(s)]
        named = [k for k in NOT_OUTPUT if k[0] == name and first.startswith(k[1])]
        assert len(owners) + len(named) == 1, f"{block.source}: whose output is {first!r}?"
    assert all(any(b.text.lstrip().startswith(s) for b in shown()) for s in claimed)


def _shown_output(prefix: str) -> str:
    (block,) = [b.text for b in shown() if b.text.lstrip().startswith(prefix)]
    return block


def _execute(written: str, rule: Run, directory: Path, journal: Journal) -> tuple[str, Done]:
    """``written`` as its rule says, in a fresh sandbox: (the command as run, its result)."""
    sandbox = Sandbox.create(directory)
    if rule.journal:
        copy_into(journal.directory, sandbox.directory)
        sandbox.values["key_id"] = journal.key_id
    (sandbox.directory / "backups").mkdir()
    command = written
    for old, new in (*SANDBOX_PATHS, *rule.replace):
        command = command.replace(old, new)
    command = _shrink(command, rule.smallest).format(**sandbox.values)
    if rule.setup:
        command = f"{rule.setup} && {command}"
    return command, sandbox.run(command, timeout=rule.timeout)


@pytest.fixture(scope="session")
def launched(
    request: pytest.FixtureRequest, journal: Journal, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Future[tuple[str, Done]]]]:
    """The selected commands, started at once a few at a time (they mostly wait on
    sockets, subprocesses and timers), the longest first."""
    selected = [
        item.callspec.params
        for item in request.session.items
        if isinstance(item, pytest.Function) and item.originalname == "test_documented_command_runs"
    ]
    selected.sort(key=lambda p: not p["written"].startswith(".venv/bin/python"))
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        yield {
            p["written"]: pool.submit(
                _execute, p["written"], p["rule"], tmp_path_factory.mktemp("run"), journal
            )
            for p in selected
        }


@pytest.mark.parametrize(("written", "rule"), _runs())
def test_documented_command_runs(
    written: str, rule: Run, launched: dict[str, Future[tuple[str, Done]]]
) -> None:
    command, done = launched[written].result()
    assert done.returncode == 0, f"{command}\nexit {done.returncode}\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr, done.stderr
    if rule.shows:
        missing = missing_shape(_shown_output(rule.shows), done.stdout)
        assert missing is None, f"{command}: nothing shaped like {missing!r} in\n{done.stdout}"
    if rule.check:
        rule.check(command, done.stdout)


def _serve_rule() -> tuple[str, Serve]:
    found = set()
    for command in commands():
        matched = _rule(command)
        if matched and isinstance(matched[1], Serve):
            found.add((command.text, matched[1]))
    (only,) = found
    return only


def test_documented_serve_with_settings_tls_and_metrics(sandbox: Sandbox) -> None:
    """The operations.md `hcx serve`, with the settings file docs/operations.md shows as
    its --config, a certificate for --tls-cert/--tls-key and its metrics port: it prints
    its wss:// address, serves every metric the metrics table names, stops on SIGTERM."""
    import trustme

    written, rule = _serve_rule()
    (settings,) = [body for source, lang, body in fenced() if lang == "toml"]
    (sandbox.directory / "hcx.toml").write_text(settings)
    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1")
    certificate.cert_chain_pems[0].write_to_path(str(sandbox.directory / "cert.pem"))
    certificate.private_key_pem.write_to_path(str(sandbox.directory / "key.pem"))
    metrics_port = free_port()
    sandbox.values.update(port=str(free_port()), metrics_port=str(metrics_port))
    command = written
    for old, new in rule.replace:
        command = command.replace(old, new)
    command = command.format(**sandbox.values)
    server = sandbox.start(command, ready="listening on")
    try:
        assert server.lines[-1] == f"hcx listening on wss://127.0.0.1:{sandbox.values['port']}/ws"
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as r:
            metrics = r.read().decode()
    finally:
        code = server.stop()
    assert code == 0, str(server)
    operations = (ROOT / "docs" / "operations.md").read_text()
    table = operations[operations.index("## Metrics") : operations.index("## Checking")]
    names = re.findall(r"`(hcx_\w+)", table)
    assert len(names) >= 12
    for name in names:  # declared (a labelled metric has no sample before its first use)
        family = name.removesuffix("_total")
        assert re.search(rf"^# TYPE {family}(_total)? ", metrics, re.M), name
    log = server.log.read_text().splitlines()
    assert log and all(json.loads(line) for line in log)  # --log-json


def _expected_prints(snippet: str) -> list[str]:
    """What a snippet's ``print(...)  # shown`` lines say they print."""
    return [m.group(1) for m in re.finditer(r"^\s*print\(.*\)\s+#\s*(.+)$", snippet, re.M)]


@pytest.mark.parametrize(
    "source", [s.source for s in snippets() if not s.source.startswith("README.md")]
)
def test_embedding_snippet_runs(source: str, sandbox: Sandbox) -> None:
    (snippet,) = [s.text for s in snippets() if s.source == source]
    (sandbox.directory / "snippet.py").write_text(snippet)
    done = sandbox.run(".venv/bin/python snippet.py", timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip(), "the snippet printed nothing"
    for expected in _expected_prints(snippet):
        assert any(re.fullmatch(shape(expected), line) for line in done.stdout.splitlines()), (
            f"{source}: no line like {expected!r} in\n{done.stdout}"
        )


def test_readme_client_snippet_against_make_runs_demo(sandbox: Sandbox) -> None:
    """README's client, against what `make run` starts (`hcx demo` on ./hcx.db; here on a
    free port), with alice's key as the demo prints it; and everything the demo leaves in
    a checkout is ignored by git."""
    (snippet,) = [s.text for s in snippets() if s.source.startswith("README.md")]
    assert 'connect("ws://127.0.0.1:8765/ws", wallet="alice", key="hcx_...")' in snippet
    port = free_port()
    demo = sandbox.start(f"hcx demo --port {port}", ready="Ctrl-C stops it")
    try:
        (key,) = [line.split()[1] for line in demo.lines if line.startswith("  alice ")]
        client = snippet.replace("127.0.0.1:8765", f"127.0.0.1:{port}").replace("hcx_...", key)
        (sandbox.directory / "client.py").write_text(client)
        done = sandbox.run(".venv/bin/python client.py", timeout=60)
    finally:
        code = demo.stop()
    assert code == 0, str(demo)
    assert done.returncode == 0, done.stderr
    outputs.lines(
        r"^best bid/ask \(Decimal\('[\d.]+'\), Decimal\('[\d.]+'\)\) \(Decimal",  # a live book
        r"^(filled|canceled) [\d.]+$",  # an IOC is filled or its remainder canceled
        r"^Amounts\(total=Decimal\('[\d.]+'\), available=",
    )("README client", done.stdout)
    written = sorted(
        p.name + ("/" if p.is_dir() else "")
        for p in sandbox.directory.iterdir()
        if not p.is_symlink() and p.name.startswith("hcx")
    )
    assert "hcx.db" in written and "hcx.db.snapshots/" in written, written
    ignored = subprocess.run(
        ["git", "-C", str(ROOT), "check-ignore", "--no-index", *written],
        capture_output=True,
        text=True,
        check=False,
    )
    assert sorted(ignored.stdout.split()) == written, "not in .gitignore: " + str(
        set(written) - set(ignored.stdout.split())
    )


def _admin_block() -> list[Command]:
    block = [c for c in commands() if isinstance((_rule(c) or ("", None))[1], AdminBlock)]
    assert len({c.source.split(":")[0] for c in block}) == 1, "one block, one document"
    return block


def test_documented_admin_block_against_a_server(sandbox: Sandbox) -> None:
    """operations.md's `hcx admin` block, line by line in order, against `hcx serve` on
    a journal with the admin key its first line's comment makes (on a free port: `--url`
    before the action, as the prose says). Each line prints `COMMAND ok|rejected seq N`
    and exits 0 when ok, 1 when rejected; `settle` is written for "once expired", so it is
    also run on an option listed (by epoch ms) to expire a moment later."""
    block = _admin_block()
    assert block[0].text.startswith("export HCX_ADMIN_KEY=")
    made = sandbox.run("hcx keys create --db hcx.db --wallet admin --role admin", timeout=60)
    assert made.returncode == 0, made.stderr
    (key,) = re.findall(r"^key (hcx_\S+)$", made.stdout, re.M)
    port = free_port()
    url = f"ws://127.0.0.1:{port}/ws"
    server = sandbox.start(f"hcx serve --db hcx.db --port {port}", ready="listening on")

    export = block[0].text.replace("hcx_…", key)

    def admin(line: str) -> Done:
        return sandbox.run(
            f"{export} && {line.replace('hcx admin ', f'hcx admin --url {url} ')}", 60
        )

    try:
        ran = [(c.text, admin(c.text)) for c in block[1:]]
        soon = int(time.time() * 1000) + 1500
        listed = admin(
            f"hcx admin list --underlying BTC --expiry {soon} --strike 3000 --option put "
            "--tick 0.1 --lot 0.1"
        )
        (put,) = re.findall(r"BTC-\d{8}-3000-P", admin("hcx admin instruments").stdout)
        time.sleep(max(0.0, soon / 1000 - time.time()) + 0.2)
        settled = admin(f"hcx admin settle {put} 3075")
    finally:
        code = server.stop()
    assert code == 0, str(server)
    for text, done in (*ran, ("list (epoch ms)", listed), ("settle (expired)", settled)):
        assert "Traceback" not in done.stderr, done.stderr
        assert done.returncode in (0, 1), f"{text}: exit {done.returncode}\n{done.stderr}"
    # The documented option's expiry against the wall clock decides what halt, resume and
    # settle answer (an expired instrument cannot be halted; a live one cannot be settled).
    (listing,) = [t for t, _ in ran if t.startswith("hcx admin list ")]
    (day,) = re.findall(r"--expiry (\d{4}-\d\d-\d\d)", listing)
    expired = time.time() >= datetime.datetime.fromisoformat(f"{day}T08:00Z").timestamp()
    expected = {
        "list": ("CreateInstrument", None),
        "deposit": ("Deposit", None),
        "index": ("SetIndexPrice", None),
        "halt": ("HaltInstrument", "instrument_not_active" if expired else None),
        "resume": ("ResumeInstrument", "instrument_not_active" if expired else None),
        "settle": ("Settle", None if expired else "not_expired"),
    }
    outputs_of = {t.split()[2]: d for t, d in ran}
    assert set(outputs_of) == {*expected, "instruments", "book"}, list(outputs_of)
    for action, (command, reason) in expected.items():
        done = outputs_of[action]
        if reason is None:
            want = rf"{command} ok seq \d+"
        else:
            want = rf"{command} rejected seq \d+ reason {reason}"
        assert re.fullmatch(want, done.stdout.strip()), f"{action}: {done.stdout}{done.stderr}"
        assert done.returncode == (0 if reason is None else 1), action
    symbol = f"BTC-{day.replace('-', '')}-3000-C"  # the symbol the comment names
    instruments = outputs_of["instruments"]
    assert instruments.returncode == 0, instruments.stderr
    outputs.lines(
        rf"^{symbol}  (active|expired|settled)  BTC call strike 3000  expiry {day} 08:00Z  "
        r"tick 0\.1 lot 0\.1  multiplier \S+  fees \d+/\d+ bps$"
    )("hcx admin instruments", instruments.stdout)
    book = outputs_of["book"]
    assert book.returncode == 0, book.stderr
    assert re.fullmatch(rf"{symbol} book seq \d+\n  \(empty\)\n", book.stdout), book.stdout
    assert re.fullmatch(r"CreateInstrument ok seq \d+", listed.stdout.strip()), listed.stdout
    assert re.fullmatch(r"Settle ok seq \d+", settled.stdout.strip()), settled.stdout
    assert settled.returncode == 0
