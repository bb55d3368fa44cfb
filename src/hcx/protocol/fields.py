"""Reading one field of a message, with an ``invalid_field`` error that names it."""

from __future__ import annotations

import re
import uuid
from typing import Any

from hcx.engine.numbers import DecimalFormatError, parse_decimal
from hcx.protocol.errors import invalid_field

MAX_INT = 2**63 - 1
_MISSING = object()
# Exactly the strings ``str(uuid.UUID(s)) == s`` accepts: 8-4-4-4-12 lower-case hex.
CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def required(message: dict[str, Any], name: str) -> Any:
    value = message.get(name, _MISSING)
    if value is _MISSING or value is None:
        raise invalid_field(name, "is required")
    return value


def string(
    message: dict[str, Any], name: str, *, optional: bool = False, max_length: int = 64
) -> str | None:
    value = message.get(name)
    if value is None:
        if optional:
            return None
        raise invalid_field(name, "is required")
    if not isinstance(value, str):
        raise invalid_field(name, "must be a string")
    if not value or len(value) > max_length:
        raise invalid_field(name, f"must be 1 to {max_length} characters")
    if not value.isprintable():
        raise invalid_field(name, "must not contain control characters")
    return value


def req_string(message: dict[str, Any], name: str, *, max_length: int = 64) -> str:
    value = string(message, name, max_length=max_length)
    assert value is not None
    return value


def integer(
    message: dict[str, Any], name: str, *, optional: bool = False, minimum: int = 0
) -> int | None:
    value = message.get(name)
    if value is None:
        if optional:
            return None
        raise invalid_field(name, "is required")
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid_field(name, "must be an integer")
    if not minimum <= value <= MAX_INT:
        raise invalid_field(name, f"must be between {minimum} and {MAX_INT}")
    return value


def req_integer(message: dict[str, Any], name: str, *, minimum: int = 0) -> int:
    value = integer(message, name, minimum=minimum)
    assert value is not None
    return value


def boolean(message: dict[str, Any], name: str, default: bool = False) -> bool:
    value = message.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise invalid_field(name, "must be true or false")
    return value


def choice(
    message: dict[str, Any], name: str, options: tuple[str, ...], default: str | None = None
) -> str:
    value = message.get(name)
    if value is None:
        if default is not None:
            return default
        raise invalid_field(name, "is required")
    if value not in options:
        raise invalid_field(name, f"must be one of {', '.join(options)}")
    return str(value)


def decimal(message: dict[str, Any], name: str, *, optional: bool = False) -> int | None:
    """A decimal string such as ``"12.5"`` as a scaled integer; signs are the engine's
    business (a zero or negative price is its ``invalid_price``)."""
    value = message.get(name)
    if value is None:
        if optional:
            return None
        raise invalid_field(name, "is required")
    if not isinstance(value, str):
        raise invalid_field(name, 'must be a decimal string such as "12.5"')
    try:
        return parse_decimal(value)
    except DecimalFormatError as exc:
        raise invalid_field(name, str(exc)) from None


def req_decimal(message: dict[str, Any], name: str) -> int:
    value = decimal(message, name)
    assert value is not None
    return value


def request_id(message: dict[str, Any], name: str = "request_id") -> str:
    value = message.get(name)
    if not isinstance(value, str):
        raise invalid_field(name, "must be a UUID string")
    if CANONICAL_UUID.fullmatch(value):
        return value
    try:
        uuid.UUID(value)
    except ValueError:
        raise invalid_field(name, "must be a canonical UUID string") from None
    raise invalid_field(name, "must be a canonical (lower-case, hyphenated) UUID string")


def message_id(message: dict[str, Any]) -> Any:
    """The optional ``id`` a client correlates answers with: a string or an integer."""
    value = message.get("id")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise invalid_field("id", "must be a string or an integer")
    if isinstance(value, str) and len(value) > 64:
        raise invalid_field("id", "must be at most 64 characters")
    if isinstance(value, int) and not -MAX_INT <= value <= MAX_INT:
        raise invalid_field("id", "is out of range")
    return value
