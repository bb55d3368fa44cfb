"""The dead-man's switch and cancel-on-disconnect in the engine: cancels at envelope time
only, once, the same on replay and after a snapshot restore."""

from __future__ import annotations

from hcx.engine import Engine
from hcx.engine.commands import (
    ArmCancelOnDisconnect,
    CancelAfter,
    Envelope,
    SessionClosed,
    Tick,
)
from hcx.engine.outputs import AdminResult, CancelAfterResult, OrderUpdate
from tests.engine.helpers import EXPIRY_MS, Harness, events_of


def _canceled(out: object, reason: str) -> list[tuple[int | None, str]]:
    return [
        (u.order_id, u.wallet)
        for u in events_of(out, OrderUpdate)  # type: ignore[arg-type]
        if u.status == "canceled" and u.reason == reason
    ]


def _market() -> tuple[Harness, str, list[int]]:
    h = Harness()
    sym = h.list_option()
    h.fund("a")
    h.fund("b")
    ids = [h.place_id("a", sym, "buy", price, "1") for price in ("1", "2")]
    h.place_id("b", sym, "buy", "1", "1")
    return h, sym, ids


def test_cancel_after_fires_once_at_the_first_command_past_the_deadline() -> None:
    h, sym, ids = _market()
    out = h.send("a", CancelAfter(5_000))
    result = out.result
    assert isinstance(result, CancelAfterResult)
    assert (result.status, result.deadline_ms) == ("ok", h.ts_ms + 5_000)
    deadline = h.ts_ms + 5_000
    # Renewed in time: the deadline moves.
    out = h.send("a", CancelAfter(5_000), ts_ms=deadline - 1)
    deadline = out.result.deadline_ms  # type: ignore[union-attr]
    assert _canceled(h.send("b", Tick(), ts_ms=deadline - 1), "cancel_after") == []
    # Any command at or after the deadline applies it first, whoever sends it.
    out = h.send("b", Tick(), ts_ms=deadline)
    assert _canceled(out, "cancel_after") == [(ids[0], "a"), (ids[1], "a")]
    assert isinstance(out.result, AdminResult)
    assert h.engine.open_orders("a") == [] and len(h.engine.open_orders("b")) == 1
    # Once: later commands cancel nothing more.
    h.place_id("a", sym, "buy", "1", "1")
    assert _canceled(h.send("b", Tick(), ts_ms=deadline + 10_000), "cancel_after") == []


def test_cancel_after_zero_turns_it_off_and_limits_are_checked() -> None:
    h, _sym, _ids = _market()
    h.send("a", CancelAfter(1_000))
    out = h.send("a", CancelAfter(0))
    assert (out.result.status, out.result.deadline_ms) == ("ok", None)  # type: ignore[union-attr]
    assert _canceled(h.send("b", Tick(), ts_ms=h.ts_ms + 60_000), "cancel_after") == []
    out = h.send("a", CancelAfter(86_400_001))
    assert (out.result.status, out.result.reason) == ("rejected", "invalid_timeout")  # type: ignore[union-attr]


def test_session_closed_cancels_the_armed_wallet_once() -> None:
    h, _sym, ids = _market()
    h.send("a", ArmCancelOnDisconnect("s1"))
    assert _canceled(h.send("a", SessionClosed("unknown")), "cancel_on_disconnect") == []
    out = h.send("a", SessionClosed("s1"))
    assert _canceled(out, "cancel_on_disconnect") == [(ids[0], "a"), (ids[1], "a")]
    assert h.engine.state.disconnect_sessions == {}
    h.fund("a")
    assert _canceled(h.send("a", SessionClosed("s1")), "cancel_on_disconnect") == []


def test_replay_and_restore_give_the_same_cancels() -> None:
    h, _sym, _ids = _market()
    h.send("a", CancelAfter(5_000))
    h.send("b", ArmCancelOnDisconnect("s2"))
    snapshot = h.engine.snapshot()
    assert snapshot["cancel_after"] == {"a": h.ts_ms + 5_000}
    assert snapshot["disconnect_sessions"] == {"s2": "b"}
    restored = Engine.restore(snapshot)
    assert restored.digest() == h.engine.digest()
    later = [
        Envelope(h.seq + 1, h.ts_ms + 6_000, "b", "r1", Tick()),
        Envelope(h.seq + 2, h.ts_ms + 6_001, "b", "r2", SessionClosed("s2")),
    ]
    outputs = [h.engine.apply(e) for e in later]
    again = [restored.apply(e) for e in later]
    assert outputs == again
    assert restored.digest() == h.engine.digest()
    assert _canceled(outputs[0], "cancel_after") and _canceled(outputs[1], "cancel_on_disconnect")
    # A state that never used them keeps the snapshot it had before they existed.
    fresh = Harness()
    fresh.list_option()
    assert "cancel_after" not in fresh.engine.snapshot()


def test_next_due_names_the_earliest_deadline_and_forgets_it_once_fired() -> None:
    h, _sym, ids = _market()
    assert h.engine.next_due_ms() == EXPIRY_MS
    h.send("a", CancelAfter(5_000))
    first = h.ts_ms + 5_000
    assert h.engine.next_due_ms() == first
    h.send("b", CancelAfter(3_000))
    assert h.engine.next_due_ms() == h.ts_ms + 3_000
    h.send("b", CancelAfter(0))
    assert h.engine.next_due_ms() == first
    # A Tick at the time it names fires the deadline; then nothing is due.
    out = h.send("b", Tick(), ts_ms=first)
    assert _canceled(out, "cancel_after") == [(ids[0], "a"), (ids[1], "a")]
    assert h.engine.next_due_ms() == EXPIRY_MS


def test_next_due_is_the_earlier_of_expiry_and_deadline() -> None:
    h = Harness()
    h.list_option()
    h.fund("a")
    assert h.engine.next_due_ms() == EXPIRY_MS
    h.send("a", CancelAfter(1_000))
    assert h.engine.next_due_ms() == h.ts_ms + 1_000 < EXPIRY_MS
    h.send("a", CancelAfter(0))
    assert h.engine.next_due_ms() == EXPIRY_MS
