"""A seeded options market simulation on ``hcx.open_exchange`` (async, the server's pipeline).

A market maker quotes a chain of calls and puts (market maker protection on), noise
traders take and make liquidity, an RFQ taker buys call spreads in blocks, the index
takes a random walk, the chain expires and is cash-settled. At the end it prints each
agent's P&L and volume. Everything runs in-process on a simulated clock, so the same
seed prints the same table and leaves the same journal:

    .venv/bin/python examples/simulator_open_exchange.py --seed 7
    .venv/bin/python examples/simulator_open_exchange.py --seed 7 --db sim.db   # a durable journal

``examples/simulator.py`` is the same simulation on ``hcx.Simulator`` (synchronous, many
times faster) and prints the same table.
"""

from __future__ import annotations

import argparse
import math
import random
from collections import defaultdict
from contextlib import AsyncExitStack
from decimal import Decimal
from typing import Any

import trio

import hcx
from hcx.client import Client, HcxError, QuoteLeg, RfqLeg, RfqQuote, RfqRequest
from hcx.engine.instruments import expected_symbol
from hcx.engine.numbers import parse_decimal

START_MS = 1_893_456_000_000  # 2030-01-01T00:00Z
EXPIRY_MS = START_MS + 2 * 86_400_000 + 8 * 3_600_000  # 2030-01-03T08:00Z
STEP_MS = 10 * 60_000
STRIKES = (2800, 3000, 3200)
VOL = 0.6
NOISE = ("noise-1", "noise-2", "noise-3")
AGENTS = ("maker", *NOISE, "rfq-taker")


def fair_value(option: str, spot: float, strike: float, now_ms: int) -> float:
    years = max(EXPIRY_MS - now_ms, 0) / (365 * 86_400_000)
    if years == 0:
        return max(spot - strike, 0.0) if option == "call" else max(strike - spot, 0.0)
    sd = VOL * math.sqrt(years)
    d1 = (math.log(spot / strike) + sd * sd / 2) / sd

    def cdf(x: float) -> float:
        return 0.5 * (1 + math.erf(x / math.sqrt(2)))

    call = spot * cdf(d1) - strike * cdf(d1 - sd)
    return call if option == "call" else call - spot + strike


def tick(price: float) -> str:
    return f"{max(round(price, 1), 0.1):.1f}"


