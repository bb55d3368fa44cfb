"""Requests for quote, sans-I/O: open RFQs and their quotes, in memory, until they expire.

RFQs and quotes are not journaled: they commit nobody to anything until the taker sends
``AcceptQuote``, which becomes one journaled engine command carrying the quote's terms
(quoter, legs, prices, expiry), so replay needs nothing from here. Quoters see requests
without the taker's identity; only the taker sees the quotes on its RFQ. A filled RFQ is
forgotten when its result is released.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from hcx.engine import Engine
from hcx.engine.commands import SIDES, AcceptQuote
from hcx.engine.instruments import Instrument
from hcx.engine.numbers import format_decimal
from hcx.engine.rfq import MAX_LEGS
from hcx.protocol import fields as f
from hcx.protocol.errors import ProtocolError, invalid_field

MAX_OPEN_PER_WALLET = 100
MAX_QUOTES_PER_RFQ = 100
MAX_VALID_MS = 60_000


@attrs.define
class Quote:
    quote_id: str
    quoter: str
    # (symbol, the quoter's side, size, price)
    legs: list[tuple[str, str, int, int]]
    expires_ms: int
    mmp: bool


@attrs.define
class Rfq:
    rfq_id: str
    taker: str
    # (symbol, the taker's side, size)
    legs: list[tuple[str, str, int]]
    expires_ms: int
    quotes: dict[str, Quote] = attrs.Factory(dict)


def _uuid(message: dict[str, Any], name: str) -> str:
    value = message.get(name)
    if not isinstance(value, str):
        raise invalid_field(name, "must be a UUID string")
    try:
        if str(uuid.UUID(value)) == value:
            return value
    except ValueError:
        pass
    raise invalid_field(name, "must be a canonical UUID string")


def _legs(message: dict[str, Any], with_price: bool) -> list[dict[str, Any]]:
    legs = message.get("legs")
    if not isinstance(legs, list) or not 1 <= len(legs) <= MAX_LEGS:
        raise invalid_field("legs", f"must be a list of 1 to {MAX_LEGS} legs")
    parsed = []
    for index, leg in enumerate(legs):
        if not isinstance(leg, dict):
            raise invalid_field(f"legs[{index}]", "must be an object")
        try:
            item: dict[str, Any] = {
                "symbol": f.req_string(leg, "symbol"),
                "side": f.choice(leg, "side", SIDES),
                "size": f.req_decimal(leg, "size"),
            }
            if item["size"] <= 0:
                raise invalid_field("size", "must be positive")
            if with_price:
                item["price"] = f.req_decimal(leg, "price")
                if item["price"] <= 0:
                    raise invalid_field("price", "must be positive")
        except ProtocolError as exc:
            raise invalid_field(f"legs[{index}].{exc.field}", exc.message) from None
        parsed.append(item)
    return parsed


class RfqDesk:
    def __init__(self, ttl_ms: int) -> None:
        self.ttl_ms = ttl_ms
        self.rfqs: dict[str, Rfq] = {}

    def _prune(self, now_ms: int) -> None:
        for rfq_id in [k for k, rfq in self.rfqs.items() if rfq.expires_ms < now_ms]:
            del self.rfqs[rfq_id]

    def open(
        self,
        taker: str,
        message: dict[str, Any],
        instruments: Mapping[str, Instrument],
        now_ms: int,
    ) -> Rfq:
        """Register an RFQ; ``instruments``: the listed ones among its legs' symbols (read
        through the exchange's ordered path, ``instruments_of``)."""
        self._prune(now_ms)
        rfq_id = _uuid(message, "rfq_id")
        legs = _legs(message, with_price=False)
        if rfq_id in self.rfqs:
            raise invalid_field("rfq_id", "an RFQ with this id is open")
        if sum(1 for r in self.rfqs.values() if r.taker == taker) >= MAX_OPEN_PER_WALLET:
            raise ProtocolError("rate_limited", "too many open RFQs", retry_after_ms=self.ttl_ms)
        for index, leg in enumerate(legs):
            if leg["symbol"] not in instruments:
                raise invalid_field(f"legs[{index}].symbol", f"unknown symbol {leg['symbol']!r}")
        rfq = Rfq(
            rfq_id,
            taker,
            [(leg["symbol"], leg["side"], leg["size"]) for leg in legs],
            now_ms + self.ttl_ms,
        )
        self.rfqs[rfq_id] = rfq
        return rfq

    def quote(self, quoter: str, message: dict[str, Any], now_ms: int) -> tuple[Rfq, Quote]:
        self._prune(now_ms)
        rfq_id = _uuid(message, "rfq_id")
        quote_id = _uuid(message, "quote_id")
        legs = _legs(message, with_price=True)
        valid_ms = f.req_integer(message, "valid_ms", minimum=1)
        rfq = self.rfqs.get(rfq_id)
        if rfq is None:
            raise invalid_field("rfq_id", "no such open RFQ")
        if len(rfq.quotes) >= MAX_QUOTES_PER_RFQ:
            raise ProtocolError("rate_limited", "this RFQ has all the quotes it can take")
        if quote_id in rfq.quotes:
            raise invalid_field("quote_id", "a quote with this id exists")
        wanted = [(s, "sell" if d == "buy" else "buy", z) for s, d, z in rfq.legs]
        offered = [(leg["symbol"], leg["side"], leg["size"]) for leg in legs]
        if sorted(wanted) != sorted(offered):
            raise invalid_field(
                "legs", "must match the request's symbols and sizes, on the opposite sides"
            )
        quote = Quote(
            quote_id,
            quoter,
            [(leg["symbol"], leg["side"], leg["size"], leg["price"]) for leg in legs],
            min(now_ms + min(valid_ms, MAX_VALID_MS), rfq.expires_ms),
            f.boolean(message, "mmp"),
        )
        rfq.quotes[quote_id] = quote
        return rfq, quote

    def acceptance(self, taker: str, rfq_id: str, quote_id: str) -> AcceptQuote:
        """The engine command for accepting a quote. An unknown quote still becomes a
        command (with no legs, which the engine rejects ``unknown_quote``), so a repeat
        of an accepted quote is answered from the journal like any other repeat."""
        rfq = self.rfqs.get(rfq_id)
        quote = rfq.quotes.get(quote_id) if rfq is not None and rfq.taker == taker else None
        if rfq is None or quote is None:
            return AcceptQuote(rfq_id, quote_id, "", (), 0)
        legs = tuple(
            (symbol, "sell" if side == "buy" else "buy", size, price)
            for symbol, side, size, price in quote.legs
        )
        return AcceptQuote(rfq_id, quote_id, quote.quoter, legs, quote.expires_ms, quote.mmp)

    def filled(self, rfq_id: str) -> None:
        self.rfqs.pop(rfq_id, None)


