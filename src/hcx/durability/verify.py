"""Verification of stored records by re-applying them: the check replay and standbys share.

A record is accepted only if its seq follows the last one, its CRC matches, its chain
value follows from the previous one, its row agrees with its contents, and re-applying
its command through the engine reproduces its bytes exactly (result and events). Where a
full-state digest is expected at a seq, the engine's state must match it too. The first
failure raises ``JournalCorrupt`` naming its seq; the engine is then not to be trusted.
It never writes anything and never sends outputs anywhere.
"""

from __future__ import annotations

from collections.abc import Mapping

import cbor2

from hcx.durability.errors import JournalCorrupt
from hcx.durability.records import chain_next, crc_of, decode_for_replay, reproduces
from hcx.engine import Engine, Output


class RecordVerifier:
    def __init__(
        self,
        engine: Engine,
        chain: bytes,
        last_seq: int,
        expected_digests: Mapping[int, str] | None = None,
    ) -> None:
        self.engine = engine
        self.chain = chain
        self.last_seq = last_seq
        self.expected_digests = expected_digests or {}

    def verify(self, seq: object, ts: object, blob: object, crc: object, chain: object) -> Output:
        """Apply the row's command if the row checks out and return its output (a
        standby publishes it to its read-only subscribers); else raise ``JournalCorrupt``.
        Fields come as stored (a damaged row may hold anything)."""
        expected_seq = self.last_seq + 1
        if seq != expected_seq:
            raise JournalCorrupt(expected_seq, f"missing (next record is {seq})")
        if type(blob) is not bytes or type(chain) is not bytes:
            raise JournalCorrupt(expected_seq, "row holds no record (not a blob)")
        if crc_of(blob) != crc:
            raise JournalCorrupt(expected_seq, "CRC mismatch")
        next_chain = chain_next(self.chain, blob)
        if next_chain != chain:
            raise JournalCorrupt(expected_seq, "hash chain broken (record edited or reordered)")
        try:
            stored = decode_for_replay(blob)
        except (ValueError, TypeError, cbor2.CBORDecodeError) as exc:
            raise JournalCorrupt(expected_seq, f"undecodable: {exc}") from exc
        if stored.envelope.seq != expected_seq or stored.envelope.ts_ms != ts:
            raise JournalCorrupt(expected_seq, "record disagrees with its row")
        output = self.engine.apply(stored.envelope)
        if not reproduces(blob, stored, output):
            raise JournalCorrupt(expected_seq, "replay diverged from the recorded result or events")
        digest = self.expected_digests.get(expected_seq)
        if digest is not None and self.engine.digest() != digest:
            raise JournalCorrupt(expected_seq, "state digest differs from the snapshot taken here")
        self.chain = next_chain
        self.last_seq = expected_seq
        return output
