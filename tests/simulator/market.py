"""A small options market and random call streams, driven the same way through
``hcx.Simulator`` (synchronous) and ``hcx.open_exchange`` (awaited one by one)."""

from __future__ import annotations

from typing import Any

import trio

import hcx
from hcx.client import QuoteLeg, RfqLeg, TickRequest
from hcx.durability.journal import Journal
from hcx.engine.instruments import expected_symbol
from hcx.engine.numbers import parse_decimal
from hcx.protocol.ids import SeededIds
from hcx.simulator import CLOCK_WALLET

START_MS = 1_893_456_000_000
SOON_MS = START_MS + 30_000  # the short-dated instrument expires within a stream
LATER_MS = START_MS + 86_400_000
SOON = expected_symbol("ETH", SOON_MS, parse_decimal("3000"), "call")
LATER = expected_symbol("ETH", LATER_MS, parse_decimal("3000"), "put")
SYMBOLS = (SOON, LATER)
TRADERS = ("alice", "bob", "carol")
WALLETS = ("admin", *TRADERS)

# One call: (name, args). Names: place, cancel, replace, cancel_all, set_mmp, reset_mmp,
# advance, rfq, bulk.
Op = tuple[str, tuple[Any, ...]]


def setup_ops() -> list[Op]:
    return [("setup", ())]


class SimDriver:
    """Runs ops on a Simulator; records which advances journaled a Tick."""

    def __init__(self, sim: hcx.Simulator) -> None:
        self.sim = sim
        self.s = {wallet: sim.session(wallet) for wallet in WALLETS}
        self.rfq = {wallet: self.s[wallet].subscribe_rfq() for wallet in TRADERS}
        self.ticks: list[bool] = []

    def run(self, ops: list[Op]) -> list[Any]:
        return [self.one(name, args) for name, args in ops]

    def one(self, name: str, args: tuple[Any, ...]) -> Any:
        s = self.s
        try:
            if name == "setup":
                admin = s["admin"]
                admin.create_instrument(SOON, "ETH", SOON_MS, "3000", "call", "0.1", "0.1")
                admin.create_instrument(LATER, "ETH", LATER_MS, "3000", "put", "0.1", "0.1")
                admin.set_index_price("ETH", "3000", vol="0.6")
                for wallet in TRADERS:
                    admin.deposit(wallet, "1000000")
                return "ok"
            if name == "place":
                wallet, symbol, side, price, size, tif, mmp = args
                return s[wallet].place_order(symbol, side, price, size, tif=tif, mmp=mmp)
            if name == "cancel":
                wallet, order_id = args
                return s[wallet].cancel_order(order_id)
            if name == "replace":
                wallet, order_id, price, size = args
                return s[wallet].replace_order(order_id, price, size)
            if name == "cancel_all":
                return s[args[0]].cancel_all(underlying="ETH")
            if name == "set_mmp":
                return s[args[0]].set_mmp("ETH", interval_ms=5_000, frozen_ms=3_000, qty_limit="2")
            if name == "reset_mmp":
                return s[args[0]].reset_mmp("ETH")
            if name == "advance":
                result = self.sim.advance(args[0])
                self.ticks.append(result is not None)
                return result
            if name == "rfq":
                taker, quoter, size, price, accept = args
                rfq_id = s[taker].request_quote([RfqLeg(symbol=LATER, side="buy", size=size)])
                self.rfq[quoter].drain()
                leg = QuoteLeg(symbol=LATER, side="sell", size=size, price=price)
                quote = s[quoter].quote(rfq_id, [leg], valid_ms=10_000, mmp=True)
                self.rfq[taker].drain()
                if accept:
                    return s[taker].accept_quote(rfq_id, quote.quote_id)
                return quote
        except hcx.client.HcxError as exc:
            return exc
        raise AssertionError(name)


async def run_open_exchange(path: str, seed: int, ops: list[Op], ticks: list[bool]) -> list[Any]:
    """The same ops on ``open_exchange(path)``, awaited one after another; an advance
    sends the ``Tick`` the simulator journaled (if it did) from the same wallet and id."""
    clock = hcx.SimClock(START_MS)
    tick_ids = SeededIds(seed, CLOCK_WALLET)
    ticks = list(ticks)
    out: list[Any] = []
    async with hcx.open_exchange(path, clock=clock, seed=seed) as exchange:
        sessions: dict[str, Any] = {}
        subscriptions: dict[str, Any] = {}
        async with trio.open_nursery() as nursery:
            done = trio.Event()

            async def keep(wallet: str, ready: trio.Event) -> None:
                async with exchange.session(wallet) as client:
                    sessions[wallet] = client
                    if wallet in TRADERS:
                        async with client.subscribe_rfq() as rfq:
                            subscriptions[wallet] = rfq
                            ready.set()
                            await done.wait()
                    else:
                        ready.set()
                        await done.wait()

            for wallet in (*WALLETS, CLOCK_WALLET):
                ready = trio.Event()
                nursery.start_soon(keep, wallet, ready)
                await ready.wait()
            for name, args in ops:
                out.append(await _one(sessions, subscriptions, clock, tick_ids, ticks, name, args))
            done.set()
    return out


async def _one(
    s: dict[str, Any],
    subs: dict[str, Any],
    clock: hcx.SimClock,
    tick_ids: SeededIds,
    ticks: list[bool],
    name: str,
    args: tuple[Any, ...],
) -> Any:
    try:
        if name == "setup":
            admin = s["admin"]
            await admin.create_instrument(SOON, "ETH", SOON_MS, "3000", "call", "0.1", "0.1")
            await admin.create_instrument(LATER, "ETH", LATER_MS, "3000", "put", "0.1", "0.1")
            await admin.set_index_price("ETH", "3000", vol="0.6")
            for wallet in TRADERS:
                await admin.deposit(wallet, "1000000")
            return "ok"
        if name == "place":
            wallet, symbol, side, price, size, tif, mmp = args
            return await s[wallet].place_order(symbol, side, price, size, tif=tif, mmp=mmp)
        if name == "cancel":
            return await s[args[0]].cancel_order(args[1])
        if name == "replace":
            wallet, order_id, price, size = args
            return await s[wallet].replace_order(order_id, price, size)
        if name == "cancel_all":
            return await s[args[0]].cancel_all(underlying="ETH")
        if name == "set_mmp":
            return await s[args[0]].set_mmp(
                "ETH", interval_ms=5_000, frozen_ms=3_000, qty_limit="2"
            )
        if name == "reset_mmp":
            return await s[args[0]].reset_mmp("ETH")
        if name == "advance":
            clock.advance(args[0])
            if not ticks.pop(0):
                return None
            request = TickRequest(request_id=tick_ids(), ts=clock.now_ms())
            return await s[CLOCK_WALLET].submit(request)
        if name == "rfq":
            taker, quoter, size, price, accept = args
            rfq_id = await s[taker].request_quote([RfqLeg(symbol=LATER, side="buy", size=size)])
            await subs[quoter].next(timeout=5)
            leg = QuoteLeg(symbol=LATER, side="sell", size=size, price=price)
            quote = await s[quoter].quote(rfq_id, [leg], valid_ms=10_000, mmp=True)
            await subs[taker].next(timeout=5)
            if accept:
                return await s[taker].accept_quote(rfq_id, quote.quote_id)
            return quote
    except hcx.client.HcxError as exc:
        return exc
    raise AssertionError(name)


def journal_rows(path: str) -> list[tuple[Any, ...]]:
    journal = Journal(path)
    try:
        return [tuple(row) for row in journal.scan()]
    finally:
        journal.close()
