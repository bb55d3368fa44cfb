"""Public trade history read from the journal: every trade of a symbol, numbered 1, 2, 3 …

Owns the per-symbol trade number (the protocol's ``Trade.seq``): the position of a trade
among all trades of its symbol in journal order, book and RFQ trades alike, starting at
1 and never skipping. It is derived from the journal alone, so it is the same after any
restart and on any copy of the journal. It must never write to the journal and never
decide anything: it only numbers what was committed, in commit order.

``TradeHistory.load`` reads the trades already numbered in the file's ``trade_index``
table, then the journal after the last record that index covers (a record is decoded only
when its bytes hold the tag ``Trade``), and writes what it found to the index: a start
reads the journal's tail, not the whole journal. The index records the chain value of the
last record it covers; a journal whose chain there differs (a tail set aside, another
file) has its index rebuilt from the start. The gateway then ``add``s each released trade,
in release order (= journal order), so the live numbers continue the loaded ones.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import cbor2

from hcx.durability.journal import Journal
from hcx.durability.records import decode_record
from hcx.engine.outputs import Trade

_TRADE_TAG = b"eTrade"  # the CBOR text string "Trade" (major type 3, length 5)
INDEX_KEY = "trade_index_upto"  # meta: CBOR [last journal seq indexed, its chain value]


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

    def copy(self) -> TradeHistory:
        """An independent history with the same trades (rows are immutable tuples)."""
        twin = TradeHistory()
        twin.by_symbol = {symbol: list(rows) for symbol, rows in self.by_symbol.items()}
        twin.upto = self.upto
        return twin

    @classmethod
    def load(cls, journal: Journal, upto: int | None = None) -> TradeHistory:
        """Every trade in the journal (records ``seq <= upto``, all when ``None``)."""
        history = cls()
        indexed = _indexed_upto(journal)
        if upto is not None and indexed > upto:
            indexed = 0
        if indexed:
            for symbol, *fields in journal.connection.execute(
                "SELECT symbol, trade_id, price, size, taker_side, ts, journal_seq "
                "FROM trade_index ORDER BY symbol, n"
            ):
                history._append(symbol, *fields)
        found: list[tuple[str, TradeRow]] = []
        last = indexed
        for seq, _ts, _key, blob, _crc, _chain in journal.scan(indexed):
            if upto is not None and seq > upto:
                break
            last = seq
            if _TRADE_TAG not in blob:
                continue
            for event in decode_record(blob).events:
                if event[0] == "Trade":
                    _tag, symbol, trade_id, price, size, side, ts, journal_seq = event
                    row = history._append(symbol, trade_id, price, size, side, ts, journal_seq)
                    found.append((symbol, row))
        history.upto = last
        if last != indexed and not journal.in_memory:
            _write_index(journal, found, last, rebuild=indexed == 0)
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

    def add(self, trade: Trade) -> TradeRow | None:
        """A released trade event, numbered; ``None`` for one of a record already loaded."""
        if trade.seq <= self.upto:
            return None
        return self._append(
            trade.symbol,
            trade.trade_id,
            trade.price,
            trade.size,
            trade.taker_side,
            trade.ts,
            trade.seq,
        )

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


def _indexed_upto(journal: Journal) -> int:
    """The last journal seq the index covers, if its chain there is still the journal's;
    else 0 (the index is rebuilt)."""
    stored = journal.get_meta(INDEX_KEY)
    if stored is None:
        return 0
    seq, chain = cbor2.loads(stored)
    row = journal.read(seq)
    return int(seq) if row is not None and row.chain == chain else 0


def _write_index(
    journal: Journal, found: list[tuple[str, TradeRow]], last: int, *, rebuild: bool
) -> None:
    row = journal.read(last)
    assert row is not None
    connection: Any = journal.connection
    with connection:
        if rebuild:
            connection.execute("DELETE FROM trade_index")
        connection.executemany(
            "INSERT INTO trade_index VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(symbol, *trade) for symbol, trade in found],
        )
        connection.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (INDEX_KEY, cbor2.dumps([last, row.chain])),
        )
