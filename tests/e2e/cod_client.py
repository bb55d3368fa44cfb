"""A client process for the cancel-on-disconnect tests: ``python cod_client.py URL WALLET
ORDERS [CANCEL_AFTER_MS]``.

Authenticates with ``cancel_on_disconnect: true`` (and, given CANCEL_AFTER_MS, arms the
dead-man's switch), rests ORDERS buy orders on the e2e market's symbol, prints ``ready``
and their ids, then sleeps: the test kills it (SIGKILL) or freezes it (SIGSTOP: it stops
reading and answering pings). Its ``websockets`` client answers pings from a thread
while it runs."""

from __future__ import annotations

import json
import sys
import time
import uuid
from typing import Any

from websockets.sync.client import connect

SYMBOL = "BTC-20301231-3000-C"


def main() -> None:
    url, wallet, orders = sys.argv[1], sys.argv[2], int(sys.argv[3])
    cancel_after = int(sys.argv[4]) if len(sys.argv) > 4 else None
    with connect(url) as ws:

        def request(message: dict[str, Any]) -> dict[str, Any]:
            ws.send(json.dumps(message))
            while True:
                answer = json.loads(ws.recv(10))
                if answer.get("id") == message.get("id") or answer.get("request_id") == message.get(
                    "request_id"
                ):
                    return answer  # type: ignore[no-any-return]

        auth = request(
            {"type": "Authenticate", "id": 1, "wallet": wallet, "cancel_on_disconnect": True}
        )
        assert auth.get("cancel_on_disconnect") is True, auth
        stamp = {"ts": int(time.time() * 1000)}
        if cancel_after is not None:
            armed = request(
                {
                    "type": "CancelAfter",
                    "request_id": str(uuid.uuid4()),
                    **stamp,
                    "timeout_ms": cancel_after,
                }
            )
            assert armed["status"] == "ok", armed
        ids = []
        for index in range(orders):
            placed = request(
                {
                    "type": "PlaceOrder",
                    "request_id": str(uuid.uuid4()),
                    **stamp,
                    "symbol": SYMBOL,
                    "side": "buy",
                    "price": f"{1 + index}",
                    "size": "1",
                }
            )
            assert placed["status"] == "open", placed
            ids.append(placed["order_id"])
        print("ready", *ids, flush=True)
        while True:
            time.sleep(3600)


if __name__ == "__main__":
    main()
