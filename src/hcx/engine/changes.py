"""What one command touched, turned into its ordered events when the command ends.

Handlers record fills and trades as they happen and mark orders, book levels, exposures
and wallets as touched; ``finish`` recomputes the collateral of touched exposures and
emits one update per touched thing, in a fixed order: trades and fills, order updates,
book updates, positions, balances. Emitting once per thing (not once per change) keeps a
sweep through many levels cheap and gives subscribers the final state.
"""

from __future__ import annotations

from hcx.engine.accounts import Exposure, Wallet, requirement
from hcx.engine.book import Order
from hcx.engine.instruments import Instrument
from hcx.engine.outputs import Balance, BookUpdate, Event, Level, OrderUpdate, Position
from hcx.engine.state import EngineState


class Changes:
    """What the command in progress touched. The engine keeps one and ``start``s it for
    each command rather than building six containers per command only to drop them."""

    __slots__ = (
        "events",
        "exposures",
        "levels",
        "open",
        "orders",
        "positions",
        "seq",
        "ts",
        "wallets",
    )

    def __init__(self, seq: int = 0, ts: int = 0) -> None:
        self.open = False  # between ``start`` and ``finish``
        self.seq = seq
        self.ts = ts
        self.events: list[Event] = []
        self.orders: dict[int, Order] = {}
        # (symbol, side, price): one flat dict, as most commands touch a single level.
        self.levels: dict[tuple[str, str, int], None] = {}
        # Keyed by the exposure itself (one per wallet and instrument, hashed by identity;
        # the order of iteration is that of insertion, as for every dict here).
        self.exposures: dict[Exposure, tuple[Wallet, Exposure, Instrument]] = {}
        self.positions: dict[Exposure, tuple[Wallet, Exposure, Instrument]] = {}
        self.wallets: dict[str, Wallet] = {}

    def start(self, seq: int, ts: int) -> None:
        """Begin a command. ``finish`` left everything empty; only a command that raised
        (and never finished) can have left something behind."""
        if self.open:
            self._forget()
        self.open = True
        self.seq = seq
        self.ts = ts

    def touch_level(self, symbol: str, side: str, price: int) -> None:
        self.levels[(symbol, side, price)] = None

    def touch_exposure(self, wallet: Wallet, exposure: Exposure, inst: Instrument) -> None:
        if exposure not in self.exposures:
            self.exposures[exposure] = (wallet, exposure, inst)

    def touch_position(self, wallet: Wallet, exposure: Exposure, inst: Instrument) -> None:
        self.exposures[exposure] = self.positions[exposure] = (wallet, exposure, inst)
        self.wallets[wallet.name] = wallet

    def finish(self, state: EngineState) -> list[Event]:
        """The command's events, complete; ``Changes`` is left empty for the next one.

        The events list is handed over rather than kept: holding it would make the next
        command pay for freeing these events once the consumer drops the output."""
        events = self.events
        self.events = []
        self.open = False
        seq = self.seq
        # Each container is emptied as it is consumed, and an empty one is skipped: most
        # commands touch one order, one level and one exposure, and no position.
        if self.exposures:
            self._reprice(state)
            self.exposures.clear()
        orders = self.orders
        if orders:
            ts = self.ts
            for order in orders.values():
                events.append(order_update(order, ts, seq))
            orders.clear()
        if self.levels:
            _append_book_updates(events, state, self.levels, seq)
            self.levels.clear()
        positions = self.positions
        if positions:
            for wallet, exposure, inst in positions.values():
                events.append(
                    Position(
                        wallet.name,
                        inst.symbol,
                        exposure.size,
                        exposure.entry_price(inst.multiplier),
                        exposure.realized_pnl,
                        seq,
                    )
                )
            positions.clear()
        wallets = self.wallets
        if wallets:
            for wallet in wallets.values():
                reserved = wallet.reserved
                events.append(
                    Balance(wallet.name, wallet.total, wallet.total - reserved, reserved, seq)
                )
            wallets.clear()
        return events

    def _reprice(self, state: EngineState) -> None:
        """Recompute the collateral of every touched exposure; a wallet whose reserve
        moved gets a balance update."""
        wallets = self.wallets
        margins = state.margin_cache
        for wallet, exposure, inst in self.exposures.values():
            symbol = inst.symbol
            margin = margins[symbol] if symbol in margins else state.margin_per_contract(inst)
            required = requirement(
                exposure.size,
                exposure.cash_basis,
                exposure.buy_reserved,
                exposure.open_sell_size,
                margin,
            )
            if required != exposure.required:
                wallet.reserved += required - exposure.required
                exposure.required = required
                wallets[wallet.name] = wallet

    def _forget(self) -> None:
        self.events = []
        self.orders.clear()
        self.levels.clear()
        self.exposures.clear()
        self.positions.clear()
        self.wallets.clear()


def _append_book_updates(
    events: list[Event], state: EngineState, levels: dict[tuple[str, str, int], None], seq: int
) -> None:
    """One update per touched book (in the order first touched) with its touched levels
    at their final sizes, bids and asks best first."""
    book_seqs = state.book_seqs
    if len(levels) == 1:
        for symbol, side, price in levels:
            book = state.books[symbol]
            book_seq = book_seqs[symbol] + 1
            book_seqs[symbol] = book_seq
            level: list[Level] = [
                (price, (book.bids if side == "buy" else book.asks).sizes.get(price, 0))
            ]
            if side == "buy":
                events.append(BookUpdate(symbol, book_seq, level, [], seq))
            else:
                events.append(BookUpdate(symbol, book_seq, [], level, seq))
        return
    keys = sorted(levels)  # by book, then bids ("buy" < "sell"), then price
    first, last = keys[0][0], keys[-1][0]
    if first == last:  # one book: the common case (a sweep, a replace)
        events.append(_book_update(state, first, keys, seq))
        return
    by_symbol: dict[str, list[tuple[str, str, int]]] = {}
    for key in levels:  # books in the order first touched
        by_symbol.setdefault(key[0], []).append(key)
    for symbol, touched in by_symbol.items():
        events.append(_book_update(state, symbol, sorted(touched), seq))


def _book_update(
    state: EngineState, symbol: str, keys: list[tuple[str, str, int]], seq: int
) -> BookUpdate:
    """The update of one book; ``keys`` are its touched levels, sorted."""
    book = state.books[symbol]
    bids: list[Level] = []
    asks: list[Level] = []
    bid_sizes, ask_sizes = book.bids.sizes, book.asks.sizes
    for _, side, price in keys:
        if side == "buy":
            bids.append((price, bid_sizes.get(price, 0)))
        else:
            asks.append((price, ask_sizes.get(price, 0)))
    bids.reverse()
    book_seq = state.book_seqs[symbol] + 1
    state.book_seqs[symbol] = book_seq
    return BookUpdate(symbol, book_seq, bids, asks, seq)


def order_update(order: Order, ts: int, seq: int) -> OrderUpdate:
    return OrderUpdate(
        order.request_id,
        order.order_id,
        order.client_id,
        order.wallet,
        order.symbol,
        order.side,
        order.price,
        order.size,
        order.tif,
        order.status,
        order.size - order.remaining,
        order.reason,
        order.mmp_triggered,
        None,
        ts,
        seq,
    )
