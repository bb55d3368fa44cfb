"""Everything the engine knows, in plain containers, and the counters that name things.

Handlers in ``orders``, ``matching`` and ``admin`` mutate an ``EngineState``; ``snapshot``
writes it out and reads it back. Ids come from counters here, so the same commands always
get the same ids, and an id is never reused.
"""

from __future__ import annotations

from bisect import insort

import attrs

from hcx.engine.accounts import Wallet
from hcx.engine.book import Book, Order
from hcx.engine.config import EngineConfig
from hcx.engine.instruments import Instrument
from hcx.engine.mmp import MmpState
from hcx.engine.risk import short_margin_per_contract

NO_DEADLINE = 2**63 - 1


@attrs.define(slots=True, eq=False)
class EngineState:
    config: EngineConfig = attrs.Factory(EngineConfig)
    instruments: dict[str, Instrument] = attrs.Factory(dict)
    books: dict[str, Book] = attrs.Factory(dict)
    book_seqs: dict[str, int] = attrs.Factory(dict)
    by_underlying: dict[str, list[str]] = attrs.Factory(dict)
    index_prices: dict[str, int] = attrs.Factory(dict)
    index_vols: dict[str, int] = attrs.Factory(dict)
    wallets: dict[str, Wallet] = attrs.Factory(dict)
    # Every resting order by id, for cancels and replaces by id.
    orders: dict[int, Order] = attrs.Factory(dict)
    next_order_id: int = 1
    next_trade_id: int = 1
    next_fill_id: int = 1
    fees_collected: int = 0
    deposited: int = 0
    withdrawn: int = 0
    # Market maker protection by (wallet, underlying).
    mmp: dict[tuple[str, str], MmpState] = attrs.Factory(dict)
    # RFQs already filled, with the expiry of the quote that filled them.
    filled_rfqs: dict[str, int] = attrs.Factory(dict)
    # Derived, never snapshotted: margin per contract by symbol, dropped when the index
    # of its underlying moves; (expiry_ms, symbol) of instruments still to expire; MMP
    # deltas by (symbol, index, vol, second).
    margin_cache: dict[str, int] = attrs.Factory(dict)
    # A plain list kept sorted: every command looks at its head, which must not cost a
    # Python-level call; instruments are few, so inserting is cheap.
    expiry_queue: list[tuple[int, str]] = attrs.Factory(list)
    # Dead-man's switch deadlines by wallet, and the earliest (NO_DEADLINE: none).
    cancel_after: dict[str, int] = attrs.Factory(dict)
    cancel_after_next: int = NO_DEADLINE
    # Connections armed for cancel-on-disconnect: session -> wallet.
    disconnect_sessions: dict[str, str] = attrs.Factory(dict)
    delta_cache: dict[tuple[str, int, int, int], int] = attrs.Factory(dict)

    def wallet(self, name: str) -> Wallet:
        wallet = self.wallets.get(name)
        if wallet is None:
            wallet = self.wallets[name] = Wallet(name)
        return wallet

    def margin_per_contract(self, inst: Instrument) -> int:
        margin = self.margin_cache.get(inst.symbol)
        if margin is None:
            index = self.index_prices.get(inst.underlying)
            margin = short_margin_per_contract(inst, index, self.config)
            self.margin_cache[inst.symbol] = margin
        return margin

    def list_instrument(self, inst: Instrument) -> None:
        self.instruments[inst.symbol] = inst
        self.books[inst.symbol] = Book(inst.symbol)
        self.book_seqs.setdefault(inst.symbol, 0)
        self.by_underlying.setdefault(inst.underlying, []).append(inst.symbol)
        if inst.status in ("active", "halted"):
            insort(self.expiry_queue, (inst.expiry_ms, inst.symbol))
