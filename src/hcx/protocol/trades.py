"""Public trades on the wire: the ``Trade`` message, ``GetTrades``'s fields and its answer.

Owns the shapes and the field checks only, for every shell that answers trade history
(the gateway, the Simulator): it never numbers trades (``durability.trade_history``
does) and never reads a journal or sends anything.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from hcx.engine.numbers import format_decimal
from hcx.protocol import fields as f
from hcx.protocol.errors import invalid_field

MAX_TRADES = 1000
DEFAULT_TRADES = 100


class NumberedTrade(Protocol):
    """A trade as the history keeps it (``durability.trade_history.TradeRow``)."""

    @property
    def seq(self) -> int: ...
    @property
    def trade_id(self) -> int: ...
    @property
    def price(self) -> int: ...
    @property
    def size(self) -> int: ...
    @property
    def taker_side(self) -> str: ...
    @property
    def ts(self) -> int: ...
    @property
    def journal_seq(self) -> int: ...


def trade_message(symbol: str, row: NumberedTrade) -> dict[str, Any]:
    """A ``Trade`` on the wire: ``seq`` the per-symbol trade number, ``journal_seq`` the
    journal sequence of the command that traded."""
    return {
        "type": "Trade",
        "symbol": symbol,
        "trade_id": row.trade_id,
        "price": format_decimal(row.price),
        "size": format_decimal(row.size),
        "taker_side": row.taker_side,
        "ts": row.ts,
        "seq": row.seq,
        "journal_seq": row.journal_seq,
    }


def read_get_trades(message: dict[str, Any]) -> tuple[str, int | None, int]:
    """``GetTrades {symbol, from_seq?, limit?}``'s fields: (symbol, from_seq, limit);
    raises ``ProtocolError`` naming the field."""
    symbol = f.req_string(message, "symbol")
    from_seq = f.integer(message, "from_seq", optional=True, minimum=1)
    limit = f.integer(message, "limit", optional=True, minimum=1)
    if limit is None:
        limit = DEFAULT_TRADES
    elif limit > MAX_TRADES:
        raise invalid_field("limit", f"must be 1 to {MAX_TRADES}")
    return symbol, from_seq, limit


def trades_message(symbol: str, rows: Iterable[NumberedTrade], msg_id: Any) -> dict[str, Any]:
    """The ``Trades {id?, symbol, trades}`` answer."""
    answer: dict[str, Any] = {
        "type": "Trades",
        "symbol": symbol,
        "trades": [trade_message(symbol, row) for row in rows],
    }
    if msg_id is not None:
        answer["id"] = msg_id
    return answer
