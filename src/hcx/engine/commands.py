"""The engine's only input: an ``Envelope`` holding one command.

Commands are plain classes (see ``plain``) whose class names are the protocol's message
types; mypyc compiles them to native classes, as it does the outputs, because the engine
reads their fields on every command (read from attrs classes, each field went through
Python's generic attribute lookup). Like the attrs frozen classes they replace, they
compare and hash by their fields, pickle, and are never changed once built (nothing
assigns to them; ``plain.replace`` makes a changed copy, as ``attrs.evolve`` did).
Values are already integers (see ``numbers``): parsing and field-shape checks happen at
the edge, the engine's own rules (ticks, lots, balances, ownership) happen in ``apply``.
The envelope's ``seq`` and ``ts_ms`` are assigned by the sequencer, never by a client, so
replaying the same envelopes reproduces the same state.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from hcx.engine.plain import Value

Side = Literal["buy", "sell"]
TimeInForce = Literal["gtc", "ioc", "fok"]
SelfTradePrevention = Literal["cancel_maker", "cancel_taker", "cancel_both"]
OptionKind = Literal["call", "put"]

SIDES: tuple[Side, ...] = ("buy", "sell")
TIME_IN_FORCE: tuple[TimeInForce, ...] = ("gtc", "ioc", "fok")
STP_MODES: tuple[SelfTradePrevention, ...] = ("cancel_maker", "cancel_taker", "cancel_both")
OPTION_KINDS: tuple[OptionKind, ...] = ("call", "put")


class _Frozen(Value):
    """A value built once: hashed by its fields, pickled by its constructor's arguments
    (a native class has no ``__dict__`` for pickle to restore)."""

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.values()))

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), self.values())


class PlaceOrder(_Frozen):
    FIELDS: ClassVar[tuple[str, ...]] = (
        "symbol",
        "side",
        "price",
        "size",
        "tif",
        "post_only",
        "reduce_only",
        "mmp",
        "client_id",
        "stp",
    )

    def __init__(
        self,
        symbol: str,
        side: Side,
        price: int,
        size: int,
        tif: TimeInForce = "gtc",
        post_only: bool = False,
        reduce_only: bool = False,
        mmp: bool = False,
        client_id: str | None = None,
        stp: SelfTradePrevention = "cancel_maker",
    ) -> None:
        self.symbol = symbol
        self.side = side
        self.price = price
        self.size = size
        self.tif = tif
        self.post_only = post_only
        self.reduce_only = reduce_only
        self.mmp = mmp
        self.client_id = client_id
        self.stp = stp

    def values(self) -> tuple[Any, ...]:
        return (
            self.symbol,
            self.side,
            self.price,
            self.size,
            self.tif,
            self.post_only,
            self.reduce_only,
            self.mmp,
            self.client_id,
            self.stp,
        )


class CancelOrder(_Frozen):
    FIELDS: ClassVar[tuple[str, ...]] = (
        "order_id",
        "client_id",
    )

    def __init__(self, order_id: int | None = None, client_id: str | None = None) -> None:
        self.order_id = order_id
        self.client_id = client_id

    def values(self) -> tuple[Any, ...]:
        return (
            self.order_id,
            self.client_id,
        )


class ReplaceOrder(_Frozen):
    """Cancel ``order_id`` and place a new order on the same symbol and side, atomically."""

    FIELDS: ClassVar[tuple[str, ...]] = (
        "order_id",
        "price",
        "size",
        "tif",
        "post_only",
        "reduce_only",
        "mmp",
        "client_id",
        "stp",
    )

    def __init__(
        self,
        order_id: int,
        price: int,
        size: int,
        tif: TimeInForce = "gtc",
        post_only: bool = False,
        reduce_only: bool = False,
        mmp: bool = False,
        client_id: str | None = None,
        stp: SelfTradePrevention = "cancel_maker",
    ) -> None:
        self.order_id = order_id
        self.price = price
        self.size = size
        self.tif = tif
        self.post_only = post_only
        self.reduce_only = reduce_only
        self.mmp = mmp
        self.client_id = client_id
        self.stp = stp

    def values(self) -> tuple[Any, ...]:
        return (
            self.order_id,
            self.price,
            self.size,
            self.tif,
            self.post_only,
            self.reduce_only,
            self.mmp,
            self.client_id,
            self.stp,
        )


class CancelAll(_Frozen):
    FIELDS: ClassVar[tuple[str, ...]] = (
        "symbol",
        "underlying",
    )

    def __init__(self, symbol: str | None = None, underlying: str | None = None) -> None:
        self.symbol = symbol
        self.underlying = underlying

    def values(self) -> tuple[Any, ...]:
        return (
            self.symbol,
            self.underlying,
        )


class Withdraw(_Frozen):
    FIELDS: ClassVar[tuple[str, ...]] = ("amount",)

    def __init__(self, amount: int) -> None:
        self.amount = amount

    def values(self) -> tuple[Any, ...]:
        return (self.amount,)


class Deposit(_Frozen):
    """Admin: credit ``wallet`` (not the sender) with ``amount``."""

    FIELDS: ClassVar[tuple[str, ...]] = (
        "wallet",
        "amount",
    )

    def __init__(self, wallet: str, amount: int) -> None:
        self.wallet = wallet
        self.amount = amount

    def values(self) -> tuple[Any, ...]:
        return (
            self.wallet,
            self.amount,
        )


class CreateInstrument(_Frozen):
    """Admin: list an option. Fees left as ``None`` take the engine's configured defaults."""

    FIELDS: ClassVar[tuple[str, ...]] = (
        "symbol",
        "underlying",
        "expiry_ms",
        "strike",
        "option",
        "tick_size",
        "lot_size",
        "multiplier",
        "maker_fee_bps",
        "taker_fee_bps",
    )

    def __init__(
        self,
        symbol: str,
        underlying: str,
        expiry_ms: int,
        strike: int,
        option: OptionKind,
        tick_size: int,
        lot_size: int,
        multiplier: int = 1000000,
        maker_fee_bps: int | None = None,
        taker_fee_bps: int | None = None,
    ) -> None:
        self.symbol = symbol
        self.underlying = underlying
        self.expiry_ms = expiry_ms
        self.strike = strike
        self.option = option
        self.tick_size = tick_size
        self.lot_size = lot_size
        self.multiplier = multiplier
        self.maker_fee_bps = maker_fee_bps
        self.taker_fee_bps = taker_fee_bps

    def values(self) -> tuple[Any, ...]:
        return (
            self.symbol,
            self.underlying,
            self.expiry_ms,
            self.strike,
            self.option,
            self.tick_size,
            self.lot_size,
            self.multiplier,
            self.maker_fee_bps,
            self.taker_fee_bps,
        )


