"""Wire messages to engine commands: every field checked, decimals parsed, nothing guessed.

``parse_command`` reads one journaled command message (its ``type`` already known to be a
command) and returns its idempotency ``request_id``, its client ``ts`` and the engine
command; any problem raises ``invalid_field`` naming the field. Engine rules (ticks,
lots, balances, ownership) are not checked here: they are the engine's results.
``plain_place``, ``plain_replace``, ``plain_cancel`` and ``plain_stamp`` are its one-pass
readings of the common commands, from field values rather than a message, so that the
simulator can read a typed request without a wire message between; they decline anything
in doubt.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from hcx.engine.commands import (
    OPTION_KINDS,
    SIDES,
    STP_MODES,
    TIME_IN_FORCE,
    CancelAfter,
    CancelAll,
    CancelOrder,
    Command,
    CreateInstrument,
    Deposit,
    HaltInstrument,
    PlaceOrder,
    ReplaceOrder,
    ResetMmp,
    ResumeInstrument,
    SetIndexPrice,
    SetMmp,
    Settle,
    Tick,
    Withdraw,
)
from hcx.engine.numbers import DecimalFormatError, parse_decimal
from hcx.protocol import fields as f
from hcx.protocol.errors import invalid_field

MAX_BULK = 50
CLIENT_ID_MAX = 36
FEE_BPS_MAX = 10_000
MAX_CANCEL_AFTER_MS = 86_400_000


class ParsedCommand(NamedTuple):
    request_id: str
    ts: int
    command: Command


def _order_flags(message: dict[str, Any]) -> dict[str, Any]:
    return {
        "tif": f.choice(message, "tif", TIME_IN_FORCE, "gtc"),
        "post_only": f.boolean(message, "post_only"),
        "reduce_only": f.boolean(message, "reduce_only"),
        "mmp": f.boolean(message, "mmp"),
        "client_id": f.string(message, "client_id", optional=True, max_length=CLIENT_ID_MAX),
        "stp": f.choice(message, "stp", STP_MODES, "cancel_maker"),
    }


def _place(message: dict[str, Any]) -> Command:
    return _plain_place(message) or _checked_place(message)


def _plain_place(message: dict[str, Any]) -> PlaceOrder | None:
    get = message.get
    if get("client_id") is not None or get("stp") is not None:
        return None  # the gateway's one pass keeps to the orders without them
    return plain_place(
        get("symbol"),
        get("side"),
        get("price"),
        get("size"),
        get("tif"),
        get("post_only"),
        get("reduce_only"),
        get("mmp"),
        get("client_id"),
        get("stp"),
    )


def _doubtful_flags(
    tif: Any, post_only: Any, reduce_only: Any, mmp: Any, client_id: Any, stp: Any
) -> bool:
    """Whether an order's optional fields might fail their checked reading."""
    return (
        (tif is not None and tif not in TIME_IN_FORCE)
        # ``type``: 0 == False, and a 0 must be refused by the checked reading.
        or (post_only is not None and type(post_only) is not bool)
        or (reduce_only is not None and type(reduce_only) is not bool)
        or (mmp is not None and type(mmp) is not bool)
        or (
            client_id is not None
            and (
                type(client_id) is not str
                or not 0 < len(client_id) <= CLIENT_ID_MAX
                or not client_id.isprintable()
            )
        )
        or (stp is not None and stp not in STP_MODES)
    )


def plain_place(
    symbol: Any,
    side: Any,
    price: Any,
    size: Any,
    tif: Any = None,
    post_only: Any = None,
    reduce_only: Any = None,
    mmp: Any = None,
    client_id: Any = None,
    stp: Any = None,
) -> PlaceOrder | None:
    """A valid order read in one pass from the values of its fields (``None`` where
    absent); ``None`` for anything in doubt, which the checked reading then reads field
    by field so that an error names the first bad field in the usual order. Accepts
    nothing the checked reading would refuse, and reads the same values. The gateway's
    messages and the simulator's typed requests both come here."""
    if (
        type(symbol) is not str
        or not 0 < len(symbol) <= 64
        or not symbol.isprintable()
        or (side != "buy" and side != "sell")
        or type(price) is not str
        or type(size) is not str
        or _doubtful_flags(tif, post_only, reduce_only, mmp, client_id, stp)
    ):
        return None
    try:
        return PlaceOrder(
            symbol,
            side,
            parse_decimal(price),
            parse_decimal(size),
            tif or "gtc",
            post_only is True,
            reduce_only is True,
            mmp is True,
            client_id,
            stp or "cancel_maker",
        )
    except DecimalFormatError:
        return None


