"""The gateway in-process over real loopback sockets: orderings the release stage owns."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st
from trio_websocket import WebSocketConnection, open_websocket_url

from hcx.service.app import Running, serve
from hcx.service.config import ServiceConfig
from hcx.service.gateway.config import GatewayConfig
from hcx.service.gateway.server import _chunks
from tests.e2e.market import LISTING, SYMBOL
from tests.gates import CommitGate


@pytest.fixture
async def server(nursery: trio.Nursery) -> AsyncIterator[Running]:
    running: Running = await nursery.start(
        lambda task_status: serve(
            ServiceConfig(durability="memory"),
            GatewayConfig(port=0, auth="none"),
            handle_signals=False,
            task_status=task_status,
        )
    )
    yield running
    running.stop.set()


def _command(kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "request_id": str(uuid.uuid4()), "ts": time.time_ns() // 10**6, **fields}


async def _rpc(ws: WebSocketConnection, message: dict[str, Any]) -> dict[str, Any]:
    await ws.send_message(json.dumps(message))
    answer: dict[str, Any] = json.loads(await ws.get_message())
    return answer


async def _market(ws: WebSocketConnection) -> None:
    assert (await _rpc(ws, {"type": "Authenticate", "wallet": "admin"}))["role"] == "admin"
    listed = await _rpc(
        ws,
        _command("CreateInstrument", **LISTING),
    )
    assert listed["status"] == "ok"
    for wallet in ("admin", "bob"):
        funded = await _rpc(ws, _command("Deposit", wallet=wallet, amount="100000"))
        assert funded["status"] == "ok"


async def test_get_order_right_after_the_fill_that_closed_it(server: Running) -> None:
    gate = CommitGate(server.exchange)
    async with open_websocket_url(server.url) as ws:
        await _market(ws)
        maker = await _rpc(
            ws, _command("PlaceOrder", symbol=SYMBOL, side="sell", price="10", size="1")
        )
        async with open_websocket_url(server.url) as bob:
            await _rpc(bob, {"type": "Authenticate", "wallet": "bob"})
            with gate.held():
                gate.entered.clear()
                await bob.send_message(
                    json.dumps(
                        _command("PlaceOrder", symbol=SYMBOL, side="buy", price="10", size="1")
                    )
                )
                # The fill is sequenced and its commit held: the read comes after it.
                await trio.to_thread.run_sync(gate.entered.wait)
                await ws.send_message(
                    json.dumps({"type": "GetOrder", "id": 7, "order_id": maker["order_id"]})
                )
                await trio.sleep(0.05)
            order = json.loads(await ws.get_message())
            fill = json.loads(await bob.get_message())
        assert fill["status"] == "filled"
        assert order["type"] == "Order", order
        assert order["status"] == "filled" and order["order_id"] == maker["order_id"]


@given(st.lists(st.binary(min_size=1, max_size=50), min_size=1, max_size=30), st.integers(1, 120))
def test_writes_are_whole_frames_in_pieces_no_larger_than_the_limit(
    frames: list[bytes], limit: int
) -> None:
    pieces = list(_chunks(frames, limit))
    assert b"".join(pieces) == b"".join(frames)
    # Every piece is a run of whole frames, within the limit unless it is one frame.
    at = 0
    for piece in pieces:
        run = []
        while sum(map(len, run)) < len(piece):
            run.append(frames[at])
            at += 1
        assert b"".join(run) == piece
        assert len(piece) <= limit or len(run) == 1
    assert at == len(frames)
