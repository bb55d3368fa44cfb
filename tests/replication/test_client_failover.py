"""The Python client given a standby first: a ``read_only`` answer moves it on to the
primary, where the command executes once (real ``hcx serve``, ``hcx standby`` and NATS)."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import trio

from hcx.client import connect
from hcx.durability.journal import Journal
from hcx.durability.records import decode_record
from tests.replication.natsd import NatsServer

START_S = 30.0


def _start(args: list[str], log: Path, pattern: str) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``hcx ARGS`` and return it with the ws:// URL of its first line matching
    ``pattern``."""
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hcx.cli", *args],
            stdout=subprocess.PIPE,
            stderr=err,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    assert proc.stdout is not None
    deadline, seen = time.monotonic() + START_S, b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                break
            seen += chunk
            for line in seen.decode(errors="replace").splitlines():
                if pattern in line:
                    found = re.search(r"ws://\S+", line)
                    assert found is not None, line
                    return proc, found.group(0)
    proc.kill()
    raise AssertionError(f"hcx {args[0]} printed no {pattern!r}:\n{log.read_text()}")


def _stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def test_a_read_only_answer_moves_the_client_on_to_the_primary(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    primary_db, standby_db = tmp_path / "primary.db", tmp_path / "standby.db"
    common = ["--nats", nats_server.url, "--auth", "none", "--port", "0"]
    primary, primary_url = _start(
        ["serve", "--db", str(primary_db), "--replication", "sync", *common],
        tmp_path / "primary.log",
        "listening on",
    )
    standby = None
    try:
        standby, standby_url = _start(
            ["standby", "--db", str(standby_db), *common],
            tmp_path / "standby.log",
            "read-only on",
        )

        async def main() -> tuple[str, int, str]:
            async with connect(
                [standby_url, primary_url], wallet="admin", heartbeat_interval=None
            ) as client:
                with trio.fail_after(20):
                    result = await client.deposit("alice", "7")
                return result.status, client.connections, client.url

        status, connections, url = trio.run(main)
        assert (status, url) == ("ok", primary_url)
        assert connections == 2  # the standby first, then the primary
    finally:
        if standby is not None:
            assert _stop(standby) == 0, (tmp_path / "standby.log").read_text()
        assert _stop(primary) == 0, (tmp_path / "primary.log").read_text()
    journal = Journal(str(primary_db), readonly=True)
    try:
        deposits = [decode_record(row[3]) for row in journal.scan(0)]
    finally:
        journal.close()
    # The deposit executed once, on the primary (the standby refused it unexecuted).
    assert [(r.wallet, type(r.envelope().command).__name__) for r in deposits] == [
        ("admin", "Deposit")
    ]
