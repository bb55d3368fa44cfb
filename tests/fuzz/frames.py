"""Hypothesis strategies for adversarial protocol frames, JSON and CBOR.

Two families:

* ``malformed_frame(sub)``: frames the server must refuse. Every one carries a defect
  that the protocol's first check (frame decoding, message shape, field types) catches,
  so the answer is an ``Error`` (``invalid_message``, ``unknown_type`` or
  ``invalid_field``), or a ``BulkResult`` whose items are all such errors, and nothing
  can reach the journal. The defect is built in, not hoped for: a field is given a value
  of the wrong type or outside its grammar, a required field is dropped, a frame is
  truncated, nested too deep, tagged, and so on.
* ``plausible_frame(sub)``: valid-looking messages of every type with random field
  values, each field valid most of the time, so some execute (orders on the listed
  market, cancels of real order ids) and some do not: any documented answer is fine.

``oversized_frame(sub)`` draws frames over 64 KiB (the server closes with 1009).

Values are encoded by hand (``json_encode``, ``cbor_encode``) so that frames can hold
what the standard encoders refuse to write: duplicated keys (``Pairs``), NaN and
Infinity, lone surrogates, CBOR tags, half-precision floats, raw tokens (``Raw``).
"""

from __future__ import annotations

import json
import math
import re
import struct
import time
import uuid
from typing import Any, Literal

import attrs
from hypothesis import strategies as st

from tests.e2e.market import EXPIRY_MS, SYMBOL

Sub = Literal["json", "cbor"]
MAX_INT = 2**63 - 1
MAX_FRAME = 65536
SIDES = ("buy", "sell")
TIFS = ("gtc", "ioc", "fok")
STPS = ("cancel_maker", "cancel_taker", "cancel_both")
OPTIONS = ("call", "put")
CHANNELS = ("book", "trades", "instruments", "rfq", "orders", "fills", "portfolio")
# Wallets the setup funds; plausible frames authenticate as one of them now and then.
WALLETS = ("fuzz", "fuzz2")
# Symbols valid-looking frames use: the listed market most of the time.
SYMBOLS = (SYMBOL, SYMBOL, SYMBOL, "BTC-20301231-3000-P", "ETH-20301231-100-C")
# CBOR tags cbor2 decodes to plain data (bignums, value sharing, string-reference
# namespaces, self-describe): accepted where a plain value is. Every other tag is refused.
TRANSPARENT_TAGS = frozenset({2, 3, 28, 256, 55799})
# Characters ``str.isprintable`` refuses: control, format, separators, surrogates.
NON_PRINTABLE = (
    "\x00",
    "\x07",
    "\t",
    "\n",
    "\x1b",
    "\x7f",
    "\x85",
    "\x9f",
    "\xa0",
    "\u200b",
    "\u200e",
    "\u2028",
    "\u2029",
    "\u202e",
    "\u2066",
    "\ufeff",
    "\ud800",
    "\udbff",
    "\udc00",
    "\udfff",
    "\U000e0001",
)
assert not any(ch.isprintable() for ch in NON_PRINTABLE)
_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]{1,6})?", re.ASCII)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


# --- the value model and its two encoders ----------------------------------------------


@attrs.frozen
class Raw:
    """Inserted verbatim: ``json`` text in a JSON frame, ``cbor`` bytes in a CBOR one."""

    json: str = "null"
    cbor: bytes = b"\xf6"


@attrs.frozen
class Pairs:
    """A map written key by key, in order: duplicated or non-string keys allowed."""

    items: tuple[tuple[Any, Any], ...]


@attrs.frozen
class Tag:
    """A CBOR tag around a value (JSON writes the value alone)."""

    number: int
    value: Any


@attrs.frozen
class NonFinite:
    """NaN or an infinity, written as a half, single or double float in CBOR."""

    value: float
    width: int = 64


