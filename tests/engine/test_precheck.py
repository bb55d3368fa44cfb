"""``refuse_early`` answers exactly what ``apply`` would, and only when apply changes
nothing: so skipping the journal for those answers loses nothing replay needs."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hcx.engine import Engine, Envelope
from hcx.engine.commands import (
    CreateInstrument,
    Deposit,
    HaltInstrument,
    PlaceOrder,
    ReplaceOrder,
    Withdraw,
)
from hcx.engine.instruments import expected_symbol
from hcx.engine.numbers import parse_decimal
from hcx.engine.plain import replace

EXPIRY = 1_924_905_600_000
LISTED = expected_symbol("BTC", EXPIRY, parse_decimal("3000"), "call")
HALTED = expected_symbol("BTC", EXPIRY, parse_decimal("3100"), "call")
UNLISTED = expected_symbol("BTC", EXPIRY, parse_decimal("3200"), "call")


def _engine() -> Engine:
    engine = Engine()
    setup: list[Any] = [
        CreateInstrument(LISTED, "BTC", EXPIRY, parse_decimal("3000"), "call", 100_000, 1_000_000),
        CreateInstrument(HALTED, "BTC", EXPIRY, parse_decimal("3100"), "call", 100_000, 1_000_000),
        HaltInstrument(HALTED),
        Deposit("alice", 10**12),
    ]
    for seq, command in enumerate(setup, start=1):
        engine.apply(Envelope(seq, 1_000, "alice", f"s{seq}", command))
    engine.apply(
        Envelope(5, 1_000, "alice", "rest", PlaceOrder(LISTED, "buy", 1_000_000, 1_000_000))
    )
    return engine


prices = st.sampled_from([-100_000, 0, 50_000, 100_000, 150_000, 1_000_000])
sizes = st.sampled_from([-1_000_000, 0, 500_000, 1_000_000, 2_000_000])
commands = st.one_of(
    st.builds(
        PlaceOrder,
        symbol=st.sampled_from([LISTED, HALTED, UNLISTED]),
        side=st.sampled_from(["buy", "sell"]),
        price=prices,
        size=sizes,
    ),
    st.builds(ReplaceOrder, order_id=st.sampled_from([1, 2, 99]), price=prices, size=sizes),
    st.builds(Withdraw, amount=st.sampled_from([-5, 0, 5])),
    st.builds(Deposit, wallet=st.just("bob"), amount=st.sampled_from([-5, 0, 5])),
)


def _state(engine: Engine) -> dict[str, Any]:
    snapshot = engine.snapshot()
    del snapshot["last_seq"], snapshot["last_ts"]
    return snapshot


@settings(max_examples=300, deadline=None)
@given(command=commands, wallet=st.sampled_from(["alice", "bob"]))
def test_early_refusal_is_apply_s_answer_and_apply_changes_nothing(
    command: Any, wallet: str
) -> None:
    engine = _engine()
    envelope = Envelope(6, 2_000, wallet, "r", command)
    early = engine.refuse_early(envelope)
    before = _state(engine)
    output = engine.apply(envelope)
    if early is None:
        return
    assert replace(early, seq=6) == output.result
    assert output.events == []
    assert _state(engine) == before


def test_early_refusals_do_happen() -> None:
    engine = _engine()
    off_tick = Envelope(6, 2_000, "alice", "r", PlaceOrder(LISTED, "buy", 150_000, 1_000_000))
    halted = Envelope(6, 2_000, "alice", "r", PlaceOrder(HALTED, "buy", 150_000, 1_000_000))
    refused = engine.refuse_early(off_tick)
    assert refused is not None and refused.reason == "invalid_price"  # type: ignore[union-attr]
    assert refused.seq == 5
    # A halted instrument answers instrument_not_active first, and that is journaled.
    assert engine.refuse_early(halted) is None
