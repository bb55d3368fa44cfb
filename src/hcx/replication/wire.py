"""The stream's message format: committed journal rows as CBOR, one message per batch.

A message holds rows exactly as stored (seq, ts, key, record, crc, chain); headers carry
its first and last journal seq (so a reader can binary-search the stream without decoding
payloads) and the ``Nats-Msg-Id`` that deduplicates a re-publication. Names of the
stream, its subject and the lease bucket derive from the venue. Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence

import cbor2

from hcx.durability.journal import Row

DEFAULT_VENUE = "hcx"
# Under JetStream's default 1 MiB max_payload, with room for headers.
MAX_MESSAGE_BYTES = 768 * 1024
FIRST = "Hcx-First-Seq"
LAST = "Hcx-Last-Seq"
MSG_ID = "Nats-Msg-Id"
EXPECTED_LAST = "Nats-Expected-Last-Sequence"
_VENUE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class WireError(ValueError):
    """A message that is not a batch of rows (its stream seq is named)."""


def check_venue(venue: str) -> str:
    if not _VENUE.match(venue):
        raise ValueError(f"venue {venue!r}: 1-64 letters, digits, '_' or '-'")
    return venue


def stream_name(venue: str) -> str:
    return f"HCX_{venue}"


def subject(venue: str) -> str:
    return f"hcx.{venue}.journal"


def lease_bucket(venue: str) -> str:
    return f"hcx_lease_{venue}"


def encode_rows(rows: Sequence[Row]) -> bytes:
    return cbor2.dumps([list(row) for row in rows])


def split(rows: Sequence[Row], limit: int = MAX_MESSAGE_BYTES) -> Iterator[list[Row]]:
    """Consecutive pieces of ``rows`` whose encoding stays under ``limit`` (a single row
    larger than that goes alone: the server then refuses it, loudly)."""
    piece: list[Row] = []
    size = 0
    for row in rows:
        cost = len(row.record) + 96
        if piece and size + cost > limit:
            yield piece
            piece, size = [], 0
        piece.append(row)
        size += cost
    if piece:
        yield piece


def headers(
    rows: Sequence[Row], expected_last: int | None, msg_id: str | None = None
) -> dict[str, str]:
    values = {
        FIRST: str(rows[0].seq),
        LAST: str(rows[-1].seq),
        MSG_ID: msg_id or f"hcx-{rows[0].seq}-{rows[-1].seq}",
    }
    if expected_last is not None:
        values[EXPECTED_LAST] = str(expected_last)
    return values


def seq_range(stream_seq: int, values: Mapping[str, str] | None) -> tuple[int, int]:
    """(first, last) journal seq of a message, from its headers."""
    try:
        assert values is not None
        return int(values[FIRST]), int(values[LAST])
    except (AssertionError, KeyError, ValueError):
        raise WireError(f"stream message {stream_seq} carries no journal seq range") from None


def decode_rows(stream_seq: int, data: bytes) -> list[Row]:
    try:
        items = cbor2.loads(data)
        rows = [Row(*item) for item in items]
    except Exception as exc:
        raise WireError(f"stream message {stream_seq} is not a batch of rows: {exc!r}") from exc
    for row in rows:
        if not (type(row.seq) is int and type(row.record) is bytes and type(row.chain) is bytes):
            raise WireError(f"stream message {stream_seq} holds a malformed row")
    return rows
