"""``hcx admin``: an operator's commands spoken over the protocol (never the journal).

Owns the ``admin`` sub-command's arguments and what it prints. It talks to a running
``hcx serve`` through ``hcx.client`` with an admin key, like any other client, and must
never open the journal itself: everything it does is sequenced, journaled and answered by
the server. Exit codes: 0 ``ok``, 1 the server rejected the command (its reason is
printed), 2 usage, 6 the server could not be reached or refused the message.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
from decimal import Decimal, InvalidOperation
from typing import Any

import trio

import hcx.client
from hcx.client import ConnectionLost, HcxError

EXIT_REJECTED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 6
KEY_ENV = "HCX_ADMIN_KEY"


def add_parser(commands: Any) -> None:
    admin = commands.add_parser(
        "admin", help="list, fund, price, settle, halt and resume over the protocol"
    )
    admin.add_argument("--url", default="ws://127.0.0.1:8765/ws", help="the server's endpoint")
    admin.add_argument("--wallet", default="admin", help="the admin wallet (default admin)")
    admin.add_argument(
        "--key", help=f"the admin key (default ${KEY_ENV}; none for a server run --auth none)"
    )
    actions = admin.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="list an option")
    listing.add_argument("--underlying", required=True)
    listing.add_argument("--expiry", required=True, help="YYYY-MM-DD (08:00 UTC) or epoch ms")
    listing.add_argument("--strike", required=True, type=_decimal)
    listing.add_argument("--option", required=True, choices=("call", "put"))
    listing.add_argument("--tick", required=True, type=_decimal, help="tick size")
    listing.add_argument("--lot", required=True, type=_decimal, help="lot size")
    listing.add_argument("--multiplier", type=_decimal)
    listing.add_argument("--maker-fee-bps", type=int)
    listing.add_argument("--taker-fee-bps", type=int)
    listing.add_argument("--symbol", help="default UNDERLYING-YYYYMMDD-STRIKE-C|P")
    deposit = actions.add_parser("deposit", help="credit a wallet")
    deposit.add_argument("target", metavar="wallet")
    deposit.add_argument("amount", type=_decimal)
    index = actions.add_parser("index", help="set an underlying's index price")
    index.add_argument("underlying")
    index.add_argument("price", type=_decimal)
    index.add_argument("--vol", type=_decimal, help="annualized volatility (0.5 = 50 %%)")
    settle = actions.add_parser("settle", help="settle an expired instrument")
    settle.add_argument("symbol")
    settle.add_argument("price", type=_decimal)
    for name, text in (("halt", "stop trading an instrument"), ("resume", "lift a halt")):
        actions.add_parser(name, help=text).add_argument("symbol")
    actions.add_parser("instruments", help="show every instrument")
    book = actions.add_parser("book", help="show an instrument's book")
    book.add_argument("symbol")


def _decimal(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not a decimal number") from None
    if not value.is_finite():
        raise argparse.ArgumentTypeError(f"{text!r} is not a decimal number")
    if -value.as_tuple().exponent > 6:  # type: ignore[operator]
        raise argparse.ArgumentTypeError(f"{text!r} has more than 6 decimal places")
    return value


def expiry_ms(text: str) -> int:
    """``2026-12-25`` (08:00 UTC, the usual options expiry time) or epoch milliseconds."""
    if text.isdigit():
        return int(text)
    try:
        day = datetime.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--expiry {text!r}: give YYYY-MM-DD or epoch milliseconds") from None
    moment = datetime.datetime(day.year, day.month, day.day, 8, tzinfo=datetime.UTC)
    return int(moment.timestamp() * 1000)


def default_symbol(underlying: str, expiry: int, strike: Decimal, option: str) -> str:
    day = datetime.datetime.fromtimestamp(expiry / 1000, datetime.UTC).strftime("%Y%m%d")
    return f"{underlying}-{day}-{strike.normalize():f}-{'C' if option == 'call' else 'P'}"


def run(args: argparse.Namespace) -> int:
    key = args.key if args.key is not None else os.environ.get(KEY_ENV)
    try:
        code: int = trio.run(_run, args, key)
    except ValueError as exc:
        print(f"hcx admin: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except HcxError as exc:
        field = f" (field {exc.field})" if exc.field else ""
        print(f"hcx admin: {exc.code}: {exc.message}{field}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except (ConnectionLost, OSError) as exc:
        print(f"hcx admin: cannot reach {args.url}: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    return code


async def _run(args: argparse.Namespace, key: str | None) -> int:
    async with hcx.client.connect(
        args.url, wallet=args.wallet, key=key, reconnect=False, heartbeat_interval=None
    ) as client:
        action = args.action
        if action == "instruments":
            for inst in await client.get_instruments():
                print(_instrument_line(inst))
            return 0
        if action == "book":
            return await _show_book(client, args.symbol)
        return _report(await _command(client, args))


async def _command(client: Any, args: argparse.Namespace) -> Any:
    action = args.action
    if action == "list":
        expiry = expiry_ms(args.expiry)
        symbol = args.symbol or default_symbol(args.underlying, expiry, args.strike, args.option)
        return await client.create_instrument(
            symbol,
            args.underlying,
            expiry,
            args.strike,
            args.option,
            args.tick,
            args.lot,
            multiplier=args.multiplier,
            maker_fee_bps=args.maker_fee_bps,
            taker_fee_bps=args.taker_fee_bps,
        )
    if action == "deposit":
        return await client.deposit(args.target, args.amount)
    if action == "index":
        return await client.set_index_price(args.underlying, args.price, vol=args.vol)
    if action == "settle":
        return await client.settle(args.symbol, args.price)
    if action == "halt":
        return await client.halt_instrument(args.symbol)
    return await client.resume_instrument(args.symbol)


def _report(result: Any) -> int:
    line = f"{result.command} {result.status} seq {result.seq}"
    if result.reason:
        line += f" reason {result.reason}"
    print(line)
    return 0 if result.status == "ok" else EXIT_REJECTED


def _instrument_line(inst: Any) -> str:
    expiry = datetime.datetime.fromtimestamp(inst.expiry_ms / 1000, datetime.UTC)
    return (
        f"{inst.symbol}  {inst.status}  {inst.underlying} {inst.option} strike {inst.strike}"
        f"  expiry {expiry:%Y-%m-%d %H:%M}Z  tick {inst.tick_size} lot {inst.lot_size}"
        f"  multiplier {inst.multiplier}  fees {inst.maker_fee_bps}/{inst.taker_fee_bps} bps"
    )


async def _show_book(client: Any, symbol: str) -> int:
    async with client.subscribe_book(symbol) as book:
        snapshot = await book.__anext__()
    print(f"{symbol} book seq {snapshot.seq}")
    for side, levels in (("asks", reversed(snapshot.asks)), ("bids", snapshot.bids)):
        for price, size in levels:
            print(f"  {side[:-1]:>3}  {price:>12}  {size}")
    if not snapshot.bids and not snapshot.asks:
        print("  (empty)")
    return 0
