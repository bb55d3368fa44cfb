"""The embedded exchange: typed sessions in-process, determinism, several exchanges in
one process, a durable file journal, and the synchronous facade."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import trio

import hcx
from hcx.durability.journal import Journal
from hcx.engine.instruments import expected_symbol
from hcx.engine.numbers import parse_decimal

EXPIRY_MS = 1_924_905_600_000
SYMBOL = expected_symbol("BTC", EXPIRY_MS, parse_decimal("3000"), "call")
START_MS = 1_800_000_000_000


async def _scenario(exchange: hcx.EmbeddedExchange, clock: hcx.SimClock) -> list[str]:
    """A fixed sequence of awaited calls; returns what the traders were told."""
    told = []
    async with (
        exchange.session("admin") as admin,
        exchange.session("alice") as alice,
        exchange.session("bob") as bob,
    ):
        await admin.create_instrument(SYMBOL, "BTC", EXPIRY_MS, "3000", "call", "0.1", "1")
        await admin.set_index_price("BTC", "3000")
        await admin.deposit("alice", "100000")
        await admin.deposit("bob", "100000")
        for step in range(30):
            clock.advance(250)
            maker = await alice.place_order(SYMBOL, "sell", str(100 + step % 4), "2")
            taker = await bob.place_order(SYMBOL, "buy", str(101 + step % 3), "1", tif="ioc")
            told.append(f"{maker.status}/{taker.status}/{taker.filled_size}")
            if step % 7 == 0:
                await alice.cancel_all()
    return told


async def test_same_seed_and_calls_give_the_same_journal_and_digest(tmp_path: Path) -> None:
    runs = []
    for name in ("a", "b"):
        clock = hcx.SimClock(START_MS)
        path = str(tmp_path / f"{name}.db")
        async with hcx.open_exchange(path, clock=clock, seed=7) as exchange:
            told = await _scenario(exchange, clock)
            digest = await exchange.digest()
        journal = Journal(path)
        rows = [(row[0], row[1], row[3]) for row in journal.scan()]
        journal.close()
        runs.append((told, digest, rows))
    assert runs[0][2], "the journal holds the commands"
    assert runs[0] == runs[1]


async def test_another_seed_changes_request_ids_not_outcomes() -> None:
    outcomes, digests = [], []
    for seed in (1, 2):
        clock = hcx.SimClock(START_MS)
        async with hcx.open_exchange(clock=clock, seed=seed) as exchange:
            outcomes.append(await _scenario(exchange, clock))
            digests.append(await exchange.digest())
    assert outcomes[0] == outcomes[1]
    # Resting orders keep the request id that placed them, so the state differs.
    assert digests[0] != digests[1]


async def test_several_independent_exchanges_in_one_process() -> None:
    clock_a, clock_b = hcx.SimClock(START_MS), hcx.SimClock(START_MS)
    async with (
        hcx.open_exchange(clock=clock_a) as first,
        hcx.open_exchange(clock=clock_b) as second,
    ):
        await _scenario(first, clock_a)
        async with second.session("admin") as admin:
            await admin.create_instrument(SYMBOL, "BTC", EXPIRY_MS, "3000", "call", "0.1", "1")
            assert (await admin.get_open_orders()).orders == ()
        assert first.last_seq > second.last_seq == 1
        assert await first.digest() != await second.digest()


async def test_a_file_journal_resumes_where_it_stopped(tmp_path: Path) -> None:
    path = str(tmp_path / "sim.db")
    clock = hcx.SimClock(START_MS)
    async with hcx.open_exchange(path, clock=clock) as exchange:
        await _scenario(exchange, clock)
        digest = await exchange.digest()
        seq = exchange.last_seq
    async with hcx.open_exchange(path, clock=clock) as exchange:
        assert await exchange.digest() == digest
        assert exchange.last_seq == seq
        async with exchange.session("bob") as bob:
            portfolio = await bob.get_portfolio()
            assert portfolio.positions and portfolio.positions[0].size > 0


async def test_sessions_get_typed_results_and_channels() -> None:
    clock = hcx.SimClock(START_MS)
    async with (
        hcx.open_exchange(clock=clock) as exchange,
        exchange.session("admin") as admin,
        exchange.session("alice") as alice,
    ):
        await admin.create_instrument(SYMBOL, "BTC", EXPIRY_MS, "3000", "call", "0.1", "1")
        await admin.deposit("alice", "1000")
        async with alice.subscribe_portfolio() as portfolio:
            result = await alice.place_order(SYMBOL, "buy", "12.5", "2")
            assert result.price == Decimal("12.5") and result.status == "open"
            with trio.fail_after(5):
                balance = await portfolio.__anext__()
            assert balance.reserved > 0


def test_sync_facade_from_a_plain_thread() -> None:
    clock = hcx.SimClock(START_MS)
    with hcx.SyncExchange(clock=clock, seed=3) as exchange:
        admin, alice, bob = (exchange.session(w) for w in ("admin", "alice", "bob"))
        listed = admin.create_instrument(SYMBOL, "BTC", EXPIRY_MS, "3000", "call", "0.1", "1")
        assert listed.status == "ok"
        admin.deposit("alice", "10000")
        admin.deposit("bob", "10000")
        fills = alice.subscribe_fills()
        alice.place_order(SYMBOL, "sell", "10", "1")
        clock.advance(5)
        assert bob.place_order(SYMBOL, "buy", "10", "1").status == "filled"
        fill = fills.get(timeout=5)
        assert fill is not None and fill.liquidity == "maker" and fill.size == Decimal("1")
        assert len(exchange.digest()) == 64
        fills.close()


async def _place_one(exchange: hcx.EmbeddedExchange, clock: hcx.SimClock) -> str:
    """One resting order of alice's, in a session of its own; returns its order id."""
    clock.advance(1)
    async with exchange.session("alice") as alice:
        placed = await alice.place_order(SYMBOL, "sell", "150", "1")
    return placed.order_id


async def _listed(exchange: hcx.EmbeddedExchange) -> None:
    async with exchange.session("admin") as admin:
        await admin.create_instrument(SYMBOL, "BTC", EXPIRY_MS, "3000", "call", "0.1", "1")
        await admin.set_index_price("BTC", "3000")
        await admin.deposit("alice", "100000")


async def test_two_sessions_of_one_wallet_never_draw_the_same_request_ids() -> None:
    clock = hcx.SimClock(START_MS)
    async with hcx.open_exchange(clock=clock, seed=3) as exchange:
        await _listed(exchange)
        first = await _place_one(exchange, clock)
        second = await _place_one(exchange, clock)
        # Had the second session reused the first's id, it would have been told the
        # first order's result again, and nothing new would rest.
        assert first != second
        async with exchange.session("alice") as alice:
            assert len((await alice.get_open_orders()).orders) == 2


async def test_a_reopened_exchange_continues_its_seeded_ids_past_the_journal(
    tmp_path: Path,
) -> None:
    async def run(path: str) -> list[str]:
        clock = hcx.SimClock(START_MS)
        async with hcx.open_exchange(path, clock=clock, seed=5) as exchange:
            await _listed(exchange)
            placed = [await _place_one(exchange, clock)]
        async with hcx.open_exchange(path, clock=clock, seed=5) as exchange:
            placed.append(await _place_one(exchange, clock))
            async with exchange.session("alice") as alice:
                assert len((await alice.get_open_orders()).orders) == 2
        return placed

    ids = await run(str(tmp_path / "a.db"))
    assert len(set(ids)) == 2
    # Deterministic: the same journal, seed and calls give the same orders again.
    assert await run(str(tmp_path / "b.db")) == ids
