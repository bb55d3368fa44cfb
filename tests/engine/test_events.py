"""Outputs: book updates and their ``book_seq``, id counters, event order, envelope misuse.

Market data must let a subscriber rebuild the book from updates alone: ``book_seq`` rises
by exactly one per update of a symbol, and each update carries the final size of every
level the command touched (0 removes it). Ids come from counters and are never reused.
"""

from __future__ import annotations

import pytest

from hcx.engine import Envelope, Output
from hcx.engine.commands import Deposit, PlaceOrder
from hcx.engine.engine import EngineMisuse
from hcx.engine.outputs import (
    Balance,
    BookUpdate,
    Fill,
    OrderUpdate,
    Position,
    Trade,
)

from .helpers import D, Harness, events_of, order_result


@pytest.fixture
def h() -> Harness:
    h = Harness()
    for w in ("a", "b", "c"):
        h.fund(w)
    return h


def _book(out: Output, symbol: str) -> BookUpdate:
    (update,) = [u for u in events_of(out, BookUpdate) if u.symbol == symbol]
    return update


def test_book_updates_carry_level_totals_and_count_by_one(h: Harness) -> None:
    sym = h.list_option()
    first = h.place_id("a", sym, "sell", "100", "1")
    out = h.place("b", sym, "sell", "100", "2")
    assert _book(out, sym).book_seq == 2
    assert (_book(out, sym).bids, _book(out, sym).asks) == ([], [(D("100"), D("3"))])
    out = h.cancel("a", first)
    assert (_book(out, sym).book_seq, _book(out, sym).asks) == (3, [(D("100"), D("2"))])
    h.place_id("b", sym, "sell", "101", "1")
    # One sweep over two levels is one update with both levels' final sizes.
    out = h.place("c", sym, "buy", "101", "2.5")
    update = _book(out, sym)
    assert update.book_seq == 5
    assert update.asks == [(D("100"), 0), (D("101"), D("0.5"))]
    assert update.bids == []
    assert update.seq == h.seq
    # A taker that rests changes its own side too.
    out = h.place("c", sym, "buy", "101", "1")
    update = _book(out, sym)
    assert (update.book_seq, update.bids, update.asks) == (
        6,
        [(D("101"), D("0.5"))],
        [(D("101"), 0)],
    )


def test_book_seq_is_per_symbol(h: Harness) -> None:
    one = h.list_option()
    two = h.list_option(strike="3100")
    assert _book(h.place("a", one, "buy", "1", "1"), one).book_seq == 1
    assert _book(h.place("a", one, "buy", "2", "1"), one).book_seq == 2
    assert _book(h.place("a", two, "buy", "1", "1"), two).book_seq == 1
    # Cancel-all across both books: one update each, each the next of its own count.
    out = h.cancel_all("a")
    assert (_book(out, one).book_seq, _book(out, two).book_seq) == (3, 2)
    assert _book(out, one).bids == [(D("2"), 0), (D("1"), 0)]
    assert h.engine.book_depth(one) == (3, [], [])


def test_commands_that_touch_no_level_send_no_book_update(h: Harness) -> None:
    sym = h.list_option()
    h.place("a", sym, "buy", "1", "1")
    for out in (
        h.place("b", sym, "sell", "2", "1", tif="ioc"),  # nothing to take
        h.place("b", sym, "sell", "1", "2", tif="fok"),  # not enough to fill
        h.place("b", sym, "sell", "1.05", "1"),  # rejected
        h.cancel("b", 999),
    ):
        assert events_of(out, BookUpdate) == []
    assert h.engine.book_depth(sym) == (1, [(D("1"), D("1"))], [])


def test_bids_listed_best_first(h: Harness) -> None:
    sym = h.list_option()
    for p in ("1", "3", "2"):
        h.place("a", sym, "buy", p, "1")
    out = h.cancel_all("a")
    assert _book(out, sym).bids == [(D("3"), 0), (D("2"), 0), (D("1"), 0)]


def test_event_order_within_a_command(h: Harness) -> None:
    sym = h.list_option()
    h.place("a", sym, "sell", "100", "1")
    h.place("b", sym, "sell", "101", "1")
    out = h.place("c", sym, "buy", "101", "2")
    kinds = [type(e) for e in out.events]
    # Trades and fills as they happen, then order updates, book, positions, balances.
    assert kinds == [
        Trade,
        Fill,
        Fill,
        Trade,
        Fill,
        Fill,
        OrderUpdate,
        OrderUpdate,
        OrderUpdate,
        BookUpdate,
        Position,
        Position,
        Position,
        Balance,
        Balance,
        Balance,
    ]
    assert all(e.seq == h.seq for e in out.events)
    # Each wallet whose cash or collateral changed gets one final balance.
    assert sorted(b.wallet for b in events_of(out, Balance)) == ["a", "b", "c"]
    for b in events_of(out, Balance):
        assert (b.total, b.available, b.reserved) == h.balance(b.wallet)


