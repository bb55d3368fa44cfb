"""Public trade history on the wire: ``GetTrades`` and ``from_seq`` on the ``trades`` channel.

Owns reading those two requests' fields and answering them from the gateway's
``TradeHistory`` (loaded from the journal at start, extended by the release stage as
trades are released). It must never sequence anything: history is read, not made.

Both answers run in the event loop with no await between reading the history and going
live, so a resumed subscription gets every trade after ``from_seq`` exactly once: the
ones already released from the history, the later ones from the fanout.
"""

from __future__ import annotations

from typing import Any, Protocol

from hcx.protocol.errors import invalid_field
from hcx.protocol.trades import read_get_trades, trade_message, trades_message
from hcx.service.gateway.fanout import Fanout, Subscription
from hcx.service.gateway.outbound import Outbound


class Session(Protocol):
    """What of a gateway session this module uses (no import of the session module)."""

    outbound: Outbound
    subscriptions: dict[tuple[str, str | None], Subscription]

    @property
    def fanout(self) -> Fanout: ...

    def send(self, message: dict[str, Any]) -> None: ...


def get_trades(session: Session, message: dict[str, Any], msg_id: Any) -> None:
    """``GetTrades {id?, symbol, from_seq?, limit?}`` -> ``Trades {id?, symbol, trades}``."""
    symbol, from_seq, limit = read_get_trades(message)
    rows = session.fanout.trade_history.page(symbol, from_seq, limit)
    session.send(trades_message(symbol, rows, msg_id))


def resume_trades(
    session: Session, symbol: str | None, from_seq: int, confirm: dict[str, Any]
) -> None:
    """Subscribe to ``trades`` of ``symbol``, first sending its trades with ``seq >
    from_seq`` (the trade numbers are per symbol, so a resume names one)."""
    if symbol is None:
        raise invalid_field("symbol", "is required to resume the trades channel")
    fanout = session.fanout
    subscription = Subscription(session.outbound, urgent=False)
    session.subscriptions[("trades", symbol)] = subscription
    session.send(confirm)
    for row in fanout.trade_history.page(symbol, from_seq + 1, 2**62):
        session.outbound.offer(trade_message(symbol, row), urgent=False)
    fanout.add("trades", symbol, subscription)
