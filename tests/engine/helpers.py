"""A small harness for engine tests: one engine, increasing seqs, readable numbers.

Tests speak in decimal strings (``"100.5"``) and the harness scales them, so every
expected number in a test can be checked by hand against the rules in the module
docstrings of ``hcx.engine``. ``check_invariants`` holds the whole-state properties the
property tests assert after every command; unit tests use it as a cheap extra net.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable
from typing import Any, TypeVar

from hcx.engine import Engine, EngineConfig, Envelope, Output
from hcx.engine.commands import (
    AcceptQuote,
    CancelAll,
    CancelOrder,
    Command,
    CreateInstrument,
    Deposit,
    OptionKind,
    PlaceOrder,
    ReplaceOrder,
    ResetMmp,
    SetIndexPrice,
    SetMmp,
    Settle,
    Side,
)
from hcx.engine.instruments import expected_symbol
from hcx.engine.invariants import violations
from hcx.engine.numbers import fee_for, parse_decimal
from hcx.engine.outputs import Balance, Event, OrderResult

# 2030-01-01T00:00:00Z and 2026-01-01T00:00:00Z: far apart, so nothing expires by accident.
EXPIRY_MS = 1_893_456_000_000
START_TS = 1_767_225_600_000
ADMIN = "admin"

E = TypeVar("E", bound=Event)


def examples(default: int) -> int:
    """Hypothesis example count: ``default``, times ``HCX_EXAMPLES_SCALE`` for a campaign."""
    return default * int(os.environ.get("HCX_EXAMPLES_SCALE", "1"))


def D(text: str) -> int:
    """A decimal string as the engine's scaled integer: ``D("1.5") == 1_500_000``."""
    return parse_decimal(text)


def events_of(output: Output, kind: type[E]) -> list[E]:
    """The events of exactly class ``kind`` (an ``OrderUpdate`` is not an ``OrderResult``)."""
    return [e for e in output.events if type(e) is kind]


def order_result(output: Output) -> OrderResult:
    assert isinstance(output.result, OrderResult), output.result
    return output.result


