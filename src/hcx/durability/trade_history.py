"""Public trade history read from the journal: every trade of a symbol, numbered 1, 2, 3 …

Owns the per-symbol trade number (the protocol's ``Trade.seq``): the position of a trade
among all trades of its symbol in journal order, book and RFQ trades alike, starting at
1 and never skipping. It is derived from the journal alone, so it is the same after any
restart and on any copy of the journal. It must never write to the journal and never
decide anything: it only numbers what was committed, in commit order.

``TradeHistory.load`` reads the journal once (a record is decoded only when its bytes
hold the tag ``Trade``); the gateway then ``add``s each released trade, in release order
(= journal order), so the live numbers continue the loaded ones.
"""

from __future__ import annotations

from typing import NamedTuple

from hcx.durability.journal import Journal
from hcx.durability.records import decode_record

_TRADE_TAG = b"eTrade"  # the CBOR text string "Trade" (major type 3, length 5)


class TradeRow(NamedTuple):
    """One trade as kept: engine units (scaled integers), ``journal_seq`` the command's."""

    seq: int
    trade_id: int
    price: int
    size: int
    taker_side: str
    ts: int
    journal_seq: int


class TradeHistory:
    def __init__(self) -> None:
        self.by_symbol: dict[str, list[TradeRow]] = {}
        self.upto = 0  # the last journal seq whose trades are in

    @classmethod
    def load(cls, journal: Journal, upto: int | None = None) -> TradeHistory:
        """Every trade in the journal (records ``seq <= upto``, all when ``None``)."""
        history = cls()
        last = 0
        for seq, _ts, _key, blob, _crc, _chain in journal.scan(0):
            if upto is not None and seq > upto:
                break
            last = seq
            if _TRADE_TAG not in blob:
                continue
            for event in decode_record(blob).events:
                if event[0] == "Trade":
                    _tag, symbol, trade_id, price, size, side, ts, journal_seq = event
                    history._append(symbol, trade_id, price, size, side, ts, journal_seq)
        history.upto = last
        return history

    def _append(
        self,
        symbol: str,
        trade_id: int,
        price: int,
        size: int,
        taker_side: str,
        ts: int,
        journal_seq: int,
    ) -> TradeRow:
        rows = self.by_symbol.get(symbol)
        if rows is None:
            rows = self.by_symbol[symbol] = []
        row = TradeRow(len(rows) + 1, trade_id, price, size, taker_side, ts, journal_seq)
        rows.append(row)
        return row

    def add(
        self,
        symbol: str,
        trade_id: int,
        price: int,
        size: int,
        taker_side: str,
        ts: int,
        journal_seq: int,
    ) -> TradeRow | None:
        """A released trade, numbered; ``None`` for one of a record already loaded."""
        if journal_seq <= self.upto:
            return None
        return self._append(symbol, trade_id, price, size, taker_side, ts, journal_seq)

    def last_seq(self, symbol: str) -> int:
        return len(self.by_symbol.get(symbol, ()))

    def page(self, symbol: str, from_seq: int | None, limit: int) -> list[TradeRow]:
        """At most ``limit`` trades of ``symbol``, oldest first: from ``from_seq`` on, or
        the latest ``limit`` when ``from_seq`` is ``None``."""
        rows = self.by_symbol.get(symbol, [])
        if from_seq is None:
            return rows[max(0, len(rows) - limit) :]
        start = max(from_seq, 1) - 1
        return rows[start : start + limit]