def json_encode(value: Any) -> str:
    if isinstance(value, Raw):
        return value.json
    if isinstance(value, Pairs):
        return "{" + ",".join(f"{json_encode(k)}:{json_encode(v)}" for k, v in value.items) + "}"
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{json_encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(json_encode(v) for v in value) + "]"
    if isinstance(value, Tag):
        return json_encode(value.value)
    if isinstance(value, NonFinite):
        value = value.value
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return repr(value)
    if isinstance(value, bytes):
        return json.dumps(value.hex())
    return json.dumps(value)  # str (surrogates escaped as \udXXX), int, bool, None


def _head(major: int, n: int) -> bytes:
    if n < 24:
        return bytes([major << 5 | n])
    for info, width in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if n < 1 << (8 * width):
            return bytes([major << 5 | info]) + n.to_bytes(width, "big")
    raise ValueError(n)


def cbor_encode(value: Any) -> bytes:
    if isinstance(value, Raw):
        return value.cbor
    if value is None:
        return b"\xf6"
    if value is True:
        return b"\xf5"
    if value is False:
        return b"\xf4"
    if isinstance(value, int):
        if value >= 0:
            if value < 1 << 64:
                return _head(0, value)
            data = value.to_bytes((value.bit_length() + 7) // 8, "big")
            return _head(6, 2) + _head(2, len(data)) + data
        if -1 - value < 1 << 64:
            return _head(1, -1 - value)
        magnitude = -1 - value
        data = magnitude.to_bytes((magnitude.bit_length() + 7) // 8, "big")
        return _head(6, 3) + _head(2, len(data)) + data
    if isinstance(value, str):
        data = value.encode("utf-8", "surrogatepass")  # a lone surrogate: invalid UTF-8
        return _head(3, len(data)) + data
    if isinstance(value, bytes):
        return _head(2, len(value)) + value
    if isinstance(value, list | tuple):
        return _head(4, len(value)) + b"".join(cbor_encode(v) for v in value)
    if isinstance(value, dict):
        value = Pairs(tuple(value.items()))
    if isinstance(value, Pairs):
        body = b"".join(cbor_encode(k) + cbor_encode(v) for k, v in value.items)
        return _head(5, len(value.items)) + body
    if isinstance(value, Tag):
        return _head(6, value.number) + cbor_encode(value.value)
    if isinstance(value, NonFinite):
        if value.width == 16:
            return b"\xf9" + struct.pack(">e", value.value)
        if value.width == 32:
            return b"\xfa" + struct.pack(">f", value.value)
        value = value.value
    if isinstance(value, float):
        return b"\xfb" + struct.pack(">d", value)
    raise TypeError(f"cannot encode {value!r}")


def encode(value: Any, sub: Sub) -> str | bytes:
    return json_encode(value) if sub == "json" else cbor_encode(value)


@attrs.frozen
class Frame:
    """One frame to send. ``payload`` is what goes on the wire (``str``: a text frame,
    ``bytes``: a binary frame). ``malformed`` frames must be refused; an ``echo_id`` is
    the valid ``id`` the answer must echo."""

    label: str
    payload: str | bytes
    malformed: bool
    oversized: bool = False
    echo_id: Any = None


def valid_id_value(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, str):
        return 0 < len(value) <= 64
    return isinstance(value, int) and -MAX_INT <= value <= MAX_INT


def message_frame(label: str, message: Any, sub: Sub, *, malformed: bool) -> Frame:
    echo = message.get("id") if isinstance(message, dict) else None
    return Frame(
        label, encode(message, sub), malformed, echo_id=echo if valid_id_value(echo) else None
    )


# --- field kinds: valid and guaranteed-invalid values ----------------------------------

printable_char = st.characters(
    codec="utf-8", exclude_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs")
) | st.just(" ")
junk_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
junk_value = st.recursive(
    junk_scalar,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)


def _wrong_types(*allowed: type) -> st.SearchStrategy[Any]:
    """Values of none of ``allowed`` (and never None, which reads as 'absent')."""
    candidates = st.one_of(
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=12),
        st.lists(st.integers(0, 9), max_size=3),
        st.dictionaries(st.text(max_size=4), st.integers(0, 9), max_size=2),
    )

    def ok(value: Any) -> bool:
        if isinstance(value, bool):
            return bool not in allowed
        return not isinstance(value, allowed)

    return candidates.filter(ok)


@st.composite
def text_with_nonprintable(draw: st.DrawFn, max_size: int = 20) -> str:
    head = draw(st.text(printable_char, max_size=max_size // 2))
    tail = draw(st.text(printable_char, max_size=max_size // 2))
    return head + draw(st.sampled_from(NON_PRINTABLE)) + tail


class Kind:
    def valid(self) -> st.SearchStrategy[Any]:
        raise NotImplementedError

    def invalid(self) -> st.SearchStrategy[Any]:
        raise NotImplementedError


class Uuid(Kind):
    def valid(self) -> st.SearchStrategy[Any]:
        return st.uuids().map(str)

    def invalid(self) -> st.SearchStrategy[Any]:
        def not_canonical(text: str) -> bool:
            try:
                return str(uuid.UUID(text)) != text
            except ValueError:
                return True

        return st.one_of(
            _wrong_types(str),
            st.uuids().map(lambda u: str(u).upper()),
            st.uuids().map(lambda u: u.hex),
            st.uuids().map(lambda u: "{" + str(u) + "}"),
            st.uuids().map(lambda u: u.urn),
            st.uuids().map(lambda u: str(u) + " "),
            st.text(max_size=40).filter(not_canonical),
            text_with_nonprintable(),
        )


class Int(Kind):
    def __init__(self, minimum: int = 0, near: tuple[int, int] = (0, 100)) -> None:
        self.minimum = minimum
        self.near = near

    def valid(self) -> st.SearchStrategy[Any]:
        low, high = max(self.near[0], self.minimum), self.near[1]
        return st.integers(low, high) | st.integers(self.minimum, MAX_INT)

    def invalid(self) -> st.SearchStrategy[Any]:
        out_of_range = st.integers(-(2**80), self.minimum - 1) | st.integers(MAX_INT + 1, 2**200)
        huge_digits = st.integers(20, 4000).map(lambda n: Raw("9" * n, _head(0, 2**64 - 1)))
        return st.one_of(
            _wrong_types(int),
            out_of_range,
            st.floats(allow_nan=False, allow_infinity=False).map(lambda x: float(round(x))),
            huge_digits,
        )


class Ts(Int):
    def valid(self) -> st.SearchStrategy[Any]:
        return st.integers(-2000, 500).map(lambda delta: now_ms() + delta)


class Str(Kind):
    def __init__(self, max_length: int = 64, pool: tuple[str, ...] = ()) -> None:
        self.max_length = max_length
        self.pool = pool

    def valid(self) -> st.SearchStrategy[Any]:
        text = st.text(printable_char, min_size=1, max_size=self.max_length)
        if not self.pool:
            return text
        pool = st.sampled_from(self.pool)
        return st.integers(0, 4).flatmap(lambda roll: text if roll == 0 else pool)

    def invalid(self) -> st.SearchStrategy[Any]:
        n = self.max_length
        return st.one_of(
            _wrong_types(str),
            st.just(""),
            st.text(printable_char, min_size=n + 1, max_size=n + 30),
            text_with_nonprintable(min(n, 40)),
        )


class Dec(Kind):
    """A decimal string; valid values are mostly on the market's grid (``tenths``: on
    the 0.1 tick, else whole lots), sometimes anything with up to six places."""

    def __init__(self, near: tuple[int, int] = (1, 200), *, tenths: bool = True) -> None:
        self.near = near
        self.tenths = tenths

    def valid(self) -> st.SearchStrategy[Any]:
        low, high = self.near
        if self.tenths:
            on_grid = st.integers(low * 10, high * 10).map(lambda n: f"{n // 10}.{n % 10}")
        else:
            on_grid = st.integers(low, high).map(str)
        anything = st.decimals(
            min_value=-(10**12), max_value=10**12, places=6, allow_nan=False, allow_infinity=False
        ).map(lambda d: format(d, "f"))
        return st.integers(0, 9).flatmap(lambda roll: anything if roll == 0 else on_grid)

    def invalid(self) -> st.SearchStrategy[Any]:
        def not_decimal(text: str) -> bool:
            return len(text) > 40 or _DECIMAL.fullmatch(text) is None

        return st.one_of(
            _wrong_types(str),
            st.sampled_from(
                [
                    "",
                    "1e3",
                    "1E-2",
                    "1.",
                    ".5",
                    "+1",
                    " 1",
                    "1 ",
                    "1,5",
                    "0x10",
                    "NaN",
                    "Infinity",
                    "-",
                    "--1",
                    "1..2",
                    "1.1234567",
                    "١٢",
                    "½",
                    "9" * 41,
                    "1_000",
                ]
            ),
            st.text(max_size=12).filter(not_decimal),
        )


class Bool(Kind):
    def valid(self) -> st.SearchStrategy[Any]:
        return st.booleans()

    def invalid(self) -> st.SearchStrategy[Any]:
        return _wrong_types(bool) | st.sampled_from(["true", "false", 0, 1])


class Choice(Kind):
    def __init__(self, options: tuple[str, ...]) -> None:
        self.options = options

    def valid(self) -> st.SearchStrategy[Any]:
        return st.sampled_from(self.options)

    def invalid(self) -> st.SearchStrategy[Any]:
        variants = st.sampled_from(self.options).map(
            lambda o: o.upper() if o.upper() != o else o + "x"
        )
        other = st.text(max_size=12).filter(lambda t: t not in self.options)
        return (
            _wrong_types(str)
            | variants
            | other
            | st.sampled_from(self.options).map(lambda o: o + "\x00")
        )


class Legs(Kind):
    def __init__(self, priced: bool) -> None:
        self.priced = priced
        self.fields: dict[str, tuple[Kind, bool]] = {
            "symbol": (Str(64, SYMBOLS), True),
            "side": (Choice(SIDES), True),
            "size": (Dec((1, 5), tenths=False), True),
        }
        if priced:
            self.fields["price"] = (Dec(), True)

    def valid(self) -> st.SearchStrategy[Any]:
        leg = st.fixed_dictionaries({name: kind.valid() for name, (kind, _) in self.fields.items()})
        return st.lists(leg, min_size=1, max_size=4)

    def invalid(self) -> st.SearchStrategy[Any]:
        valid_leg = st.fixed_dictionaries(
            {name: kind.valid() for name, (kind, _) in self.fields.items()}
        )

        @st.composite
        def broken_leg(draw: st.DrawFn) -> dict[str, Any]:
            leg = draw(valid_leg)
            name = draw(st.sampled_from(sorted(self.fields)))
            kind, _ = self.fields[name]
            if draw(st.booleans()):
                del leg[name]
            else:
                leg[name] = draw(kind.invalid())
            return leg

        @st.composite
        def one_bad(draw: st.DrawFn) -> list[Any]:
            legs: list[Any] = draw(st.lists(valid_leg, max_size=3))
            bad = draw(broken_leg() | _wrong_types(dict))
            legs.insert(draw(st.integers(0, len(legs))), bad)
            return legs

        return st.one_of(
            _wrong_types(list),
            st.just([]),
            st.lists(valid_leg, min_size=5, max_size=8),
            one_bad(),
        )


Schema = dict[str, tuple[Kind, bool]]  # field -> (kind, required)
_UUID, _TS = (Uuid(), True), (Ts(), True)
_ORDER_FLAGS: Schema = {
    "tif": (Choice(TIFS), False),
    "post_only": (Bool(), False),
    "reduce_only": (Bool(), False),
    "mmp": (Bool(), False),
    "client_id": (Str(36, ("c1", "c2", "c3")), False),
    "stp": (Choice(STPS), False),
}
SCHEMAS: dict[str, Schema] = {
    "PlaceOrder": {
        "request_id": _UUID,
        "ts": _TS,
        "symbol": (Str(64, SYMBOLS), True),
        "side": (Choice(SIDES), True),
        "price": (Dec(), True),
        "size": (Dec((1, 5), tenths=False), True),
        **_ORDER_FLAGS,
    },
    "CancelOrder": {
        "request_id": _UUID,
        "ts": _TS,
        "order_id": (Int(1, (1, 60)), False),
        "client_id": (Str(36, ("c1", "c2", "c3")), False),
    },
    "ReplaceOrder": {
        "request_id": _UUID,
        "ts": _TS,
        "order_id": (Int(1, (1, 60)), True),
        "price": (Dec(), True),
        "size": (Dec((1, 5), tenths=False), True),
        **_ORDER_FLAGS,
    },
    "CancelAll": {
        "request_id": _UUID,
        "ts": _TS,
        "symbol": (Str(64, SYMBOLS), False),
        "underlying": (Str(64, ("BTC", "ETH")), False),
    },
    "Withdraw": {"request_id": _UUID, "ts": _TS, "amount": (Dec((1, 10)), True)},
    "SetMmp": {
        "request_id": _UUID,
        "ts": _TS,
        "enabled": (Bool(), True),
        "underlying": (Str(16, ("BTC", "ETH")), True),
        "interval_ms": (Int(1, (1, 10_000)), True),
        "frozen_ms": (Int(0, (0, 10_000)), True),
        "qty_limit": (Dec((1, 100)), False),
        "delta_limit": (Dec((1, 100)), False),
    },
    "ResetMmp": {"request_id": _UUID, "ts": _TS, "underlying": (Str(16, ("BTC", "ETH")), True)},
    "AcceptQuote": {
        "request_id": _UUID,
        "ts": _TS,
        "rfq_id": (Uuid(), True),
        "quote_id": (Uuid(), True),
    },
    "CreateInstrument": {
        "request_id": _UUID,
        "ts": _TS,
        "symbol": (Str(64, ("ETH-20301231-100-C", "BTC-20301231-3000-P")), True),
        "underlying": (Str(16, ("BTC", "ETH")), True),
        "expiry_ms": (Int(1, (EXPIRY_MS, EXPIRY_MS)), True),
        "strike": (Dec((1, 5000)), True),
        "option": (Choice(OPTIONS), True),
        "tick_size": (Dec((1, 1)), True),
        "lot_size": (Dec((1, 1)), True),
        "multiplier": (Dec((1, 10)), False),
        "maker_fee_bps": (Int(0, (0, 10)), False),
        "taker_fee_bps": (Int(0, (0, 10)), False),
    },
    "Deposit": {
        "request_id": _UUID,
        "ts": _TS,
        "wallet": (Str(64, WALLETS), True),
        "amount": (Dec((1, 1000)), True),
    },
    "SetIndexPrice": {
        "request_id": _UUID,
        "ts": _TS,
        "underlying": (Str(16, ("ETH", "SOL")), True),
        "price": (Dec((1, 5000)), True),
        "vol": (Dec((0, 2)), False),
    },
    # Halt and settle never name the listed market: a halted market would end the fuzz
    # run's trading for good.
    "HaltInstrument": {
        "request_id": _UUID,
        "ts": _TS,
        "symbol": (Str(64, ("ETH-20301231-100-C",)), True),
    },
    "Settle": {
        "request_id": _UUID,
        "ts": _TS,
        "symbol": (Str(64, ("ETH-20301231-100-C",)), True),
        "price": (Dec((1, 5000)), True),
    },
    "GetOpenOrders": {"symbol": (Str(64, SYMBOLS), False)},
    "GetOrder": {
        "order_id": (Int(1, (1, 60)), False),
        "client_id": (Str(36, ("c1", "c2")), False),
        "request_id": (Uuid(), False),
    },
    "Subscribe": {
        "channel": (Choice(CHANNELS), True),
        "symbol": (Str(64, SYMBOLS), False),
        "from_seq": (Int(0, (0, 50)), False),
    },
    "Unsubscribe": {"channel": (Choice(CHANNELS), True), "symbol": (Str(64, SYMBOLS), False)},
    "Authenticate": {"wallet": (Str(64, WALLETS), True)},
    "RequestQuote": {"rfq_id": (Uuid(), True), "legs": (Legs(priced=False), True)},
    "Quote": {
        "rfq_id": (Uuid(), True),
        "quote_id": (Uuid(), True),
        "legs": (Legs(priced=True), True),
        "valid_ms": (Int(1, (1, 60_000)), True),
        "mmp": (Bool(), False),
    },
}
NO_FIELD_TYPES = ("Ping", "GetPortfolio", "GetInstruments")
BULK_ITEM_TYPES = ("PlaceOrder", "CancelOrder", "ReplaceOrder")
# Exactly one of these (CancelOrder, GetOrder) / at most one (CancelAll).
EXACTLY_ONE = {
    "CancelOrder": ("order_id", "client_id"),
    "GetOrder": ("order_id", "client_id", "request_id"),
}
AT_MOST_ONE = {"CancelAll": ("symbol", "underlying")}
KNOWN_TYPES = frozenset((*SCHEMAS, *NO_FIELD_TYPES, "BulkOrders"))


@st.composite
def valid_id(draw: st.DrawFn) -> Any:
    return draw(
        st.none()
        | st.integers(-MAX_INT, MAX_INT)
        | st.text(printable_char, min_size=1, max_size=64)
    )


@st.composite
def valid_message(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    """A message of ``kind`` every field of which passes the protocol's checks."""
    message: dict[str, Any] = {"type": kind}
    schema = SCHEMAS.get(kind, {})
    chosen = None
    if kind in EXACTLY_ONE:
        chosen = draw(st.sampled_from(EXACTLY_ONE[kind]))
    elif kind in AT_MOST_ONE:
        chosen = draw(st.sampled_from((*AT_MOST_ONE[kind], None)))
    for name, (field_kind, required) in schema.items():
        group = EXACTLY_ONE.get(kind, ()) + AT_MOST_ONE.get(kind, ())
        in_group = name in group
        if (name == chosen) if in_group else (required or draw(st.booleans())):
            message[name] = draw(field_kind.valid())
    msg_id = draw(valid_id())
    if msg_id is not None:
        message["id"] = msg_id
    return message


@st.composite
def broken_message(draw: st.DrawFn, kind: str | None = None) -> dict[str, Any]:
    """A message of a known type with exactly one guaranteed defect in its fields."""
    if kind is None:
        kind = draw(st.sampled_from(sorted(SCHEMAS)))
    message = draw(valid_message(kind))
    schema = SCHEMAS[kind]
    required = [name for name, (_, req) in schema.items() if req]
    moves = ["corrupt"]  # any field, present or not: an invalid value is a defect either way
    if required:
        moves.append("drop")
    if kind in EXACTLY_ONE:
        moves.append("exactly_one")
    if kind in AT_MOST_ONE:
        moves.append("at_most_one")
    move = draw(st.sampled_from(moves))
    if move == "corrupt":
        name = draw(st.sampled_from(sorted(schema)))
        message[name] = draw(schema[name][0].invalid())
    elif move == "drop":
        name = draw(st.sampled_from(required))
        if draw(st.booleans()):
            del message[name]
        else:
            message[name] = None  # null reads as absent
    elif move == "exactly_one":
        group = EXACTLY_ONE[kind]
        for name in group:
            message.pop(name, None)
        if draw(st.booleans()):  # two of them instead of one
            for name in draw(st.lists(st.sampled_from(group), min_size=2, max_size=3, unique=True)):
                message[name] = draw(schema[name][0].valid())
    else:
        for name in AT_MOST_ONE[kind]:
            message[name] = draw(schema[name][0].valid())
    return message


def _bulk_items(rng: Any, count: int) -> list[dict[str, Any]]:
    """``count`` valid-looking PlaceOrder items, made without a draw per field."""
    ts = now_ms()
    return [
        {
            "type": "PlaceOrder",
            "request_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "ts": ts,
            "symbol": SYMBOL,
            "side": rng.choice(SIDES),
            "price": f"{rng.randint(1, 100)}",
            "size": "1",
        }
        for _ in range(count)
    ]


@st.composite
def with_extras(draw: st.DrawFn, message: dict[str, Any]) -> dict[str, Any]:
    """Unknown keys with plain values: ignored by the protocol."""
    reserved = {"id", "type", "orders", *SCHEMAS.get(message["type"], {})}
    extras = draw(
        st.dictionaries(
            st.text(printable_char, min_size=1, max_size=8).filter(lambda k: k not in reserved),
            junk_value,
            max_size=2,
        )
    )
    return {**message, **extras}


# --- the malformed family --------------------------------------------------------------


@st.composite
def malformed_message(draw: st.DrawFn) -> tuple[str, Any]:
    """(label, value) of a message-level defect, encodable both ways."""
    choice = draw(st.integers(0, 11))
    if choice <= 3:
        message = draw(broken_message())
        return f"field:{message['type']}", draw(with_extras(message))
    if choice == 4:
        top = draw(st.one_of(st.lists(junk_scalar, max_size=3), junk_scalar))
        return "not_an_object", top
    if choice == 5:
        message = draw(
            st.dictionaries(
                st.text(max_size=6).filter(lambda k: k != "type"), junk_scalar, max_size=3
            )
        )
        if draw(st.booleans()):
            message["type"] = draw(_wrong_types(str) | st.none())
        return "no_string_type", message
    if choice == 6:
        kind = draw(
            st.text(max_size=20).filter(lambda t: t not in KNOWN_TYPES)
            | st.sampled_from(
                ["ping", "PING", "Pong", "placeorder", "Bulkorders", "Error", "OrderResult"]
            )
        )
        return "unknown_type", {"type": kind, "id": draw(valid_id())}
    if choice == 7:
        kind = draw(st.sampled_from(sorted(KNOWN_TYPES)))
        message = draw(valid_message(kind)) if kind in SCHEMAS else {"type": kind}
        message["id"] = draw(
            st.one_of(
                st.booleans(),
                st.floats(allow_nan=False, allow_infinity=False),
                st.lists(st.integers(0, 3), max_size=2),
                st.dictionaries(st.text(max_size=3), st.integers(), max_size=1),
                st.text(printable_char, min_size=65, max_size=90),
                st.integers(MAX_INT + 1, 2**100) | st.integers(-(2**100), -MAX_INT - 1),
            )
        )
        return "bad_id", message
    if choice == 8:
        rng = draw(st.randoms(use_true_random=False))
        shape = draw(st.sampled_from(["51+", "0", "not_a_list"]))
        if shape == "51+":
            orders: Any = _bulk_items(rng, draw(st.integers(51, 60)))
        elif shape == "0":
            orders = []
        else:
            orders = draw(_wrong_types(list) | st.none())
        return f"bulk:{shape}", {"type": "BulkOrders", "id": draw(valid_id()), "orders": orders}
    if choice == 9:
        # Every item broken: the wrapper is fine, each item fails on its own.
        items = draw(
            st.lists(
                st.one_of(
                    st.sampled_from(BULK_ITEM_TYPES).flatmap(broken_message),
                    st.sampled_from(
                        ["CreateInstrument", "Deposit", "Withdraw", "CancelAll", "SetMmp"]
                    ).flatmap(valid_message),
                    st.sampled_from(["Ping", "Subscribe", None, 5]).map(lambda t: {"type": t}),
                    _wrong_types(dict),
                ),
                min_size=1,
                max_size=8,
            )
        )
        return "bulk:items", {"type": "BulkOrders", "id": draw(valid_id()), "orders": items}
    if choice == 10:
        # Unicode that the printable-only string fields refuse, or lone surrogates.
        kind = draw(
            st.sampled_from(
                ["PlaceOrder", "Authenticate", "Subscribe", "Deposit", "CancelAll", "GetOpenOrders"]
            )
        )
        message = draw(valid_message(kind))
        field = {
            "PlaceOrder": "symbol",
            "Authenticate": "wallet",
            "Subscribe": "symbol",
            "Deposit": "wallet",
            "CancelAll": "symbol",
            "GetOpenOrders": "symbol",
        }[kind]
        message[field] = draw(text_with_nonprintable(40))
        message.pop("underlying", None)
        return "unicode", message
    # Non-finite numbers anywhere in a message that would otherwise be fine.
    base = draw(
        valid_message(draw(st.sampled_from(["Ping", "PlaceOrder", "Subscribe", "GetInstruments"])))
    )
    bad = NonFinite(
        draw(st.sampled_from([math.nan, math.inf, -math.inf])), draw(st.sampled_from([16, 32, 64]))
    )
    where = draw(st.sampled_from(["top", "nested", "field"]))
    if where == "top":
        base["x"] = bad
    elif where == "nested":
        base["x"] = {"y": [1, bad]}
    else:
        base["id"] = bad
    return "non_finite", base


def _deep(depth: int, sub: Sub) -> Raw:
    if sub == "json":
        return Raw(json="[" * depth + "1" + "]" * depth)
    return Raw(cbor=b"\x81" * depth + b"\x01")


@st.composite
def malformed_frame(draw: st.DrawFn, sub: Sub) -> Frame:
    """A frame for a ``sub`` connection that must be answered with a refusal."""
    family = draw(st.integers(0, 9))
    if family <= 5:
        label, value = draw(malformed_message())
        return message_frame(label, value, sub, malformed=True)
    if family == 6:
        # Nesting past 32 levels, up to what fits in a frame.
        depth = draw(st.integers(33, 40) | st.integers(41, 30_000))
        key = draw(st.sampled_from(["x", "orders", "symbol"]))
        return message_frame(
            "deep_nesting", {"type": "Ping", key: _deep(depth, sub)}, sub, malformed=True
        )
    if family == 7:
        # A valid message cut short.
        kind = draw(st.sampled_from(sorted(KNOWN_TYPES - {"BulkOrders"})))
        message = draw(valid_message(kind)) if kind in SCHEMAS else {"type": kind}
        payload = encode(message, sub)
        cut = draw(st.integers(1, len(payload) - 1))
        return Frame("truncated", payload[:cut], True)
    if family == 8:
        return _json_specific(draw) if sub == "json" else _cbor_specific(draw)
    # Duplicated keys: JSON refuses them; CBOR keeps the last, so the last one is bad.
    kind = draw(st.sampled_from(["Ping", "PlaceOrder", "Subscribe", "CancelOrder"]))
    message = draw(valid_message(kind))
    items = list(message.items())
    if sub == "json" and draw(st.booleans()):
        name, value = draw(st.sampled_from(items))
        items.insert(draw(st.integers(0, len(items))), (name, draw(junk_scalar | st.just(value))))
    elif sub == "json":
        items.append(("nested", Pairs((("a", 1), ("a", 2)))))
    else:
        items.append(("type", draw(_wrong_types(str))))
    return Frame("duplicate_keys", encode(Pairs(tuple(items)), sub), True, echo_id=None)


def _json_specific(draw: st.DrawFn) -> Frame:
    kind = draw(st.integers(0, 7))
    if kind == 0:
        text = draw(st.text(max_size=60).filter(lambda t: not _typed_object(t)))
        return Frame("json:random_text", text, True)
    if kind == 1:
        token = draw(
            st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-1e999", "9" * 4301])
        )
        base = draw(valid_message(draw(st.sampled_from(["Ping", "PlaceOrder", "GetOrder"]))))
        base[draw(st.sampled_from(["x", "id", "ts", "order_id"]))] = Raw(token)
        return Frame("json:constant", json_encode(base), True)
    if kind == 2:
        # Raw control characters inside a string are not JSON.
        ch = draw(st.sampled_from([chr(c) for c in range(32)]))
        return Frame("json:raw_control", '{"type":"Ping","id":"a' + ch + 'b"}', True)
    if kind == 3:
        # A binary frame that is not UTF-8.
        data = draw(st.binary(min_size=1, max_size=40))
        data = b'{"type":"Ping","x":"' + data + b'\xff"}'
        return Frame("json:not_utf8", data, True)
    if kind == 4:
        garbage = draw(st.sampled_from(["x", "}", "{}", ",", '"a"', "1", "\x00"]))
        return Frame("json:trailing", '{"type":"Ping"}' + garbage, True)
    if kind == 5:
        return Frame("json:bom", '\ufeff{"type":"Ping"}', True)
    if kind == 6:
        # Keys that are not strings, written as bare tokens.
        key = draw(st.sampled_from(["1", "null", "true", "[1]", "{}", "'type'", "type"]))
        return Frame("json:bad_key", "{" + key + ':"Ping"}', True)
    escape = draw(st.sampled_from(["\\ud800", "\\udfff", "\\ud83d", "\\ude00\\ud83d", "\\uDC00"]))
    where = draw(st.sampled_from(["id", "type", "key", "request_id", "symbol"]))
    if where == "key":
        text = '{"type":"Ping","' + escape + '":1}'
    elif where == "type":
        text = '{"type":"Pi' + escape + 'ng"}'
    else:
        text = '{"type":"GetOrder","' + where + '":"x' + escape + '"}'
    return Frame("json:lone_surrogate", text, True)


def _cbor_specific(draw: st.DrawFn) -> Frame:
    kind = draw(st.integers(0, 8))
    base: dict[str, Any] = {"type": "Ping", "id": "c"}
    if kind == 0:
        data = draw(st.binary(max_size=60).filter(lambda b: not _typed_map(b)))
        return Frame("cbor:random_bytes", data, True)
    if kind == 1:
        number = draw(
            st.integers(0, 300)
            | st.integers(301, 2**64 - 1)
            | st.sampled_from([0, 1, 4, 5, 21, 24, 25, 29, 30, 32, 35, 36, 37, 258, 260, 261])
        )
        number = number if number not in TRANSPARENT_TAGS else 1
        payload = draw(
            st.one_of(
                st.integers(0, 10),
                st.text(max_size=5),
                st.just([1, 2]),
                st.just({"a": 1}),
                st.binary(max_size=4),
            )
        )
        where = draw(st.sampled_from(["value", "type", "top", "id"]))
        if where == "top":
            return Frame("cbor:tag", cbor_encode(Tag(number, base)), True)
        if where == "type":
            return Frame("cbor:tag", cbor_encode({"type": Tag(number, "Ping")}), True)
        key = "x" if where == "value" else "id"
        return Frame("cbor:tag", cbor_encode({**base, key: Tag(number, payload)}), True)
    if kind == 2:
        special = draw(
            st.sampled_from(
                [
                    b"\xf7",
                    b"\xe0",
                    b"\xf3",
                    b"\xf8\x20",
                    b"\xf8\xff",
                    b"\xfc",
                    b"\xfd",
                    b"\xfe",
                    b"\x1c",
                    b"\x5f\x41a\xff" + b"",
                    b"\x40",
                    b"\x43abc",
                ]
            )
        )
        return Frame("cbor:special", cbor_encode({**base, "x": Raw(cbor=special)}), True)
    if kind == 3:
        # Indefinite-length or over-long containers that never end.
        raw = draw(
            st.sampled_from(
                [
                    b"\x9f\x01\x02",
                    b"\xbf\x61a\x01",
                    b"\x7f\x61a",
                    b"\x5f\x41a",
                    b"\x9b\xff\xff\xff\xff\xff\xff\xff\xff",
                    b"\x7b\x00\x00\x00\x01\x00\x00\x00\x00",
                    b"\xba\xff\xff\xff\xff",
                ]
            )
        )
        return Frame(
            "cbor:unterminated", cbor_encode(Pairs((("type", "Ping"), ("x", Raw(cbor=raw))))), True
        )
    if kind == 4:
        key = draw(
            st.one_of(
                st.integers(-5, 5),
                st.binary(max_size=3),
                st.booleans(),
                st.none(),
                st.just(1.5),
                st.just([1]),
                st.just({"a": 1}),
            )
        )
        return Frame("cbor:non_string_key", cbor_encode(Pairs((("type", "Ping"), (key, 1)))), True)
    if kind == 5:
        text = draw(st.sampled_from(['{"type":"Ping"}', "Ping", ""]))
        return Frame("cbor:text_frame", text, True)
    if kind == 6:
        # Invalid UTF-8 in a text string.
        bad = draw(
            st.sampled_from([b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"a\x80"])
        )
        return Frame(
            "cbor:bad_utf8", cbor_encode({"type": Raw(cbor=_head(3, len(bad)) + bad)}), True
        )
    if kind == 7:
        data = draw(st.binary(min_size=1, max_size=16))
        return Frame("cbor:bytes_value", cbor_encode({**base, "x": data}), True)
    return Frame("cbor:empty", b"", True)


def _typed_object(text: str) -> bool:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return False
    return isinstance(value, dict) and isinstance(value.get("type"), str)


def _typed_map(data: bytes) -> bool:
    import cbor2

    try:
        value = cbor2.loads(data)
    except Exception:
        return False
    return isinstance(value, dict) and isinstance(value.get("type"), str)


# --- oversized -------------------------------------------------------------------------


@st.composite
def oversized_frame(draw: st.DrawFn, sub: Sub) -> Frame:
    size = draw(
        st.integers(MAX_FRAME + 1, MAX_FRAME + 64) | st.integers(MAX_FRAME + 65, 4 * MAX_FRAME)
    )
    shape = draw(st.sampled_from(["padded_ping", "bulk", "raw"]))
    if shape == "raw":
        payload: str | bytes = ("x" * size) if sub == "json" else bytes(size)
    else:
        message: dict[str, Any] = {"type": "Ping", "pad": "x" * size}
        if shape == "bulk":
            rng = draw(st.randoms(use_true_random=False))
            message = {"type": "BulkOrders", "orders": _bulk_items(rng, 40), "pad": "x" * size}
        payload = encode(message, sub)
    assert len(payload) > MAX_FRAME
    return Frame(f"oversized:{shape}", payload, True, oversized=True)


# --- the plausible family --------------------------------------------------------------


# Order flow first: the plausible family should trade, not only be refused.
PLAUSIBLE_KINDS = (
    *["PlaceOrder"] * 12,
    *["CancelOrder"] * 4,
    *["ReplaceOrder"] * 3,
    *["BulkOrders"] * 3,
    *sorted(KNOWN_TYPES),
)


@st.composite
def plausible_message(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(PLAUSIBLE_KINDS))
    if kind == "BulkOrders":
        items = draw(
            st.lists(
                st.sampled_from(BULK_ITEM_TYPES).flatmap(plausible_fields), min_size=1, max_size=6
            )
        )
        message: dict[str, Any] = {"type": "BulkOrders", "orders": items}
    elif kind in NO_FIELD_TYPES:
        message = {"type": kind}
    else:
        message = draw(plausible_fields(kind))
    msg_id = draw(valid_id())
    if msg_id is not None:
        message["id"] = msg_id
    return message


@st.composite
def plausible_fields(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    """Each field valid 19 times in 20; otherwise a wrong value, or missing."""
    message = draw(valid_message(kind))
    message.pop("id", None)
    for name, (field_kind, _) in SCHEMAS[kind].items():
        roll = draw(st.integers(0, 39))
        if roll == 0:
            message[name] = draw(field_kind.invalid())
        elif roll == 1:
            message.pop(name, None)
        elif roll == 2 and name not in message:
            message[name] = draw(field_kind.valid())
    return message


@st.composite
def plausible_frame(draw: st.DrawFn, sub: Sub) -> Frame:
    message = draw(plausible_message())
    if draw(st.integers(0, 9)) == 0:
        message = draw(with_extras(message))
    return message_frame(f"plausible:{message['type']}", message, sub, malformed=False)


@st.composite
def any_frame(draw: st.DrawFn, sub: Sub) -> Frame:
    """Malformed one time in three, plausible otherwise."""
    if draw(st.integers(0, 2)) == 0:
        return draw(malformed_frame(sub))
    return draw(plausible_frame(sub))


# --- batches and the catalog -----------------------------------------------------------

# The connections a fuzz run uses: two JSON, two CBOR.
LAYOUT: tuple[Sub, ...] = ("json", "json", "cbor", "cbor")


@st.composite
def batches(draw: st.DrawFn, family: Any, max_frames: int = 24) -> list[tuple[int, Frame]]:
    """(connection, frame) pairs over ``LAYOUT``; one batch in ten also carries an
    oversized frame."""
    out = []
    for _ in range(draw(st.integers(1, max_frames))):
        index = draw(st.integers(0, len(LAYOUT) - 1))
        out.append((index, draw(family(LAYOUT[index]))))
    if draw(st.integers(0, 9)) == 0:
        index = draw(st.integers(0, len(LAYOUT) - 1))
        out.append((index, draw(oversized_frame(LAYOUT[index]))))
    return out


def _place(**changes: Any) -> dict[str, Any]:
    return {
        "type": "PlaceOrder",
        "id": "p",
        "request_id": str(uuid.uuid4()),
        "ts": now_ms(),
        "symbol": SYMBOL,
        "side": "buy",
        "price": "10",
        "size": "1",
        **changes,
    }


def _bulk(count: int) -> dict[str, Any]:
    return {"type": "BulkOrders", "id": "b", "orders": [_place() for _ in range(count)]}


def catalog() -> list[tuple[int, Frame]]:
    """One or more of every kind of malformed frame the brief names, on JSON (0) and
    CBOR (2) connections."""
    j, c = 0, 2

    def bad(label: str, message: Any, index: int) -> tuple[int, Frame]:
        return index, message_frame(label, message, LAYOUT[index], malformed=True)

    def raw(label: str, payload: str | bytes, index: int, oversized: bool = False) -> Any:
        return index, Frame(label, payload, True, oversized=oversized)

    return [
        # Deep nesting, up to what fits in 64 KiB.
        raw("deep_nesting", '{"type":"Ping","x":' + "[" * 33 + "]" * 33 + "}", j),
        raw("deep_nesting", '{"type":"Ping","x":' + "[" * 30_000 + "]" * 30_000 + "}", j),
        raw(
            "deep_nesting",
            cbor_encode({"type": "Ping", "x": Raw(cbor=b"\x81" * 60_000 + b"\x01")}),
            c,
        ),
        # Huge numbers: past the digit limit anywhere, past int64 where an int is checked.
        raw("json:constant", '{"type":"Ping","x":' + "9" * 5000 + "}", j),
        bad("field:PlaceOrder", _place(ts=10**30), j),
        bad("field:PlaceOrder", _place(ts=2**200), c),
        bad("bad_id", {"type": "Ping", "id": -(2**64)}, c),
        # NaN and Infinity.
        raw("json:constant", '{"type":"Ping","x":NaN}', j),
        raw("json:constant", '{"type":"Ping","x":-Infinity}', j),
        raw("json:constant", '{"type":"Ping","x":1e999}', j),
        raw("non_finite", cbor_encode({"type": "Ping", "x": NonFinite(math.nan, 16)}), c),
        raw("non_finite", cbor_encode({"type": "Ping", "x": NonFinite(math.inf, 32)}), c),
        raw("non_finite", cbor_encode({"type": "Ping", "x": [NonFinite(-math.inf, 64)]}), c),
        # Wrong types.
        bad("field:PlaceOrder", _place(price=10), j),
        bad("field:PlaceOrder", _place(size=[1]), c),
        bad("field:PlaceOrder", _place(post_only="yes"), j),
        bad("no_string_type", {"type": 7}, c),
        bad("not_an_object", [1, 2, 3], j),
        bad("not_an_object", "Ping", c),
        # Unicode: lone surrogates (the crash), control and format characters.
        raw("json:lone_surrogate", '{"type":"Ping","id":"\\ud800"}', j),
        raw("json:lone_surrogate", '{"type":"Ping","id":"ok\\udfff"}', j),
        raw("json:lone_surrogate", '{"type":"PlaceOrder","request_id":"\\udc00"}', j),
        raw("json:lone_surrogate", '{"type":"Ping","\\ud83d":1}', j),
        bad("unicode", _place(symbol="BTC\x00"), j),
        bad("unicode", _place(symbol="BTC\u202e"), c),
        bad("unicode", _place(client_id="a\u2028b"), j),
        raw("cbor:bad_utf8", cbor_encode({"type": "Ping", "id": "\ud800"}), c),
        raw("json:raw_control", '{"type":"Ping","id":"a\x01b"}', j),
        # Truncated frames.
        raw("truncated", cbor_encode(_place())[:-3], c),
        raw("truncated", cbor_encode(_place())[:1], c),
        raw("truncated", json_encode(_place())[:-1], j),
        # CBOR tags.
        raw("cbor:tag", cbor_encode({"type": "Ping", "x": Tag(1, 0)}), c),
        raw("cbor:tag", cbor_encode(Tag(999, {"type": "Ping"})), c),
        raw("cbor:tag", cbor_encode({"type": Tag(32, "Ping")}), c),
        # BulkOrders of 51 (and of none).
        bad("bulk:51+", _bulk(51), j),
        bad("bulk:51+", _bulk(51), c),
        bad("bulk:0", _bulk(0), j),
        # Duplicated keys (CBOR keeps the last one: here a bad one).
        raw("duplicate_keys", '{"type":"Ping","type":"Ping"}', j),
        raw("duplicate_keys", cbor_encode(Pairs((("type", "Ping"), ("type", 7)))), c),
        # Valid-looking commands with one bad field.
        bad(
            "field:CancelOrder",
            {
                "type": "CancelOrder",
                "request_id": str(uuid.uuid4()),
                "ts": now_ms(),
                "order_id": 1,
                "client_id": "c1",
            },
            c,
        ),
        bad("field:Subscribe", {"type": "Subscribe", "channel": "orders", "from_seq": -1}, j),
        # Over 64 KiB: closed with 1009.
        raw("oversized:padded_ping", '{"type":"Ping","pad":"' + "x" * 70_000 + '"}', j, True),
        raw("oversized:raw", bytes(3 * 65536), c, True),
    ]
