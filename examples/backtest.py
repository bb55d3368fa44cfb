"""Backtest: replay a CSV of orders through an hcx exchange and report what happened.

Each row is one order event at its own time: ``ts_ms, wallet, action, symbol, side,
price, size, tif, client_id`` with ``action`` ``place`` or ``cancel`` (by client id).
The exchange's clock follows the rows, so the result depends only on the file. Without
``--csv`` a seeded file of ``--rows`` orders is generated first (``--make-csv`` only
writes it). ``--via open_exchange`` runs the same rows through ``hcx.open_exchange``
instead of ``hcx.Simulator``: the same journal, the same digest, much slower.

    .venv/bin/python examples/backtest.py --rows 20000
    .venv/bin/python examples/backtest.py --csv orders.csv --db backtest.db
    hcx export --db backtest.db trades --format csv
"""

from __future__ import annotations

import argparse
import csv
import random
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import trio

import hcx
from hcx.client import HcxError
from hcx.engine.instruments import expected_symbol
from hcx.engine.numbers import parse_decimal

START_MS = 1_893_456_000_000  # 2030-01-01T00:00Z
EXPIRY_MS = START_MS + 30 * 86_400_000
STRIKES = (2800, 3000, 3200)
CHAIN = [
    (expected_symbol("ETH", EXPIRY_MS, parse_decimal(str(k)), option), option, k)
    for k in STRIKES
    for option in ("call", "put")
]
FIELDS = ("ts_ms", "wallet", "action", "symbol", "side", "price", "size", "tif", "client_id")
WALLETS = tuple(f"trader-{n}" for n in range(8))
Row = dict[str, str]


def make_csv(path: Path, rows: int, seed: int) -> None:
    """``rows`` seeded order events around a slowly moving fair value per option."""
    rng = random.Random(seed)
    fair = {symbol: 40.0 + 15 * i for i, (symbol, _, _) in enumerate(CHAIN)}
    live: dict[str, list[str]] = defaultdict(list)
    ts = START_MS
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(FIELDS)
        for n in range(rows):
            ts += rng.randint(0, 400)
            wallet = rng.choice(WALLETS)
            if live[wallet] and rng.random() < 0.25:
                client_id = live[wallet].pop(rng.randrange(len(live[wallet])))
                writer.writerow((ts, wallet, "cancel", "", "", "", "", "", client_id))
                continue
            symbol = rng.choice(CHAIN)[0]
            fair[symbol] = max(fair[symbol] * (1 + rng.gauss(0, 0.002)), 1.0)
            side = rng.choice(("buy", "sell"))
            take = rng.random() < 0.3
            edge = rng.uniform(0.0, 0.03) * (1 if take else -1)
            price = fair[symbol] * (1 + edge if side == "buy" else 1 - edge)
            tif = "ioc" if take else "gtc"
            client_id = f"c{n}"
            if not take:
                live[wallet].append(client_id)
            size = rng.choice(("0.5", "1", "2", "5"))
            price_text = f"{price:.1f}"
            writer.writerow((ts, wallet, "place", symbol, side, price_text, size, tif, client_id))


def read_rows(path: Path) -> list[Row]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def listing_calls() -> Iterator[tuple[str, tuple[Any, ...], dict[str, Any]]]:
    for symbol, option, strike in CHAIN:
        yield "create_instrument", (symbol, "ETH", EXPIRY_MS, str(strike), option, "0.1", "0.1"), {}
    yield "set_index_price", ("ETH", "3000"), {"vol": "0.6"}
    for wallet in WALLETS:
        yield "deposit", (wallet, "10000000"), {}


class Tally:
    def __init__(self) -> None:
        self.statuses: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()

    def result(self, answer: Any) -> None:
        self.statuses[answer.reason or answer.status] += 1

    def error(self, exc: HcxError) -> None:
        self.errors[exc.code] += 1


