"""``hcx demo``: list a small option chain, fund two traders and let them trade.

Until the WebSocket service exists this drives the engine in-process and prints what a
client would be told, so a newcomer sees matching, fills and collateral at work.
"""

from __future__ import annotations

import itertools

from hcx.engine import Engine, Envelope
from hcx.engine.commands import Command, CreateInstrument, Deposit, PlaceOrder, SetIndexPrice
from hcx.engine.instruments import expected_symbol
from hcx.engine.numbers import format_decimal, parse_decimal
from hcx.engine.outputs import Fill, OrderResult

EXPIRY_MS = 1_798_156_800_000  # 2026-12-25T00:00Z
START_MS = 1_790_000_000_000


def run(order_count: int = 20) -> int:
    engine = Engine()
    seqs = itertools.count(1)

    def send(wallet: str, command: Command) -> None:
        seq = next(seqs)
        output = engine.apply(Envelope(seq, START_MS + seq, wallet, f"demo-{seq}", command))
        result = output.result
        if isinstance(result, OrderResult):
            print(
                f"seq {seq:>3} {wallet:<6} {result.side:<4} {format_decimal(result.size or 0)}"
                f" @ {format_decimal(result.price or 0)} -> {result.status}"
                f" (filled {format_decimal(result.filled_size)})"
            )
        for event in output.events:
            if isinstance(event, Fill):
                print(
                    f"          fill {event.wallet:<6} {event.side} {format_decimal(event.size)}"
                    f" @ {format_decimal(event.price)} fee {format_decimal(event.fee)}"
                )

    strikes = ("2800", "3000", "3200")
    symbols = []
    for strike in strikes:
        symbol = expected_symbol("ETH", EXPIRY_MS, parse_decimal(strike), "call")
        symbols.append(symbol)
        send(
            "admin",
            CreateInstrument(
                symbol,
                "ETH",
                EXPIRY_MS,
                parse_decimal(strike),
                "call",
                tick_size=parse_decimal("0.1"),
                lot_size=parse_decimal("0.1"),
            ),
        )
    send("admin", SetIndexPrice("ETH", parse_decimal("3000")))
    for trader in ("maker", "taker"):
        send("admin", Deposit(trader, parse_decimal("1000000")))
    print(f"listed {', '.join(symbols)}; index ETH 3000")
    for n in range(order_count):
        symbol = symbols[n % len(symbols)]
        mid = 120 - 40 * (n % len(symbols))
        if n % 2 == 0:
            send(
                "maker", PlaceOrder(symbol, "sell", parse_decimal(str(mid + 1)), parse_decimal("2"))
            )
        else:
            send(
                "taker",
                PlaceOrder(symbol, "buy", parse_decimal(str(mid + 2)), parse_decimal("1.5")),
            )
    for trader in ("maker", "taker"):
        balance = engine.balance(trader)
        print(
            f"{trader}: total {format_decimal(balance.total)}"
            f" available {format_decimal(balance.available)}"
            f" reserved {format_decimal(balance.reserved)}"
        )
    print(f"state digest {engine.digest()}")
    return 0
