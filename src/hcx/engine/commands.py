"""The engine's only input: an ``Envelope`` holding one command.

Commands are frozen attrs classes whose class names are the protocol's message types.
Values are already integers (see ``numbers``): parsing and field-shape checks happen at
the edge, the engine's own rules (ticks, lots, balances, ownership) happen in ``apply``.
The envelope's ``seq`` and ``ts_ms`` are assigned by the sequencer, never by a client, so
replaying the same envelopes reproduces the same state.
"""

from __future__ import annotations

from typing import Literal

import attrs

Side = Literal["buy", "sell"]
TimeInForce = Literal["gtc", "ioc", "fok"]
SelfTradePrevention = Literal["cancel_maker", "cancel_taker", "cancel_both"]
OptionKind = Literal["call", "put"]

SIDES: tuple[Side, ...] = ("buy", "sell")
TIME_IN_FORCE: tuple[TimeInForce, ...] = ("gtc", "ioc", "fok")
STP_MODES: tuple[SelfTradePrevention, ...] = ("cancel_maker", "cancel_taker", "cancel_both")
OPTION_KINDS: tuple[OptionKind, ...] = ("call", "put")


@attrs.frozen
class PlaceOrder:
    symbol: str
    side: Side
    price: int
    size: int
    tif: TimeInForce = "gtc"
    post_only: bool = False
    reduce_only: bool = False
    mmp: bool = False
    client_id: str | None = None
    stp: SelfTradePrevention = "cancel_maker"


@attrs.frozen
class CancelOrder:
    order_id: int | None = None
    client_id: str | None = None


@attrs.frozen
class ReplaceOrder:
    """Cancel ``order_id`` and place a new order on the same symbol and side, atomically."""

    order_id: int
    price: int
    size: int
    tif: TimeInForce = "gtc"
    post_only: bool = False
    reduce_only: bool = False
    mmp: bool = False
    client_id: str | None = None
    stp: SelfTradePrevention = "cancel_maker"


@attrs.frozen
class CancelAll:
    symbol: str | None = None
    underlying: str | None = None


@attrs.frozen
class Withdraw:
    amount: int


@attrs.frozen
class Deposit:
    """Admin: credit ``wallet`` (not the sender) with ``amount``."""

    wallet: str
    amount: int


@attrs.frozen
class CreateInstrument:
    """Admin: list an option. Fees left as ``None`` take the engine's configured defaults."""

    symbol: str
    underlying: str
    expiry_ms: int
    strike: int
    option: OptionKind
    tick_size: int
    lot_size: int
    multiplier: int = 1_000_000
    maker_fee_bps: int | None = None
    taker_fee_bps: int | None = None


@attrs.frozen
class SetIndexPrice:
    """Admin: the underlying's index price; ``vol`` (scaled, 0.8 = 800000) is kept for MMP."""

    underlying: str
    price: int
    vol: int | None = None


@attrs.frozen
class HaltInstrument:
    symbol: str


@attrs.frozen
class ResumeInstrument:
    """Admin: a halted instrument trades again (halted -> active)."""

    symbol: str


@attrs.frozen
class CancelAfter:
    """The sender's dead-man's switch: cancel its orders unless renewed within
    ``timeout_ms`` of this command's time; 0 turns it off."""

    timeout_ms: int


@attrs.frozen
class ArmCancelOnDisconnect:
    """Service: connection ``session`` of the sender opted in to cancel-on-disconnect."""

    session: str


@attrs.frozen
class SessionClosed:
    """Service: connection ``session`` closed; cancels its wallet's orders if armed."""

    session: str


@attrs.frozen
class Settle:
    """Admin: cash-settle an expired instrument at the underlying's settlement price."""

    symbol: str
    price: int


@attrs.frozen
class SetMmp:
    """Market maker protection for (sender, underlying). Limits are scaled like sizes:
    ``qty_limit`` in contracts, ``delta_limit`` in delta-contracts; None disables one."""

    underlying: str
    interval_ms: int
    frozen_ms: int
    qty_limit: int | None = None
    delta_limit: int | None = None
    enabled: bool = True


@attrs.frozen
class ResetMmp:
    underlying: str


@attrs.frozen
class Tick:
    """Admin: nothing but the passing of time. Applied at its envelope's time, it makes
    happen what that time makes happen (instrument expiry cancels resting orders) as a
    journaled command of its own, instead of ahead of whichever command comes next."""


def _legs(legs: object) -> tuple[tuple[str, str, int, int], ...]:
    return tuple((str(s), str(d), int(z), int(p)) for s, d, z, p in legs)  # type: ignore[attr-defined]


@attrs.frozen
class AcceptQuote:
    """Execute a quote: every leg between the sender (taker) and ``quoter`` at the quoted
    price, or none. Legs are ``(symbol, taker side, size, price)``; the service fills in
    the quote's terms from its memory, so the journal holds everything replay needs."""

    rfq_id: str
    quote_id: str
    quoter: str
    legs: tuple[tuple[str, str, int, int], ...] = attrs.field(converter=_legs)
    expires_ms: int
    quoter_mmp: bool = False


Command = (
    PlaceOrder
    | CancelOrder
    | ReplaceOrder
    | CancelAll
    | Withdraw
    | Deposit
    | CreateInstrument
    | SetIndexPrice
    | HaltInstrument
    | ResumeInstrument
    | Settle
    | SetMmp
    | ResetMmp
    | AcceptQuote
    | CancelAfter
    | ArmCancelOnDisconnect
    | SessionClosed
    | Tick
)

ADMIN_COMMANDS: tuple[type[Command], ...] = (
    Deposit,
    CreateInstrument,
    SetIndexPrice,
    HaltInstrument,
    ResumeInstrument,
    Settle,
    Tick,
)

COMMAND_TYPES: dict[str, type[Command]] = {
    cls.__name__: cls
    for cls in (
        PlaceOrder,
        CancelOrder,
        ReplaceOrder,
        CancelAll,
        Withdraw,
        Deposit,
        CreateInstrument,
        SetIndexPrice,
        HaltInstrument,
        ResumeInstrument,
        Settle,
        SetMmp,
        ResetMmp,
        AcceptQuote,
        CancelAfter,
        ArmCancelOnDisconnect,
        SessionClosed,
        Tick,
    )
}


@attrs.frozen
class Envelope:
    """One command as the sequencer orders it.

    ``wallet`` is the authenticated sender (the gateway's word, never the client's);
    ``request_id`` is the sender's idempotency key and is echoed in the result.
    """

    seq: int
    ts_ms: int
    wallet: str
    request_id: str
    command: Command
