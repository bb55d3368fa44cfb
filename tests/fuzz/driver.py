"""Drive fuzz frames into a live ``hcx serve`` and judge every answer.

``Fuzzer.run`` sends a batch of frames over a few connections (JSON and CBOR) at once,
then a sentinel on each connection (``Ping``, then a ``GetInstruments`` query: a query is
answered after everything sequenced before it, so once its answer is back every earlier
frame on that connection has been answered). Every frame must get exactly one answer;
stream messages (book updates, fills, ...) are told apart by type. Malformed batches are
judged strictly, answer by answer; oversized frames go on a fresh connection each and must
be closed with 1009. A ``FuzzFailure`` names the frame.

``LiveServer`` runs ``hcx serve`` on one directory (restartable on the same journal) with
the e2e harness's ``launch``; ``replay_digest`` runs ``hcx replay``.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import cbor2
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Subprotocol

from tests.e2e.conftest import Server, launch
from tests.e2e.market import LISTING, SYMBOL
from tests.fuzz.frames import LAYOUT, WALLETS, Frame, Sub, now_ms

SUBPROTOCOLS: dict[str, Subprotocol] = {
    "json": Subprotocol("hcx.v1.json"),
    "cbor": Subprotocol("hcx.v1.cbor"),
}

RESPONSES = frozenset(
    {
        "Error",
        "Pong",
        "Authenticated",
        "OrderResult",
        "CancelAllResult",
        "BulkResult",
        "MmpResult",
        "BalanceResult",
        "RfqResult",
        "AdminResult",
        "OpenOrders",
        "Portfolio",
        "Order",
        "Instruments",
        "Subscribed",
        "Unsubscribed",
        "RfqOpened",
        "QuoteAck",
    }
)
STREAMS = frozenset(
    {
        "BookSnapshot",
        "BookUpdate",
        "Trade",
        "Instrument",
        "IndexPrice",
        "OrderUpdate",
        "Fill",
        "Balance",
        "Position",
        "PositionExpired",
        "RfqRequest",
        "RfqQuote",
    }
)
MALFORMED_CODES = frozenset({"invalid_message", "unknown_type", "invalid_field"})
# The contract's codes and docs/protocol.md's not_found; "internal" would be a bug and
# "unavailable" only comes at shutdown.
DOCUMENTED_CODES = MALFORMED_CODES | {
    "auth_required",
    "auth_failed",
    "forbidden",
    "rate_limited",
    "stale_request",
    "resume_unavailable",
    "not_found",
}
ANSWER_TIMEOUT_S = 20.0


class FuzzFailure(AssertionError):
    pass


@attrs.define
class Stats:
    frames: int = 0
    json_frames: int = 0
    cbor_frames: int = 0
    oversized: int = 0
    batches: int = 0
    labels: Counter[str] = attrs.Factory(Counter)
    answers: Counter[str] = attrs.Factory(Counter)

    def family_counts(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for label, count in self.labels.items():
            out[label.split(":")[0] if label.startswith(("field", "plausible")) else label] += count
        return out


def _expected_codes(label: str) -> frozenset[str]:
    """What a malformed frame of this family may be refused with."""
    if label.startswith(("bulk:51", "bulk:0", "bulk:not", "bad_id")):
        return frozenset({"invalid_field"})
    if label == "unknown_type":
        return frozenset({"unknown_type"})
    if label.startswith(("field:", "unicode")):
        # A lone surrogate in the bad value fails decoding first.
        return frozenset({"invalid_field", "invalid_message"})
    return frozenset({"invalid_message"})


def _judge_malformed(frame: Frame, answer: dict[str, Any]) -> str | None:
    """None if ``answer`` is a right refusal of ``frame``, else what is wrong."""
    kind = answer.get("type")
    if kind == "BulkResult":
        if frame.label != "bulk:items":
            return "a BulkResult for a frame that is not a bulk of broken items"
        results = answer.get("results")
        if not isinstance(results, list) or not results:
            return "a BulkResult without results"
        for result in results:
            if result.get("type") != "Error" or result.get("code") != "invalid_field":
                return f"a broken bulk item was not refused: {result!r}"
        if frame.echo_id is not None and answer.get("id") != frame.echo_id:
            return "the BulkResult does not echo the id"
        return None
    if kind != "Error":
        return f"a {kind} for a malformed frame"
    code = answer.get("code")
    if code not in _expected_codes(frame.label):
        return f"code {code!r}, expected one of {sorted(_expected_codes(frame.label))}"
    if not isinstance(answer.get("message"), str) or not answer["message"]:
        return "an Error without a message"
    if code == "invalid_field" and not isinstance(answer.get("field"), str):
        return "invalid_field without a field"
    bulk_wrapper = frame.label.startswith("bulk:") and frame.label != "bulk:items"
    if bulk_wrapper and answer.get("field") != "orders":
        return f"field {answer.get('field')!r}, expected 'orders'"
    if frame.label == "bad_id" and answer.get("field") != "id":
        return f"field {answer.get('field')!r}, expected 'id'"
    echoes = code != "invalid_message" and frame.echo_id is not None
    if echoes and answer.get("id") != frame.echo_id:
        return f"the Error does not echo id {frame.echo_id!r}"
    return None


def _judge_any(answer: dict[str, Any]) -> str | None:
    if answer.get("type") == "Error":
        code = answer.get("code")
        if code not in DOCUMENTED_CODES:
            return f"undocumented error code {code!r}"
        if not isinstance(answer.get("message"), str):
            return "an Error without a message"
    return None


def _show(frame: Frame, limit: int = 300) -> str:
    payload = frame.payload
    text = repr(payload[:limit]) + ("..." if len(payload) > limit else "")
    return (
        f"[{frame.label}, {len(payload)} {'chars' if isinstance(payload, str) else 'bytes'}] {text}"
    )


class Connection:
    """A raw connection (``websockets``' sync client): frames go out exactly as given.
    Authenticates as ``wallet`` (with ``key`` on a keyed server) unless ``wallet`` is
    None; ``sock``: an already connected socket to use (another source address)."""

    def __init__(
        self,
        url: str,
        sub: Sub,
        wallet: str | None,
        key: str | None = None,
        sock: Any = None,
    ) -> None:
        self.url = url
        self.sub = sub
        self.sentinels = 0
        self.ws: ClientConnection = connect(
            url,
            sock=sock,
            subprotocols=[SUBPROTOCOLS[sub]],
            max_size=None,
            max_queue=None,
            open_timeout=10,
            close_timeout=2,
            ping_interval=None,  # no keepalive thread drawing from ``random`` mid-example
        ).__enter__()  # closed by ``close``
        assert self.ws.subprotocol == SUBPROTOCOLS[sub], self.ws.subprotocol
        if wallet is not None:
            message = {"type": "Authenticate", "wallet": wallet}
            if key is not None:
                message["key"] = key
            answer = self.ask(message)
            assert answer["type"] == "Authenticated", answer

    def send(self, payload: str | bytes | dict[str, Any]) -> None:
        if isinstance(payload, dict):
            payload = json.dumps(payload) if self.sub == "json" else cbor2.dumps(payload)
        self.ws.send(payload)

    def receive(self, timeout: float = ANSWER_TIMEOUT_S) -> dict[str, Any]:
        frame = self.ws.recv(timeout=timeout)
        if self.sub == "json":
            if not isinstance(frame, str):
                raise FuzzFailure(f"a binary frame on a JSON connection: {frame!r}")
            message = json.loads(frame)
        else:
            if not isinstance(frame, bytes):
                raise FuzzFailure(f"a text frame on a CBOR connection: {frame!r}")
            message = cbor2.loads(frame)
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            raise FuzzFailure(f"the server sent something that is not a message: {message!r}")
        return message

    def ask(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send and wait for the first response (stream messages are skipped)."""
        self.send(message)
        while True:
            answer = self.receive()
            if answer["type"] not in STREAMS:
                return answer

    def settle(self) -> list[dict[str, Any]]:
        """Everything received before the answer to a query sent now (a query is
        answered after everything released before it)."""
        self.sentinels += 1
        sentinel = f"settle-{self.sentinels}"
        self.send({"type": "GetInstruments", "id": sentinel})
        out = []
        while True:
            message = self.receive()
            if message["type"] == "Instruments" and message.get("id") == sentinel:
                return out
            out.append(message)

    def close(self) -> None:
        self.ws.close()


class Fuzzer:
    def __init__(self, url: str, layout: Sequence[Sub] = LAYOUT, wallet: str = WALLETS[0]) -> None:
        self.url = url
        self.layout = tuple(layout)
        self.connections = [Connection(url, sub, wallet) for sub in self.layout]
        self.stats = Stats()

    def close(self) -> None:
        for connection in self.connections:
            connection.close()

    def run(self, batch: Sequence[tuple[int, Frame]], *, strict: bool) -> None:
        """Send ``batch`` ((connection index, frame) pairs) and judge every answer;
        ``strict``: every frame is malformed and must be refused."""
        self.stats.batches += 1
        sent: list[list[Frame]] = [[] for _ in self.connections]
        oversized: list[tuple[int, Frame]] = []
        for index, frame in batch:
            if strict and not frame.malformed:
                raise FuzzFailure(f"a strict batch with a frame that may be valid: {_show(frame)}")
            self._count(frame, self.layout[index])
            if frame.oversized:
                oversized.append((index, frame))
                continue
            try:
                self.connections[index].send(frame.payload)
            except ConnectionClosed as exc:
                raise FuzzFailure(f"connection closed ({exc}) sending {_show(frame)}") from None
            sent[index].append(frame)
        for index, frames in enumerate(sent):
            if frames:
                self._collect(self.connections[index], frames, strict=strict)
        for index, frame in oversized:
            self._oversized(self.layout[index], frame)
        for connection in self.connections:
            pong = connection.ask({"type": "Ping", "id": "alive"})
            if pong.get("type") != "Pong" or pong.get("id") != "alive":
                raise FuzzFailure(f"Ping answered with {pong!r}")

    def _count(self, frame: Frame, sub: Sub) -> None:
        stats = self.stats
        stats.frames += 1
        stats.labels[frame.label] += 1
        if sub == "json":
            stats.json_frames += 1
        else:
            stats.cbor_frames += 1

    def _collect(self, connection: Connection, frames: list[Frame], *, strict: bool) -> None:
        connection.sentinels += 1
        sentinel = f"sentinel-{connection.sentinels}"
        connection.send({"type": "GetInstruments", "id": sentinel})
        answers: list[dict[str, Any]] = []
        while True:
            try:
                message = connection.receive()
            except TimeoutError:
                shown = "\n".join(_show(f) for f in frames[len(answers) :])
                raise FuzzFailure(
                    f"{len(frames) - len(answers)} frame(s) on a {connection.sub} connection "
                    f"got no answer within {ANSWER_TIMEOUT_S} s; unanswered:\n{shown}"
                ) from None
            except ConnectionClosed as exc:
                raise FuzzFailure(
                    f"the server closed a {connection.sub} connection ({exc}); frames sent:\n"
                    + "\n".join(_show(f) for f in frames)
                ) from None
            kind = message["type"]
            if kind == "Instruments" and message.get("id") == sentinel:
                break
            if kind in STREAMS:
                continue
            if kind not in RESPONSES:
                raise FuzzFailure(f"an undocumented message type: {message!r}")
            answers.append(message)
        if len(answers) != len(frames):
            raise FuzzFailure(
                f"{len(frames)} frames got {len(answers)} answers on a {connection.sub} "
                f"connection:\nframes:\n"
                + "\n".join(_show(f) for f in frames)
                + "\nanswers:\n"
                + "\n".join(repr(a)[:300] for a in answers)
            )
        for frame, answer in zip(frames, answers, strict=True):
            problem = _judge_malformed(frame, answer) if strict else _judge_any(answer)
            if problem is not None:
                raise FuzzFailure(f"{problem}\nframe: {_show(frame)}\nanswer: {answer!r}")
            key = answer["type"]
            if key == "Error":
                key += ":" + str(answer.get("code"))
            elif isinstance(answer.get("status"), str):
                key += ":" + answer["status"]
                if isinstance(answer.get("reason"), str):
                    key += ":" + answer["reason"]
            self.stats.answers[key] += 1

    def _oversized(self, sub: Sub, frame: Frame) -> None:
        """A fresh connection, one frame over the limit: closed with 1009."""
        self.stats.oversized += 1
        with connect(
            self.url,
            subprotocols=[SUBPROTOCOLS[sub]],
            max_size=None,
            open_timeout=10,
            ping_interval=None,
        ) as ws:
            closed: ConnectionClosed | None = None
            try:
                ws.send(frame.payload)
                answer = ws.recv(timeout=ANSWER_TIMEOUT_S)
            except ConnectionClosed as exc:
                closed = exc
            except TimeoutError:
                raise FuzzFailure(
                    f"an oversized frame was neither answered nor closed: {_show(frame)}"
                ) from None
            else:
                raise FuzzFailure(f"an oversized frame was answered {answer!r}: {_show(frame)}")
        code = closed.rcvd.code if closed.rcvd is not None else None
        if code != 1009:
            raise FuzzFailure(f"an oversized frame closed with {code}, not 1009: {_show(frame)}")
        self.stats.answers["close:1009"] += 1


# --- the server and its journal --------------------------------------------------------


class LiveServer:
    """``hcx serve --auth none`` on ``directory``'s journal; stop and start again at will.
    Every stop must exit 0 with no traceback in the server's stderr."""

    def __init__(self, directory: Path, config: str | None = None) -> None:
        self.directory = directory
        self.config = config
        self.server: Server | None = None
        self.starts = 0
        self.logs: list[str] = []

    @property
    def db(self) -> Path:
        return self.directory / "hcx.db"

    def start(self) -> str:
        assert self.server is None
        self.server = launch(self.directory, config=self.config)
        self.starts += 1
        return self.server.url

    @property
    def pid(self) -> int:
        assert self.server is not None
        return self.server.proc.pid

    def stop(self) -> None:
        server, self.server = self.server, None
        assert server is not None
        try:
            code = server.stop()
        finally:
            if server.proc.stdout is not None:
                server.proc.stdout.close()
        log = server.log_text()
        self.logs.append(log)
        (self.directory / f"server-{self.starts}.log").write_text(log)
        if code != 0:
            raise FuzzFailure(f"hcx serve exited {code}:\n{log[-4000:]}")
        if "Traceback" in log:
            raise FuzzFailure(f"hcx serve logged a traceback:\n{log[-4000:]}")

    def kill(self) -> None:
        """Teardown after a failure: never leave a server behind."""
        if self.server is not None and self.server.proc.poll() is None:
            self.server.proc.kill()
            self.server.proc.wait()
        self.server = None

    def alive(self) -> bool:
        return self.server is not None and self.server.proc.poll() is None


def replay_digest(db: Path, *, verify: bool = False) -> tuple[str, int]:
    """(digest, final seq) from ``hcx replay --db`` (after the server stopped)."""
    args = [sys.executable, "-m", "hcx.cli", "replay", "--db", str(db)]
    if verify:
        args.append("--verify")
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise FuzzFailure(f"hcx replay exited {done.returncode}: {done.stderr[-2000:]}")
    digest = re.search(r"^digest: (\S+)$", done.stdout, re.M)
    seq = re.search(r"^final seq: (\d+)$", done.stdout, re.M)
    assert digest and seq, done.stdout
    return digest.group(1), int(seq.group(1))


def journal_rows(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        (count,) = connection.execute("SELECT count(*) FROM journal").fetchone()
    return int(count)


def setup_market(url: str) -> None:
    """List the e2e market, publish its index, fund the fuzz wallets and rest a few
    orders on both sides: a non-trivial state for the digest to cover."""
    connection = Connection(url, "json", WALLETS[0])
    try:

        def command(kind: str, **fields: Any) -> dict[str, Any]:
            answer = connection.ask(
                {"type": kind, "request_id": str(uuid.uuid4()), "ts": now_ms(), **fields}
            )
            assert answer.get("status") in ("ok", "open", "filled"), answer
            return answer

        command("CreateInstrument", **LISTING)
        command("SetIndexPrice", underlying="BTC", price="3000")
        for wallet in WALLETS:
            command("Deposit", wallet=wallet, amount="100000000")
        for i in range(10):
            side, price = ("buy", 40 + i) if i % 2 else ("sell", 60 + i)
            command(
                "PlaceOrder",
                symbol=SYMBOL,
                side=side,
                price=str(price),
                size="2",
                client_id=f"c{i}",
            )
    finally:
        connection.close()
