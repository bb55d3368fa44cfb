"""The stream's message format (``hcx.replication.wire``): rows come back exactly as
stored, in columns or, for rows whose fields do not fit them, in CBOR; messages written
as CBOR before the columns still read; a damaged message is a ``WireError`` naming its
stream seq, never rows."""

from __future__ import annotations

import cbor2
import pytest

from hcx.durability.journal import Row
from hcx.replication import wire


def _rows(count: int) -> list[Row]:
    return [
        Row(
            seq,
            1_733_350_000_000 + seq,
            (-1) ** seq * seq * 7_919,
            bytes([seq % 251]) * (seq % 300),
            seq * 31 % 2**32,
            bytes([seq % 256]) * 16,
        )
        for seq in range(1, count + 1)
    ]


@pytest.mark.parametrize("count", [1, 2, 6, 500])
def test_rows_come_back_exactly_in_columns(count: int) -> None:
    rows = _rows(count)
    data = wire.encode_rows(rows)
    assert data.startswith(wire.MAGIC)
    decoded = wire.decode_rows(9, data)
    assert decoded == rows
    assert all(type(row.record) is bytes and type(row.chain) is bytes for row in decoded)


def test_rows_that_do_not_fit_the_columns_go_as_cbor() -> None:
    rows = _rows(3)
    odd = [rows[0], rows[1]._replace(key=2**70), rows[2]._replace(crc=-1)]
    data = wire.encode_rows(odd)
    assert not data.startswith(wire.MAGIC)
    assert wire.decode_rows(4, data) == odd


def test_messages_written_as_cbor_still_read() -> None:
    rows = _rows(6)
    assert wire.decode_rows(5, cbor2.dumps([list(row) for row in rows])) == rows


@pytest.mark.parametrize("cut", [1, 5, 30, -1])
def test_a_truncated_message_is_a_wire_error(cut: int) -> None:
    data = wire.encode_rows(_rows(4))
    with pytest.raises(wire.WireError, match="stream message 12"):
        wire.decode_rows(12, data[: len(wire.MAGIC) + cut] if cut > 0 else data[:cut])


def test_bytes_past_the_rows_are_a_wire_error() -> None:
    with pytest.raises(wire.WireError, match="stream message 13"):
        wire.decode_rows(13, wire.encode_rows(_rows(4)) + b"x")
