"""The SQLite schema of a journal file, versioned with ``PRAGMA user_version``.

``journal`` appends by ``seq INTEGER PRIMARY KEY`` and has no other index: a UNIQUE index
on random request ids cuts commit throughput five-fold, and exact idempotency comes from
the in-memory window instead (see ``idempotency``). ``key`` is a stable 64-bit hash of
(wallet, request_id), so the window is rebuilt at start without decoding records.
``meta`` holds the engine configuration the journal was written with. Each migration
moves one version up and runs in the transaction that sets the new version.
"""

from __future__ import annotations

from typing import Any

SCHEMA_VERSION = 4

_MIGRATIONS: dict[int, str] = {
    1: """
        CREATE TABLE journal (
            seq    INTEGER PRIMARY KEY,
            ts     INTEGER NOT NULL,
            key    INTEGER NOT NULL,
            record BLOB    NOT NULL,
            crc    INTEGER NOT NULL,
            chain  BLOB    NOT NULL
        );
        CREATE TABLE meta (
            key   TEXT PRIMARY KEY,
            value BLOB NOT NULL
        );
    """,
    # API keys live beside the journal so one file is the whole venue to back up.
    2: """
        CREATE TABLE api_keys (
            key_id     TEXT PRIMARY KEY,
            wallet     TEXT    NOT NULL,
            role       TEXT    NOT NULL,
            salt       BLOB    NOT NULL,
            hash       BLOB    NOT NULL,
            created_ms INTEGER NOT NULL,
            revoked_ms INTEGER
        );
    """,
    # No table changes: from here on records may be in format 2 (``records``), which an
    # hcx of schema 2 cannot read. The bump makes it refuse the file as too new instead
    # of calling a good journal corrupt.
    3: """
        INSERT OR REPLACE INTO meta(key, value) VALUES ('record_formats', x'0102');
    """,
    # The public trade history, derived from the journal and caught up from its tail at
    # each start (``trade_history``). From here on records may hold the commands that came
    # with it (ResumeInstrument, CancelAfter, cancel-on-disconnect, Tick): an hcx of
    # schema 3 refuses the file as too new instead of calling them corrupt.
    4: """
        CREATE TABLE IF NOT EXISTS trade_index (
            symbol      TEXT    NOT NULL,
            n           INTEGER NOT NULL,
            trade_id    INTEGER NOT NULL,
            price       INTEGER NOT NULL,
            size        INTEGER NOT NULL,
            taker_side  TEXT    NOT NULL,
            ts          INTEGER NOT NULL,
            journal_seq INTEGER NOT NULL,
            PRIMARY KEY (symbol, n)
        ) WITHOUT ROWID;
    """,
}


class SchemaTooNew(RuntimeError):
    pass


def _version(connection: Any) -> int:
    version: int = connection.execute("PRAGMA user_version").fetchall()[0][0]
    if version > SCHEMA_VERSION:
        raise SchemaTooNew(
            f"journal schema {version} is newer than this hcx understands ({SCHEMA_VERSION})"
        )
    return version


def migrate(connection: Any) -> int:
    """Bring the file to ``SCHEMA_VERSION``; returns the version it started at.

    Each step re-reads the version under the write lock, so two processes opening a new
    file at once (``hcx serve`` and ``hcx keys``) never run the same migration twice."""
    start = _version(connection)
    while True:
        if _version(connection) >= SCHEMA_VERSION:
            return start
        connection.execute("BEGIN IMMEDIATE")
        try:
            version = _version(connection)
            if version < SCHEMA_VERSION:
                connection.execute(_MIGRATIONS[version + 1])
                connection.execute(f"PRAGMA user_version = {version + 1}")
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
