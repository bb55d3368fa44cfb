"""Bad input to the protocol's newer fields: each refused with ``invalid_field`` naming
the field, the connection kept, and nothing journaled."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from websockets.sync.client import connect

from tests.e2e.conftest import Server
from tests.e2e.market import now_ms

pytestmark = pytest.mark.wire_malformed  # the messages are bad on purpose


def test_new_fields_are_checked_and_nothing_is_journaled(server: Server) -> None:
    with connect(server.url) as ws:

        def ask(message: dict[str, Any]) -> dict[str, Any]:
            ws.send(json.dumps({**message, "id": 7}))
            answer: dict[str, Any] = json.loads(ws.recv(10))
            return answer

        def command(kind: str, **fields: Any) -> dict[str, Any]:
            return ask({"type": kind, "request_id": str(uuid.uuid4()), "ts": now_ms(), **fields})

        refused = ask({"type": "Authenticate", "wallet": "alice", "cancel_on_disconnect": "yes"})
        assert (refused["code"], refused["field"]) == ("invalid_field", "cancel_on_disconnect")
        assert ask({"type": "Authenticate", "wallet": "admin"})["type"] == "Authenticated"
        for kind, fields, field in (
            ("CancelAfter", {}, "timeout_ms"),
            ("CancelAfter", {"timeout_ms": -1}, "timeout_ms"),
            ("CancelAfter", {"timeout_ms": 86_400_001}, "timeout_ms"),
            ("CancelAfter", {"timeout_ms": 1.5}, "timeout_ms"),
            ("CancelAfter", {"timeout_ms": True}, "timeout_ms"),
            ("ResumeInstrument", {}, "symbol"),
            ("ResumeInstrument", {"symbol": ""}, "symbol"),
            ("ResumeInstrument", {"symbol": 5}, "symbol"),
        ):
            answer = command(kind, **fields)
            assert (answer["type"], answer["code"], answer.get("field")) == (
                "Error",
                "invalid_field",
                field,
            ), (kind, fields, answer)
        # The service's own commands are not messages a client can send.
        for kind in ("SessionClosed", "ArmCancelOnDisconnect"):
            answer = command(kind, session="x")
            assert (answer["type"], answer["code"]) == ("Error", "unknown_type"), answer
        assert ask({"type": "Ping"})["type"] == "Pong"
    server.stop()
    assert server.records() == []
