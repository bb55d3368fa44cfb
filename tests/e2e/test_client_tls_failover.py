"""The Python client over TLS (``wss://``), across a list of URLs, and its calls for the
protocol's extensions (trade history, the dead-man's switch), against real servers."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
import trio
import trustme

from hcx.client import connect
from hcx.client.errors import ConnectionLost
from tests.e2e.conftest import Server, StartServer
from tests.e2e.market import SYMBOL, list_market, now_ms


def _tls_config(directory: Path) -> tuple[str, str]:
    """A ``[gateway]`` section with a certificate for 127.0.0.1, and the CA file that
    vouches for it."""
    authority = trustme.CA()
    issued = authority.issue_cert("127.0.0.1")
    cert, key, ca = directory / "cert.pem", directory / "key.pem", directory / "ca.pem"
    issued.cert_chain_pems[0].write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    authority.cert_pem.write_to_path(str(ca))
    return f'[gateway]\ntls_cert = "{cert}"\ntls_key = "{key}"\n', str(ca)


def _unused_url() -> str:
    """A ws:// URL on a loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"ws://127.0.0.1:{port}/ws"


async def test_wss_with_a_ca_file(start_server: StartServer, tmp_path: Path) -> None:
    config, ca_file = _tls_config(tmp_path)
    server = start_server(config=config)
    assert server.url.startswith("wss://127.0.0.1:")
    async with connect(server.url, wallet="admin", ca_file=ca_file, reconnect=False) as client:
        assert client.url == server.url
        await client.deposit("alice", "1000")
        assert await client.get_instruments() == ()


async def test_wss_refuses_a_server_it_cannot_verify(
    start_server: StartServer, tmp_path: Path
) -> None:
    config, _ = _tls_config(tmp_path)
    server = start_server(config=config)
    # The system's CA store does not know this test CA: the handshake must fail.
    with pytest.raises(ConnectionLost, match="CERTIFICATE_VERIFY_FAILED"):
        async with connect(server.url, wallet="admin", reconnect=False):
            pass


def test_a_url_that_is_not_a_websocket_url_is_named() -> None:
    from hcx.client.connection import Client

    with pytest.raises(ValueError, match=re.escape("http://127.0.0.1:1/ws")):
        Client(["ws://127.0.0.1:1/ws", "http://127.0.0.1:1/ws"])
    with pytest.raises(ValueError, match="at least one URL"):
        Client([])


async def test_first_connection_moves_past_a_dead_url(server: Server) -> None:
    dead = _unused_url()
    async with connect([dead, server.url], wallet="admin", reconnect=False) as client:
        assert client.url == server.url
        result = await client.deposit("alice", "5")
        assert result.seq >= 1


async def test_a_lost_server_fails_over_to_the_next_url(start_server: StartServer) -> None:
    first, second = start_server(), start_server()
    async with connect(
        [first.url, second.url], wallet="admin", reconnect_timeout=20, heartbeat_interval=None
    ) as client:
        await client.deposit("alice", "1")
        assert client.url == first.url
        assert first.stop() == 0
        with trio.fail_after(20):
            await client.deposit("bob", "2")
        assert client.url == second.url
        assert client.connections == 2
    second.stop()
    # Each deposit executed once, on the server that answered it.
    assert [r.envelope().command.wallet for r in first.records()] == ["alice"]
    assert [r.envelope().command.wallet for r in second.records()] == ["bob"]


async def test_the_clients_trade_history_and_dead_mans_switch(server: Server) -> None:
    """``get_trades`` and ``cancel_after``: the typed calls of the protocol's extensions."""
    async with (
        connect(server.url, wallet="admin", reconnect=False) as admin,
        connect(server.url, wallet="alice", reconnect=False) as alice,
        connect(server.url, wallet="bob", reconnect=False) as bob,
    ):
        await list_market(admin)
        for _ in range(3):
            await alice.place_order(SYMBOL, "sell", "100", "1")
            await bob.place_order(SYMBOL, "buy", "100", "1")
        trades = await bob.get_trades(SYMBOL)
        assert [t.seq for t in trades] == [1, 2, 3]
        assert all(t.journal_seq is not None and t.journal_seq > 0 for t in trades)
        assert [t.seq for t in await bob.get_trades(SYMBOL, from_seq=2, limit=1)] == [2]
        resting = await alice.place_order(SYMBOL, "sell", "200", "1")
        armed = await alice.cancel_after(60_000)
        assert armed.status == "ok" and armed.deadline_ms is not None
        assert armed.deadline_ms >= now_ms() + 50_000
        off = await alice.cancel_after(0)
        assert (off.status, off.deadline_ms) == ("ok", None)
        still = await alice.get_open_orders(SYMBOL)
        assert [o.order_id for o in still.orders] == [resting.order_id]


async def test_the_clients_cancel_on_disconnect_option(server: Server) -> None:
    async with connect(server.url, wallet="admin", reconnect=False) as admin:
        await list_market(admin)
        async with connect(
            server.url, wallet="alice", cancel_on_disconnect=True, reconnect=False
        ) as alice:
            placed = await alice.place_order(SYMBOL, "sell", "150", "1")
            assert placed.status == "open"
        # Closed: the server cancels alice's orders (a journaled command after the close).
        async with connect(server.url, wallet="alice", reconnect=False) as again:
            with trio.fail_after(10):
                while (await again.get_open_orders(SYMBOL)).orders:
                    await trio.sleep(0.05)
