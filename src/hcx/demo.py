"""``hcx demo``: ``hcx serve`` on ``./hcx.db`` with a live options market in it.

On the first start it lists an ETH option chain (calls and puts around the index, one
expiry about a month out), publishes an index price, funds the demo wallets and prints
their API keys (once: only salted hashes are stored). On every start a built-in market
maker quotes the whole chain through the Python client (in-process, MMP on), and the
index takes a small random walk, so anyone connecting sees a live book at once.

The chain rolls as time passes: whenever no expiry has more than ``ROLL_DAYS`` left, a
new one about a month out is listed (strikes around the index of the moment), and every
expired instrument is settled at the index. Restarting resumes the same market from the
journal, an old one too: its index continues where it was, what expired meanwhile is
settled and a new expiry listed, so the market is live again at once.
"""

from __future__ import annotations

import datetime
import math
import random
import time
from functools import partial
from typing import Any

import trio

from hcx.client import Client, ConnectionLost, HcxError, Side, connect
from hcx.durability.journal import Journal
from hcx.embedded.exchange import local_transport
from hcx.engine.instruments import expected_symbol
from hcx.engine.numbers import format_decimal, parse_decimal
from hcx.service import app
from hcx.service.config import ServiceConfig
from hcx.service.gateway.config import GatewayConfig
from hcx.service.gateway.keys import KeyStore

UNDERLYING = "ETH"
STRIKES = ("2600", "2800", "3000", "3200", "3400")
INDEX = 3000.0
VOL = 0.6
TRADERS = ("alice", "bob")
MAKER = "demo-mm"
ADMIN = "demo-admin"
QUOTE_SIZE = "2"
HALF_SPREAD = 0.03
ROLL_DAYS = 21  # list the next expiry once none has more than this left
ROLL_CHECK_S = 60.0
MAKER_FLOOR = 1_000_000
STRIKE_STEP = 200
DAY_MS = 86_400_000


def _expiry_ms(now_ms: int) -> int:
    """08:00 UTC on the first day at least 28 days from now."""
    day = datetime.datetime.fromtimestamp(now_ms / 1000, tz=datetime.UTC).date()
    expiry = datetime.datetime.combine(
        day + datetime.timedelta(days=28), datetime.time(8), tzinfo=datetime.UTC
    )
    return int(expiry.timestamp() * 1000)


def _fair(option: str, spot: float, strike: float, years: float) -> float:
    """Black-Scholes with no rates: the maker's idea of value (floats are fine here)."""
    if years <= 0:
        return max(spot - strike, 0.0) if option == "call" else max(strike - spot, 0.0)
    sd = VOL * math.sqrt(years)
    d1 = (math.log(spot / strike) + sd * sd / 2) / sd
    d2 = d1 - sd

    def cdf(x: float) -> float:
        return 0.5 * (1 + math.erf(x / math.sqrt(2)))

    if option == "call":
        return spot * cdf(d1) - strike * cdf(d2)
    return strike * cdf(-d2) - spot * cdf(-d1)


def _tick(price: float) -> str:
    return format_decimal(parse_decimal(f"{max(round(price, 1), 0.1):.1f}"))


def _strikes(index: float) -> tuple[str, ...]:
    """Five strikes STRIKE_STEP apart around ``index`` (STRIKES at 3000)."""
    middle = max(round(index / STRIKE_STEP), 3) * STRIKE_STEP
    return tuple(str(middle + k * STRIKE_STEP) for k in (-2, -1, 0, 1, 2))


async def _list_expiry(admin: Client, expiry: int, strikes: tuple[str, ...]) -> list[str]:
    symbols = []
    for strike in strikes:
        for option in ("call", "put"):
            symbol = expected_symbol(UNDERLYING, expiry, parse_decimal(strike), option)
            await admin.create_instrument(
                symbol,
                UNDERLYING,
                expiry,
                strike,
                option,
                "0.1",
                "0.1",
                maker_fee_bps=2,
                taker_fee_bps=5,
            )
            symbols.append(symbol)
    return symbols


async def _setup(admin: Client, now_ms: int) -> list[str]:
    symbols = await _list_expiry(admin, _expiry_ms(now_ms), STRIKES)
    await admin.set_index_price(UNDERLYING, str(INDEX), vol=str(VOL))
    for wallet, amount in ((MAKER, "10000000"), *((t, "1000000") for t in TRADERS)):
        await admin.deposit(wallet, amount)
    return symbols


async def _roll(admin: Client, index: list[float], now_ms: int) -> None:
    """Settle what expired at the index; list a new expiry if none is far enough out.
    Publishing the index first makes the engine apply any expiry that is due."""
    await admin.set_index_price(UNDERLYING, f"{index[0]:.2f}", vol=str(VOL))
    instruments = await admin.get_instruments()
    for inst in instruments:
        if inst.status == "expired":
            await admin.settle(inst.symbol, f"{index[0]:.2f}")
    live = [i.expiry_ms for i in instruments if i.status in ("active", "halted")]
    if not live or max(live) - now_ms <= ROLL_DAYS * DAY_MS:
        await _list_expiry(admin, _expiry_ms(now_ms), _strikes(index[0]))


async def _keep_rolling(admin: Client, index: list[float], stop: trio.Event, clock_ms: Any) -> None:
    while not stop.is_set():
        await trio.sleep(ROLL_CHECK_S)
        await _roll(admin, index, clock_ms())