class Simulation:
    def __init__(self, exchange: hcx.EmbeddedExchange, clock: hcx.SimClock, seed: int):
        self.exchange = exchange
        self.clock = clock
        self.rng = random.Random(seed)
        self.index = 3000.0
        self.chain = [
            (expected_symbol("ETH", EXPIRY_MS, parse_decimal(str(k)), option), option, k)
            for k in STRIKES
            for option in ("call", "put")
        ]
        self.volume: dict[str, Decimal] = defaultdict(Decimal)
        self.fees: dict[str, Decimal] = defaultdict(Decimal)
        self.mmp_trips = 0
        self.blocks = 0

    async def run(self, steps: int) -> None:
        async with AsyncExitStack() as stack:
            sessions: dict[str, Client] = {}
            for name in ("admin", *AGENTS):
                sessions[name] = await stack.enter_async_context(self.exchange.session(name))
            fills = {
                name: await stack.enter_async_context(sessions[name].subscribe_fills())
                for name in AGENTS
            }
            rfq = {
                name: await stack.enter_async_context(sessions[name].subscribe_rfq())
                for name in ("maker", "rfq-taker")
            }
            admin = sessions["admin"]
            await self.list_market(admin)
            await sessions["maker"].set_mmp(
                "ETH", interval_ms=STEP_MS, frozen_ms=2 * STEP_MS, qty_limit="12"
            )
            for step in range(steps):
                self.clock.advance(STEP_MS)
                if self.clock.now_ms() < EXPIRY_MS:
                    await self.walk_index(admin)
                    await self.quote_chain(sessions["maker"])
                    await self.noise(sessions)
                    if step % 12 == 5:
                        await self.block_trade(sessions, rfq)
                else:
                    await admin.ping()  # the first command past expiry expires the chain
            for symbol, _, _ in self.chain:
                await admin.settle(symbol, tick(self.index))
            for name in AGENTS:
                await sessions[name].get_portfolio()  # every fill before it has arrived
                while fills[name].pending():
                    fill = await fills[name].next()
                    self.volume[name] += fill.size
                    self.fees[name] += fill.fee
            await self.report(sessions)

    async def list_market(self, admin: Client) -> None:
        for symbol, option, strike in self.chain:
            await admin.create_instrument(
                symbol,
                "ETH",
                EXPIRY_MS,
                str(strike),
                option,
                "0.1",
                "0.1",
                maker_fee_bps=2,
                taker_fee_bps=5,
            )
        await admin.set_index_price("ETH", f"{self.index:.2f}", vol=str(VOL))
        await admin.deposit("maker", "5000000")
        for name in (*NOISE, "rfq-taker"):
            await admin.deposit(name, "500000")

    async def walk_index(self, admin: Client) -> None:
        self.index *= math.exp(0.01 * self.rng.gauss(0.0, 1.0))
        await admin.set_index_price("ETH", f"{self.index:.2f}", vol=str(VOL))

    async def quote_chain(self, maker: Client) -> None:
        await maker.cancel_all(underlying="ETH")
        for symbol, option, strike in self.chain:
            fair = fair_value(option, self.index, strike, self.clock.now_ms())
            for side, price in (("buy", fair * 0.97 - 0.5), ("sell", fair * 1.03 + 0.5)):
                result = await maker.place_order(symbol, side, tick(price), "5", mmp=True)
                if result.reason == "mmp_frozen":
                    self.mmp_trips += 1
                    await maker.reset_mmp("ETH")
                    return

    async def noise(self, sessions: dict[str, Client]) -> None:
        for name in NOISE:
            symbol, option, strike = self.rng.choice(self.chain)
            fair = fair_value(option, self.index, strike, self.clock.now_ms())
            side = self.rng.choice(("buy", "sell"))
            edge = self.rng.uniform(-0.06, 0.06)
            price = fair * (1 + edge if side == "buy" else 1 - edge)
            size = str(self.rng.choice((1, 2, 3)))
            tif = self.rng.choice(("ioc", "gtc"))
            await sessions[name].place_order(symbol, side, tick(price), size, tif=tif)

    async def block_trade(self, sessions: dict[str, Client], rfq: dict[str, Any]) -> None:
        """The taker asks for a 3000/3200 call spread; the maker quotes; the taker takes."""
        low, high = self.chain[2][0], self.chain[4][0]
        legs = [
            RfqLeg(symbol=low, side="buy", size="10"),
            RfqLeg(symbol=high, side="sell", size="10"),
        ]
        rfq_id = await sessions["rfq-taker"].request_quote(legs)
        request = await rfq["maker"].next(timeout=5)
        assert isinstance(request, RfqRequest) and request.rfq_id == rfq_id
        now = self.clock.now_ms()
        prices = {
            symbol: fair_value(option, self.index, strike, now)
            for symbol, option, strike in self.chain
        }
        await sessions["maker"].quote(
            rfq_id,
            [
                QuoteLeg(symbol=low, side="sell", size="10", price=tick(prices[low] * 1.02)),
                QuoteLeg(symbol=high, side="buy", size="10", price=tick(prices[high] * 0.98)),
            ],
            valid_ms=60_000,
            mmp=True,
        )
        offer = await rfq["rfq-taker"].next(timeout=5)
        assert isinstance(offer, RfqQuote) and offer.rfq_id == rfq_id
        try:
            result = await sessions["rfq-taker"].accept_quote(rfq_id, offer.quote_id)
        except HcxError:
            return
        if result.status == "filled":
            self.blocks += 1

    async def report(self, sessions: dict[str, Client]) -> None:
        print(f"{'agent':<10} {'cash':>14} {'P&L':>12} {'volume':>8} {'fees':>9}")
        deposits = {"maker": Decimal(5_000_000)}
        total_pnl = Decimal(0)
        for name in AGENTS:
            portfolio = await sessions[name].get_portfolio()
            cash = portfolio.balance.total
            pnl = cash - deposits.get(name, Decimal(500_000))
            total_pnl += pnl
            print(
                f"{name:<10} {cash:>14,.2f} {pnl:>12,.2f} {self.volume[name]:>8}"
                f" {self.fees[name]:>9,.2f}"
            )
        print(
            f"index settled at {tick(self.index)}; {self.blocks} RFQ blocks,"
            f" {self.mmp_trips} MMP trips; agents' P&L sums to {total_pnl:,.2f}"
            f" (= -fees: money is conserved)"
        )
        print(f"state digest {await self.exchange.digest()}")


async def main(seed: int, steps: int, db: str | None) -> None:
    clock = hcx.SimClock(START_MS)
    async with hcx.open_exchange(db, clock=clock, seed=seed) as exchange:
        await Simulation(exchange, clock, seed).run(steps)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--steps", type=int, default=360, help="10-minute steps (360: 2.5 days)")
    parser.add_argument("--db", help="journal file (default: in memory)")
    args = parser.parse_args()
    trio.run(main, args.seed, args.steps, args.db)
