"""(d) With ``--auth keys`` and real keys from ``hcx keys create``: a wrong key is
refused, roles are enforced, and one wallet can neither touch nor see another's orders;
private channels carry only the subscriber's own data."""

from __future__ import annotations

from decimal import Decimal

import pytest
import trio

import hcx.client
from hcx.client import HcxError
from tests.e2e.conftest import Server
from tests.e2e.helpers import settle
from tests.e2e.market import SYMBOL, list_market


async def test_keys_roles_and_wrong_keys(keyed_server: Server) -> None:
    server = keyed_server
    keys = server.keys
    with trio.fail_after(30):
        # A wrong key, another wallet's key, no key: auth_failed / invalid_field.
        for wallet, key in (("alice", "hcx_not-a-key"), ("alice", keys["bob"])):
            with pytest.raises(HcxError) as failed:
                async with hcx.client.connect(server.url, wallet=wallet, key=key):
                    pass
            assert failed.value.code == "auth_failed"

        async with hcx.client.connect(server.url) as anonymous:
            # Nothing private or journaled before authenticating.
            with pytest.raises(HcxError) as refused:
                await anonymous.place_order(SYMBOL, "buy", "1", "1")
            assert refused.value.code == "auth_required"
            with pytest.raises(HcxError) as refused:
                await anonymous.get_portfolio()
            assert refused.value.code == "auth_required"
            with pytest.raises(HcxError) as refused:
                await anonymous.authenticate("alice")  # no key
            assert (refused.value.code, refused.value.field) == ("invalid_field", "key")
            with pytest.raises(HcxError) as refused:
                await anonymous.authenticate("alice", "hcx_wrong")
            assert refused.value.code == "auth_failed"
            # The connection stayed open and is still anonymous ...
            assert (await anonymous.ping()).server_ms > 0
            assert anonymous.connections == 1 and anonymous.wallet is None
            # ... until a right key.
            assert (await anonymous.authenticate("quinn", keys["quinn"])).role == "quoter"

        async with (
            hcx.client.connect(server.url, wallet="admin", key=keys["admin"]) as admin,
            hcx.client.connect(server.url, wallet="alice", key=keys["alice"]) as alice,
        ):
            assert (admin.role, alice.role) == ("admin", "trader")
            await list_market(admin, ("alice", "bob"))
            for attempt in (
                alice.create_instrument(SYMBOL, "BTC", 1, "3000", "call", "0.1", "1"),
                alice.deposit("alice", "1000"),
                alice.set_index_price("BTC", "1"),
                alice.halt_instrument(SYMBOL),
            ):
                with pytest.raises(HcxError) as forbidden:
                    await attempt
                assert forbidden.value.code == "forbidden"
            assert (await alice.get_portfolio()).balance.total == Decimal(1_000_000)


async def test_wallets_are_isolated(keyed_server: Server) -> None:
    server = keyed_server
    keys = server.keys
    with trio.fail_after(30):
        async with hcx.client.connect(server.url, wallet="admin", key=keys["admin"]) as admin:
            await list_market(admin, ("alice", "bob", "quinn"))
        async with (
            hcx.client.connect(server.url, wallet="alice", key=keys["alice"]) as alice,
            hcx.client.connect(server.url, wallet="bob", key=keys["bob"]) as bob,
            hcx.client.connect(server.url, wallet="quinn", key=keys["quinn"]) as quinn,
            bob.subscribe_orders() as b_orders,
            bob.subscribe_fills() as b_fills,
            bob.subscribe_portfolio() as b_portfolio,
        ):
            order = await alice.place_order(SYMBOL, "buy", "50", "4", client_id="alices")
            assert order.status == "open" and order.order_id is not None

            # Bob cannot cancel or replace it, by id or by alice's client id ...
            not_owner = await bob.cancel_order(order.order_id)
            assert (not_owner.status, not_owner.reason) == ("rejected", "not_owner")
            replaced = await bob.replace_order(order.order_id, "51", "1")
            assert (replaced.status, replaced.reason) == ("rejected", "not_owner")
            by_client_id = await bob.cancel_order(client_id="alices")
            assert (by_client_id.status, by_client_id.reason) == ("rejected", "unknown_order")
            # ... nor read it.
            for lookup in (
                bob.get_order(order.order_id),
                bob.get_order(client_id="alices"),
                bob.get_order(request_id=order.request_id),
            ):
                with pytest.raises(HcxError) as missing:
                    await lookup
                assert missing.value.code == "not_found"
            assert (await bob.get_open_orders()).orders == ()
            # Alice's order is untouched.
            mine = await alice.get_order(order.order_id)
            assert (mine.status, mine.size, mine.filled_size) == ("open", Decimal(4), Decimal(0))

            # Alice trades with quinn: nothing of it reaches bob's private channels.
            sold = await quinn.place_order(SYMBOL, "sell", "50", "1")
            assert sold.status == "filled"
            assert await settle(bob, b_orders, b_fills, b_portfolio) == [[], [], []]

            # Bob's own activity does, and only his.
            own = await bob.place_order(SYMBOL, "sell", "50", "1")
            assert own.status == "filled"
            b_ord, b_fill, b_port = await settle(bob, b_orders, b_fills, b_portfolio)
            assert [(u.wallet, u.order_id, u.status) for u in b_ord] == [
                ("bob", own.order_id, "filled")
            ]
            assert [(f.order_id, f.side, f.liquidity) for f in b_fill] == [
                (own.order_id, "sell", "taker")
            ]
            assert {type(m).__name__ for m in b_port} == {"Balance", "Position"}
            position = [m for m in b_port if isinstance(m, hcx.client.Position)][-1]
            assert position.size == -1
            assert (await alice.get_order(order.order_id)).filled_size == 2
