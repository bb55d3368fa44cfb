"""A real ``hcx serve`` subprocess per test.

``server`` starts ``python -m hcx.cli serve --db <tmp> --port 0 --auth none``, reads the
URL from the line it prints, and at teardown sends SIGTERM and asserts exit code 0 (a
test may stop it earlier with ``server.stop()`` to look at the journal). ``keyed_server``
creates API keys with ``hcx keys create`` first and runs with ``--auth keys``.
``start_server`` starts one with other options (a ``--config`` TOML file, ...).

Every server ``launch`` starts is also remembered: one a test started by hand and did not
stop (it raised before its own ``stop``) is killed after the test, so it can never keep
pytest from exiting.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import pytest

from hcx.durability.journal import Journal
from hcx.durability.records import Record, decode_record

STARTUP_TIMEOUT_S = 20.0
_LAUNCHED: list[subprocess.Popen[bytes]] = []


@attrs.define
class Server:
    proc: subprocess.Popen[bytes]
    url: str
    db: Path
    log: Path
    keys: dict[str, str] = attrs.Factory(dict)
    exit_code: int | None = None
    stop_seconds: float | None = None

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1].split("/")[0])

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM and wait; the exit code (also kept in ``exit_code``)."""
        if self.exit_code is None:
            started = time.monotonic()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.exit_code = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.exit_code = self.proc.wait()
                raise AssertionError(f"hcx serve ignored SIGTERM for {timeout} s") from None
            finally:
                self.stop_seconds = time.monotonic() - started
        return self.exit_code

    def records(self) -> list[Record]:
        """Every journal record, decoded (read after ``stop``)."""
        assert self.exit_code is not None, "stop the server before reading its journal"
        journal = Journal(str(self.db), readonly=True)
        try:
            return [decode_record(row[3]) for row in journal.scan(0)]
        finally:
            journal.close()

    def journal_rows(self) -> int:
        """Rows of the journal table, counted with the stdlib's sqlite3 (after ``stop``)."""
        import sqlite3

        assert self.exit_code is not None, "stop the server before reading its journal"
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True) as connection:
            (count,) = connection.execute("SELECT count(*) FROM journal").fetchone()
        return int(count)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def _hcx(*args: str) -> list[str]:
    return [sys.executable, "-m", "hcx.cli", *args]


def create_keys(db: Path, wallets: dict[str, str]) -> dict[str, str]:
    """``hcx keys create`` for each wallet -> role; returns wallet -> key.

    The first one runs alone: two processes creating the schema of a new file at once
    race (``table journal already exists``)."""

    def create(wallet: str, role: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            _hcx("keys", "create", "--db", str(db), "--wallet", wallet, "--role", role),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    procs: dict[str, subprocess.Popen[str]] = {}
    for wallet, role in wallets.items():
        procs[wallet] = create(wallet, role)
        if len(procs) == 1:
            procs[wallet].wait(30)
    keys = {}
    for wallet, proc in procs.items():
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        lines = [line for line in out.splitlines() if line.startswith("key ")]
        assert len(lines) == 1, out
        keys[wallet] = lines[0].split()[1]
        assert keys[wallet].startswith("hcx_")
    return keys


def launch(
    directory: Path,
    *,
    auth: str = "none",
    config: str | None = None,
    durability: str | None = None,
    keys: dict[str, str] | None = None,
) -> Server:
    db = directory / "hcx.db"
    log = directory / "server.log"
    args = ["serve", "--db", str(db), "--port", "0", "--auth", auth]
    if config is not None:
        path = directory / "hcx.toml"
        path.write_text(config)
        args += ["--config", str(path)]
    if durability is not None:
        args += ["--durability", durability]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as log_file:
        proc = subprocess.Popen(_hcx(*args), stdout=subprocess.PIPE, stderr=log_file, env=env)
    assert proc.stdout is not None
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    line = b""
    while not line.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        ready, _, _ = select.select([proc.stdout], [], [], max(remaining, 0))
        if not ready:
            proc.kill()
            raise AssertionError(f"hcx serve printed no URL:\n{log.read_text()}")
        chunk = os.read(proc.stdout.fileno(), 4096)
        if not chunk:
            proc.wait()
            raise AssertionError(f"hcx serve exited {proc.returncode}:\n{log.read_text()}")
        line += chunk
    _LAUNCHED.append(proc)
    text = line.decode().strip()
    prefix = "hcx listening on "
    assert text.startswith(prefix), text
    return Server(proc, text[len(prefix) :], db, log, keys or {})


StartServer = Callable[..., Server]


@pytest.fixture(autouse=True)
def no_server_outlives_its_test() -> Iterator[None]:
    """Kill what a test launched and left running (set up first, so torn down last: after
    ``start_server`` has stopped its own servers and checked their exit codes)."""
    yield
    while _LAUNCHED:
        proc = _LAUNCHED.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[StartServer]:
    started: list[Server] = []

    def start(
        *,
        auth: str = "none",
        config: str | None = None,
        durability: str | None = None,
        key_roles: dict[str, str] | None = None,
    ) -> Server:
        directory = tmp_path / f"server{len(started)}"
        directory.mkdir()
        keys = create_keys(directory / "hcx.db", key_roles) if key_roles else None
        server = launch(directory, auth=auth, config=config, durability=durability, keys=keys)
        started.append(server)
        return server

    yield start
    for server in started:
        try:
            code = server.stop()
        finally:
            if server.proc.stdout is not None:
                server.proc.stdout.close()
        assert code == 0, f"hcx serve exited {code}:\n{server.log_text()}"


@pytest.fixture
def server(start_server: StartServer) -> Server:
    return start_server()


@pytest.fixture
def keyed_server(start_server: StartServer) -> Server:
    return start_server(
        auth="keys",
        key_roles={"admin": "admin", "alice": "trader", "bob": "trader", "quinn": "quoter"},
    )
