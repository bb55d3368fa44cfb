"""Between the client's typed values and the engine's, for the simulator: a ``Request``
to the command the gateway reads from it, an engine answer to the client's result.

``command_of`` gives exactly what ``parse_command(request.to_wire())`` gives (the same
command, or the same error naming the field): the common orders, replaces and cancels
are read from the request's own fields by the gateway's one-pass readers
(``plain_place``, ``plain_replace``, ``plain_cancel``), everything else through the wire
message and ``parse_command`` itself.
``typed`` gives what ``parse_message(to_wire(answer))`` gives. It never sequences,
validates on its own account, or touches state.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import attrs

from hcx.client.errors import HcxError
from hcx.client.messages import OrderResult, OrderUpdate, parse_message
from hcx.client.requests import (
    CancelOrderRequest,
    PlaceOrderRequest,
    ReplaceOrderRequest,
    Request,
    decimal_string,
)
from hcx.engine.numbers import format_decimal
from hcx.engine.outputs import OrderResult as EngineOrderResult
from hcx.engine.outputs import OrderUpdate as EngineOrderUpdate
from hcx.protocol.commands import (
    ParsedCommand,
    parse_command,
    plain_cancel,
    plain_place,
    plain_replace,
    plain_stamp,
)
from hcx.protocol.errors import ProtocolError
from hcx.protocol.messages import DECIMAL_FIELDS, to_wire


def command_of(request: Request[Any]) -> ParsedCommand:
    """``parse_command(request.to_wire())``, without the wire message between where the
    request is a common order or cancel (raises ``ProtocolError`` naming the field)."""
    kind = type(request)
    if kind is PlaceOrderRequest and plain_stamp(request.request_id, request.ts):
        place: PlaceOrderRequest = request  # type: ignore[assignment]
        command: Any = plain_place(
            place.symbol,
            place.side,
            decimal_string(place.price),
            decimal_string(place.size),
            place.tif,
            place.post_only,
            place.reduce_only,
            place.mmp,
            place.client_id,
            place.stp,
        )
        if command is not None:
            return ParsedCommand(place.request_id, place.ts, command)
    elif kind is ReplaceOrderRequest and plain_stamp(request.request_id, request.ts):
        replace: ReplaceOrderRequest = request  # type: ignore[assignment]
        command = plain_replace(
            replace.order_id,
            decimal_string(replace.price),
            decimal_string(replace.size),
            replace.tif,
            replace.post_only,
            replace.reduce_only,
            replace.mmp,
            replace.client_id,
        )
        if command is not None:
            return ParsedCommand(replace.request_id, replace.ts, command)
    elif kind is CancelOrderRequest and plain_stamp(request.request_id, request.ts):
        cancel: CancelOrderRequest = request  # type: ignore[assignment]
        command = plain_cancel(cancel.order_id, cancel.client_id)
        if command is not None:
            return ParsedCommand(cancel.request_id, cancel.ts, command)
    return parse_command(request.to_wire())


_DECIMALS: dict[int, Decimal] = {}
_DECIMALS_KEPT = 1 << 16


def decimal_of(value: int) -> Decimal:
    """``Decimal(format_decimal(value))``, the client's reading of a scaled amount:
    remembered, as a market repeats its prices and sizes and the reading costs more than
    the rest of a result's conversion (Decimals never change, so sharing one is safe)."""
    found = _DECIMALS.get(value)
    if found is None:
        if len(_DECIMALS) >= _DECIMALS_KEPT:
            _DECIMALS.clear()
        found = _DECIMALS[value] = Decimal(format_decimal(value))
    return found


def _order_state_converter(cls: type[Any]) -> Callable[[Any], Any]:
    """Engine ``OrderResult``/``OrderUpdate`` -> the client's class ``cls`` in one call:
    what ``parse_message(to_wire(value))`` gives (a test holds them equal), without the
    wire dict between; every order call's answer and order update passes here."""
    args = []
    for field in attrs.fields(cls):
        name = field.name
        if name in DECIMAL_FIELDS and field.default is attrs.NOTHING:
            args.append(f"{name}=fmt(o.{name})")
        elif name in DECIMAL_FIELDS:
            args.append(f"{name}=None if o.{name} is None else fmt(o.{name})")
        else:
            args.append(f"{name}=o.{name}")
    namespace: dict[str, Any] = {"cls": cls, "fmt": decimal_of}
    # The source is built from attrs field names only, never from input.
    exec(f"def convert(o):\n    return cls({', '.join(args)})", namespace)
    convert: Callable[[Any], Any] = namespace["convert"]
    return convert


_ORDER_RESULT = _order_state_converter(OrderResult)
_DIRECT: dict[type, Callable[[Any], Any]] = {
    EngineOrderUpdate: _order_state_converter(OrderUpdate),
}


def typed(answer: Any) -> Any:
    """An answer of ``Simulator.apply`` as the client gives it: its typed result, or
    ``HcxError`` raised for a refusal."""
    if type(answer) is EngineOrderResult:
        return _ORDER_RESULT(answer)
    parsed = parse_message(answer if type(answer) is dict else to_wire(answer))
    if isinstance(parsed, HcxError):
        raise parsed
    return parsed


def message_of(event: Any) -> Any:
    """An engine event as the client's channel message (``parse_message(to_wire(event))``)."""
    direct = _DIRECT.get(type(event))
    return direct(event) if direct is not None else parse_message(to_wire(event))


def request_id_of(item: Any) -> str | None:
    """The ``request_id`` an error about ``item`` (a wire message) names, if any."""
    if isinstance(item, dict) and isinstance(item.get("request_id"), str):
        value: str = item["request_id"][:64]
        return value
    return None


def as_hcx_error(exc: ProtocolError, message: Any = None) -> HcxError:
    """A protocol error as the client raises it (its wire form, read back)."""
    return HcxError.from_wire(exc.to_wire(None, request_id_of(message)))