def plain_replace(
    order_id: Any,
    price: Any,
    size: Any,
    tif: Any = None,
    post_only: Any = None,
    reduce_only: Any = None,
    mmp: Any = None,
    client_id: Any = None,
    stp: Any = None,
) -> ReplaceOrder | None:
    """``plain_place`` for ``ReplaceOrder``: the command in one pass, or ``None`` for
    anything in doubt (the checked reading then names the bad field)."""
    if (
        type(order_id) is not int
        or not 1 <= order_id <= f.MAX_INT
        or type(price) is not str
        or type(size) is not str
        or _doubtful_flags(tif, post_only, reduce_only, mmp, client_id, stp)
    ):
        return None
    try:
        return ReplaceOrder(
            order_id,
            parse_decimal(price),
            parse_decimal(size),
            tif or "gtc",
            post_only is True,
            reduce_only is True,
            mmp is True,
            client_id,
            stp or "cancel_maker",
        )
    except DecimalFormatError:
        return None


def plain_cancel(order_id: Any, client_id: Any = None) -> CancelOrder | None:
    """``CancelOrder`` by a valid ``order_id`` or a valid ``client_id`` alone, in one
    pass; ``None`` for anything else (the checked reading then names the bad field)."""
    if client_id is None:
        if type(order_id) is int and 1 <= order_id <= f.MAX_INT:
            return CancelOrder(order_id)
    elif (
        order_id is None
        and type(client_id) is str
        and 0 < len(client_id) <= CLIENT_ID_MAX
        and client_id.isprintable()
    ):
        return CancelOrder(None, client_id)
    return None


def plain_stamp(request_id: Any, ts: Any) -> bool:
    """Whether ``request_id`` and ``ts`` certainly pass ``parse_command``'s checks."""
    return (
        type(request_id) is str
        and f.CANONICAL_UUID.fullmatch(request_id) is not None
        and type(ts) is int
        and 0 <= ts <= f.MAX_INT
    )


def _checked_place(message: dict[str, Any]) -> Command:
    return PlaceOrder(
        symbol=f.req_string(message, "symbol"),
        side=f.choice(message, "side", SIDES),  # type: ignore[arg-type]
        price=f.req_decimal(message, "price"),
        size=f.req_decimal(message, "size"),
        **_order_flags(message),
    )


def _cancel(message: dict[str, Any]) -> Command:
    order_id = f.integer(message, "order_id", optional=True, minimum=1)
    client_id = f.string(message, "client_id", optional=True, max_length=CLIENT_ID_MAX)
    if (order_id is None) == (client_id is None):
        raise invalid_field("order_id", "give exactly one of order_id or client_id")
    return CancelOrder(order_id=order_id, client_id=client_id)


def _replace(message: dict[str, Any]) -> Command:
    return _plain_replace(message) or _checked_replace(message)


def _plain_replace(message: dict[str, Any]) -> ReplaceOrder | None:
    get = message.get
    return plain_replace(
        get("order_id"),
        get("price"),
        get("size"),
        get("tif"),
        get("post_only"),
        get("reduce_only"),
        get("mmp"),
        get("client_id"),
        get("stp"),
    )


def _checked_replace(message: dict[str, Any]) -> Command:
    return ReplaceOrder(
        order_id=f.req_integer(message, "order_id", minimum=1),
        price=f.req_decimal(message, "price"),
        size=f.req_decimal(message, "size"),
        **_order_flags(message),
    )


def _cancel_all(message: dict[str, Any]) -> Command:
    symbol = f.string(message, "symbol", optional=True)
    underlying = f.string(message, "underlying", optional=True)
    if symbol is not None and underlying is not None:
        raise invalid_field("underlying", "give symbol or underlying, not both")
    return CancelAll(symbol=symbol, underlying=underlying)


def _cancel_after(message: dict[str, Any]) -> Command:
    timeout_ms = f.req_integer(message, "timeout_ms")
    if timeout_ms > MAX_CANCEL_AFTER_MS:
        raise invalid_field("timeout_ms", f"must be 0 (off) to {MAX_CANCEL_AFTER_MS}")
    return CancelAfter(timeout_ms=timeout_ms)


def _withdraw(message: dict[str, Any]) -> Command:
    return Withdraw(amount=f.req_decimal(message, "amount"))


def _deposit(message: dict[str, Any]) -> Command:
    return Deposit(wallet=f.req_string(message, "wallet"), amount=f.req_decimal(message, "amount"))


