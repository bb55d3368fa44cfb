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

    __slots__ = ("events", "exposures", "levels", "orders", "positions", "seq", "ts", "wallets")

    def __init__(self, seq: int = 0, ts: int = 0) -> None:
        self.seq = seq
        self.ts = ts
        self.events: list[Event] = []
        self.orders: dict[int, Order] = {}
        self.levels: dict[str, dict[tuple[str, int], None]] = {}
        # Keyed by the exposure itself (one per wallet and instrument, hashed by identity;
        # the order of iteration is that of insertion, as for every dict here).
        self.exposures: dict[Exposure, tuple[Wallet, Exposure, Instrument]] = {}
        self.positions: dict[Exposure, tuple[Wallet, Exposure, Instrument]] = {}
        self.wallets: dict[str, Wallet] = {}

    def start(self, seq: int, ts: int) -> None:
        """Forget the previous command (whose events list now belongs to its output)."""
        self.seq = seq
        self.ts = ts
        self.events = []
        if self.orders:
            self.orders.clear()
        if self.levels:
            self.levels.clear()
        if self.exposures:
            self.exposures.clear()
        if self.positions:
            self.positions.clear()
        if self.wallets:
            self.wallets.clear()

    def touch_level(self, symbol: str, side: str, price: int) -> None:
        levels = self.levels.get(symbol)
        if levels is None:
            levels = self.levels[symbol] = {}
        levels[(side, price)] = None

    def touch_exposure(self, wallet: Wallet, exposure: Exposure, inst: Instrument) -> None:
        if exposure not in self.exposures:
            self.exposures[exposure] = (wallet, exposure, inst)

    def touch_position(self, wallet: Wallet, exposure: Exposure, inst: Instrument) -> None:
        self.exposures[exposure] = self.positions[exposure] = (wallet, exposure, inst)
        self.wallets[wallet.name] = wallet

    def finish(self, state: EngineState) -> list[Event]:
        seq = self.seq
        wallets = self.wallets
        margins = state.margin_cache
        for wallet, exposure, inst in self.exposures.values():
            margin = margins.get(inst.symbol)
            if margin is None:
                margin = state.margin_per_contract(inst)
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
        events = self.events
        ts = self.ts
        for order in self.orders.values():
            events.append(order_update(order, ts, seq))
        for symbol, keys in self.levels.items():
            book = state.books[symbol]
            bids: list[Level] = []
            asks: list[Level] = []
            bid_sizes, ask_sizes = book.bids.sizes, book.asks.sizes
            for side, price in sorted(keys) if len(keys) > 1 else keys:
                if side == "buy":
                    bids.append((price, bid_sizes.get(price, 0)))
                else:
                    asks.append((price, ask_sizes.get(price, 0)))
            bids.reverse()
            book_seq = state.book_seqs[symbol] + 1
            state.book_seqs[symbol] = book_seq
            events.append(BookUpdate(symbol, book_seq, bids, asks, seq))
        for wallet, exposure, inst in self.positions.values():
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
        for wallet in wallets.values():
            events.append(
                Balance(
                    wallet.name, wallet.total, wallet.total - wallet.reserved, wallet.reserved, seq
                )
            )
        return events


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
