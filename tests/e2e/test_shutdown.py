"""(i) Graceful shutdown under load: SIGTERM while several clients submit. The server
exits 0 within 5 s, every command that got a result is in the journal with that very
result, and every command refused as ``unavailable`` is not."""

from __future__ import annotations

import subprocess
import sys
import uuid
from decimal import Decimal

import trio

import hcx.client
from hcx.client import ConnectionLost, HcxError, OrderResult
from hcx.client.messages import Side
from hcx.durability.records import decode_output_object
from hcx.protocol.messages import to_wire
from tests.e2e.conftest import Server
from tests.e2e.market import SYMBOL, list_market

WALLETS = ("w0", "w1", "w2", "w3")
TASKS_PER_WALLET = 4


async def test_sigterm_under_load(server: Server) -> None:
    answered: dict[str, OrderResult] = {}
    refused: list[str] = []
    lost: list[str] = []
    with trio.fail_after(60):
        async with hcx.client.connect(server.url, wallet="admin") as admin:
            await list_market(admin, WALLETS)

        async def submit(client: hcx.client.Client, index: int) -> None:
            side: Side = "buy" if index % 2 else "sell"
            n = 0
            while True:
                request_id = str(uuid.uuid4())
                price = Decimal(100) + Decimal("0.5") * (n % 7)
                try:
                    result = await client.place_order(SYMBOL, side, price, 1, request_id=request_id)
                except HcxError as error:
                    assert error.code == "unavailable", error
                    assert error.request_id == request_id
                    refused.append(request_id)
                    return
                except ConnectionLost:
                    lost.append(request_id)
                    return
                answered[request_id] = result
                n += 1

        async def trader(wallet: str, index: int) -> None:
            async with hcx.client.connect(server.url, wallet=wallet, reconnect=False) as client:
                async with trio.open_nursery() as tasks:
                    for task in range(TASKS_PER_WALLET):
                        tasks.start_soon(submit, client, index + task)
                assert client.server_stopping or lost  # it was told, or cut mid-flight

        async with trio.open_nursery() as nursery:
            for index, wallet in enumerate(WALLETS):
                nursery.start_soon(trader, wallet, index)
            while len(answered) < 300:
                await trio.sleep(0.01)
            code = await trio.to_thread.run_sync(server.stop)
    assert code == 0, server.log_text()
    assert server.stop_seconds is not None and server.stop_seconds < 5.0
    assert len(answered) >= 300 and len(refused) + len(lost) == len(WALLETS) * TASKS_PER_WALLET

    records = {record.request_id: record for record in server.records()}
    seqs = sorted(record.seq for record in records.values())
    assert seqs == list(range(1, len(seqs) + 1))  # no hole
    for request_id, result in answered.items():
        record = records[request_id]
        assert record.seq == result.seq
        stored = hcx.client.parse_message(to_wire(decode_output_object(record.result)))
        assert stored == result
    for request_id in refused:
        assert request_id not in records
    assert any(result.status == "filled" for result in answered.values())

    # The journal it left replays and verifies.
    replay = subprocess.run(
        [sys.executable, "-m", "hcx.cli", "replay", "--db", str(server.db), "--verify"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert replay.returncode == 0, replay.stderr
    assert f"final seq: {seqs[-1]}" in replay.stdout
