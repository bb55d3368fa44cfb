"""The gateway's fast paths read exactly what their checked references read.

Each hot-path shortcut keeps the plain, field-by-field version it replaces as its
reference, and these properties hold them equal on generated input, valid and not:

* ``_plain_place`` (one pass over a common ``PlaceOrder``) either declines (``None``) or
  builds the very command ``_checked_place`` builds; ``_place`` answers like
  ``_checked_place``, errors included (same field, same message); and the same of
  ``_plain_replace``, ``_replace`` and ``_checked_replace`` for ``ReplaceOrder``;
* ``request_id`` accepts exactly the strings ``str(uuid.UUID(s)) == s`` accepts;
* the compiled ``to_wire`` gives the same dict, key order included, as ``plain_to_wire``
  for every engine output class;
* JSON ``decode`` refuses a duplicated key, a non-finite number and too deep a nesting,
  and accepts everything else the reference checks accept.
"""

from __future__ import annotations

import ast
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hcx.engine import outputs
from hcx.engine.plain import field_names, has_fields
from hcx.protocol import SUBPROTOCOL_JSON
from hcx.protocol import fields as f
from hcx.protocol.codec import MAX_DEPTH, _depth_ok, decode
from hcx.protocol.commands import (
    _checked_place,
    _checked_replace,
    _place,
    _plain_place,
    _plain_replace,
    _replace,
)
from hcx.protocol.errors import ProtocolError
from hcx.protocol.messages import DECIMAL_FIELDS, plain_to_wire, to_wire

# Sends malformed frames on purpose: only what is received may fail the schema check.
pytestmark = pytest.mark.wire_malformed

SETTINGS = settings(max_examples=600, deadline=None, derandomize=True, database=None)

odd_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 2),
    st.floats(allow_nan=False),
    st.text(max_size=70),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=1),
)
decimal_texts = st.one_of(
    st.sampled_from(["1", "100", "100.5", "0", "-1", "007", "1.", ".5", "1e3", "", "١٢"]),
    st.from_regex(r"-?[0-9]{1,12}(\.[0-9]{1,9})?", fullmatch=True),
)


COMMON_ORDER: dict[str, st.SearchStrategy[Any]] = {
    "symbol": st.sampled_from(["BTC-20301231-3000-C", "X" * 64]),
    "side": st.sampled_from(["buy", "sell"]),
    "price": st.from_regex(r"[0-9]{1,6}(\.[0-9]{1,6})?", fullmatch=True),
    "size": st.from_regex(r"[0-9]{1,4}", fullmatch=True),
}
ODD_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "symbol": st.sampled_from(["", "X" * 65, "a\x00", "a\u2028"]),
    "side": st.sampled_from(["BUY", "Buy"]),
    "price": decimal_texts,
    "size": decimal_texts,
    "tif": st.sampled_from(["gtc", "ioc", "fok", "day", "GTC"]),
    # Falsy values that are not False (0 == False) must be refused, not read as False.
    "post_only": st.sampled_from([True, False, None, 0, 0.0, "", 1, []]),
    "reduce_only": st.sampled_from([True, False, None, 0, 0.0, "", 1, []]),
    "mmp": st.sampled_from([True, False, None, 0, 0.0, "", 1, []]),
    "client_id": st.sampled_from(["c1", "x" * 37]),
    "stp": st.sampled_from(["cancel_maker", "cancel_taker", "cancel_both", "no"]),
}


@st.composite
def order_messages(draw: st.DrawFn) -> dict[str, Any]:
    """A common order with up to three fields changed to something else or removed: the
    fast path must decline or agree on every one of them."""
    message = {name: draw(value, name) for name, value in COMMON_ORDER.items()}
    for name in draw(st.lists(st.sampled_from(sorted(ODD_FIELDS)), max_size=3)):
        value = draw(st.one_of(ODD_FIELDS[name], odd_values, st.just(_ABSENT)), name)
        if value is _ABSENT:
            message.pop(name, None)
        else:
            message[name] = value
    return message


_ABSENT = object()


def _outcome(parse: Any, message: dict[str, Any]) -> Any:
    try:
        return ("ok", parse(message))
    except ProtocolError as exc:
        return ("error", exc.code, exc.field, str(exc))


@SETTINGS
@given(order_messages())
def test_plain_place_reads_what_the_checked_reading_reads(message: dict[str, Any]) -> None:
    fast = _plain_place(message)
    reference = _outcome(_checked_place, message)
    if fast is not None:
        assert reference == ("ok", fast)
    assert _outcome(_place, message) == reference