def run_simulator(rows: list[Row], db: str | None) -> tuple[hcx.Simulator, Tally, float]:
    sim = hcx.Simulator(clock=hcx.SimClock(START_MS), seed=1, journal=db)
    admin = sim.session("admin")
    for method, args, kwargs in listing_calls():
        getattr(admin, method)(*args, **kwargs)
    sessions = {wallet: sim.session(wallet) for wallet in WALLETS}
    tally = Tally()
    started = time.perf_counter()
    for row in rows:
        sim.set_time(int(row["ts_ms"]))
        session = sessions[row["wallet"]]
        try:
            if row["action"] == "place":
                tif = row["tif"] or None
                tally.result(
                    session.place_order(
                        row["symbol"],
                        row["side"],  # type: ignore[arg-type]
                        row["price"],
                        row["size"],
                        tif=tif,  # type: ignore[arg-type]
                        client_id=row["client_id"],
                    )
                )
            else:
                tally.result(session.cancel_order(client_id=row["client_id"]))
        except HcxError as exc:
            tally.error(exc)
    sim.flush()
    return sim, tally, time.perf_counter() - started


async def run_open_exchange(rows: list[Row], db: str | None) -> tuple[str, Tally, float, list[Any]]:
    clock = hcx.SimClock(START_MS)
    tally = Tally()
    async with hcx.open_exchange(db, clock=clock, seed=1) as exchange:
        async with trio.open_nursery() as nursery:
            sessions: dict[str, Any] = {}
            done = trio.Event()

            async def keep(wallet: str, ready: trio.Event) -> None:
                async with exchange.session(wallet) as client:
                    sessions[wallet] = client
                    ready.set()
                    await done.wait()

            for wallet in ("admin", *WALLETS):
                ready = trio.Event()
                nursery.start_soon(keep, wallet, ready)
                await ready.wait()
            for method, args, kwargs in listing_calls():
                await getattr(sessions["admin"], method)(*args, **kwargs)
            started = time.perf_counter()
            for row in rows:
                clock.set(int(row["ts_ms"]))
                session = sessions[row["wallet"]]
                try:
                    if row["action"] == "place":
                        tally.result(
                            await session.place_order(
                                row["symbol"],
                                row["side"],
                                row["price"],
                                row["size"],
                                tif=row["tif"] or None,
                                client_id=row["client_id"],
                            )
                        )
                    else:
                        tally.result(await session.cancel_order(client_id=row["client_id"]))
                except HcxError as exc:
                    tally.error(exc)
            seconds = time.perf_counter() - started
            portfolios = [await sessions[w].get_portfolio() for w in WALLETS]
            done.set()
        digest = await exchange.digest()
    return digest, tally, seconds, portfolios


def report(rows: int, tally: Tally, seconds: float, digest: str, cash: list[Decimal]) -> None:
    print(f"{rows} order events in {seconds:.2f} s ({rows / seconds:,.0f} events/s)")
    print("outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(tally.statuses.items())))
    if tally.errors:
        print("errors: " + ", ".join(f"{k} {v}" for k, v in sorted(tally.errors.items())))
    pnl = sum(c - Decimal(10_000_000) for c in cash)
    print(f"traders' cash P&L sums to {pnl:,.2f} (= -fees)")
    print(f"state digest {digest}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--csv", help="orders to replay (default: a generated file)")
    parser.add_argument("--rows", type=int, default=20_000, help="rows to generate")
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated rows")
    parser.add_argument("--make-csv", help="only write a generated CSV to this path")
    parser.add_argument("--db", help="journal file (default: none)")
    parser.add_argument("--via", choices=("simulator", "open_exchange"), default="simulator")
    args = parser.parse_args(argv)
    if args.make_csv:
        make_csv(Path(args.make_csv), args.rows, args.seed)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.csv) if args.csv else Path(tmp) / "orders.csv"
        if not args.csv:
            make_csv(path, args.rows, args.seed)
        rows = read_rows(path)
    if args.via == "simulator":
        sim, tally, seconds = run_simulator(rows, args.db)
        cash = [sim.session(w).get_portfolio().balance.total for w in WALLETS]
        report(len(rows), tally, seconds, sim.digest(), cash)
        print(f"{len(sim.trades())} trades; export them with: hcx export --db FILE trades")
        sim.close()
    else:
        digest, tally, seconds, portfolios = trio.run(run_open_exchange, rows, args.db)
        report(len(rows), tally, seconds, digest, [p.balance.total for p in portfolios])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
