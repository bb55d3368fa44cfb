"""Abuse against a real ``hcx serve`` (``--auth keys`` with keys from ``hcx keys create``,
raw frames from ``websockets``' sync client):

* key guessing is throttled per remote address: 20 failed ``Authenticate`` a minute,
  then ``rate_limited`` with ``retry_after_ms`` for everything from that address, even
  a right key and on new connections; another address is not affected. Guesses sent in
  parallel on many connections cannot get past the limit either (a regression: they used
  to all be checked before any failure was counted);
* one wallet cannot cancel, replace, read (``GetOrder`` by order id, client id or request
  id), accept the quotes of, or resume (``Subscribe from_seq``) another wallet's orders,
  fills or results, when guessing every order id and re-using the other's request ids;
* admin commands are ``forbidden`` to traders and quoters, and nothing of them is
  journaled;
* connections are bounded: past ``max_connections`` the handshake is refused with HTTP
  503 while the open connections keep working; half-open TCP connections do not block
  the listener;
* requests are bounded: a ``BulkOrders`` of 51 is ``invalid_field`` ``orders``; a frame
  over 64 KiB is closed with 1009; order and message floods get ``rate_limited``;
* keys never appear in the server's stderr or in the journal file (or its WAL, or its
  snapshots): the bytes are searched for every key's secret part.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tests.e2e.conftest import Server, StartServer
from tests.e2e.market import LISTING, SYMBOL
from tests.fuzz.driver import Connection
from tests.fuzz.frames import now_ms
from tests.load.soak import free_port, read_metrics

ROLES = {"admin": "admin", "alice": "trader", "bob": "trader", "quinn": "quoter"}
WRONG_KEY = "hcx_0123456789abcdef_not-the-secret"


def _from(address: str, server: Server) -> socket.socket:
    """A TCP connection to the server from source address ``address`` (127.0.0.0/8)."""
    sock = socket.create_connection(("127.0.0.1", server.port), source_address=(address, 0))
    return sock


def _command(connection: Connection, kind: str, **fields: Any) -> dict[str, Any]:
    message = {"type": kind, "request_id": str(uuid.uuid4()), "ts": now_ms(), **fields}
    return connection.ask(message)


def _list_market(admin: Connection, wallets: tuple[str, ...]) -> int:
    """List SYMBOL, publish the index, fund ``wallets``; the last seq."""
    listed = _command(admin, "CreateInstrument", **LISTING)
    assert listed["status"] == "ok", listed
    seq = _command(admin, "SetIndexPrice", underlying="BTC", price="3000")["seq"]
    for wallet in wallets:
        funded = _command(admin, "Deposit", wallet=wallet, amount="1000000")
        assert funded["status"] == "ok", funded
        seq = funded["seq"]
    return int(seq)


@contextmanager
def _connections(*connections: Connection) -> Iterator[None]:
    try:
        yield
    finally:
        for connection in connections:
            connection.close()


# --- key guessing ----------------------------------------------------------------------


def test_key_guessing_is_throttled_per_address(start_server: StartServer) -> None:
    metrics_port = free_port()
    server = start_server(auth="keys", key_roles=ROLES, config=f"metrics_port = {metrics_port}\n")
    keys = server.keys
    # A session authenticated before the guessing starts.
    bystander = Connection(server.url, "json", "bob", keys["bob"])
    guesser = Connection(server.url, "json", None)
    with _connections(bystander, guesser):
        for attempt in range(20):
            answer = guesser.ask(
                {"type": "Authenticate", "id": attempt, "wallet": "alice", "key": WRONG_KEY}
            )
            assert (answer["type"], answer["code"], answer["id"]) == (
                "Error",
                "auth_failed",
                attempt,
            )
        # The 21st within the minute: rate_limited, with the wait.
        throttled = guesser.ask({"type": "Authenticate", "wallet": "alice", "key": WRONG_KEY})
        assert throttled["code"] == "rate_limited"
        assert 0 < throttled["retry_after_ms"] <= 60_000
        # Per address: a new connection from it is throttled too, and so is a right key
        # (the limit is checked before the key is: every wallet behind that address waits).
        with _connections(fresh := Connection(server.url, "json", None)):
            for wallet in ("alice", "admin"):
                answer = fresh.ask({"type": "Authenticate", "wallet": wallet, "key": keys[wallet]})
                assert answer["code"] == "rate_limited", answer
            assert fresh.ask({"type": "GetOpenOrders"})["code"] == "auth_required"
        # Another address has its own allowance: a right key works, a wrong one is
        # merely auth_failed.
        with _connections(
            other := Connection(server.url, "json", None, sock=_from("127.0.0.2", server))
        ):
            answer = other.ask({"type": "Authenticate", "wallet": "alice", "key": keys["alice"]})
            assert (answer["type"], answer["role"]) == ("Authenticated", "trader")
            answer = other.ask({"type": "Authenticate", "wallet": "bob", "key": WRONG_KEY})
            assert answer["code"] == "auth_failed"
        # Sessions already authenticated are not affected.
        assert bystander.ask({"type": "GetPortfolio"})["wallet"] == "bob"
    # Only the guesses that were checked count as failures (20 + 1 from 127.0.0.2).
    assert read_metrics(metrics_port)["hcx_auth_failures_total"] == 21


def test_parallel_guesses_cannot_outrun_the_throttle(keyed_server: Server) -> None:
    """Regression: the limit was checked before the (slow, awaited) key check and the
    failure counted after it, so guesses sent at once on many connections all passed
    the check: 100 connections got 100 guesses verified, not 20."""
    count = 60
    connections = [Connection(keyed_server.url, "json", None) for _ in range(count)]
    barrier = threading.Barrier(count)
    codes: Counter[str] = Counter()
    lock = threading.Lock()

    def guess(connection: Connection) -> None:
        barrier.wait()
        answer = connection.ask({"type": "Authenticate", "wallet": "alice", "key": WRONG_KEY})
        with lock:
            codes[answer["code"]] += 1

    with _connections(*connections):
        threads = [threading.Thread(target=guess, args=(c,)) for c in connections]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert codes == {"auth_failed": 20, "rate_limited": count - 20}


# --- wallets cannot reach each other ----------------------------------------------------


def test_a_wallet_cannot_touch_read_or_resume_another_wallets_orders(
    keyed_server: Server,
) -> None:
    keys = keyed_server.keys
    url = keyed_server.url
    admin = Connection(url, "json", "admin", keys["admin"])
    alice = Connection(url, "json", "alice", keys["alice"])
    bob = Connection(url, "json", "bob", keys["bob"])
    quinn = Connection(url, "json", "quinn", keys["quinn"])
    with _connections(admin, alice, bob, quinn):
        deposit_seqs = {}
        _list_market(admin, ())
        for wallet in ("alice", "bob", "quinn"):
            deposit_seqs[wallet] = _command(admin, "Deposit", wallet=wallet, amount="1000000")[
                "seq"
            ]

        # Alice: two resting orders (one with a client id), one closed, one part-filled.
        placed = [
            _command(
                alice,
                "PlaceOrder",
                symbol=SYMBOL,
                side="buy",
                price="50",
                size="4",
                client_id="alices",
            ),
            _command(alice, "PlaceOrder", symbol=SYMBOL, side="buy", price="45", size="1"),
            _command(alice, "PlaceOrder", symbol=SYMBOL, side="sell", price="70", size="1"),
        ]
        assert [p["status"] for p in placed] == ["open"] * 3
        closed = _command(alice, "CancelOrder", order_id=placed[2]["order_id"])
        assert closed["status"] == "canceled"
        sold = _command(quinn, "PlaceOrder", symbol=SYMBOL, side="sell", price="50", size="1")
        assert sold["status"] == "filled"
        alice_ids = [p["order_id"] for p in placed]
        alice_requests = [p["request_id"] for p in placed] + [closed["request_id"]]
        alice_seqs = {p["seq"] for p in placed} | {closed["seq"], sold["seq"]}
        top_id = sold["order_id"]
        alice_before = sorted(
            (o["order_id"], o["filled_size"])
            for o in alice.ask({"type": "GetOpenOrders"})["orders"]
        )
        assert alice_before == [(alice_ids[0], "1"), (alice_ids[1], "0")]

        # Bob has an order of his own: the reads below do work for their owner.
        own = _command(
            bob, "PlaceOrder", symbol=SYMBOL, side="buy", price="40", size="1", client_id="bobs"
        )
        assert bob.ask({"type": "GetOrder", "order_id": own["order_id"]})["type"] == "Order"
        bob_seqs = {own["seq"], deposit_seqs["bob"]}

        # Reading: every order id there is, alice's client id and request ids.
        for order_id in range(1, top_id + 5):
            if order_id == own["order_id"]:
                continue
            answer = bob.ask({"type": "GetOrder", "order_id": order_id})
            assert (answer["type"], answer["code"]) == ("Error", "not_found"), (order_id, answer)
        for lookup in [{"client_id": "alices"}] + [{"request_id": r} for r in alice_requests]:
            answer = bob.ask({"type": "GetOrder", **lookup})
            assert answer["code"] == "not_found", (lookup, answer)
        assert [o["order_id"] for o in bob.ask({"type": "GetOpenOrders"})["orders"]] == [
            own["order_id"]
        ]

        # Cancelling and replacing them by guessed ids, singly and in bulk, and by
        # alice's client id: refused, recorded, nothing changes.
        for order_id in range(1, top_id + 5):
            if order_id == own["order_id"]:
                continue
            for kind, fields in (
                ("CancelOrder", {"order_id": order_id}),
                ("ReplaceOrder", {"order_id": order_id, "price": "51", "size": "1"}),
            ):
                answer = _command(bob, kind, **fields)
                assert answer["status"] == "rejected", (kind, order_id, answer)
                assert answer["reason"] in ("not_owner", "unknown_order"), answer
                bob_seqs.add(answer["seq"])
        bulk = bob.ask(
            {
                "type": "BulkOrders",
                "orders": [
                    {
                        "type": "CancelOrder",
                        "request_id": str(uuid.uuid4()),
                        "ts": now_ms(),
                        "order_id": i,
                    }
                    for i in alice_ids
                ],
            }
        )
        assert [(r["status"], r["reason"]) for r in bulk["results"]] == [
            ("rejected", "not_owner"),
            ("rejected", "not_owner"),
            ("rejected", "unknown_order"),  # closed: no longer anyone's open order
        ]
        bob_seqs |= {r["seq"] for r in bulk["results"]}
        by_client_id = _command(bob, "CancelOrder", client_id="alices")
        assert (by_client_id["status"], by_client_id["reason"]) == ("rejected", "unknown_order")
        everything = _command(bob, "CancelAll")
        assert everything["canceled"] == [own["order_id"]]
        bob_seqs |= {by_client_id["seq"], everything["seq"]}

        # Re-using alice's request id is bob's own, new request: a result of his own,
        # never alice's stored one.
        mine = _command(
            bob,
            "PlaceOrder",
            symbol=SYMBOL,
            side="buy",
            price="41",
            size="2",
            request_id=alice_requests[0],
        )
        assert (mine["wallet"], mine["status"], mine["price"]) == ("bob", "open", "41")
        assert mine["order_id"] not in alice_ids and mine["request_id"] == alice_requests[0]
        bob_seqs.add(mine["seq"])

        # Alice's quotes: bob cannot accept a quote made for alice's RFQ.
        quinn.ask({"type": "Subscribe", "channel": "rfq"})
        rfq_id, quote_id = str(uuid.uuid4()), str(uuid.uuid4())
        alice.ask({"type": "Subscribe", "channel": "rfq"})
        assert (
            alice.ask(
                {
                    "type": "RequestQuote",
                    "rfq_id": rfq_id,
                    "legs": [{"symbol": SYMBOL, "side": "buy", "size": "1"}],
                }
            )["type"]
            == "RfqOpened"
        )
        assert (
            quinn.ask(
                {
                    "type": "Quote",
                    "rfq_id": rfq_id,
                    "quote_id": quote_id,
                    "legs": [{"symbol": SYMBOL, "side": "sell", "size": "1", "price": "55"}],
                    "valid_ms": 30_000,
                }
            )["type"]
            == "QuoteAck"
        )
        stolen = _command(bob, "AcceptQuote", rfq_id=rfq_id, quote_id=quote_id)
        assert (stolen["status"], stolen["reason"]) == ("rejected", "unknown_quote")
        bob_seqs.add(stolen["seq"])
        accepted = _command(alice, "AcceptQuote", rfq_id=rfq_id, quote_id=quote_id)
        assert accepted["status"] == "filled", accepted
        alice_seqs.add(accepted["seq"])
        for lookup in ({"request_id": accepted["request_id"]}, {"order_id": alice_ids[0]}):
            assert bob.ask({"type": "GetOrder", **lookup})["code"] == "not_found"

        # Resuming from the start of the journal: only bob's own events come back.
        for channel in ("orders", "fills", "portfolio"):
            bob.send({"type": "Subscribe", "channel": channel, "from_seq": 0})
        received = bob.settle()
        assert [m["channel"] for m in received if m["type"] == "Subscribed"] == [
            "orders",
            "fills",
            "portfolio",
        ]
        history = [m for m in received if m["type"] != "Subscribed"]
        assert history, "bob's own history was not replayed"
        for message in history:
            assert message["seq"] in bob_seqs, message
            assert message["seq"] not in alice_seqs, message
            if message["type"] in ("OrderUpdate", "Fill"):
                assert (
                    message.get("wallet", "bob") == "bob" and message["order_id"] not in alice_ids
                )
        assert {m["type"] for m in history} >= {"OrderUpdate", "Balance"}

        # Alice's orders are as they were.
        alice_after = sorted(
            (o["order_id"], o["filled_size"])
            for o in alice.ask({"type": "GetOpenOrders"})["orders"]
        )
        assert alice_after == alice_before


def test_switching_wallet_on_a_connection_drops_the_private_channels(keyed_server: Server) -> None:
    keys = keyed_server.keys
    url = keyed_server.url
    admin = Connection(url, "json", "admin", keys["admin"])
    alice = Connection(url, "json", "alice", keys["alice"])
    switch = Connection(url, "json", "alice", keys["alice"])
    with _connections(admin, alice, switch):
        _list_market(admin, ("alice", "bob"))
        for channel in ("orders", "fills", "portfolio"):
            switch.ask({"type": "Subscribe", "channel": channel})
        first = _command(alice, "PlaceOrder", symbol=SYMBOL, side="buy", price="50", size="1")
        assert any(m.get("order_id") == first["order_id"] for m in switch.settle())
        # The connection becomes bob's: alice's activity no longer reaches it.
        assert (
            switch.ask({"type": "Authenticate", "wallet": "bob", "key": keys["bob"]})["wallet"]
            == "bob"
        )
        _command(alice, "PlaceOrder", symbol=SYMBOL, side="buy", price="49", size="1")
        assert switch.settle() == []
        # A failed switch keeps the session as it was (bob's), never alice's.
        failed = switch.ask({"type": "Authenticate", "wallet": "alice", "key": WRONG_KEY})
        assert failed["code"] == "auth_failed"
        assert switch.ask({"type": "GetPortfolio"})["wallet"] == "bob"


# --- roles ------------------------------------------------------------------------------


# Admin commands inside BulkOrders on purpose: the server may receive what the schema
# does not describe.
@pytest.mark.wire_malformed
def test_admin_commands_are_forbidden_to_traders_and_quoters(keyed_server: Server) -> None:
    keys = keyed_server.keys
    url = keyed_server.url
    admin = Connection(url, "json", "admin", keys["admin"])
    alice = Connection(url, "json", "alice", keys["alice"])
    quinn = Connection(url, "cbor", "quinn", keys["quinn"])
    with _connections(admin, alice, quinn):
        seq = _list_market(admin, ("alice", "quinn"))
        attempts = [
            (
                "CreateInstrument",
                {**LISTING, "symbol": "BTC-20301231-3100-C", "strike": "3100"},
            ),
            ("Deposit", {"wallet": "alice", "amount": "1000000"}),
            ("SetIndexPrice", {"underlying": "BTC", "price": "1"}),
            ("Settle", {"symbol": SYMBOL, "price": "1"}),
            ("HaltInstrument", {"symbol": SYMBOL}),
            ("Tick", {}),
        ]
        for connection in (alice, quinn):
            for kind, fields in attempts:
                answer = _command(connection, kind, **fields)
                assert (answer["type"], answer["code"]) == ("Error", "forbidden"), (kind, answer)
            # Not through a bulk either.
            bulk = connection.ask(
                {
                    "type": "BulkOrders",
                    "orders": [
                        {"type": kind, "request_id": str(uuid.uuid4()), "ts": now_ms(), **fields}
                        for kind, fields in attempts
                    ],
                }
            )
            assert [(r["code"], r["field"]) for r in bulk["results"]] == [
                ("invalid_field", f"orders[{i}].type") for i in range(len(attempts))
            ]
        # A trader may not quote either.
        refused = alice.ask(
            {
                "type": "Quote",
                "rfq_id": str(uuid.uuid4()),
                "quote_id": str(uuid.uuid4()),
                "legs": [{"symbol": SYMBOL, "side": "sell", "size": "1", "price": "1"}],
                "valid_ms": 1000,
            }
        )
        assert refused["code"] == "forbidden"
        # Nothing of it was journaled: the admin's next command is the very next seq.
        assert _command(admin, "SetIndexPrice", underlying="BTC", price="3001")["seq"] == seq + 1
        assert alice.ask({"type": "GetPortfolio"})["balance"]["total"] == "1000000"


# --- connection and request floods ------------------------------------------------------


def test_connection_flood_is_bounded(start_server: StartServer) -> None:
    server = start_server(config="[gateway]\nmax_connections = 5\n")
    held = [Connection(server.url, "json", f"w{i}") for i in range(5)]
    with _connections(*held):
        # Past the limit: the handshake is refused with HTTP 503, every time.
        for _ in range(20):
            with pytest.raises(InvalidStatus) as refused, connect(server.url, open_timeout=10):
                pass
            assert refused.value.response.status_code == 503
        # The open ones keep working.
        for connection in held:
            assert connection.ask({"type": "Ping", "id": 1})["type"] == "Pong"
        # A freed slot is taken again, by one connection.
        held.pop().close()
        deadline = time.monotonic() + 10
        while True:
            try:
                replacement = Connection(server.url, "json", "again")
                break
            except InvalidStatus:  # the server has not seen the close yet
                assert time.monotonic() < deadline
                time.sleep(0.05)
        held.append(replacement)
        with pytest.raises(InvalidStatus):
            Connection(server.url, "json", "one-too-many")

        # TCP connections that never send a handshake are not counted as WebSocket
        # connections (trio-websocket drops them after 60 s): 200 of them block neither
        # the open connections nor the listener.
        half_open = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(200)]
        try:
            for connection in held:
                assert connection.ask({"type": "Ping", "id": 2})["type"] == "Pong"
            held.pop().close()
            deadline = time.monotonic() + 10
            while True:
                try:
                    held.append(Connection(server.url, "json", "after-flood"))
                    break
                except InvalidStatus:
                    assert time.monotonic() < deadline
                    time.sleep(0.05)
        finally:
            for sock in half_open:
                sock.close()


# Out-of-range and oversized fields on purpose.
@pytest.mark.wire_malformed
def test_oversized_requests_are_bounded(server: Server) -> None:
    admin = Connection(server.url, "json", "admin")
    roomy = Connection(server.url, "cbor", "admin")
    with _connections(admin, roomy):
        seq = _list_market(admin, ("admin",))

        def place(price: int) -> dict[str, Any]:
            return {
                "type": "PlaceOrder",
                "request_id": str(uuid.uuid4()),
                "ts": now_ms(),
                "symbol": SYMBOL,
                "side": "buy",
                "price": str(price),
                "size": "1",
            }

        too_many = admin.ask(
            {"type": "BulkOrders", "id": "b51", "orders": [place(10 + i) for i in range(51)]}
        )
        assert (too_many["type"], too_many["code"], too_many["field"], too_many["id"]) == (
            "Error",
            "invalid_field",
            "orders",
            "b51",
        )
        # Nothing of it executed: the next command is the next seq.
        assert _command(admin, "SetIndexPrice", underlying="BTC", price="3001")["seq"] == seq + 1
        # 50 is the most, and fine.
        fifty = roomy.ask({"type": "BulkOrders", "orders": [place(10 + i) for i in range(50)]})
        assert [r["status"] for r in fifty["results"]] == ["open"] * 50
        # A frame over 64 KiB: closed with 1009; everyone else carries on.
        big = {
            "type": "BulkOrders",
            "orders": [place(10 + i) for i in range(50)],
            "pad": "x" * 65536,
        }
        with pytest.raises(ConnectionClosed) as closed:
            roomy.ask(big)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        assert admin.ask({"type": "Ping", "id": "alive"})["type"] == "Pong"


def test_order_and_message_floods_are_rate_limited(start_server: StartServer) -> None:
    server = start_server(
        config=(
            "[gateway]\norder_rate_per_wallet = 5.0\norder_burst_per_wallet = 10.0\n"
            "message_rate_per_connection = 20.0\nmessage_burst_per_connection = 40.0\n"
        )
    )
    admin = Connection(server.url, "json", "admin")
    first = Connection(server.url, "json", "flood")
    second = Connection(server.url, "cbor", "flood")
    with _connections(admin, first, second):
        _list_market(admin, ("flood",))
        place = {"symbol": SYMBOL, "side": "buy", "price": "10", "size": "1"}
        # One wallet's orders share one bucket, across its connections.
        answers = [_command(c, "PlaceOrder", **place) for c in (first, second) * 8]
        limited = [a for a in answers if a.get("code") == "rate_limited"]
        assert limited and all(a["retry_after_ms"] > 0 for a in limited)
        assert sum(1 for a in answers if a.get("status") == "open") <= 11
        # A bulk counts every item: 11 is over the burst at once.
        bulk = first.ask(
            {
                "type": "BulkOrders",
                "orders": [
                    {"type": "PlaceOrder", "request_id": str(uuid.uuid4()), "ts": now_ms(), **place}
                    for _ in range(11)
                ],
            }
        )
        assert bulk["code"] == "rate_limited"
        # Messages per connection: a burst of pings runs into the limit ...
        for i in range(60):
            first.send({"type": "Ping", "id": i})
        answers = [first.receive() for _ in range(60)]
        assert Counter(a["type"] for a in answers)["Error"] > 0
        assert {a["code"] for a in answers if a["type"] == "Error"} == {"rate_limited"}
        # ... and the connection stays usable once the bucket refills.
        time.sleep(2.5)
        assert first.ask({"type": "Ping", "id": "later"})["type"] == "Pong"


# --- secrets ----------------------------------------------------------------------------


def test_keys_never_reach_the_logs_or_the_journal(keyed_server: Server, tmp_path: Path) -> None:
    keys = keyed_server.keys
    url = keyed_server.url
    secrets = {wallet: key.split("_", 2)[2] for wallet, key in keys.items()}
    assert all(len(secret) >= 24 for secret in secrets.values())
    admin = Connection(url, "json", "admin", keys["admin"])
    with _connections(admin):
        _list_market(admin, tuple(ROLES))
        for wallet, key in keys.items():
            with _connections(c := Connection(url, "cbor", wallet, key)):
                _command(c, "PlaceOrder", symbol=SYMBOL, side="buy", price="10", size="1")
                # Wrong keys that carry a real secret: refused without echoing it.
                for guess in (key + "x", key.replace("hcx_", "hcx_0"), f"hcx_x_{secrets[wallet]}"):
                    answer = c.ask({"type": "Authenticate", "wallet": wallet, "key": guess})
                    assert answer["code"] == "auth_failed"
                    assert secrets[wallet] not in repr(answer)
                # Another wallet's key.
                other = "bob" if wallet != "bob" else "alice"
                answer = c.ask({"type": "Authenticate", "wallet": wallet, "key": keys[other]})
                assert answer["code"] == "auth_failed"
    assert keyed_server.stop() == 0
    log = keyed_server.log.read_bytes()
    db = keyed_server.db
    # The journal, its -wal and -shm files and its snapshot directory.
    stored = [
        p
        for p in db.parent.rglob("*")
        if p.is_file() and str(p.relative_to(db.parent)).startswith(db.name)
    ]
    assert db in stored
    for wallet, secret in secrets.items():
        assert secret.encode() not in log, f"{wallet}'s key is in the server's log"
        for path in stored:
            assert secret.encode() not in path.read_bytes(), f"{wallet}'s key is in {path}"
