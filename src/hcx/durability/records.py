"""The journal record: ``[format version byte][CBOR]``, its CRC32 and the hash chain.

A record holds one sequenced command and everything it produced:
``[seq, ts, wallet, request_id, client_ts, command, result, events]`` where the command,
the result and each event are ``[TYPE, *field values]``. The result carries the ids the
engine assigned (an order's ``order_id``), so a reader of the journal alone sees them.

The chain value of record n is ``BLAKE2b-128(chain[n-1] || record bytes)``: replay
re-encodes each re-applied command and checks the bytes, so the first record that
diverges, was edited or was reordered is named by its ``seq``.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable
from typing import Any

import attrs
import cbor2

from hcx.engine import Envelope, Output
from hcx.engine.commands import COMMAND_TYPES, Command
from hcx.engine.outputs import (
    AdminResult,
    Balance,
    BalanceResult,
    BookUpdate,
    CancelAllResult,
    Fill,
    IndexPrice,
    InstrumentUpdate,
    MmpResult,
    OrderResult,
    OrderUpdate,
    Position,
    PositionExpired,
    RfqResult,
    Trade,
)

FORMAT_VERSION = 1
_VERSION_BYTE = bytes([FORMAT_VERSION])
GENESIS_CHAIN = bytes(16)

OUTPUT_TYPES: dict[str, type] = {
    cls.TYPE: cls
    for cls in (
        OrderResult,
        CancelAllResult,
        BalanceResult,
        AdminResult,
        MmpResult,
        RfqResult,
        OrderUpdate,
        Fill,
        Balance,
        Position,
        PositionExpired,
        Trade,
        BookUpdate,
        InstrumentUpdate,
        IndexPrice,
    )
}

# Per class, a function ``obj -> [TYPE, *attrs field values in declaration order]``.
_FIELD_LISTS: dict[type, Callable[[Any], list[Any]]] = {}


def _field_list_of(cls: type) -> Callable[[Any], list[Any]]:
    """Compile ``lambda o: [tag, o.f1, o.f2, ...]`` for ``cls`` once (attrs itself
    generates its methods the same way): three times faster than an ``attrgetter``
    and unpacking, and this runs for the command, the result and every event of every
    record, live and in replay."""
    tag = cls.TYPE if hasattr(cls, "TYPE") else cls.__name__
    values = "".join(f", o.{field.name}" for field in attrs.fields(cls))
    field_list: Callable[[Any], list[Any]] = eval(f"lambda o: [tag{values}]", {"tag": tag})
    _FIELD_LISTS[cls] = field_list
    return field_list


def _fields_of(obj: Any) -> list[Any]:
    field_list = _FIELD_LISTS.get(type(obj)) or _field_list_of(type(obj))
    return field_list(obj)


def encode_command(command: Command) -> list[Any]:
    return _fields_of(command)


def decode_command(data: list[Any]) -> Command:
    cls = COMMAND_TYPES.get(data[0])
    if cls is None:
        raise ValueError(f"unknown command type {data[0]!r}")
    return cls(*data[1:])


def decode_output_object(data: list[Any]) -> Any:
    """A stored result or event as its engine class (book levels come back as lists)."""
    cls = OUTPUT_TYPES.get(data[0])
    if cls is None:
        raise ValueError(f"unknown output type {data[0]!r}")
    return cls(*data[1:])


def encode_record(envelope: Envelope, client_ts: int, output: Output) -> bytes:
    lists = _FIELD_LISTS
    command, result = envelope.command, output.result
    body = [
        envelope.seq,
        envelope.ts_ms,
        envelope.wallet,
        envelope.request_id,
        client_ts,
        (lists.get(type(command)) or _field_list_of(type(command)))(command),
        (lists.get(type(result)) or _field_list_of(type(result)))(result),
        [(lists.get(type(event)) or _field_list_of(type(event)))(event) for event in output.events],
    ]
    return _VERSION_BYTE + cbor2.dumps(body)


@attrs.frozen
class Record:
    seq: int
    ts: int
    wallet: str
    request_id: str
    client_ts: int
    command: list[Any]
    result: list[Any]
    events: list[list[Any]]

    def envelope(self) -> Envelope:
        return Envelope(
            self.seq, self.ts, self.wallet, self.request_id, decode_command(self.command)
        )


def decode_record(blob: bytes) -> Record:
    if not blob or blob[0] != FORMAT_VERSION:
        raise ValueError(f"unknown record format {blob[:1].hex() or 'empty'}")
    body = cbor2.loads(blob[1:])
    if not isinstance(body, list) or len(body) != 8:
        raise ValueError("record body is not an 8-item array")
    return Record(*body)


def crc_of(blob: bytes) -> int:
    return zlib.crc32(blob)


def chain_next(previous: bytes, blob: bytes) -> bytes:
    return hashlib.blake2b(previous + blob, digest_size=16).digest()
