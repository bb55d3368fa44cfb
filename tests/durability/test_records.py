"""Journal records: round trip, CRC, the hash chain, and the file's schema."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import cbor2
import pytest

from hcx.durability.errors import JournalCorrupt
from hcx.durability.journal import Journal, Row
from hcx.durability.records import (
    FORMAT_VERSION,
    GENESIS_CHAIN,
    NESTED_FORMAT,
    OUTPUT_TYPES,
    chain_next,
    crc_of,
    decode_output_object,
    decode_record,
    encode_record,
    encode_record_as,
)
from hcx.durability.replay import recover
from hcx.durability.schema import SCHEMA_VERSION, SchemaTooNew
from hcx.engine import Engine, EngineConfig, Envelope
from hcx.engine.outputs import Event, Result
from tests.durability.market import listing, order


def _applied() -> list[tuple[Envelope, bytes]]:
    engine = Engine()
    out = []
    commands = [(w, r, c) for w, r, _, c in listing()]
    commands += [("alice", "o1", order("sell", "100")), ("bob", "o2", order("buy", "101", "2"))]
    for seq, (wallet, request_id, command) in enumerate(commands, start=1):
        envelope = Envelope(seq, 1_000 + seq, wallet, request_id, command)  # type: ignore[arg-type]
        out.append((envelope, encode_record(envelope, 999, engine.apply(envelope))))
    return out


def test_record_round_trip_keeps_command_result_and_events() -> None:
    envelope, blob = _applied()[-1]
    assert blob[0] == FORMAT_VERSION
    record = decode_record(blob)
    assert record.envelope() == envelope
    assert record.client_ts == 999
    result = decode_output_object(record.result)
    assert result.status == "partially_filled"
    assert result.filled_size == 1_000_000
    assert [event[0] for event in record.events][:3] == ["Trade", "Fill", "Fill"]


def test_every_result_and_event_type_decodes() -> None:
    """A repeat's stored result and a resume's events are decoded from the journal:
    every output type the engine can produce must be known (``MmpResult``,
    ``RfqResult`` and ``PositionExpired`` once were not, and their repeats/resumes
    stopped the server)."""
    produced = {cls.TYPE for cls in (*get_args(Result), *get_args(Event))}
    assert produced <= set(OUTPUT_TYPES)


def test_unknown_format_version_is_refused() -> None:
    _, blob = _applied()[0]
    with pytest.raises(ValueError, match="format"):
        decode_record(bytes([FORMAT_VERSION + 1]) + blob[1:])


def test_chain_and_crc_notice_a_flipped_byte() -> None:
    blobs = [blob for _, blob in _applied()]
    chain = GENESIS_CHAIN
    for blob in blobs:
        chain = chain_next(chain, blob)
    tampered = bytearray(blobs[2])
    tampered[-1] ^= 0x01
    other = GENESIS_CHAIN
    for blob in [*blobs[:2], bytes(tampered), *blobs[3:]]:
        other = chain_next(other, blob)
    assert other != chain
    assert crc_of(bytes(tampered)) != crc_of(blobs[2])


def test_journal_append_read_and_scan(tmp_path: Path) -> None:
    journal = Journal(str(tmp_path / "j.db"))
    rows = [(seq, 1_000 + seq, seq * 7, b"x%d" % seq, seq, b"c" * 16) for seq in range(1, 11)]
    journal.append(rows[:4])
    journal.append(rows[4:])
    assert journal.last() == (10, b"c" * 16)
    assert journal.read(3) == rows[2]
    assert list(journal.scan(after_seq=7, batch=2)) == rows[7:]
    assert journal.first_seq_from(1_005) == 5
    assert list(journal.keys_since(1_009)) == [(9, 1_009, 63), (10, 1_010, 70)]
    journal.close()


def test_schema_version_is_recorded_and_a_newer_one_refused(tmp_path: Path) -> None:
    path = str(tmp_path / "j.db")
    journal = Journal(path)
    assert journal.connection.execute("PRAGMA user_version").fetchall()[0][0] == SCHEMA_VERSION
    journal.connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    journal.close()
    with pytest.raises(SchemaTooNew):
        Journal(path)


def test_journal_is_wal_with_full_sync(tmp_path: Path) -> None:
    journal = Journal(str(tmp_path / "j.db"))
    assert journal.connection.execute("PRAGMA journal_mode").fetchall()[0][0] == "wal"
    assert journal.connection.execute("PRAGMA synchronous").fetchall()[0][0] == 2
    journal.close()


def test_concurrent_first_opens_migrate_once(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = str(tmp_path / "new.db")
    code = "import sys; from hcx.durability.journal import Journal; Journal(sys.argv[1]).close()"
    runs = [
        subprocess.Popen([sys.executable, "-c", code, path], stderr=subprocess.PIPE)
        for _ in range(6)
    ]
    errors = [run.communicate(timeout=60)[1].decode() for run in runs]
    assert [run.returncode for run in runs] == [0] * 6, errors
    journal = Journal(path)
    assert journal.connection.execute("PRAGMA user_version").fetchall()[0][0] == SCHEMA_VERSION
    journal.close()


def test_flat_and_nested_formats_hold_the_same_record() -> None:
    engine = Engine()
    commands = [(w, r, c) for w, r, _, c in listing()]
    commands += [("alice", "o1", order("sell", "100")), ("bob", "o2", order("buy", "101", "2"))]
    for seq, (wallet, request_id, command) in enumerate(commands, start=1):
        envelope = Envelope(seq, 1_000 + seq, wallet, request_id, command)  # type: ignore[arg-type]
        output = engine.apply(envelope)
        flat = encode_record(envelope, 999, output)
        nested = encode_record_as(NESTED_FORMAT, envelope, 999, output)
        assert (flat[0], nested[0]) == (FORMAT_VERSION, NESTED_FORMAT)
        assert len(flat) < len(nested)
        assert decode_record(flat) == decode_record(nested)
        record = decode_record(flat)
        assert record.envelope() == envelope
        assert [decode_output_object(e) for e in record.events] == [
            decode_output_object(e) for e in decode_record(nested).events
        ]
        assert len(record.events) == len(output.events)


def test_a_flat_record_cut_short_or_padded_is_refused() -> None:
    _, blob = _applied()[-1]
    body = cbor2.loads(blob[1:])
    for broken in (body[:-1], [*body, "Balance"], body[:6]):
        with pytest.raises(ValueError):
            decode_record(bytes([FORMAT_VERSION]) + cbor2.dumps(broken))


def _journal_of(path: str, version: int) -> tuple[Journal, list[Row], Engine]:
    """A journal of the test market's commands, records in format ``version``."""
    engine = Engine()
    commands = [(w, r, c) for w, r, _, c in listing()]
    commands += [("alice", "o1", order("sell", "100")), ("bob", "o2", order("buy", "101", "2"))]
    rows: list[Row] = []
    chain = GENESIS_CHAIN
    for seq, (wallet, request_id, command) in enumerate(commands, start=1):
        envelope = Envelope(seq, 1_000 + seq, wallet, request_id, command)  # type: ignore[arg-type]
        blob = encode_record_as(version, envelope, 999, engine.apply(envelope))
        chain = chain_next(chain, blob)
        rows.append((seq, envelope.ts_ms, seq, blob, crc_of(blob), chain))
    journal = Journal(path)
    journal.append(rows)
    return journal, rows, engine


