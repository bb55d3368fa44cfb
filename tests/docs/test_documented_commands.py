"""Every command README.md, docs/ and the programs' docstrings give runs as written.

Each documented command (``tests/docs/documented.py`` finds them: fenced ``sh`` blocks,
inline code in the prose, the usage lines of benchmarks/, scripts/ and examples/) meets
exactly one rule of ``tests/docs/rules.py``: run it, or skip it with the reason. A new
command without a rule, or a rule that no longer matches anything, fails here, so a
document cannot drift from the program unnoticed. A command is run in a sandbox
(``tests/docs/sandbox.py``) through ``sh`` exactly as written, except for what its rule
names: the smallest settings (``--cycles 2``, ``--seconds 1``: a value as written is only
ever lowered, a missing flag appended), the machine paths of an example moved into the
sandbox, and what the document has the reader run first. It must exit 0; its output's
structure is checked (never a speed), and where a document shows what the program prints,
every line of it must appear with the same shape.
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
from dataclasses import dataclass
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
from tests.docs.rules import (
    NOT_OUTPUT,
    RULES,
    SANDBOX_PATHS,
    Abbreviates,
    AdminBlock,
    Run,
    Serve,
    rule_of,
)
from tests.docs.sandbox import Sandbox, copy_into, free_port

WORKERS = 3  # commands run at once
Done = subprocess.CompletedProcess[str]


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
        matched = rule_of(where[0])
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
    unruled = [f"{c.source}: {c.text}" for c in found if rule_of(c) is None]
    assert not unruled, "documented commands without a rule:\n" + "\n".join(unruled)
    used = {rule_of(c)[0] for c in found}  # type: ignore[index]
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
        matched = rule_of(command)
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


def _serverule_of() -> tuple[str, Serve]:
    found = set()
    for command in commands():
        matched = rule_of(command)
        if matched and isinstance(matched[1], Serve):
            found.add((command.text, matched[1]))
    (only,) = found
    return only


def test_documented_serve_with_settings_tls_and_metrics(sandbox: Sandbox) -> None:
    """The operations.md `hcx serve`, with the settings file docs/operations.md shows as
    its --config, a certificate for --tls-cert/--tls-key and its metrics port: it prints
    its wss:// address, serves every metric the metrics table names, stops on SIGTERM."""
    import trustme

    written, rule = _serverule_of()
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
    block = [c for c in commands() if isinstance((rule_of(c) or ("", None))[1], AdminBlock)]
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
