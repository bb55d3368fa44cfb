"""What one command touched, turned into its ordered events when the command ends.

Handlers record fills and trades as they happen and mark orders, book levels, exposures
and wallets as touched; ``finish`` recomputes the collateral of touched exposures and
emits one update per touched thing, in a fixed order: trades and fills, order updates,
book updates, positions, balances. Emitting once per thing (not once per change) keeps a
sweep through many levels cheap and gives subscribers the final state.
"""

from __future__ import annotations

from hcx.engine.accounts import Exposure, Wallet
from hcx.engine.book import Order
from hcx.engine.instruments import Instrument
from hcx.engine.outputs import Balance, BookUpdate, Event, Level, OrderUpdate, Position
from hcx.engine.state import EngineState


class Changes:
    __slots__ = ("events", "exposures", "levels", "orders", "positions", "seq", "ts", "wallets")

    def __init__(self, seq: int, ts: int) -> None:
        self.seq = seq
        self.ts = ts
        self.events: list[Event] = []
        self.orders: dict[int, Order] = {}
        self.levels: dict[str, dict[tuple[str, int], None]] = {}
        self.exposures: dict[tuple[str, str], tuple[Wallet, Exposure, Instrument]] = {}
        self.positions: dict[tuple[str, str], tuple[Wallet, Exposure, Instrument]] = {}
        self.wallets: dict[str, Wallet] = {}

    def touch_level(self, symbol: str, side: str, price: int) -> None:
        levels = self.levels.get(symbol)
        if levels is None:
            levels = self.levels[symbol] = {}
        levels[(side, price)] = None

    def touch_exposure(self, wallet: Wallet, exposure: Exposure, inst: Instrument) -> None:
        self.exposures[(wallet.name, inst.symbol)] = (wallet, exposure, inst)

    def touch_position(self, wallet: Wallet, exposure: Exposure, inst: Instrument) -> None:
        key = (wallet.name, inst.symbol)
        self.exposures[key] = self.positions[key] = (wallet, exposure, inst)
        self.wallets[wallet.name] = wallet

    def finish(self, state: EngineState) -> list[Event]:
        seq = self.seq
        wallets = self.wallets
        for wallet, exposure, inst in self.exposures.values():
            required = exposure.requirement(state.margin_per_contract(inst))
            if required != exposure.required:
                wallet.reserved += required - exposure.required
                exposure.required = required
                wallets[wallet.name] = wallet
        events = self.events
        for order in self.orders.values():
            events.append(order_update(order, self.ts, seq))
        for symbol, keys in self.levels.items():
            book = state.books[symbol]
            bids: list[Level] = []
            asks: list[Level] = []
            for side, price in sorted(keys):
                if side == "buy":
                    bids.append((price, book.bids.sizes.get(price, 0)))
                else:
                    asks.append((price, book.asks.sizes.get(price, 0)))
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
        False,
        None,
        ts,
        seq,
    )
