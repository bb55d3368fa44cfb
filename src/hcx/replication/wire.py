"""The stream's message format: committed journal rows, one message per batch.

A message holds rows exactly as stored (seq, ts, key, record, crc, chain), in columns:
``MAGIC``, the row count, then each fixed-size field of every row packed little-endian
(seq, ts and key as signed 64-bit, crc and the record's length as unsigned 32-bit, the
chain's length as unsigned 16-bit), then the chains, then the records. Packing columns
in one ``struct`` call is several times cheaper than CBOR on the primary (and reading
them on a standby); rows whose fields do not fit those types go as CBOR (a list of
rows), which a reader tells apart by its first bytes, as it does messages written before
the columns. Headers carry a message's first and last journal seq (so a reader can
binary-search the stream without decoding payloads) and the ``Nats-Msg-Id`` that
deduplicates a re-publication. Names of the stream, its subject and the lease bucket
derive from the venue. Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator, Mapping, Sequence
from itertools import accumulate, pairwise

import cbor2

from hcx.durability.journal import Row

DEFAULT_VENUE = "hcx"
# Under JetStream's default 1 MiB max_payload, with room for headers.
MAX_MESSAGE_BYTES = 768 * 1024
FIRST = "Hcx-First-Seq"
LAST = "Hcx-Last-Seq"
MSG_ID = "Nats-Msg-Id"
EXPECTED_LAST = "Nats-Expected-Last-Sequence"
# Not the start of any CBOR array (0x80-0x9f): the two formats cannot be confused.
MAGIC = b"HCX\x01"
_COUNT = struct.Struct("<I")
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
    try:
        return _encode_columns(rows)
    except (struct.error, TypeError, ValueError):
        # No rows, or a field outside the columns' types (never from a sound journal): CBOR holds
        # anything, and the standby's verifier names the row.
        return cbor2.dumps([list(row) for row in rows])


def _columns(count: int) -> str:
    return f"<{count}q{count}q{count}q{count}I{count}I{count}H"


def _encode_columns(rows: Sequence[Row]) -> bytes:
    seqs, tss, keys, records, crcs, chains = zip(*rows, strict=True)
    lengths = (*map(len, records), *map(len, chains))
    head = struct.pack(_columns(len(rows)), *seqs, *tss, *keys, *crcs, *lengths)
    return b"".join((MAGIC, _COUNT.pack(len(rows)), head, *chains, *records))


def _decode_columns(data: bytes) -> list[Row]:
    (count,) = _COUNT.unpack_from(data, len(MAGIC))
    layout = struct.Struct(_columns(count))
    fields = layout.unpack_from(data, len(MAGIC) + _COUNT.size)
    seqs, tss, keys, crcs, record_lengths, chain_lengths = (
        fields[at : at + count] for at in range(0, 6 * count, count)
    )
    start = len(MAGIC) + _COUNT.size + layout.size
    chain_ends = list(accumulate(chain_lengths, initial=start))
    record_ends = list(accumulate(record_lengths, initial=chain_ends[-1]))
    if record_ends[-1] != len(data):
        raise ValueError(f"{len(data) - record_ends[-1]} bytes more than its rows")
    chains = [data[a:b] for a, b in pairwise(chain_ends)]
    records = [data[a:b] for a, b in pairwise(record_ends)]
    return list(map(Row, seqs, tss, keys, records, crcs, chains))


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


FENCE_PREFIX = "fence-"


def fence_id(holder: str, revision: int) -> str:
    """The message id of a fence: a new lease holder's first message, which repeats the
    stream's last row (the id also deduplicates a fence re-sent after a lost answer)."""
    return f"{FENCE_PREFIX}{holder}-{revision}"


def fence_holder(values: Mapping[str, str] | None) -> str | None:
    """The holder that wrote a message as its fence, from its headers; None for rows."""
    msg_id = (values or {}).get(MSG_ID, "")
    if not msg_id.startswith(FENCE_PREFIX):
        return None
    return msg_id[len(FENCE_PREFIX) :].rpartition("-")[0]


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
        if data[: len(MAGIC)] == MAGIC:
            return _decode_columns(bytes(data))
        items = cbor2.loads(data)
        rows = [Row(*item) for item in items]
    except Exception as exc:
        raise WireError(f"stream message {stream_seq} is not a batch of rows: {exc!r}") from exc
    for row in rows:
        if not (type(row.seq) is int and type(row.record) is bytes and type(row.chain) is bytes):
            raise WireError(f"stream message {stream_seq} holds a malformed row")
    return rows
