"""The engine's matching agrees with a deliberately naive reference matcher.

The reference keeps resting orders in one plain list in arrival order and finds the next
maker by a linear scan for the best price, earliest arrival. It knows price-time priority,
fills at the maker's price, gtc/ioc/fok, post-only, reduce-only (at placement, and a
resting reduce-only order fills only what its owner still holds), all three self-trade
prevention modes, cancel and replace, and nothing else: wallets are funded so generously
that collateral never rejects. A fill-or-kill is decided the naive way, by matching on a
copy and looking whether it filled, so the engine's look-ahead is checked against the
definition. Fed the same random stream, both must produce the same fills (maker order,
taker order, price, size, in order), the same results, positions and resting book after
every command.
"""

from __future__ import annotations

import copy
from typing import Any

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from hcx.engine import Engine, Envelope
from hcx.engine.commands import (
    SIDES,
    STP_MODES,
    CancelOrder,
    Command,
    CreateInstrument,
    Deposit,
    PlaceOrder,
    ReplaceOrder,
    SelfTradePrevention,
    Side,
    TimeInForce,
)
from hcx.engine.instruments import expected_symbol
from hcx.engine.outputs import OrderResult

from .helpers import EXPIRY_MS, START_TS, D, examples, fills_of

STRIKE = D("3000")
SYMBOL = expected_symbol("BTC", EXPIRY_MS, STRIKE, "call")
WALLETS = ["a", "b", "c"]
UNIT = D("1")  # tick, lot and multiplier are all 1

Fill = tuple[int, int, int, int]  # (maker id, taker id, price, size)
Outcome = tuple[str, str | None, int, int | None]  # (status, reason, filled, order id)


@attrs.define
class RefOrder:
    order_id: int
    wallet: str
    side: str
    price: int
    size: int
    remaining: int
    reduce_only: bool


class ReferenceMatcher:
    """The rules as plainly as they can be written; speed is no concern."""

    def __init__(self) -> None:
        self.resting: list[RefOrder] = []  # arrival order
        self.positions: dict[str, int] = {}
        self.next_id = 1

    def _reducible(self, wallet: str, side: str) -> int:
        position = self.positions.get(wallet, 0)
        return max(position if side == "sell" else -position, 0)

    def _crossing(self, side: str, price: int) -> list[RefOrder]:
        """Opposite orders the incoming one may trade with, best first, oldest first."""
        found = [
            o
            for o in self.resting
            if o.side != side and (o.price <= price if side == "buy" else o.price >= price)
        ]
        arrival = {o.order_id: i for i, o in enumerate(self.resting)}
        return sorted(
            found,
            key=lambda o: (o.price if side == "buy" else -o.price, arrival[o.order_id]),
        )

    def place(
        self, wallet: str, cmd: PlaceOrder | ReplaceOrder, side: str
    ) -> tuple[Outcome, list[Fill]]:
        reason = self._refusal(wallet, cmd, side)
        if reason is not None:
            return ("rejected", reason, 0, None), []
        order_id = self.next_id
        self.next_id += 1
        if cmd.tif == "fok":
            trial = copy.deepcopy(self)
            remaining, _, _ = trial._match(wallet, side, cmd, order_id)
            if remaining:
                return ("canceled", "fok_unfilled", 0, order_id), []
        remaining, fills, self_trade = self._match(wallet, side, cmd, order_id)
        filled = cmd.size - remaining
        if not remaining:
            return ("filled", None, filled, order_id), fills
        if self_trade:
            return ("canceled", "self_trade", filled, order_id), fills
        if cmd.tif != "gtc":
            return ("canceled", f"{cmd.tif}_remainder", filled, order_id), fills
        self.resting.append(
            RefOrder(order_id, wallet, side, cmd.price, cmd.size, remaining, cmd.reduce_only)
        )
        status = "open" if remaining == cmd.size else "partially_filled"
        return (status, None, filled, order_id), fills

    def _refusal(self, wallet: str, cmd: PlaceOrder | ReplaceOrder, side: str) -> str | None:
        if cmd.post_only and self._crossing(side, cmd.price):
            return "post_only_would_take"
        if cmd.reduce_only and cmd.size > self._reducible(wallet, side):
            return "reduce_only_violation"
        return None

    def _match(
        self, wallet: str, side: str, cmd: PlaceOrder | ReplaceOrder, order_id: int
    ) -> tuple[int, list[Fill], bool]:
        """Trade the incoming order; (remaining, fills, stopped by self-trade)."""
        remaining = cmd.size
        fills: list[Fill] = []
        while remaining:
            crossing = self._crossing(side, cmd.price)
            if not crossing:
                break
            maker = crossing[0]
            if maker.wallet == wallet:
                if cmd.stp in ("cancel_maker", "cancel_both"):
                    self.resting.remove(maker)
                if cmd.stp in ("cancel_taker", "cancel_both"):
                    return remaining, fills, True
                continue
            size = min(remaining, maker.remaining)
            if maker.reduce_only:
                size = min(size, self._reducible(maker.wallet, maker.side))
                if not size:
                    self.resting.remove(maker)
                    continue
            fills.append((maker.order_id, order_id, maker.price, size))
            signed = size if side == "buy" else -size
            self.positions[wallet] = self.positions.get(wallet, 0) + signed
            self.positions[maker.wallet] = self.positions.get(maker.wallet, 0) - signed
            maker.remaining -= size
            remaining -= size
            if not maker.remaining:
                self.resting.remove(maker)
        return remaining, fills, False

    def _find(self, wallet: str, order_id: int) -> tuple[RefOrder | None, str | None]:
        for order in self.resting:
            if order.order_id == order_id:
                return (order, None) if order.wallet == wallet else (None, "not_owner")
        return None, "unknown_order"

    def cancel(self, wallet: str, order_id: int) -> Outcome:
        order, reason = self._find(wallet, order_id)
        if order is None:
            return ("rejected", reason, 0, None)
        self.resting.remove(order)
        return ("canceled", None, order.size - order.remaining, order_id)

    def replace(self, wallet: str, cmd: ReplaceOrder) -> tuple[Outcome, list[Fill]]:
        order, reason = self._find(wallet, cmd.order_id)
        if order is None:
            return ("rejected", reason, 0, None), []
        # Validated as a whole first: a rejected replace leaves the old order alone.
        reason = self._refusal(wallet, cmd, order.side)
        if reason is not None:
            return ("rejected", reason, 0, None), []
        self.resting.remove(order)
        return self.place(wallet, cmd, order.side)

    def book(self) -> dict[str, list[tuple[int, str, int, int]]]:
        out = {}
        for side in ("buy", "sell"):
            mine = [o for o in self.resting if o.side == side]
            arrival = {o.order_id: i for i, o in enumerate(self.resting)}
            mine.sort(key=lambda o: (-o.price if side == "buy" else o.price, arrival[o.order_id]))
            out[side] = [(o.order_id, o.wallet, o.price, o.remaining) for o in mine]
        return out