def _fee(message: dict[str, Any], name: str) -> int | None:
    value = f.integer(message, name, optional=True)
    if value is not None and value > FEE_BPS_MAX:
        raise invalid_field(name, f"must be at most {FEE_BPS_MAX}")
    return value


def _create_instrument(message: dict[str, Any]) -> Command:
    multiplier = f.decimal(message, "multiplier", optional=True)
    return CreateInstrument(
        symbol=f.req_string(message, "symbol"),
        underlying=f.req_string(message, "underlying", max_length=16),
        expiry_ms=f.req_integer(message, "expiry_ms", minimum=1),
        strike=f.req_decimal(message, "strike"),
        option=f.choice(message, "option", OPTION_KINDS),  # type: ignore[arg-type]
        tick_size=f.req_decimal(message, "tick_size"),
        lot_size=f.req_decimal(message, "lot_size"),
        multiplier=1_000_000 if multiplier is None else multiplier,
        maker_fee_bps=_fee(message, "maker_fee_bps"),
        taker_fee_bps=_fee(message, "taker_fee_bps"),
    )


def _set_index_price(message: dict[str, Any]) -> Command:
    return SetIndexPrice(
        underlying=f.req_string(message, "underlying", max_length=16),
        price=f.req_decimal(message, "price"),
        vol=f.decimal(message, "vol", optional=True),
    )


def _halt(message: dict[str, Any]) -> Command:
    return HaltInstrument(symbol=f.req_string(message, "symbol"))


def _resume(message: dict[str, Any]) -> Command:
    return ResumeInstrument(symbol=f.req_string(message, "symbol"))


def _settle(message: dict[str, Any]) -> Command:
    return Settle(symbol=f.req_string(message, "symbol"), price=f.req_decimal(message, "price"))


def _tick(message: dict[str, Any]) -> Command:
    return Tick()


def _set_mmp(message: dict[str, Any]) -> Command:
    enabled = message.get("enabled")
    if not isinstance(enabled, bool):
        raise invalid_field("enabled", "must be true or false")
    return SetMmp(
        underlying=f.req_string(message, "underlying", max_length=16),
        interval_ms=f.req_integer(message, "interval_ms", minimum=1),
        frozen_ms=f.req_integer(message, "frozen_ms"),
        qty_limit=f.decimal(message, "qty_limit", optional=True),
        delta_limit=f.decimal(message, "delta_limit", optional=True),
        enabled=enabled,
    )


def _reset_mmp(message: dict[str, Any]) -> Command:
    return ResetMmp(underlying=f.req_string(message, "underlying", max_length=16))


TRADER_COMMANDS: dict[str, Callable[[dict[str, Any]], Command]] = {
    "PlaceOrder": _place,
    "CancelOrder": _cancel,
    "ReplaceOrder": _replace,
    "CancelAll": _cancel_all,
    "Withdraw": _withdraw,
    "SetMmp": _set_mmp,
    "ResetMmp": _reset_mmp,
    "CancelAfter": _cancel_after,
}
ADMIN_COMMANDS: dict[str, Callable[[dict[str, Any]], Command]] = {
    "CreateInstrument": _create_instrument,
    "Deposit": _deposit,
    "SetIndexPrice": _set_index_price,
    "HaltInstrument": _halt,
    "ResumeInstrument": _resume,
    "Settle": _settle,
    "Tick": _tick,
}
BULK_ITEM_TYPES = ("PlaceOrder", "CancelOrder", "ReplaceOrder")
COMMAND_PARSERS = {**TRADER_COMMANDS, **ADMIN_COMMANDS}


def parse_command(message: dict[str, Any]) -> ParsedCommand:
    """``message["type"]`` must be a key of ``COMMAND_PARSERS``."""
    request_id = f.request_id(message)
    ts = f.req_integer(message, "ts")
    command = COMMAND_PARSERS[message["type"]](message)
    return ParsedCommand(request_id, ts, command)


def bulk_items(message: dict[str, Any]) -> list[Any]:
    """The ``orders`` of a BulkOrders wrapper, checked for count (items are parsed one by
    one, each failing on its own)."""
    orders = message.get("orders")
    if not isinstance(orders, list):
        raise invalid_field("orders", "must be a list of 1 to 50 order commands")
    if not 1 <= len(orders) <= MAX_BULK:
        raise invalid_field("orders", f"must hold 1 to {MAX_BULK} items, not {len(orders)}")
    return orders
