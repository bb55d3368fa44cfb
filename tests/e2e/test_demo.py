"""``hcx demo``: a newcomer's first command shows a live book, and a restart resumes it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import websockets


def _start(db: Path) -> tuple[subprocess.Popen[str], str, list[str]]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hcx.cli",
            "demo",
            "--db",
            str(db),
            "--port",
            "0",
            "--http-port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    lines: list[str] = []
    url = ""
    for line in process.stdout:
        lines.append(line.rstrip())
        if line.startswith("hcx demo: a live"):
            url = line.split(" at ")[1].strip()
        if line.startswith("Ctrl-C stops it"):
            break
    assert url, lines
    return process, url, lines


def _stop(process: subprocess.Popen[str]) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=10)


async def _book(url: str) -> tuple[list[str], dict[str, Any]]:
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"type": "GetInstruments", "id": 1}))
        instruments = json.loads(await ws.recv())["instruments"]
        symbol = instruments[0]["symbol"]
        await ws.send(json.dumps({"type": "Subscribe", "channel": "book", "symbol": symbol}))
        assert json.loads(await ws.recv())["type"] == "Subscribed"
        for _ in range(50):
            snapshot = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if snapshot["type"] == "BookSnapshot" and snapshot["bids"] and snapshot["asks"]:
                return [i["symbol"] for i in instruments], snapshot
            await ws.send(json.dumps({"type": "Unsubscribe", "channel": "book", "symbol": symbol}))
            await asyncio.sleep(0.2)
            await ws.send(json.dumps({"type": "Subscribe", "channel": "book", "symbol": symbol}))
        raise AssertionError("the book never showed both sides")


def test_demo_shows_a_live_market_and_resumes_it(tmp_path: Path) -> None:
    db = tmp_path / "hcx.db"
    process, url, lines = _start(db)
    try:
        symbols, snapshot = asyncio.run(_book(url))
    finally:
        assert _stop(process) == 0
    assert lines[0].startswith("hcx web page at http://127.0.0.1:"), lines
    assert any(line.startswith("hcx demo: open http://127.0.0.1:") for line in lines), lines
    keys = [line.split()[1] for line in lines if line.startswith("  alice ")]
    assert keys and keys[0].startswith("hcx_")
    assert len(symbols) == 10
    assert float(snapshot["bids"][0][0]) < float(snapshot["asks"][0][0])

    process, url, lines = _start(db)
    try:
        resumed_symbols, _ = asyncio.run(_book(url))
    finally:
        assert _stop(process) == 0
    assert any("resumed from the journal" in line for line in lines)
    assert resumed_symbols == symbols


def test_readme_client_example_runs_against_the_demo(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    example = readme.split("## A client in 20 lines")[1].split("```python")[1].split("```")[0]
    assert len(example.strip().splitlines()) <= 22
    process, url, lines = _start(tmp_path / "hcx.db")
    try:
        key = next(line.split()[1] for line in lines if line.startswith("  alice "))
        script = tmp_path / "example.py"
        script.write_text(
            example.replace('key="hcx_..."', f'key="{key}"').replace("ws://127.0.0.1:8765/ws", url)
        )
        done = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, timeout=60
        )
    finally:
        assert _stop(process) == 0
    assert done.returncode == 0, done.stderr
    assert "best bid/ask" in done.stdout
    assert "Amounts(" in done.stdout or "balance" in done.stdout.lower()
