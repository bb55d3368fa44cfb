"""Frames to messages and back: JSON text frames or CBOR binary frames.

A frame must hold one object (map) with string keys. Anything else, including NaN or
Infinity in JSON, duplicated keys, nesting deeper than ``MAX_DEPTH``, or CBOR tags other
than the plain types, is ``invalid_message``: a peer that sends it gets an error, never a
crash.
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
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicated key {key!r}")
        out[key] = value
    return out


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
                frame, parse_constant=_no_constants, object_pairs_hook=_unique_keys
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
    if not _depth_ok(message):
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
