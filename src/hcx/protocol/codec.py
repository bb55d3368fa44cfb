"""Frames to messages and back: JSON text frames or CBOR binary frames.

A frame must hold one object (map) with string keys. Anything else, including NaN or
Infinity in JSON, duplicated keys, nesting deeper than ``MAX_DEPTH``, or CBOR tags other
than the plain types, is ``invalid_message``: a peer that sends it gets an error, never a
crash. (The test suite wraps ``encode`` and ``decode`` to check every message against
docs/asyncapi.json: tests/harness/wire_schema.py.)
"""

from __future__ import annotations

import json
import math
from typing import Any

import cbor2

from hcx.protocol import SUBPROTOCOL_CBOR, SUBPROTOCOL_LOCAL
from hcx.protocol.errors import ProtocolError

MAX_DEPTH = 32
_JSON_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Built in C; only a frame that does repeat a key pays for finding which.
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicated key {key!r}")
            seen.add(key)
    return out


def _finite_float(text: str) -> float:
    # ``1e400`` parses to infinity: refuse it like the ``Infinity`` constant.
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range")
    return value


def _depth_ok(value: Any, depth: int = 0) -> bool:
    if depth > MAX_DEPTH:
        return False
    if isinstance(value, dict):
        return all(isinstance(k, str) and _depth_ok(v, depth + 1) for k, v in value.items())
    if isinstance(value, list):
        return all(_depth_ok(v, depth + 1) for v in value)
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, str | int | bool) or value is None


def _json_depth_ok(value: Any, depth: int = 0) -> bool:
    """``_depth_ok`` for what ``json.loads`` built: keys are strings and leaves are plain
    (floats are finite: ``_finite_float``), so only containers are visited, not every
    value: a ``BulkOrders`` of 50 costs one loop per object."""
    if depth >= MAX_DEPTH:
        # Anything inside a container this deep would be deeper than allowed.
        return depth == MAX_DEPTH and not value
    for item in value.values() if type(value) is dict else value:
        kind = type(item)
        if (kind is dict or kind is list) and not _json_depth_ok(item, depth + 1):
            return False
    return True


def _unicode_ok(value: Any) -> bool:
    """No lone surrogate in any key or string: JSON's ``\\ud800`` escapes decode to one,
    and echoing it (an ``id``, a ``request_id``) could not be encoded as UTF-8."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(_unicode_ok(k) and _unicode_ok(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_unicode_ok(v) for v in value)
    return True


def decode(frame: str | bytes | dict[str, Any], subprotocol: str) -> dict[str, Any]:
    if subprotocol == SUBPROTOCOL_LOCAL:
        if not isinstance(frame, dict) or not _depth_ok(frame):
            raise ProtocolError("invalid_message", "a local frame is one plain-data dict")
        return frame
    if isinstance(frame, dict):
        raise ProtocolError("invalid_message", "frames are text or binary")
    try:
        if subprotocol == SUBPROTOCOL_CBOR:
            if isinstance(frame, str):
                raise ValueError("CBOR connections use binary frames")
            message = cbor2.loads(frame)
        else:
            if isinstance(frame, bytes):
                frame = frame.decode("utf-8")
            message = json.loads(
                frame,
                parse_constant=_no_constants,
                parse_float=_finite_float,
                object_pairs_hook=_unique_keys,
            )
    except (
        ValueError,
        TypeError,
        RecursionError,
        cbor2.CBORDecodeError,
        UnicodeDecodeError,
    ) as exc:
        raise ProtocolError("invalid_message", f"cannot decode frame: {exc}") from None
    except Exception as exc:  # cbor2 can raise others on hostile input
        raise ProtocolError("invalid_message", f"cannot decode frame: {exc!r}") from None
    if not isinstance(message, dict):
        raise ProtocolError("invalid_message", "a frame must hold one object")
    if not (_json_depth_ok(message) if isinstance(frame, str) else _depth_ok(message)):
        raise ProtocolError("invalid_message", "keys must be strings and values plain data")
    # Only a JSON escape can produce a lone surrogate (frames arrive as valid UTF-8).
    if isinstance(frame, str) and "\\u" in frame and not _unicode_ok(message):
        raise ProtocolError("invalid_message", "strings must not hold lone surrogates")
    return message


def encode(message: dict[str, Any], subprotocol: str) -> Any:
    """A frame: ``str`` for JSON, ``bytes`` for CBOR, the dict itself in-process."""
    if subprotocol == SUBPROTOCOL_LOCAL:
        return message
    if subprotocol == SUBPROTOCOL_CBOR:
        return cbor2.dumps(message)
    return _JSON_ENCODER.encode(message)
