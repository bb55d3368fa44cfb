"""Channel names of the protocol, and which channel each pushed message type travels on.

Owns the names only: the client routes incoming messages by them and the gateway's
fan-out publishes under them. Never does I/O or keeps subscription state.
"""

from __future__ import annotations

BOOK = "book"
TRADES = "trades"
INSTRUMENTS = "instruments"
ORDERS = "orders"
FILLS = "fills"
PORTFOLIO = "portfolio"
RFQ = "rfq"

# Market data: anyone may subscribe; no history, nothing replayed after a reconnect.
PUBLIC_CHANNELS = (BOOK, TRADES, INSTRUMENTS)
# One wallet's own events, replayed from the journal with ``from_seq``.
PRIVATE_CHANNELS = (ORDERS, FILLS, PORTFOLIO)
# Everything a client may name in ``Subscribe`` / ``Unsubscribe``.
CHANNELS = (*PUBLIC_CHANNELS, RFQ, *PRIVATE_CHANNELS)

# A pushed message's type -> (its channel, whether it is routed by ``symbol``).
MESSAGE_CHANNELS: dict[str, tuple[str, bool]] = {
    "BookSnapshot": (BOOK, True),
    "BookUpdate": (BOOK, True),
    "Trade": (TRADES, True),
    "Instrument": (INSTRUMENTS, False),
    "IndexPrice": (INSTRUMENTS, False),
    "OrderUpdate": (ORDERS, False),
    "Fill": (FILLS, False),
    "Balance": (PORTFOLIO, False),
    "Position": (PORTFOLIO, False),
    "PositionExpired": (PORTFOLIO, False),
    "RfqRequest": (RFQ, False),
    "RfqQuote": (RFQ, False),
}
