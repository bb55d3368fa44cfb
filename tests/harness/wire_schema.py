"""The test suite's check of every wire message against docs/asyncapi.json (test-only).

Owns: validating a message dict against its schema and recording what fails. It must
never be imported by a production path: ``install`` replaces ``hcx.protocol.codec``'s
``encode`` and ``decode`` before anything else imports them, in the pytest process
(tests/conftest.py) and in every Python process the tests start (through the
``sitecustomize`` module tests/conftest.py puts first on their ``PYTHONPATH``, active only
while ``HCX_WIRE_SCHEMA_CHECK`` names a directory), so every message a process sends or
receives is checked; the codec itself knows nothing of it.

A message that fails (a ``type`` the schema does not list for that direction, a missing
or undescribed field, a value of the wrong shape) is appended as one JSON line to
``<dir>/violations-<pid>.jsonl``; the suite's fixture fails the test that caused it.
Messages a process receives are recorded as ``received`` so that tests which send
malformed input on purpose (marked ``wire_malformed``) can allow those alone.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry
from referencing.jsonschema import DRAFT7

ENV = "HCX_WIRE_SCHEMA_CHECK"
SCHEMA_PATH = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.json"
_URI = "urn:hcx:asyncapi"


@cache
def _document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())
    return document


def _names(operation: str) -> frozenset[str]:
    refs = _document()["operations"][operation]["messages"]
    return frozenset(ref["$ref"].rsplit("/", 1)[1] for ref in refs)


@cache
def _validators() -> dict[str, jsonschema.protocols.Validator]:
    registry: Registry[Any] = Registry().with_resource(_URI, DRAFT7.create_resource(_document()))
    return {
        name: jsonschema.Draft7Validator(
            {"$ref": f"{_URI}#/components/schemas/{name}"}, registry=registry
        )
        for name in _document()["components"]["schemas"]
    }


@cache
def _all_names() -> frozenset[str]:
    return _names("receive") | _names("send")


def problems(message: Any) -> list[str]:
    """Why ``message`` is not described by the schema; empty when it is. Client and
    server message types are disjoint, so the ``type`` picks the schema whichever side
    sends it (one test process may run both)."""
    if not isinstance(message, dict):
        return ["not an object"]
    kind = message.get("type")
    if not isinstance(kind, str) or kind not in _all_names():
        return [f"type {kind!r} is not a message of the protocol"]
    validator = _validators()[kind]
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '(message)'}: {error.message}"
        for error in validator.iter_errors(message)
    ]


def _record(directory: str, entry: dict[str, Any]) -> None:
    path = Path(directory) / f"violations-{os.getpid()}.jsonl"
    with path.open("a") as out:
        out.write(json.dumps(entry, default=repr) + "\n")


def wrap(
    encode: Callable[[dict[str, Any], str], Any],
    decode: Callable[[Any, str], dict[str, Any]],
    directory: str,
) -> tuple[Callable[[dict[str, Any], str], Any], Callable[[Any, str], dict[str, Any]]]:
    """``encode`` and ``decode`` that check each message they carry."""

    def checked_encode(message: dict[str, Any], subprotocol: str) -> Any:
        found = problems(message)
        if found:
            entry = {"direction": "sent", "subprotocol": subprotocol, "problems": found}
            _record(directory, {**entry, "message": message})
        return encode(message, subprotocol)

    def checked_decode(frame: Any, subprotocol: str) -> dict[str, Any]:
        message = decode(frame, subprotocol)
        found = problems(message)
        if found:
            entry = {"direction": "received", "subprotocol": subprotocol, "problems": found}
            _record(directory, {**entry, "message": message})
        return message

    checked_encode.__wrapped__ = encode  # type: ignore[attr-defined]
    checked_decode.__wrapped__ = decode  # type: ignore[attr-defined]
    return checked_encode, checked_decode


def install() -> None:
    """Wrap the codec's functions in this process (call it before hcx is imported
    elsewhere: modules that import ``encode`` and ``decode`` by name keep what they got)."""
    directory = os.environ.get(ENV)
    if not directory:
        return
    import hcx.protocol.codec as codec

    if hasattr(codec.encode, "__wrapped__"):
        return
    codec.encode, codec.decode = wrap(codec.encode, codec.decode, directory)  # type: ignore[assignment]
