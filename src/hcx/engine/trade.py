"""Booking one trade between two wallets: cash, positions, fees, ids and the events.

Shared by the book (``matching``) and RFQ execution (``rfq``), so a trade is booked the
same way whichever way it was agreed. Never checks whether the trade may happen and never
touches orders or books: the caller has decided that, and keeps its orders and levels.
"""

from __future__ import annotations

from hcx.engine.accounts import Exposure, Wallet, apply_fill
from hcx.engine.changes import Changes
from hcx.engine.instruments import Instrument
from hcx.engine.numbers import fee_for
from hcx.engine.outputs import Fill, Liquidity, Trade
from hcx.engine.state import EngineState

# One side of a trade: its wallet and exposure in the instrument, its side ("buy" or
# "sell"), whether it made or took liquidity (which fee it pays), and its order id (None
# for an RFQ leg).
Party = tuple[Wallet, Exposure, str, Liquidity, "int | None"]


def book_trade(
    state: EngineState,
    ch: Changes,
    inst: Instrument,
    price: int,
    size: int,
    taker_side: str,
    first: Party,
    second: Party,
    rfq_id: str | None = None,
    quote_id: str | None = None,
) -> None:
    """Book ``size`` contracts at ``price`` between ``first`` and ``second``: one
    ``Trade`` and a ``Fill`` each, ``first`` getting the lower fill id (the order the
    fills have always been numbered in: maker first from the book, taker first from an
    RFQ). Collects both fees and marks both positions changed."""
    premium = inst.premium(price, size)
    wallet1, exposure1, side1, liquidity1, order1 = first
    wallet2, exposure2, side2, liquidity2, order2 = second
    fee1 = fee_for(premium, inst.maker_fee_bps if liquidity1 == "maker" else inst.taker_fee_bps)
    fee2 = fee_for(premium, inst.maker_fee_bps if liquidity2 == "maker" else inst.taker_fee_bps)
    pnl1 = apply_fill(wallet1, exposure1, side1, size, premium, fee1)
    pnl2 = apply_fill(wallet2, exposure2, side2, size, premium, fee2)
    state.fees_collected += fee1 + fee2

    trade_id = state.next_trade_id
    state.next_trade_id = trade_id + 1
    fill_id = state.next_fill_id
    state.next_fill_id = fill_id + 2
    symbol = inst.symbol
    ts, seq = ch.ts, ch.seq
    events = ch.events
    events.append(Trade(symbol, trade_id, price, size, taker_side, ts, seq))
    events.append(
        Fill(
            wallet1.name,
            fill_id,
            trade_id,
            order1,
            symbol,
            side1,
            price,
            size,
            fee1,
            liquidity1,
            pnl1,
            ts,
            seq,
            rfq_id,
            quote_id,
        )
    )
    events.append(
        Fill(
            wallet2.name,
            fill_id + 1,
            trade_id,
            order2,
            symbol,
            side2,
            price,
            size,
            fee2,
            liquidity2,
            pnl2,
            ts,
            seq,
            rfq_id,
            quote_id,
        )
    )
    ch.touch_position(wallet1, exposure1, inst)
    ch.touch_position(wallet2, exposure2, inst)