# --- streams ---------------------------------------------------------------------------

# A band of seven ticks and small sizes: orders meet often and sweep several levels.
prices = st.integers(97, 103).map(lambda n: n * UNIT)
sizes = st.integers(1, 6).map(lambda n: n * UNIT)
tifs: st.SearchStrategy[TimeInForce] = st.sampled_from(["gtc", "gtc", "gtc", "ioc", "fok", "fok"])
stps: st.SearchStrategy[SelfTradePrevention] = st.sampled_from(STP_MODES)
flags = st.sampled_from([False, False, False, False, True])
# Often enough that a wallet's reduce-only offer sits behind its plain ones.
reduce_flags = st.sampled_from([False, False, True])
ids = st.integers(1, 50)

places = st.builds(
    PlaceOrder,
    symbol=st.just(SYMBOL),
    side=st.sampled_from(["buy", "sell"]),
    price=prices,
    size=sizes,
    tif=tifs,
    post_only=flags,
    reduce_only=reduce_flags,
    stp=stps,
)
cancels = st.builds(CancelOrder, order_id=ids)
replaces = st.builds(
    ReplaceOrder,
    order_id=ids,
    price=prices,
    size=sizes,
    tif=tifs,
    post_only=flags,
    reduce_only=reduce_flags,
    stp=stps,
)
ops = st.tuples(st.sampled_from(WALLETS), st.one_of(places, places, places, cancels, replaces))


# Every stream starts by giving a a long and b a short (c is the other side of both), so
# that reduce-only orders can rest from the first step.
PRELUDE: list[tuple[str, Command]] = [
    ("c", PlaceOrder(SYMBOL, "sell", 100 * UNIT, 12 * UNIT)),
    ("a", PlaceOrder(SYMBOL, "buy", 100 * UNIT, 12 * UNIT)),
    ("c", PlaceOrder(SYMBOL, "buy", 100 * UNIT, 12 * UNIT)),
    ("b", PlaceOrder(SYMBOL, "sell", 100 * UNIT, 12 * UNIT)),
]


def _engine_fills(output: Any) -> list[Fill]:
    return [(m, t, p, s) for m, t, p, s in fills_of(output)]  # type: ignore[misc]


def _engine_book(engine: Engine) -> dict[str, list[tuple[int, str, int, int]]]:
    book = engine.state.books[SYMBOL]
    return {
        name: [(o.order_id, o.wallet, o.price, o.remaining) for o in side.orders()]
        for name, side in (("buy", book.bids), ("sell", book.asks))
    }


