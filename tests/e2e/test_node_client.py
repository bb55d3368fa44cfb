"""An independent client in another language: ``flow.js`` (Node.js, the ``ws`` package)
drives one trading flow against a real ``hcx serve`` from the documented protocol only.

``make test`` installs ``ws`` with ``npm ci`` in tests/node first (the Makefile's
``node-deps``); the test fails, never skips, when node or the package is missing."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from tests.e2e.conftest import Server

HERE = Path(__file__).resolve().parents[1] / "node"


def test_node_ws_client_trades_and_reads_history(server: Server) -> None:
    node = shutil.which("node")
    assert node is not None, "Node.js is needed for this test (see .ci/run)"
    assert (HERE / "node_modules" / "ws").is_dir(), "run `make node-deps` (npm ci in tests/node)"
    done = subprocess.run(
        [node, str(HERE / "flow.js"), server.url], capture_output=True, text=True, timeout=120
    )
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0, (done.stdout, done.stderr)
    summary = lines[-1]
    assert summary == {
        "ok": True,
        "listed": "ok",
        "rested": "open",
        "taken": "filled",
        "filled": "2",
        "trade": [1, "42.5", "2", "buy"],
        "history": [1],
        "ask_left": ["42.5", "1"],
        "position": ["2"],
    }, lines