def request_message(rfq: Rfq) -> dict[str, Any]:
    return {
        "type": "RfqRequest",
        "rfq_id": rfq.rfq_id,
        "legs": [{"symbol": s, "side": d, "size": format_decimal(z)} for s, d, z in rfq.legs],
        "expires_ms": rfq.expires_ms,
    }


def quote_message(rfq: Rfq, quote: Quote, instruments: Mapping[str, Instrument]) -> dict[str, Any]:
    """What the taker sees: the legs from its own side and the net premium it would pay
    (negative: receive), by the engine's own premium rule."""
    net = 0
    legs = []
    for symbol, quoter_side, size, price in quote.legs:
        taker_side = "sell" if quoter_side == "buy" else "buy"
        premium = instruments[symbol].premium(price, size)
        net += premium if taker_side == "buy" else -premium
        legs.append(
            {
                "symbol": symbol,
                "side": taker_side,
                "size": format_decimal(size),
                "price": format_decimal(price),
            }
        )
    return {
        "type": "RfqQuote",
        "rfq_id": rfq.rfq_id,
        "quote_id": quote.quote_id,
        "legs": legs,
        "net_premium": format_decimal(net),
        "expires_ms": quote.expires_ms,
    }


def leg_symbols(message: dict[str, Any]) -> list[str]:
    """The symbols a ``RequestQuote`` or ``Quote`` names (what is not a symbol is left
    out: the desk refuses it with the field named)."""
    legs = message.get("legs")
    if not isinstance(legs, list):
        return []
    return [
        leg["symbol"]
        for leg in legs[:MAX_LEGS]
        if isinstance(leg, dict) and isinstance(leg.get("symbol"), str)
    ]


def instruments_of(symbols: Iterable[str]) -> Callable[[Engine], dict[str, Instrument]]:
    """A read for the exchange's ordered path: the listed instruments among ``symbols``."""
    wanted = tuple(symbols)

    def read(engine: Engine) -> dict[str, Instrument]:
        listed = engine.state.instruments
        return {symbol: listed[symbol] for symbol in wanted if symbol in listed}

    return read
