"""The journal file: one SQLite database in WAL mode with ``synchronous=FULL``.

One ``Journal`` is one connection. The service gives the writer connection its own
thread (a ``CapacityLimiter(1)``) and opens separate connections for readers. ``append``
commits a whole batch in one ``BEGIN IMMEDIATE ... COMMIT``; any failure raises
``DurabilityError`` and is never retried, because after a failed fsync the kernel may
already have dropped the pages it could not write.

WAL auto-checkpointing is off: ``checkpoint`` is called by the service's checkpoint
policy instead, so a checkpoint never lands inside a commit on the hot path.
``journal_size_limit`` truncates the WAL file after a checkpoint resets it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import apsw

from hcx.durability.errors import DurabilityError
from hcx.durability.records import GENESIS_CHAIN
from hcx.durability.schema import migrate

MEMORY = ":memory:"
JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024


class Row(NamedTuple):
    """One journal row: the command's ``seq`` and ``ts``, its request key, the record,
    the record's CRC and the hash chain up to it."""

    seq: int
    ts: int
    key: int
    record: bytes
    crc: int
    chain: bytes


# A row as SQLite hands it back, in ``Row``'s field order (replay reads millions and
# unpacks them at once, so they are not wrapped).
RawRow = tuple[int, int, int, bytes, int, bytes]


class Journal:
    def __init__(self, path: str, *, vfs: str | None = None, readonly: bool = False) -> None:
        self.path = path
        flags = (
            apsw.SQLITE_OPEN_READONLY
            if readonly
            else (apsw.SQLITE_OPEN_READWRITE | apsw.SQLITE_OPEN_CREATE)
        )
        flags |= apsw.SQLITE_OPEN_URI
        if vfs is None:
            self.connection = apsw.Connection(path, flags=flags)
        else:
            self.connection = apsw.Connection(path, flags=flags, vfs=vfs)
        self.connection.set_busy_timeout(10_000)
        if path != MEMORY:
            self.connection.execute("PRAGMA journal_mode=WAL")
        self.connection.execute("PRAGMA synchronous=FULL")
        if not readonly:
            self.connection.execute(f"PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT}")
            self.connection.wal_autocheckpoint(0)
            migrate(self.connection)

    @property
    def in_memory(self) -> bool:
        return self.path == MEMORY

    def close(self) -> None:
        self.connection.close()

    # --- writing -------------------------------------------------------------------

    def append(self, rows: Sequence[RawRow]) -> None:
        """Make ``rows`` durable in one transaction, or raise ``DurabilityError``."""
        connection = self.connection
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.executemany("INSERT INTO journal VALUES (?, ?, ?, ?, ?, ?)", rows)
            connection.execute("COMMIT")
        except BaseException as exc:
            # The rollback is for the connection's sake only: the batch is lost either
            # way, and the caller stops the process.
            try:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
            except apsw.Error:
                pass
            first = rows[0][0] if rows else None
            raise DurabilityError(f"commit of batch from seq {first} failed: {exc!r}") from exc

    def truncate_after(self, seq: int) -> int:
        """Remove every record after ``seq`` (a rejoining standby's tail, copied aside
        first by its caller); returns how many."""
        with self.connection:
            self.connection.execute("DELETE FROM journal WHERE seq > ?", (seq,))
            removed = int(self.connection.changes())
        return removed

    def set_meta(self, key: str, value: bytes) -> None:
        with self.connection:
            self.connection.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def checkpoint(self, mode: str = "PASSIVE") -> tuple[int, int]:
        """Copy WAL frames into the database; returns (frames in WAL, frames copied)."""
        if self.in_memory:
            return 0, 0
        _, log, copied = self._rows(f"PRAGMA wal_checkpoint({mode})")[0]
        return int(log), int(copied)

    # --- reading -------------------------------------------------------------------

    def get_meta(self, key: str) -> bytes | None:
        rows = self._rows("SELECT value FROM meta WHERE key = ?", (key,))
        return bytes(rows[0][0]) if rows else None

    def last(self) -> tuple[int, bytes]:
        """(last seq, its chain value); (0, genesis) for an empty journal."""
        rows = self._rows("SELECT seq, chain FROM journal ORDER BY seq DESC LIMIT 1")
        return (int(rows[0][0]), bytes(rows[0][1])) if rows else (0, GENESIS_CHAIN)

    def count(self) -> int:
        return int(self._rows("SELECT count(*) FROM journal")[0][0])

    def read(self, seq: int) -> Row | None:
        rows = self._rows(
            "SELECT seq, ts, key, record, crc, chain FROM journal WHERE seq = ?", (seq,)
        )
        return _row(rows[0]) if rows else None

    def scan(self, after_seq: int = 0, batch: int = 4096) -> Iterator[RawRow]:
        """Every record with ``seq > after_seq``, in order, read in chunks."""
        cursor_seq = after_seq
        while True:
            rows = self._rows(
                "SELECT seq, ts, key, record, crc, chain FROM journal WHERE seq > ? "
                "ORDER BY seq LIMIT ?",
                (cursor_seq, batch),
            )
            if not rows:
                return
            # As SQLite hands them back, unconverted: replay, the hot reader, checks
            # each field's type itself and reports a row of other types as garbage.
            yield from rows
            cursor_seq = int(rows[-1][0])

    def first_seq_from(self, ts_ms: int) -> int | None:
        """The first seq sequenced at or after ``ts_ms`` (an index-free binary search on
        seq, valid because the sequencer's clock never goes backwards)."""
        low, high = self._bounds()
        if high == 0:
            return None
        answer = None
        while low <= high:
            middle = (low + high) // 2
            rows = self._rows(
                "SELECT seq, ts FROM journal WHERE seq >= ? ORDER BY seq LIMIT 1", (middle,)
            )
            if not rows:
                high = middle - 1
                continue
            seq, ts = int(rows[0][0]), int(rows[0][1])
            if ts >= ts_ms:
                answer = seq
                high = middle - 1
            else:
                low = seq + 1
        return answer

    def keys_since(self, ts_ms: int, after_seq: int = 0) -> Iterator[tuple[int, int, int]]:
        """(seq, ts, key) of every record sequenced at or after ``ts_ms`` (and after
        ``after_seq``)."""
        first = self.first_seq_from(ts_ms)
        if first is None:
            return
        first = max(first, after_seq + 1)
        # The columns are INTEGER: SQLite hands back ints, so the rows go out as read.
        yield from self.connection.execute(
            "SELECT seq, ts, key FROM journal WHERE seq >= ? ORDER BY seq", (first,)
        )

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        return list(self.connection.execute(sql, params))

    def _bounds(self) -> tuple[int, int]:
        # Two subqueries: SQLite answers a lone min() or max() from the end of the seq
        # b-tree, but ``min(seq), max(seq)`` in one SELECT scans the whole table.
        rows = self._rows("SELECT (SELECT min(seq) FROM journal), (SELECT max(seq) FROM journal)")
        low, high = rows[0]
        return (int(low), int(high)) if high is not None else (0, 0)


def _row(row: Any) -> Row:
    return Row(int(row[0]), int(row[1]), int(row[2]), bytes(row[3]), int(row[4]), bytes(row[5]))
