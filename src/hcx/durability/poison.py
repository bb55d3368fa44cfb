"""Requests that crashed the engine, remembered in the journal file's ``meta`` table.

An exception from ``engine.apply`` is a bug: the service stops, and the request's key is
written here so that after a restart the same request is refused instead of crashing the
engine again in a loop. It never decides what to refuse; the sequencing step does.
"""

from __future__ import annotations

from typing import Any

from hcx.durability.journal import Journal

POISON_PREFIX = "poison:"


def poisoned_requests(journal: Journal) -> set[tuple[str, str]]:
    """Every remembered ``(wallet, request_id)``."""
    rows: Any = journal.connection.execute(
        "SELECT key FROM meta WHERE key LIKE ?", (POISON_PREFIX + "%",)
    )
    found = set()
    for (key,) in rows:
        wallet, _, request_id = key[len(POISON_PREFIX) :].partition("\x00")
        found.add((wallet, request_id))
    return found


def record_poison(db: str, wallet: str, request_id: str) -> None:
    """Remember a request that crashed the engine, on a fresh connection (the writer's
    may be in the middle of a transaction the crash left behind)."""
    journal = Journal(db)
    try:
        journal.set_meta(f"{POISON_PREFIX}{wallet}\x00{request_id}", b"1")
    finally:
        journal.close()