def test_plain_place_takes_the_common_order() -> None:
    """The property above would also hold for a fast path that always declines."""
    message = {"symbol": "BTC-20301231-3000-C", "side": "buy", "price": "100.5", "size": "2"}
    assert _plain_place(message) == _checked_place(message)
    assert _plain_place({**message, "tif": "ioc"}) == _checked_place({**message, "tif": "ioc"})
    assert _plain_place({**message, "post_only": False, "mmp": None}) is not None
    assert _plain_place({**message, "post_only": 0}) is None
    assert _plain_place({**message, "client_id": "c1"}) is None


COMMON_REPLACE: dict[str, st.SearchStrategy[Any]] = {
    "order_id": st.sampled_from([1, 7, f.MAX_INT]),
    "price": COMMON_ORDER["price"],
    "size": COMMON_ORDER["size"],
}
ODD_REPLACE_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    **{name: ODD_FIELDS[name] for name in ODD_FIELDS if name not in ("symbol", "side")},
    "order_id": st.sampled_from([0, -1, f.MAX_INT + 1, True, False, 1.0, "1", None]),
}


@st.composite
def replace_messages(draw: st.DrawFn) -> dict[str, Any]:
    """A common replace with up to three fields changed or removed (as ``order_messages``)."""
    message = {name: draw(value, name) for name, value in COMMON_REPLACE.items()}
    for name in draw(st.lists(st.sampled_from(sorted(ODD_REPLACE_FIELDS)), max_size=3)):
        value = draw(st.one_of(ODD_REPLACE_FIELDS[name], odd_values, st.just(_ABSENT)), name)
        if value is _ABSENT:
            message.pop(name, None)
        else:
            message[name] = value
    return message


@SETTINGS
@given(replace_messages())
def test_plain_replace_reads_what_the_checked_reading_reads(message: dict[str, Any]) -> None:
    fast = _plain_replace(message)
    reference = _outcome(_checked_replace, message)
    if fast is not None:
        assert reference == ("ok", fast)
    assert _outcome(_replace, message) == reference


def test_plain_replace_takes_the_common_replace() -> None:
    """The property above would also hold for a fast path that always declines."""
    message = {"order_id": 3, "price": "100.5", "size": "2"}
    assert _plain_replace(message) == _checked_replace(message)
    flagged = {**message, "tif": "ioc", "post_only": False, "client_id": "c1", "stp": None}
    assert _plain_replace(flagged) == _checked_replace(flagged)
    assert _plain_replace({**message, "mmp": 0}) is None
    assert _plain_replace({**message, "order_id": True}) is None


def _uuid_reference(value: Any) -> bool:
    try:
        return isinstance(value, str) and str(uuid.UUID(value)) == value
    except ValueError:
        return False


@st.composite
def _one_character_off(draw: st.DrawFn) -> str:
    text = str(draw(st.uuids()))
    at = draw(st.integers(0, len(text) - 1))
    return text[:at] + draw(st.sampled_from("0aAfFgG-{} \n")) + text[at + 1 :]


uuid_like = st.one_of(
    st.uuids().map(str),
    _one_character_off(),
    _one_character_off(),
    st.uuids().map(lambda u: str(u).upper()),
    st.uuids().map(lambda u: u.hex),
    st.uuids().map(lambda u: "{" + str(u) + "}"),
    st.uuids().map(lambda u: str(u) + "\n"),
    st.uuids().map(lambda u: "urn:uuid:" + str(u)),
    st.text(alphabet="0123456789abcdef-", min_size=30, max_size=40),
    odd_values,
)


@SETTINGS
@given(uuid_like)
def test_request_id_accepts_exactly_the_canonical_form(value: Any) -> None:
    try:
        f.request_id({"request_id": value})
        accepted = True
    except ProtocolError as exc:
        assert exc.field == "request_id"
        accepted = False
    assert accepted == _uuid_reference(value)


OUTPUT_CLASSES = [
    cls
    for cls in vars(outputs).values()
    if isinstance(cls, type) and has_fields(cls) and hasattr(cls, "TYPE")
]


