"""``hcx demo``: a newcomer's first command shows a live book, and a restart resumes it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import trio
import websockets

import hcx.client
from hcx.engine.instruments import expected_symbol
from hcx.engine.numbers import parse_decimal


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


async def _instruments(url: str) -> list[dict[str, Any]]:
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"type": "GetInstruments", "id": 1}))
        return json.loads(await ws.recv())["instruments"]  # type: ignore[no-any-return]


async def _book(url: str, active_only: bool = False) -> tuple[list[str], dict[str, Any]]:
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"type": "GetInstruments", "id": 1}))
        instruments = json.loads(await ws.recv())["instruments"]
        if active_only:
            instruments = [i for i in instruments if i["status"] == "active"]
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


def test_an_old_journal_whose_expiries_all_passed_resumes_into_a_live_market(
    tmp_path: Path,
) -> None:
    """A journal of a chain that has expired meanwhile (listed by an admin a moment
    before its expiry, with resting orders): ``hcx demo`` settles it at the index, lists
    a new expiry about a month out and quotes it."""
    from tests.e2e.conftest import launch

    old = tmp_path / "old"
    old.mkdir()
    server = launch(old)
    expiry = int(time.time() * 1000) + 1_500
    listing = {
        "underlying": "ETH",
        "expiry_ms": expiry,
        "strike": "3000",
        "option": "call",
        "tick_size": "0.1",
        "lot_size": "0.1",
    }

    async def make_old() -> str:
        async with hcx.client.connect(server.url, wallet="admin") as admin:
            symbol = expected_symbol("ETH", expiry, parse_decimal("3000"), "call")
            listed = await admin.create_instrument(symbol, **listing)  # type: ignore[arg-type]
            assert listed.status == "ok", listed
            assert (await admin.set_index_price("ETH", "3120")).status == "ok"
            assert (await admin.deposit("alice", "1000")).status == "ok"
            await admin.place_order(symbol, "buy", "1", "1")
            return symbol

    old_symbol = trio.run(make_old)
    assert server.stop() == 0
    time.sleep(2.0)

    process, url, lines = _start(old / "hcx.db")
    try:
        symbols, snapshot = asyncio.run(_book(url, active_only=True))
        instruments = asyncio.run(_instruments(url))
    finally:
        assert _stop(process) == 0
    assert any("resumed from the journal" in line for line in lines)
    status = {i["symbol"]: i["status"] for i in instruments}
    assert status[old_symbol] == "settled"
    new = [i for i in instruments if i["status"] == "active"]
    assert len(new) == 10
    days_left = (new[0]["expiry_ms"] - time.time() * 1000) / 86_400_000
    assert 27 <= days_left <= 29
    # Strikes around the old journal's index (3120), not the demo's default 3000.
    assert sorted({i["strike"] for i in new}, key=float) == ["2800", "3000", "3200", "3400", "3600"]
    assert old_symbol not in symbols
    assert float(snapshot["bids"][0][0]) < float(snapshot["asks"][0][0])