class SetIndexPrice(_Frozen):
    """Admin: the underlying's index price; ``vol`` (scaled, 0.8 = 800000) is kept for MMP."""

    FIELDS: ClassVar[tuple[str, ...]] = (
        "underlying",
        "price",
        "vol",
    )

    def __init__(self, underlying: str, price: int, vol: int | None = None) -> None:
        self.underlying = underlying
        self.price = price
        self.vol = vol

    def values(self) -> tuple[Any, ...]:
        return (
            self.underlying,
            self.price,
            self.vol,
        )


class HaltInstrument(_Frozen):
    FIELDS: ClassVar[tuple[str, ...]] = ("symbol",)

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol

    def values(self) -> tuple[Any, ...]:
        return (self.symbol,)


class ResumeInstrument(_Frozen):
    """Admin: a halted instrument trades again (halted -> active)."""

    FIELDS: ClassVar[tuple[str, ...]] = ("symbol",)

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol

    def values(self) -> tuple[Any, ...]:
        return (self.symbol,)


class CancelAfter(_Frozen):
    """The sender's dead-man's switch: cancel its orders unless renewed within
    ``timeout_ms`` of this command's time; 0 turns it off."""

    FIELDS: ClassVar[tuple[str, ...]] = ("timeout_ms",)

    def __init__(self, timeout_ms: int) -> None:
        self.timeout_ms = timeout_ms

    def values(self) -> tuple[Any, ...]:
        return (self.timeout_ms,)


class ArmCancelOnDisconnect(_Frozen):
    """Service: connection ``session`` of the sender opted in to cancel-on-disconnect."""

    FIELDS: ClassVar[tuple[str, ...]] = ("session",)

    def __init__(self, session: str) -> None:
        self.session = session

    def values(self) -> tuple[Any, ...]:
        return (self.session,)