def _annotations() -> dict[str, dict[str, str]]:
    """Each output class's constructor parameters and their annotations, read from the
    sources: the compiled build's classes check the types they are given, and do not
    carry their annotations."""
    engine_dir = Path(outputs.__file__ or "").parent
    # The results are defined in ``results`` and re-exported by ``outputs``.
    nodes = [
        node
        for name in ("results.py", "outputs.py")
        for node in ast.parse((engine_dir / name).read_text()).body
    ]
    found: dict[str, dict[str, str]] = {}
    bases: dict[str, str] = {}
    for node in nodes:
        if not isinstance(node, ast.ClassDef):
            continue
        bases[node.name] = ast.unparse(node.bases[0]) if node.bases else ""
        for item in node.body:
            if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                found[node.name] = {
                    arg.arg: ast.unparse(arg.annotation)
                    for arg in item.args.args[1:]
                    if arg.annotation is not None
                }
    for name, base in bases.items():
        if name not in found and base in found:
            found[name] = found[base]
    return found


ANNOTATIONS = _annotations()


def _value_for(cls: type, name: str) -> st.SearchStrategy[Any]:
    """Any value of the field's type (``None`` too where the field allows it)."""
    annotation = ANNOTATIONS[cls.__name__][name]
    optional = annotation.endswith(" | None")
    kind = annotation.removesuffix(" | None")
    base: st.SearchStrategy[Any]
    if name in ("bids", "asks"):
        base = st.lists(st.tuples(st.integers(1, 10**12), st.integers(0, 10**12)), max_size=3)
    elif name == "canceled":
        base = st.lists(st.integers(1, 10**6), max_size=3)
    elif name in DECIMAL_FIELDS:
        base = st.integers(-(10**15), 10**15)
    elif kind == "bool":
        base = st.booleans()
    elif kind == "int":
        base = st.integers()
    else:  # str, or a Literal of strings
        base = st.text(max_size=8)
    return st.none() | base if optional else base


@pytest.mark.parametrize("cls", OUTPUT_CLASSES, ids=lambda cls: cls.__name__)
@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(data=st.data())
def test_compiled_to_wire_matches_the_plan(cls: type, data: st.DataObject) -> None:
    values = {name: data.draw(_value_for(cls, name), name) for name in field_names(cls)}
    obj = cls(**values)
    fast, reference = to_wire(obj), plain_to_wire(obj)
    assert list(fast.items()) == list(reference.items())


def test_every_output_class_is_covered() -> None:
    assert outputs.OrderResult in OUTPUT_CLASSES and outputs.BookUpdate in OUTPUT_CLASSES
    assert len(OUTPUT_CLASSES) >= 14


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=40,
)


@SETTINGS
@given(st.dictionaries(st.text(max_size=4), json_values, max_size=4))
def test_json_decode_accepts_what_the_reference_checks_accept(message: dict[str, Any]) -> None:
    frame = json.dumps(message, allow_nan=True)
    try:
        decoded = decode(frame, SUBPROTOCOL_JSON)
    except ProtocolError as exc:
        assert exc.code == "invalid_message"
        reference = json.loads(frame)
        assert not _depth_ok(reference)
        return
    assert decoded == json.loads(frame)
    assert _depth_ok(decoded)


@pytest.mark.parametrize(
    "frame",
    [
        '{"type":"Ping","x":1e400}',
        '{"type":"Ping","x":[-1e999]}',
        '{"type":"Ping","x":{"a":1,"b":2,"a":3}}',
        '{"type":"Ping","type":"Ping"}',
    ],
)
def test_json_decode_refuses(frame: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        decode(frame, SUBPROTOCOL_JSON)
    assert caught.value.code == "invalid_message"


def _nested(depth: int, innermost: str, kind: str) -> str:
    opening, closing = ("[", "]") if kind == "list" else ('{"k":', "}")
    if kind == "dict" and innermost == "":
        return opening * (depth - 1) + "{}" + closing * (depth - 1)
    return opening * depth + innermost + closing * depth


@pytest.mark.parametrize("kind", ["list", "dict"])
@pytest.mark.parametrize("innermost", ["", "1"])
@pytest.mark.parametrize("depth", range(MAX_DEPTH - 2, MAX_DEPTH + 3))
def test_json_decode_depth_limit_is_the_reference_limit(
    depth: int, innermost: str, kind: str
) -> None:
    frame = '{"type":"Ping","x":' + _nested(depth, innermost, kind) + "}"
    allowed = _depth_ok(json.loads(frame))
    try:
        decode(frame, SUBPROTOCOL_JSON)
        accepted = True
    except ProtocolError as exc:
        assert exc.code == "invalid_message"
        accepted = False
    assert accepted == allowed
    assert allowed == (depth + (1 if innermost else 0) <= MAX_DEPTH)


def test_json_decode_takes_floats() -> None:
    assert decode('{"x":1.5e3,"y":[2.5]}', SUBPROTOCOL_JSON) == {"x": 1500.0, "y": [2.5]}
