"""Seeded request ids: a UUID (version 4) of BLAKE2b over ``seed:wallet:count``, the same
in every shell; a copy continues the same sequence; a continued journal's ids (``after``)
are a sequence of their own."""

from __future__ import annotations

import hashlib
import uuid

from hcx.protocol.ids import SeededIds


def _reference(prefix: str, count: int) -> str:
    digest = hashlib.blake2b(f"{prefix}{count}".encode(), digest_size=16).digest()
    return str(uuid.UUID(bytes=digest, version=4))


def test_seeded_ids_are_uuids_of_the_seed_wallet_and_count() -> None:
    ids = SeededIds(7, "alice")
    assert [ids() for _ in range(300)] == [_reference("7:alice:", n) for n in range(1, 301)]
    twin = ids.copy()
    assert [twin(), twin()] == [ids(), ids()] == [_reference("7:alice:", n) for n in (301, 302)]
    assert SeededIds(7, "alice", count=5)() == _reference("7:alice:", 6)


def test_ids_after_a_journals_end_are_a_sequence_of_their_own() -> None:
    after = SeededIds(7, "alice", after=12)
    later = [after() for _ in range(50)]
    assert later[0] == _reference("7:alice:12:", 1)
    assert not set(later) & {_reference("7:alice:", n) for n in range(1, 1000)}
    assert later != [SeededIds(7, "alice", after=13)() for _ in range(50)]
    assert SeededIds(7, "alice", after=0)() == _reference("7:alice:", 1)  # a new journal
