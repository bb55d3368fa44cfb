"""Reading a journal stream back from a test, through its own asyncio thread: every row
once (fences skipped), each message's headers checked against its rows."""

from __future__ import annotations

from hcx.durability.journal import Journal, Row
from hcx.replication import wire
from hcx.replication.bridge import AsyncioThread
from hcx.replication.stream import JournalStream


def stream_rows(url: str, venue: str = "hcx") -> list[Row]:
    bridge = AsyncioThread("test-reader")
    stream = JournalStream([url], venue)
    try:
        bridge.call_blocking(stream.connect(), 10)
        last = bridge.call_blocking(stream.last_stream_seq(), 10)
        rows: list[Row] = []
        for seq in range(1, last + 1):
            first, end, data = bridge.call_blocking(stream.message(seq), 10)
            piece = wire.decode_rows(seq, data)
            assert (piece[0].seq, piece[-1].seq) == (first, end)
            if rows and piece == [rows[-1]]:
                continue  # a new lease holder's fence repeats the last row
            rows.extend(piece)
        return rows
    finally:
        bridge.call_blocking(stream.close(), 10)
        bridge.close()


def journal_rows(db: str) -> list[Row]:
    journal = Journal(db, readonly=True)
    try:
        return [Row(*raw) for raw in journal.scan(0)]
    finally:
        journal.close()
