"""Cancel-on-disconnect and the dead-man's switch against real ``hcx serve`` processes.

The client that opts in is a process of its own (``cod_client.py``): SIGKILLed, frozen
with SIGSTOP (it stops reading and answering pings), or outliving a SIGKILLed server.
Each time its wallet's orders are canceled by one journaled command, exactly once: the
journal is read after the last stop and every order's cancel counted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import trio

import hcx.client
from tests.e2e.conftest import Server, launch
from tests.e2e.market import list_market, now_ms

CHILD = Path(__file__).with_name("cod_client.py")
# Short heartbeats so a frozen client is found out in about a second.
HEARTBEAT = "[gateway]\nping_interval_s = 0.3\npong_timeout_s = 0.6\nclose_timeout_s = 1.0\n"


def start(directory: Path) -> Server:
    directory.mkdir(exist_ok=True)
    return launch(directory, config=HEARTBEAT)


async def open_market(server: Server) -> None:
    async with hcx.client.connect(server.url, wallet="admin") as admin:
        await list_market(admin, ("alice", "bob"))


def child(server: Server, orders: int = 3) -> tuple[subprocess.Popen[str], list[int]]:
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), server.url, "alice", str(orders)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    assert line and line[0] == "ready", line
    return proc, [int(x) for x in line[1:]]


async def open_ids(server: Server, wallet: str = "alice") -> set[int]:
    async with hcx.client.connect(server.url, wallet=wallet) as client:
        return {o.order_id for o in (await client.get_open_orders()).orders}  # type: ignore[misc]


async def wait_closed(server: Server, ids: list[int], timeout: float = 20.0) -> float:
    """Seconds until none of ``ids`` is open."""
    started = time.monotonic()
    with trio.fail_after(timeout):
        while await open_ids(server) & set(ids):
            await trio.sleep(0.05)
    return time.monotonic() - started


def cancels(server: Server) -> Counter[tuple[int, str]]:
    """(order id, reason) of every cancel by a guard in the journal (after stop)."""
    found: Counter[tuple[int, str]] = Counter()
    for record in server.records():
        for event in record.events:
            # OrderUpdate items: [type, request_id, order_id, ..., status (10), filled, reason]
            if event[0] == "OrderUpdate" and event[12] in ("cancel_on_disconnect", "cancel_after"):
                found[(event[2], event[12])] += 1
    return found


def kill(proc: subprocess.Popen[Any]) -> None:
    proc.kill()
    proc.wait(10)
    if proc.stdout is not None:
        proc.stdout.close()


async def test_sigkilled_client_and_frozen_client(tmp_path: Path) -> None:
    server = start(tmp_path / "a")
    try:
        await open_market(server)
        # Bob's orders are never touched.
        async with hcx.client.connect(server.url, wallet="bob") as bob:
            await bob.place_order("BTC-20301231-3000-C", "buy", "1", "1")
        proc, ids = child(server)
        assert await open_ids(server) == set(ids)
        os.kill(proc.pid, signal.SIGKILL)
        await wait_closed(server, ids)
        kill(proc)

        frozen, frozen_ids = child(server)
        os.kill(frozen.pid, signal.SIGSTOP)
        try:
            await wait_closed(server, frozen_ids)
        finally:
            os.kill(frozen.pid, signal.SIGCONT)
            kill(frozen)
        assert len(await open_ids(server, "bob")) == 1
    finally:
        assert server.stop() == 0
    found = cancels(server)
    assert found == Counter({(i, "cancel_on_disconnect"): 1 for i in ids + frozen_ids})


async def test_armed_session_is_closed_by_the_restart_once(tmp_path: Path) -> None:
    server = start(tmp_path / "a")
    await open_market(server)
    proc, ids = child(server)
    try:
        server.proc.kill()  # the server dies with the session open
        server.proc.wait(10)
        again = start(tmp_path / "a")
        try:
            await wait_closed(again, ids)
        finally:
            assert again.stop() == 0
    finally:
        kill(proc)
    third = start(tmp_path / "a")
    try:
        assert await open_ids(third) == set()
    finally:
        assert third.stop() == 0
    assert cancels(third) == Counter({(i, "cancel_on_disconnect"): 1 for i in ids})


async def test_dead_man_switch_fires_across_a_restart(tmp_path: Path) -> None:
    server = start(tmp_path / "a")
    await open_market(server)
    async with hcx.client.connect(server.url, wallet="alice") as alice:
        armed = await alice.cancel_after(
            1500, request_id="0b7a3f5e-6a53-4b8e-9f1d-1d3e2c4b5a69", ts=now_ms()
        )
        assert armed.status == "ok" and armed.deadline_ms is not None
        assert armed.deadline_ms > now_ms()
        placed = [await alice.place_order("BTC-20301231-3000-C", "buy", "2", "1") for _ in "ab"]
        ids = [p.order_id for p in placed]
    assert server.stop() == 0
    time.sleep(2.0)  # the deadline passes while the server is down
    again = start(tmp_path / "a")
    try:
        await wait_closed(again, ids)
    finally:
        assert again.stop() == 0
    third = start(tmp_path / "a")
    try:
        assert await open_ids(third) == set()
    finally:
        assert third.stop() == 0
    assert cancels(third) == Counter({(i, "cancel_after"): 1 for i in ids})