class Harness:
    """One engine fed envelopes with strictly increasing seqs and non-decreasing ts."""

    def __init__(self, config: EngineConfig | None = None, ts_ms: int = START_TS) -> None:
        self.engine = Engine(config)
        self.seq = 0
        self.ts_ms = ts_ms

    # --- sending -----------------------------------------------------------------------

    def send(self, wallet: str, command: Command, ts_ms: int | None = None) -> Output:
        self.seq += 1
        if ts_ms is not None:
            self.ts_ms = ts_ms
        envelope = Envelope(self.seq, self.ts_ms, wallet, f"req-{self.seq}", command)
        return self.engine.apply(envelope)

    def admin(self, command: Command, ts_ms: int | None = None) -> Output:
        return self.send(ADMIN, command, ts_ms)

    def list_option(
        self,
        underlying: str = "BTC",
        strike: str = "3000",
        option: OptionKind = "call",
        expiry_ms: int = EXPIRY_MS,
        tick: str = "0.1",
        lot: str = "0.1",
        multiplier: str = "1",
        maker_fee_bps: int | None = None,
        taker_fee_bps: int | None = None,
    ) -> str:
        symbol = expected_symbol(underlying, expiry_ms, D(strike), option)
        out = self.admin(
            CreateInstrument(
                symbol,
                underlying,
                expiry_ms,
                D(strike),
                option,
                D(tick),
                D(lot),
                D(multiplier),
                maker_fee_bps,
                taker_fee_bps,
            )
        )
        assert out.result.status == "ok", out.result  # type: ignore[union-attr]
        return symbol

    def fund(self, wallet: str, amount: str = "1000000") -> None:
        out = self.admin(Deposit(wallet, D(amount)))
        assert out.result.status == "ok", out.result  # type: ignore[union-attr]

    def set_index(self, underlying: str, price: str) -> Output:
        return self.admin(SetIndexPrice(underlying, D(price)))

    def settle(self, symbol: str, price: str, ts_ms: int | None = None) -> Output:
        return self.admin(Settle(symbol, D(price)), ts_ms)

    def set_mmp(
        self,
        wallet: str,
        underlying: str = "BTC",
        interval_ms: int = 1_000,
        frozen_ms: int = 5_000,
        qty_limit: str | None = None,
        delta_limit: str | None = None,
        enabled: bool = True,
    ) -> Output:
        return self.send(
            wallet,
            SetMmp(
                underlying,
                interval_ms,
                frozen_ms,
                None if qty_limit is None else D(qty_limit),
                None if delta_limit is None else D(delta_limit),
                enabled,
            ),
        )

    def reset_mmp(self, wallet: str, underlying: str = "BTC") -> Output:
        return self.send(wallet, ResetMmp(underlying))

    def accept(
        self,
        taker: str,
        quoter: str,
        legs: Iterable[tuple[str, Side, str, str]],
        rfq_id: str = "rfq-1",
        quote_id: str = "quote-1",
        expires_ms: int | None = None,
        quoter_mmp: bool = False,
    ) -> Output:
        """AcceptQuote; legs are (symbol, taker side, size, price) in decimal strings and
        the quote expires a minute from now unless told."""
        return self.send(
            taker,
            AcceptQuote(
                rfq_id,
                quote_id,
                quoter,
                tuple((s, d, D(z), D(p)) for s, d, z, p in legs),
                self.ts_ms + 60_000 if expires_ms is None else expires_ms,
                quoter_mmp,
            ),
        )

    def place(
        self, wallet: str, symbol: str, side: Side, price: str, size: str, **kw: Any
    ) -> Output:
        return self.send(wallet, PlaceOrder(symbol, side, D(price), D(size), **kw))

    def place_id(
        self, wallet: str, symbol: str, side: Side, price: str, size: str, **kw: Any
    ) -> int:
        """Place an order that must be accepted; its order id."""
        result = order_result(self.place(wallet, symbol, side, price, size, **kw))
        assert result.status != "rejected", result
        assert result.order_id is not None
        return result.order_id

    def cancel(
        self, wallet: str, order_id: int | None = None, client_id: str | None = None
    ) -> Output:
        return self.send(wallet, CancelOrder(order_id, client_id))

    def replace(self, wallet: str, order_id: int, price: str, size: str, **kw: Any) -> Output:
        return self.send(wallet, ReplaceOrder(order_id, D(price), D(size), **kw))

    def cancel_all(
        self, wallet: str, symbol: str | None = None, underlying: str | None = None
    ) -> Output:
        return self.send(wallet, CancelAll(symbol, underlying))

    # --- reading -----------------------------------------------------------------------

    def balance(self, wallet: str) -> tuple[int, int, int]:
        """(total, available, reserved)."""
        b: Balance = self.engine.balance(wallet)
        return b.total, b.available, b.reserved

    def position(self, wallet: str, symbol: str) -> int:
        owner = self.engine.state.wallets.get(wallet)
        exposure = owner.exposures.get(symbol) if owner is not None else None
        return exposure.size if exposure is not None else 0

    def resting(self, symbol: str, side: Side) -> list[tuple[int, str, int, int]]:
        """(order_id, wallet, price, remaining) in priority order."""
        book = self.engine.state.books[symbol].side(side)
        return [(o.order_id, o.wallet, o.price, o.remaining) for o in book.orders()]

    def depth(self, symbol: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        found = self.engine.book_depth(symbol)
        assert found is not None
        return found[1], found[2]


def state_without_clock(engine: Engine) -> dict[str, Any]:
    """The snapshot minus the envelope bookkeeping: equal before and after a no-op."""
    snap = engine.snapshot()
    del snap["last_seq"], snap["last_ts"]
    return snap


def fills_of(output: Output) -> list[tuple[int | None, int | None, int, int]]:
    """(maker order id, taker order id, price, size) per trade, in order."""
    from hcx.engine.outputs import Fill

    fills = events_of(output, Fill)
    out = []
    for maker, taker in zip(fills[::2], fills[1::2], strict=True):
        assert (maker.liquidity, taker.liquidity) == ("maker", "taker")
        assert maker.trade_id == taker.trade_id
        out.append((maker.order_id, taker.order_id, maker.price, maker.size))
    return out


def check_invariants(
    engine: Engine, margins_current: bool = True, under_water: Collection[str] = ()
) -> None:
    """Whole-state rules that must hold between any two commands.

    ``margins_current`` says no index price moved since collateral was last computed for
    every exposure; only then must each stored ``required`` equal the formula's value
    (the engine recomputes collateral when an exposure is touched, not when the index
    moves). ``under_water`` names wallets whose settlement losses outran the collateral
    they held (nothing liquidates them), which may have less than they reserve.
    """
    state = engine.state
    # The engine's own invariants (what ``hcx replay --verify`` checks), then more.
    assert violations(state) == []
    # Money is only created by deposits and only leaves by withdrawals.
    totals = sum(w.total for w in state.wallets.values())
    assert totals + state.fees_collected == state.deposited - state.withdrawn

    # Every resting order is in its book, in state.orders and in its owner's open_orders.
    in_books: dict[int, Any] = {}
    for symbol, book in state.books.items():
        for side_name, side in (("buy", book.bids), ("sell", book.asks)):
            levels = side.depth()
            for price, size in levels:
                level = side.levels[price]
                assert level, "empty level left in the book"
                assert size == sum(o.remaining for o in level.values()) > 0
            for order in side.orders():
                assert order.symbol == symbol and order.side == side_name
                assert 0 < order.remaining <= order.size
                assert order.status == (
                    "open" if order.remaining == order.size else "partially_filled"
                )
                assert order.order_id not in in_books
                in_books[order.order_id] = order
        best_bid, best_ask = book.bids.best_price(), book.asks.best_price()
        assert best_bid is None or best_ask is None or best_bid < best_ask, "crossed book"
    assert {k: id(v) for k, v in state.orders.items()} == {k: id(v) for k, v in in_books.items()}
    in_wallets: dict[int, Any] = {}
    for name, wallet in state.wallets.items():
        for order_id, order in wallet.open_orders.items():
            assert order.wallet == name
            in_wallets[order_id] = order
        assert wallet.client_ids == {
            o.client_id: o.order_id for o in wallet.open_orders.values() if o.client_id is not None
        }
        assert list(wallet.open_orders) == sorted(wallet.open_orders)
    assert {k: id(v) for k, v in in_wallets.items()} == {k: id(v) for k, v in in_books.items()}

    positions: dict[str, int] = {}
    cost_less_pnl: dict[str, int] = {}
    holders: dict[str, int] = {}
    for wallet in state.wallets.values():
        required_sum = 0
        for symbol, exposure in wallet.exposures.items():
            inst = state.instruments[symbol]
            fee_bps = max(inst.maker_fee_bps, inst.taker_fee_bps)
            mine = [o for o in wallet.open_orders.values() if o.symbol == symbol]
            for o in mine:
                if o.side == "buy":
                    premium = inst.premium(o.price, o.remaining)
                    assert o.reserved == premium + fee_for(premium, fee_bps)
            assert exposure.buy_reserved == sum(o.reserved for o in mine if o.side == "buy")
            assert exposure.open_sell_size == sum(o.remaining for o in mine if o.side == "sell")
            if margins_current:
                assert exposure.required == exposure.requirement(state.margin_per_contract(inst))
            required_sum += exposure.required
            positions[symbol] = positions.get(symbol, 0) + exposure.size
            # Whatever one side books as cost the other books as cost or realized PnL.
            cost_less_pnl[symbol] = (
                cost_less_pnl.get(symbol, 0) + exposure.cost - exposure.realized_pnl
            )
            holders[symbol] = holders.get(symbol, 0) + 1
        assert wallet.reserved == required_sum
        if margins_current and wallet.name not in under_water:
            # With margins as priced, nothing lets a wallet commit more than it has.
            assert wallet.total - wallet.reserved >= 0, wallet.name
    assert all(v == 0 for v in positions.values()), positions
    for symbol, value in cost_less_pnl.items():
        if state.instruments[symbol].status == "settled":
            # Settlement rounds each holder's cash down and the venue keeps the dust, so
            # realized PnL falls short of zero-sum by less than one micro-unit per holder.
            assert 0 <= value < holders[symbol], (symbol, value)
        else:
            assert value == 0, cost_less_pnl
    for symbol, inst in state.instruments.items():
        if inst.status in ("expired", "settled"):
            book = state.books[symbol]
            assert not book.bids and not book.asks, f"orders rest on {inst.status} {symbol}"
        if inst.status == "settled":
            sizes = [
                w.exposures[symbol].size for w in state.wallets.values() if symbol in w.exposures
            ]
            assert not any(sizes), f"positions left on settled {symbol}"


def ids_of(events: Iterable[Any], attr: str) -> list[int]:
    return [getattr(e, attr) for e in events]
