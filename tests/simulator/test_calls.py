"""The simulator's sessions and the client take the same calls: one set of builders.

Every command method of ``hcx.client.Client`` exists on a ``SimSession`` with the same
parameters (names, kinds, defaults, annotations) and the same result type, and both
send the request the builder makes.
"""

from __future__ import annotations

import inspect
from typing import Any

import hcx
from hcx.client import Client, OrderResult
from hcx.client.requests import PlaceOrderRequest, Request
from hcx.simulator import SimSession
from tests.simulator.market import SOON, START_MS

COMMANDS = (
    "place_order",
    "cancel_order",
    "replace_order",
    "cancel_all",
    "withdraw",
    "set_mmp",
    "cancel_after",
    "reset_mmp",
    "accept_quote",
    "create_instrument",
    "deposit",
    "set_index_price",
    "halt_instrument",
    "resume_instrument",
    "settle",
)
OTHER_CALLS = (
    "bulk_orders",
    "request_quote",
    "quote",
    "get_open_orders",
    "get_portfolio",
    "get_order",
    "get_instruments",
    "ping",
    "submit",
)


def test_every_command_has_the_clients_signature_and_result() -> None:
    for name in COMMANDS:
        client = inspect.signature(getattr(Client, name))
        session = inspect.signature(getattr(SimSession, name))
        assert client == session, name
        assert next(iter(client.parameters)) == "self"
        assert client.return_annotation.__module__ == "hcx.client.messages", name
        assert inspect.iscoroutinefunction(getattr(Client, name)), name
        assert not inspect.iscoroutinefunction(getattr(SimSession, name)), name
    assert inspect.signature(Client.place_order).return_annotation is OrderResult
    for name in OTHER_CALLS:
        assert callable(getattr(SimSession, name)), name


def test_a_session_submits_the_request_the_builder_makes() -> None:
    sim = hcx.Simulator(clock=hcx.SimClock(START_MS), seed=3)
    alice = sim.session("alice")
    submitted: list[Request[Any]] = []
    real = alice.submit

    def spy(request: Request[Any]) -> Any:
        submitted.append(request)
        return real(request)

    alice.submit = spy  # type: ignore[method-assign]
    stamp: dict[str, Any] = {"request_id": "00000000-0000-4000-8000-000000000009", "ts": START_MS}
    result = alice.place_order(SOON, "buy", "1.5", 2, tif="ioc", client_id="c", **stamp)
    assert submitted == [
        PlaceOrderRequest(
            symbol=SOON, side="buy", price="1.5", size=2, tif="ioc", client_id="c", **stamp
        )
    ]
    assert isinstance(result, OrderResult) and result.reason == "unknown_symbol"
    alice.cancel_order(5)
    assert submitted[-1].ts == START_MS and submitted[-1].request_id != stamp["request_id"]