def test_result_echoes_envelope(h: Harness) -> None:
    sym = h.list_option()
    out = h.send("a", PlaceOrder(sym, "buy", D("1"), D("1"), client_id="k"), ts_ms=h.ts_ms + 7)
    result = order_result(out)
    assert (result.request_id, result.wallet, result.seq, result.ts, result.client_id) == (
        f"req-{h.seq}",
        "a",
        h.seq,
        h.ts_ms,
        "k",
    )
    (update,) = events_of(out, OrderUpdate)
    assert (update.request_id, update.ts) == (f"req-{h.seq}", h.ts_ms)


def test_ids_come_from_counters_and_are_never_reused(h: Harness) -> None:
    sym = h.list_option()
    order_ids: list[int] = []
    trade_ids: list[int] = []
    fill_ids: list[int] = []

    def record(out: Output) -> None:
        for e in out.events:
            if isinstance(e, Trade):
                trade_ids.append(e.trade_id)
            elif isinstance(e, Fill):
                fill_ids.append(e.fill_id)
        result = order_result(out)
        # A cancel answers with the id of an order seen before: count each id once.
        if result.status != "rejected" and result.order_id not in order_ids:
            assert result.order_id is not None
            order_ids.append(result.order_id)

    record(h.place("a", sym, "sell", "100", "1"))
    record(h.place("a", sym, "sell", "100.05", "1"))  # rejected: takes no id
    record(h.place("b", sym, "buy", "100", "0.5"))
    first = order_ids[0]
    record(h.replace("a", first, "100", "2"))
    record(h.cancel("a", order_ids[-1]))
    record(h.place("c", sym, "buy", "100", "1", tif="fok"))  # killed, but it had an id
    record(h.place("a", sym, "sell", "100", "1"))
    record(h.place("b", sym, "buy", "100", "1"))
    record(h.place("c", sym, "buy", "100", "1", tif="ioc"))
    assert order_ids == [1, 2, 3, 4, 5, 6, 7]
    assert trade_ids == [1, 2]
    assert fill_ids == [1, 2, 3, 4]
    assert h.engine.state.next_order_id == 8
    # A canceled or filled id is not given out again.
    assert order_result(h.place("a", sym, "buy", "1", "1")).order_id == 8


def test_seq_must_increase(h: Harness) -> None:
    h.list_option()
    snapshot = h.engine.snapshot()
    last = h.seq
    for seq in (last, last - 1, 0):
        with pytest.raises(EngineMisuse):
            h.engine.apply(Envelope(seq, h.ts_ms, "admin", "r", Deposit("a", 1)))
    assert h.engine.snapshot() == snapshot
    # Gaps are fine: the sequencer may skip numbers.
    h.engine.apply(Envelope(last + 10, h.ts_ms, "admin", "r", Deposit("a", 1)))
    with pytest.raises(EngineMisuse):
        h.engine.apply(Envelope(last + 5, h.ts_ms, "admin", "r", Deposit("a", 1)))


def test_read_queries_show_own_state_only(h: Harness) -> None:
    one = h.list_option()
    two = h.list_option(strike="3100")
    first = h.place_id("a", one, "buy", "1", "1", client_id="k")
    second = h.place_id("a", two, "buy", "1", "1")
    h.place_id("b", one, "sell", "5", "1")
    assert [o.order_id for o in h.engine.open_orders("a")] == [first, second]
    assert [o.order_id for o in h.engine.open_orders("a", two)] == [second]
    assert h.engine.open_orders("ghost") == []
    found = h.engine.open_order("a", client_id="k")
    assert found is not None and (found.order_id, found.status) == (first, "open")
    # Another wallet's order is invisible, by id or by client id.
    assert h.engine.open_order("b", order_id=first) is None
    assert h.engine.open_order("b", client_id="k") is None
    assert h.engine.balance("ghost") == Balance("ghost", 0, 0, 0, h.seq)
    assert h.engine.book_depth("BTC-20300101-9999-C") is None
    assert [i.symbol for i in h.engine.instruments()] == sorted([one, two])
    # b hits a's bid at 1: a is long 1 at 1.
    h.place("b", one, "sell", "1", "1")
    (pos,) = h.engine.positions("a")
    assert (pos.symbol, pos.size, pos.entry_price, pos.realized_pnl) == (one, D("1"), D("1"), 0)
    assert h.engine.positions("ghost") == []
