"""Regression (found by the chaos campaign): a SIGTERM while ``hcx serve`` was starting —
reading its settings, replaying the journal, which can take minutes on a large one — took
Python's default action and killed it with status -15 instead of the documented graceful
stop with status 0. It is now noted (before the trio run) or queued (from the replay on),
and the server stops gracefully as soon as it is up.

The signal is sent by the server process to itself at a chosen point of its start-up (a
patched ``hcx.settings.load`` or ``recover``), so the test needs no timing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hcx.durability.journal import Journal

LAUNCH = """
import os, signal, sys
import {module} as target
real = target.{function}
def patched(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGTERM)  # as if it arrived right now
    return real(*args, **kwargs)
target.{function} = patched
from hcx.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize(
    ("module", "function"),
    [("hcx.settings", "load"), ("hcx.service.recovery", "recover")],
    ids=["while-loading-settings", "while-replaying"],
)
def test_sigterm_while_starting_stops_gracefully(
    tmp_path: Path, module: str, function: str
) -> None:
    db = tmp_path / "hcx.db"
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            LAUNCH.format(module=module, function=function),
            "serve",
            "--db",
            str(db),
            "--port",
            "0",
            "--auth",
            "none",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("hcx listening on ws://127.0.0.1:"), done.stdout
    assert "signal SIGTERM received" in done.stderr
    assert "shutdown complete" in done.stderr
    journal = Journal(str(db), readonly=True)
    try:
        assert journal.last()[0] == 0
    finally:
        journal.close()
