"""A standby's read-only gateway: public channels and queries from the replicated state,
with the primary's book seq numbers; every command is refused with ``read_only``."""

from __future__ import annotations

import json
import re
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import attrs
import trio
from websockets.sync.client import connect

from hcx.engine.outputs import OrderResult
from hcx.sequencing import Reply
from tests.harness.journal_driver import SERIES, series_symbol, stream
from tests.replication.failover import LIMIT_S, FailoverCampaign, wait_for_text
from tests.replication.natsd import NatsServer
from tests.replication.test_publication import config, run_requests


def ask(ws: Any, message: dict[str, Any]) -> dict[str, Any]:
    ws.send(json.dumps(message))
    while True:
        answer = json.loads(ws.recv(timeout=10))
        if answer.get("id") == message.get("id") or answer.get("request_id") == message.get(
            "request_id", object()
        ):
            return answer


def test_a_standby_serves_market_data_read_only(tmp_path: Path, nats_server: NatsServer) -> None:
    campaign = FailoverCampaign(nats_server.url, tmp_path, count=200_000)
    primary = campaign.spawn_primary("primary")
    standby = None
    try:
        assert primary.wait_for_new_execution(LIMIT_S), primary.stderr()
        standby = campaign.spawn_standby("standby")
        assert wait_for_text(standby, "hcx standby read-only on", LIMIT_S), standby.stderr()
        line = next(line for line in standby.lines if "read-only on" in line)
        url = re.search(r"ws://\S+", line).group(0)  # type: ignore[union-attr]
        symbol = series_symbol(SERIES[1][0], SERIES[1][1])
        with connect(url) as ws:
            assert ask(ws, {"type": "Authenticate", "id": 1, "wallet": "trader0"})["type"] == (
                "Authenticated"
            )
            # The standby may still be catching up with the listings when it starts.
            deadline = time.monotonic() + 20
            listed: dict[str, Any] = {}
            while symbol not in json.dumps(listed) and time.monotonic() < deadline:
                listed = ask(ws, {"type": "GetInstruments", "id": 2})
            assert symbol in json.dumps(listed)
            subscribed = ask(
                ws, {"type": "Subscribe", "id": 3, "channel": "book", "symbol": symbol}
            )
            assert subscribed["type"] == "Subscribed"
            place = {
                "type": "PlaceOrder",
                "id": 4,
                "request_id": str(uuid.uuid4()),
                "ts": time.time_ns() // 1_000_000,
                "symbol": symbol,
                "side": "buy",
                "price": "100",
                "size": "1",
            }
            refused = ask(ws, place)
            assert (refused["type"], refused["code"]) == ("Error", "read_only")
            # The book: a snapshot, then updates numbered on from it, as the primary's.
            seqs: list[int] = []
            deadline = time.monotonic() + 20
            while len(seqs) < 6 and time.monotonic() < deadline:
                message = json.loads(ws.recv(timeout=10))
                if message.get("type") in ("BookSnapshot", "BookUpdate"):
                    seqs.append(int(message["seq"]))
        assert len(seqs) >= 6
        assert seqs[1:] == list(range(seqs[0] + 1, seqs[0] + len(seqs)))
    finally:
        primary.kill()
        if standby is not None:
            standby.process.send_signal(signal.SIGTERM)
            if not standby.wait_for_exit(LIMIT_S):
                standby.kill()
    assert standby.process.returncode == 0, standby.stderr()


def test_a_standby_answers_get_order_by_request_id_as_the_primary(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    campaign = FailoverCampaign(nats_server.url, tmp_path)
    # The gateway takes canonical UUIDs as request ids (the driver's are not).
    requests = [
        attrs.evolve(r, request_id=str(uuid.uuid5(uuid.NAMESPACE_URL, r.request_id)))
        for r in stream(12, 400)
    ]
    primary = config(Path(campaign.primary), nats_server.url, "sync")
    answers = trio.run(run_requests, primary, requests)
    by_request = {r.request_id: r for r in requests}
    placed = {
        answer.result.order_id: by_request[answer.result.request_id]
        for answer in answers
        if isinstance(answer, Reply)
        and isinstance(answer.result, OrderResult)
        and answer.result.order_id is not None
        and answer.result.request_id in by_request
    }
    standby = campaign.spawn_standby("standby")
    try:
        assert wait_for_text(standby, "hcx standby read-only on", LIMIT_S), standby.stderr()
        line = next(line for line in standby.lines if "read-only on" in line)
        url = re.search(r"ws://\S+", line).group(0)  # type: ignore[union-attr]
        # An order still open at the end: on the standby's engine whatever it saw live.
        wallet = requests[-1].wallet
        with connect(url) as ws:
            assert ask(ws, {"type": "Authenticate", "id": 1, "wallet": wallet})["type"] == (
                "Authenticated"
            )
            deadline = time.monotonic() + 20
            open_ids: list[int] = []
            while not open_ids and time.monotonic() < deadline:
                listed = ask(ws, {"type": "GetOpenOrders", "id": 2})
                open_ids = [o["order_id"] for o in listed["orders"] if o["order_id"] in placed]
            assert open_ids, listed
            order_id = open_ids[-1]
            request_id = placed[order_id].request_id
            found = ask(ws, {"type": "GetOrder", "id": 3, "request_id": request_id})
            unknown = ask(ws, {"type": "GetOrder", "id": 4, "request_id": str(uuid.uuid4())})
    finally:
        standby.process.send_signal(signal.SIGTERM)
        if not standby.wait_for_exit(LIMIT_S):
            standby.kill()
    assert (found.get("type"), found.get("order_id")) == ("Order", order_id), found
    assert found["wallet"] == wallet
    assert (unknown["type"], unknown["code"]) == ("Error", "not_found")
    assert standby.process.returncode == 0, standby.stderr()