def run_against_reference(stream: list[tuple[str, Command]]) -> None:
    """Apply ``PRELUDE + stream`` to a fresh engine and the reference, comparing each step."""
    engine = Engine()
    seq = 0

    def apply(wallet: str, command: Command) -> Any:
        nonlocal seq
        seq += 1
        return engine.apply(Envelope(seq, START_TS, wallet, f"r{seq}", command))

    apply(
        "admin",
        CreateInstrument(SYMBOL, "BTC", EXPIRY_MS, STRIKE, "call", UNIT, UNIT, UNIT, 2, 5),
    )
    for wallet in WALLETS:
        apply("admin", Deposit(wallet, D("1000000000")))
    reference = ReferenceMatcher()

    for step, (wallet, command) in enumerate(PRELUDE + stream):
        output = apply(wallet, command)
        fills: list[Fill] = []
        if isinstance(command, PlaceOrder):
            outcome, fills = reference.place(wallet, command, command.side)
        elif isinstance(command, ReplaceOrder):
            outcome, fills = reference.replace(wallet, command)
        else:
            assert isinstance(command, CancelOrder) and command.order_id is not None
            outcome = reference.cancel(wallet, command.order_id)
        result = output.result
        assert isinstance(result, OrderResult)
        got = (result.status, result.reason, result.filled_size, result.order_id)
        if isinstance(command, CancelOrder) and result.status == "rejected":
            # A rejected cancel echoes the id it was asked about.
            got = (*got[:3], None)
        assert got == outcome, (step, command)
        assert _engine_fills(output) == fills, (step, command)
        assert _engine_book(engine) == reference.book(), (step, command)
        positions = {w: engine.state.wallets[w].exposures.get(SYMBOL) for w in WALLETS}
        assert {w: e.size if e else 0 for w, e in positions.items()} == {
            w: reference.positions.get(w, 0) for w in WALLETS
        }
    # The generous funding really kept collateral out of the way.
    assert all(engine.balance(w).available > 0 for w in WALLETS)


@settings(max_examples=examples(300), deadline=None)
@given(st.lists(ops, min_size=30, max_size=100))
def test_engine_matches_reference(stream: list[tuple[str, Command]]) -> None:
    run_against_reference(stream)


@st.composite
def one_sweep(draw: st.DrawFn) -> list[tuple[str, Command]]:
    """A few resting orders on one side, plain and reduce-only, then one taker.

    Random streams rarely line up a wallet's reduce-only order behind its own plain
    ones in front of a fill-or-kill; this shape does so on purpose: makers are mostly
    the wallet whose position their reduce-only orders reduce, and the taker's size sits
    near the total resting size, where whether a fill-or-kill fills is a close call.
    """
    side: Side = draw(st.sampled_from(SIDES))
    maker_side = "sell" if side == "buy" else "buy"
    holder = "a" if maker_side == "sell" else "b"  # long 12 / short 12 after the prelude
    far = 103 if side == "buy" else 97  # the taker reaches every resting price
    makers = st.tuples(
        st.sampled_from([holder, holder, *WALLETS]),
        st.builds(
            PlaceOrder,
            symbol=st.just(SYMBOL),
            side=st.just(maker_side),
            price=st.integers(98, 102).map(lambda n: n * UNIT),
            # Up to the prelude's positions of 12, so a wallet's plain and reduce-only
            # orders together often offer more than it holds.
            size=st.integers(1, 12).map(lambda n: n * UNIT),
            reduce_only=st.booleans(),
        ),
    )
    resting = draw(st.lists(makers, min_size=1, max_size=6))
    offered = sum(cmd.size for _, cmd in resting) // UNIT
    taker = PlaceOrder(
        SYMBOL,
        side,
        draw(st.sampled_from([far, far, 100])) * UNIT,
        max(1, offered + draw(st.integers(-12, 2))) * UNIT,
        tif=draw(st.sampled_from(["fok", "fok", "fok", "ioc", "gtc"])),
        stp=draw(stps),
    )
    return [*resting, (draw(st.sampled_from(WALLETS)), taker)]


@settings(max_examples=examples(500), deadline=None)
@given(one_sweep())
def test_sweep_through_reduce_only_makers_matches_reference(
    stream: list[tuple[str, Command]],
) -> None:
    run_against_reference(stream)


def test_reference_itself_on_a_worked_example() -> None:
    """The reference is code too: check it on a case worked out by hand."""
    ref = ReferenceMatcher()
    ask = PlaceOrder(SYMBOL, "sell", D("101"), D("2"))
    assert ref.place("a", ask, "sell") == (("open", None, 0, 1), [])
    ask = PlaceOrder(SYMBOL, "sell", D("100"), D("1"))
    assert ref.place("b", ask, "sell") == (("open", None, 0, 2), [])
    ask = PlaceOrder(SYMBOL, "sell", D("100"), D("1"))
    assert ref.place("c", ask, "sell") == (("open", None, 0, 3), [])
    # c buys through: its own ask at 100 is canceled (cancel_maker), it takes b's 100
    # then a's 101, and rests nothing.
    bid = PlaceOrder(SYMBOL, "buy", D("101"), D("3"))
    assert ref.place("c", bid, "buy") == (
        ("filled", None, D("3"), 4),
        [(2, 4, D("100"), D("1")), (1, 4, D("101"), D("2"))],
    )
    assert ref.book() == {"buy": [], "sell": []}