def _rewrite(journal: Journal, rows: list[Row], seq: int, blob: bytes) -> None:
    """Replace record ``seq`` with ``blob``, its CRC and every later chain value made
    consistent: only replaying the command can tell."""
    chain = rows[seq - 2][5] if seq > 1 else GENESIS_CHAIN
    for row in rows[seq - 1 :]:
        record = blob if row[0] == seq else row[3]
        chain = chain_next(chain, record)
        journal.connection.execute(
            "UPDATE journal SET record = ?, crc = ?, chain = ? WHERE seq = ?",
            (record, crc_of(record), chain, row[0]),
        )


@pytest.mark.parametrize("version", [FORMAT_VERSION, NESTED_FORMAT])
def test_replay_verifies_records_in_either_format(tmp_path: Path, version: int) -> None:
    """Journals written before format 2 replay too, each record checked in its own
    format; a record whose outputs were changed (CRC and chain made to match) is named
    by its seq."""
    journal, rows, engine = _journal_of(str(tmp_path / "j.db"), version)
    recovered = recover(journal, None, EngineConfig())
    assert (recovered.replayed, recovered.chain) == (len(rows), rows[-1][5])
    assert recovered.engine.digest() == engine.digest()

    seq = len(rows)  # the crossing order: trade, fills, positions, balances
    body = cbor2.loads(rows[-1][3][1:])
    text = cbor2.dumps(body)
    # The last balance update's total, one micro-unit more.
    if version == FORMAT_VERSION:
        at = max(i for i, value in enumerate(body) if value == "Balance")
        body[at + 2] += 1
    else:
        [*_, balance] = (event for event in body[7] if event[0] == "Balance")
        balance[2] += 1
    assert cbor2.dumps(body) != text
    _rewrite(journal, rows, seq, bytes([version]) + cbor2.dumps(body))
    with pytest.raises(JournalCorrupt, match="diverged") as refused:
        recover(journal, None, EngineConfig())
    assert refused.value.seq == seq
    journal.close()


def test_a_row_whose_record_is_not_a_blob_is_named(tmp_path: Path) -> None:
    journal, _, _ = _journal_of(str(tmp_path / "j.db"), FORMAT_VERSION)
    journal.connection.execute("UPDATE journal SET record = 'text' WHERE seq = 3")
    with pytest.raises(JournalCorrupt, match="not a blob") as refused:
        recover(journal, None, EngineConfig())
    assert refused.value.seq == 3
    journal.close()


def test_a_schema_2_journal_is_migrated_to_mark_its_record_formats(tmp_path: Path) -> None:
    """Format 2 records came with schema 3, so an hcx that reads only format 1 refuses
    the file as too new rather than calling its records corrupt."""
    path = str(tmp_path / "old.db")
    journal, rows, _ = _journal_of(path, NESTED_FORMAT)
    journal.connection.execute("DELETE FROM meta WHERE key = 'record_formats'")
    journal.connection.execute("PRAGMA user_version = 2")
    journal.close()
    reopened = Journal(path)
    assert reopened.connection.execute("PRAGMA user_version").fetchall()[0][0] == SCHEMA_VERSION
    assert reopened.get_meta("record_formats") == bytes([NESTED_FORMAT, FORMAT_VERSION])
    assert recover(reopened, None, EngineConfig()).replayed == len(rows)
    reopened.close()