class SessionClosed(_Frozen):
    """Service: connection ``session`` closed; cancels its wallet's orders if armed."""

    FIELDS: ClassVar[tuple[str, ...]] = ("session",)

    def __init__(self, session: str) -> None:
        self.session = session

    def values(self) -> tuple[Any, ...]:
        return (self.session,)


class Settle(_Frozen):
    """Admin: cash-settle an expired instrument at the underlying's settlement price."""

    FIELDS: ClassVar[tuple[str, ...]] = (
        "symbol",
        "price",
    )

    def __init__(self, symbol: str, price: int) -> None:
        self.symbol = symbol
        self.price = price

    def values(self) -> tuple[Any, ...]:
        return (
            self.symbol,
            self.price,
        )


class SetMmp(_Frozen):
    """Market maker protection for (sender, underlying). Limits are scaled like sizes:
    ``qty_limit`` in contracts, ``delta_limit`` in delta-contracts; None disables one."""

    FIELDS: ClassVar[tuple[str, ...]] = (
        "underlying",
        "interval_ms",
        "frozen_ms",
        "qty_limit",
        "delta_limit",
        "enabled",
    )

    def __init__(
        self,
        underlying: str,
        interval_ms: int,
        frozen_ms: int,
        qty_limit: int | None = None,
        delta_limit: int | None = None,
        enabled: bool = True,
    ) -> None:
        self.underlying = underlying
        self.interval_ms = interval_ms
        self.frozen_ms = frozen_ms
        self.qty_limit = qty_limit
        self.delta_limit = delta_limit
        self.enabled = enabled

    def values(self) -> tuple[Any, ...]:
        return (
            self.underlying,
            self.interval_ms,
            self.frozen_ms,
            self.qty_limit,
            self.delta_limit,
            self.enabled,
        )


class ResetMmp(_Frozen):
    FIELDS: ClassVar[tuple[str, ...]] = ("underlying",)

    def __init__(self, underlying: str) -> None:
        self.underlying = underlying

    def values(self) -> tuple[Any, ...]:
        return (self.underlying,)


class Tick(_Frozen):
    """Admin: nothing but the passing of time. Applied at its envelope's time, it makes
    happen what that time makes happen (instrument expiry cancels resting orders) as a
    journaled command of its own, instead of ahead of whichever command comes next."""

    FIELDS: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        pass

    def values(self) -> tuple[Any, ...]:
        return ()


def _legs(legs: object) -> tuple[tuple[str, str, int, int], ...]:
    return tuple((str(s), str(d), int(z), int(p)) for s, d, z, p in legs)  # type: ignore[attr-defined]


class AcceptQuote(_Frozen):
    """Execute a quote: every leg between the sender (taker) and ``quoter`` at the quoted
    price, or none. Legs are ``(symbol, taker side, size, price)``; the service fills in
    the quote's terms from its memory, so the journal holds everything replay needs."""

    FIELDS: ClassVar[tuple[str, ...]] = (
        "rfq_id",
        "quote_id",
        "quoter",
        "legs",
        "expires_ms",
        "quoter_mmp",
    )

    def __init__(
        self,
        rfq_id: str,
        quote_id: str,
        quoter: str,
        legs: Any,
        expires_ms: int,
        quoter_mmp: bool = False,
    ) -> None:
        self.rfq_id = rfq_id
        self.quote_id = quote_id
        self.quoter = quoter
        self.legs = _legs(legs)
        self.expires_ms = expires_ms
        self.quoter_mmp = quoter_mmp

    def values(self) -> tuple[Any, ...]:
        return (
            self.rfq_id,
            self.quote_id,
            self.quoter,
            self.legs,
            self.expires_ms,
            self.quoter_mmp,
        )


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


class Envelope(_Frozen):
    """One command as the sequencer orders it.

    ``wallet`` is the authenticated sender (the gateway's word, never the client's);
    ``request_id`` is the sender's idempotency key and is echoed in the result."""

    FIELDS: ClassVar[tuple[str, ...]] = (
        "seq",
        "ts_ms",
        "wallet",
        "request_id",
        "command",
    )

    def __init__(
        self, seq: int, ts_ms: int, wallet: str, request_id: str, command: Command
    ) -> None:
        self.seq = seq
        self.ts_ms = ts_ms
        self.wallet = wallet
        self.request_id = request_id
        self.command = command

    def values(self) -> tuple[Any, ...]:
        return (
            self.seq,
            self.ts_ms,
            self.wallet,
            self.request_id,
            self.command,
        )