async def _make_market(maker: Client, index: list[float], stop: trio.Event) -> None:
    await maker.set_mmp(UNDERLYING, interval_ms=1_000, frozen_ms=2_000, qty_limit="40")
    resting: dict[str, int] = {
        order.client_id: order.order_id
        for order in (await maker.get_open_orders()).orders
        if order.client_id and order.order_id is not None
    }
    while not stop.is_set():
        now = trio.current_time()
        # Read each round: the chain rolls (new expiries, expired ones gone).
        instruments = [i for i in await maker.get_instruments() if i.status == "active"]
        for inst in instruments:
            years = max(inst.expiry_ms / 1000 - time.time(), 0) / (365 * 24 * 3600)
            fair = _fair(inst.option, index[0], float(inst.strike), years)
            quotes: tuple[tuple[Side, float], ...] = (
                ("buy", fair * (1 - HALF_SPREAD) - 0.5),
                ("sell", fair * (1 + HALF_SPREAD) + 0.5),
            )
            for side, price in quotes:
                client_id = f"{inst.symbol}-{side}"
                order_id = resting.get(client_id)
                result: Any = None
                if order_id is not None:
                    result = await maker.replace_order(
                        order_id, _tick(price), QUOTE_SIZE, mmp=True, client_id=client_id
                    )
                if result is None or result.status == "rejected":
                    result = await maker.place_order(
                        inst.symbol,
                        side,
                        _tick(price),
                        QUOTE_SIZE,
                        mmp=True,
                        client_id=client_id,
                    )
                if result.status in ("open", "partially_filled") and result.order_id:
                    resting[client_id] = result.order_id
                else:
                    resting.pop(client_id, None)
        await trio.sleep(max(0.0, 1.0 - (trio.current_time() - now)))


async def _walk_index(admin: Client, index: list[float], stop: trio.Event) -> None:
    rng = random.Random()
    while not stop.is_set():
        await trio.sleep(2.0)
        index[0] *= math.exp(0.004 * rng.gauss(0.0, 1.0))
        await admin.set_index_price(UNDERLYING, f"{index[0]:.2f}", vol=str(VOL))


async def _demo(db: str, host: str, port: int, http_port: int | None) -> None:
    service = ServiceConfig(db=db)
    gateway_config = GatewayConfig(host=host, port=port, auth="keys")
    async with trio.open_nursery() as nursery:
        running: app.Running = await nursery.start(
            partial(app.serve, service, gateway_config, http_port=http_port)
        )
        exchange, gateway = running.exchange, running.gateway
        fresh = await exchange.query(lambda engine: not engine.state.instruments)
        keys = KeyStore(Journal(db))
        printed = []
        if fresh:
            printed = [(wallet, keys.create(wallet, "trader")) for wallet in TRADERS]
        # The built-in agents get fresh keys each start; old ones are revoked.
        for info in keys.list():
            if info.wallet in (ADMIN, MAKER) and info.revoked_ms is None:
                keys.revoke(info.key_id)
        admin_key = keys.create(ADMIN, "admin")
        maker_key = keys.create(MAKER, "quoter")
        stop = trio.Event()
        async with (
            connect(
                "local://demo",
                wallet=ADMIN,
                key=admin_key,
                reconnect=False,
                heartbeat_interval=None,
                transport=local_transport(gateway, nursery, ADMIN),
            ) as admin,
            connect(
                "local://demo",
                wallet=MAKER,
                key=maker_key,
                reconnect=False,
                heartbeat_interval=None,
                transport=local_transport(gateway, nursery, MAKER),
            ) as maker,
        ):
            symbols = await _setup(admin, exchange.clock.now_ms()) if fresh else []
            last = await exchange.query(lambda e: e.state.index_prices.get(UNDERLYING))
            index = [INDEX if last is None else float(format_decimal(last))]
            if not fresh:
                await _resume(admin, maker, index, exchange.clock.now_ms())
            _banner(
                running.url,
                running.page_url,
                printed,
                symbols
                or [i.symbol for i in await admin.get_instruments() if i.status == "active"],
            )
            try:
                async with trio.open_nursery() as agents:
                    agents.start_soon(_make_market, maker, index, stop)
                    agents.start_soon(_walk_index, admin, index, stop)
                    agents.start_soon(_keep_rolling, admin, index, stop, exchange.clock.now_ms)
                    await running.stop.wait()
                    stop.set()
                    agents.cancel_scope.cancel()
            except* (ConnectionLost, HcxError):
                pass  # the server is shutting down under the agents


async def _resume(admin: Client, maker: Client, index: list[float], now_ms: int) -> None:
    """An old journal: roll the chain up to now and make sure the maker can quote."""
    await _roll(admin, index, now_ms)
    if (await maker.get_portfolio()).balance.available < MAKER_FLOOR:
        await admin.deposit(MAKER, "10000000")


def _banner(
    url: str, page_url: str | None, keys: list[tuple[str, str]], symbols: list[str]
) -> None:
    print()
    if page_url:
        print(f"hcx demo: open {page_url} in a browser to watch and trade")
    print(f"hcx demo: a live {UNDERLYING} options market at {url}")
    if keys:
        print("demo wallets (keys are shown this once; only salted hashes are stored):")
        for wallet, key in keys:
            print(f"  {wallet:<6} {key}")
    else:
        print("resumed from the journal (the demo wallets' keys were printed at the first start)")
    example = symbols[len(symbols) // 2] if symbols else "ETH-...-3000-C"
    print("watch a book with any WebSocket client, for example:")
    print(f"  .venv/bin/python -m websockets {url}")
    print(f'  {{"type":"Subscribe","channel":"book","symbol":"{example}"}}')
    print("Ctrl-C stops it; hcx demo again resumes the same market.\n", flush=True)


def run(
    db: str = "hcx.db", host: str = "127.0.0.1", port: int = 8765, http_port: int | None = 8080
) -> int:
    app.configure_logging(json_logs=False)
    trio.run(_demo, db, host, port, http_port)
    return 0
