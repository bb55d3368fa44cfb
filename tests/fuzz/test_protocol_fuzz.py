"""Protocol fuzzing against a live ``hcx serve`` (JSON and CBOR, four connections).

* Malformed frames (a catalog covering every kind, then hypothesis batches): every frame
  is refused with the right ``Error`` (or closed with 1009 when over 64 KiB), the server
  keeps answering ``Ping``, exits 0 on SIGTERM with no traceback, and the journal is
  untouched: ``hcx replay`` gives the same digest and final seq, and the journal the
  same row count, before and after the batch.
* Valid-looking frames with random field values, mixed with malformed ones: every frame
  gets exactly one documented answer, the server survives, and the journal it leaves
  replays with ``--verify``.
* Regression: a lone surrogate (``"\\ud800"``) in a JSON ``id`` used to kill the server
  (the echoed id could not be encoded as UTF-8 in the connection's writer).

The hypothesis runs are derandomized (the same batches every run); ``scripts/fuzz.py``
explores with seeds for as many frames as asked.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from hcx.protocol.codec import decode
from hcx.protocol.errors import ProtocolError
from tests.e2e.conftest import Server
from tests.fuzz.driver import (
    Connection,
    Fuzzer,
    LiveServer,
    journal_rows,
    replay_digest,
    setup_market,
)
from tests.fuzz.frames import Frame, any_frame, batches, catalog, malformed_frame, now_ms

# Sends malformed frames on purpose: only what is received may fail the schema check.
pytestmark = pytest.mark.wire_malformed

FUZZ_SETTINGS = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)


def test_malformed_frames_are_refused_and_change_nothing(tmp_path: Path) -> None:
    live = LiveServer(tmp_path)
    try:
        setup_market(live.start())
        live.stop()
        before = replay_digest(live.db), journal_rows(live.db)
        fuzzer = Fuzzer(live.start())
        try:
            fuzzer.run(catalog(), strict=True)

            @settings(FUZZ_SETTINGS, max_examples=80)
            @given(batches(malformed_frame))
            def fuzz(batch: list[tuple[int, Frame]]) -> None:
                fuzzer.run(batch, strict=True)

            fuzz()
        finally:
            fuzzer.close()
        live.stop()  # exit 0, no traceback
        assert (replay_digest(live.db), journal_rows(live.db)) == before
        stats = fuzzer.stats
        assert stats.frames > 500 and stats.json_frames and stats.cbor_frames
        assert stats.answers["close:1009"] == stats.oversized >= 2
        assert set(stats.answers) <= {
            "Error:invalid_message",
            "Error:invalid_field",
            "Error:unknown_type",
            "BulkResult",
            "close:1009",
        }
    finally:
        live.kill()


def test_plausible_frames_get_documented_answers(tmp_path: Path) -> None:
    live = LiveServer(tmp_path)
    try:
        url = live.start()
        setup_market(url)
        fuzzer = Fuzzer(url)
        try:

            @settings(FUZZ_SETTINGS, max_examples=80)
            @given(batches(any_frame))
            def fuzz(batch: list[tuple[int, Frame]]) -> None:
                fuzzer.run(batch, strict=False)

            fuzz()
        finally:
            fuzzer.close()
        live.stop()
        _, seq = replay_digest(live.db, verify=True)
        # Accidentally valid frames did execute: orders, admin commands.
        answers = fuzzer.stats.answers
        assert seq > 14 and any(key.startswith("OrderResult") for key in answers), answers
        assert answers["Error:invalid_field"] and answers["Error:invalid_message"]
    finally:
        live.kill()


# --- regression: a lone surrogate must not kill the server ---------------------------


@pytest.mark.parametrize(
    "frame",
    [
        '{"type":"Ping","id":"\\ud800"}',
        '{"type":"GetOrder","id":1,"request_id":"\\udfff"}',
        '{"type":"BulkOrders","orders":[{"type":"PlaceOrder","request_id":"\\ud83d"}]}',
        '{"type":"\\udbff"}',
        '{"type":"Ping","\\udc00":0}',
    ],
)
def test_lone_surrogates_are_invalid_messages(frame: str) -> None:
    with pytest.raises(ProtocolError) as refused:
        decode(frame, "hcx.v1.json")
    assert refused.value.code == "invalid_message"
    # A surrogate pair is one character, and fine.
    assert decode('{"type":"Ping","id":"\\ud83d\\ude00"}', "hcx.v1.json")["id"] == "\U0001f600"


def test_lone_surrogate_id_does_not_kill_the_server(server: Server) -> None:
    connection = Connection(server.url, "json", "alice")
    try:
        connection.send('{"type":"Ping","id":"\\ud800"}')
        answer = connection.receive()
        assert (answer["type"], answer["code"]) == ("Error", "invalid_message")
        assert connection.ask({"type": "Ping", "id": "alive"})["type"] == "Pong"
    finally:
        connection.close()
    assert server.stop() == 0
    assert "Traceback" not in server.log_text()


# --- regression: an expiry past year 9999 must not be an engine fault -----------------


@pytest.mark.parametrize("expiry_ms", [253_402_300_800_000, 10**17, 2**63 - 1])
def test_expiry_past_year_9999_is_rejected_not_an_engine_fault(
    server: Server, expiry_ms: int
) -> None:
    """Found by ``scripts/fuzz.py``: naming the symbol of such an expiry overflowed
    ``datetime`` inside the engine (``OverflowError``), an engine fault that stopped the
    server (exit 5) on one admin command."""
    connection = Connection(server.url, "json", "admin")
    try:
        answer = connection.ask(
            {
                "type": "CreateInstrument",
                "request_id": str(uuid.uuid4()),
                "ts": now_ms(),
                "symbol": "BTC-99991231-3000-C",
                "underlying": "BTC",
                "expiry_ms": expiry_ms,
                "strike": "3000",
                "option": "call",
                "tick_size": "0.1",
                "lot_size": "1",
            }
        )
        assert (answer["type"], answer["status"], answer["reason"]) == (
            "AdminResult",
            "rejected",
            "invalid_expiry",
        )
        assert connection.ask({"type": "Ping", "id": "alive"})["type"] == "Pong"
    finally:
        connection.close()
    assert server.stop() == 0
    assert "Traceback" not in server.log_text()
