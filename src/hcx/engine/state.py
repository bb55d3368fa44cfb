"""Everything the engine knows, in plain containers, and the counters that name things.

Handlers in ``orders``, ``matching`` and ``admin`` mutate an ``EngineState``; ``snapshot``
writes it out and reads it back. Ids come from counters here, so the same commands always
get the same ids, and an id is never reused.
"""

from __future__ import annotations

from bisect import insort
from typing import ClassVar

from hcx.engine.accounts import Wallet
from hcx.engine.book import Book, Order
from hcx.engine.config import EngineConfig
from hcx.engine.instruments import Instrument
from hcx.engine.mmp import MmpState
from hcx.engine.plain import Fields
from hcx.engine.risk import short_margin_per_contract

NO_DEADLINE = 2**63 - 1


class EngineState(Fields):
    FIELDS: ClassVar[tuple[str, ...]] = (
        "config",
        "instruments",
        "books",
        "book_seqs",
        "by_underlying",
        "index_prices",
        "index_vols",
        "wallets",
        "orders",
        "next_order_id",
        "next_trade_id",
        "next_fill_id",
        "fees_collected",
        "deposited",
        "withdrawn",
        "mmp",
        "filled_rfqs",
        "margin_cache",
        "expiry_queue",
        "cancel_after",
        "cancel_after_next",
        "disconnect_sessions",
        "delta_cache",
    )

    def __init__(self, config: EngineConfig | None = None) -> None:
        self.config = EngineConfig() if config is None else config
        self.instruments: dict[str, Instrument] = {}
        self.books: dict[str, Book] = {}
        self.book_seqs: dict[str, int] = {}
        self.by_underlying: dict[str, list[str]] = {}
        self.index_prices: dict[str, int] = {}
        self.index_vols: dict[str, int] = {}
        self.wallets: dict[str, Wallet] = {}
        # Every resting order by id, for cancels and replaces by id.
        self.orders: dict[int, Order] = {}
        self.next_order_id = 1
        self.next_trade_id = 1
        self.next_fill_id = 1
        self.fees_collected = 0
        self.deposited = 0
        self.withdrawn = 0
        # Market maker protection by (wallet, underlying).
        self.mmp: dict[tuple[str, str], MmpState] = {}
        # RFQs already filled, with the expiry of the quote that filled them.
        self.filled_rfqs: dict[str, int] = {}
        # Derived, never snapshotted: margin per contract by symbol, dropped when the
        # index of its underlying moves; (expiry_ms, symbol) of instruments still to
        # expire; MMP deltas by (symbol, index, vol, second).
        self.margin_cache: dict[str, int] = {}
        # A plain list kept sorted: every command looks at its head, which must not cost
        # a Python-level call; instruments are few, so inserting is cheap.
        self.expiry_queue: list[tuple[int, str]] = []
        # Dead-man's switch deadlines by wallet, and the earliest (NO_DEADLINE: none).
        self.cancel_after: dict[str, int] = {}
        self.cancel_after_next = NO_DEADLINE
        # Connections armed for cancel-on-disconnect: session -> wallet.
        self.disconnect_sessions: dict[str, str] = {}
        self.delta_cache: dict[tuple[str, int, int, int], int] = {}

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
