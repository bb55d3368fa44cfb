"""A process to SIGKILL: it drives an exchange on a file journal and prints every reply.

``python -m tests.harness.journal_driver --db PATH --seed S --count N [--concurrency K]``
opens an exchange (durability ``group``, frequent snapshots) on ``PATH`` and submits the
deterministic stream ``stream(S, N)`` from index 0: first the admin setup in order, then
the trading requests from ``K`` concurrent tasks. Request ids are a function of
``(seed, index)`` only, so a restarted driver re-sends exactly the same requests and every
one answered before the crash must come back as its stored result, never run again.

stdout carries one JSON line per answer, written and flushed as soon as the answer is
released (so after its record is durable): ``{"index", "seq", "wallet", "request_id",
"result"}`` with the result as ``[TYPE, *fields]`` like the journal stores it, or
``{"index", "wallet", "request_id", "refusal", "message"}``. A ``{"ready": ...}`` line
comes first (after recovery) and ``{"done": true}`` last, after a clean shutdown.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Sequence
from typing import Any

import attrs
import trio

from hcx.durability.journal import Row
from hcx.durability.records import _fields_of
from hcx.engine.commands import (
    CancelOrder,
    Command,
    CreateInstrument,
    Deposit,
    OptionKind,
    PlaceOrder,
    SetIndexPrice,
    Side,
    TimeInForce,
    Withdraw,
)
from hcx.engine.instruments import expected_symbol
from hcx.engine.numbers import parse_decimal
from hcx.sequencing import Refusal, Reply
from hcx.service.config import ServiceConfig
from hcx.service.exchange import Exchange
from hcx.service.supervisor import open_exchange

ADMIN = "admin"
UNDERLYING = "ETH"
EXPIRY_MS = 1_893_456_000_000  # 2030-01-01T00:00Z: nothing expires during a campaign
INDEX_PRICE = parse_decimal("3000")
TICK = parse_decimal("0.1")
LOT = parse_decimal("0.1")
DEPOSIT = parse_decimal("10000000")
TRADERS = tuple(f"trader{n}" for n in range(8))
# (strike, option, the mid price orders cluster around)
SERIES: tuple[tuple[str, OptionKind, str], ...] = (
    ("2800", "call", "300"),
    ("3000", "call", "200"),
    ("3200", "call", "120"),
    ("2800", "put", "100"),
    ("3000", "put", "200"),
    ("3200", "put", "320"),
)
DEFAULT_SNAPSHOT_EVERY = 500
# Re-sent requests carry a fresh client_ts, so the idempotency window must cover the
# whole campaign for a re-send to be recognised (a real client re-sends its original ts).
DEFAULT_WINDOW_MS = 24 * 3_600_000


@attrs.frozen
class Request:
    index: int
    wallet: str
    request_id: str
    command: Command


def request_id_of(seed: int, index: int) -> str:
    return f"s{seed}-{index}"


def series_symbol(strike: str, option: OptionKind) -> str:
    return expected_symbol(UNDERLYING, EXPIRY_MS, parse_decimal(strike), option)


def setup_commands() -> list[Command]:
    """The admin prefix: list the chain, publish the index, fund every trader."""
    commands: list[Command] = [
        CreateInstrument(
            series_symbol(strike, option),
            UNDERLYING,
            EXPIRY_MS,
            parse_decimal(strike),
            option,
            tick_size=TICK,
            lot_size=LOT,
        )
        for strike, option, _ in SERIES
    ]
    commands.append(SetIndexPrice(UNDERLYING, INDEX_PRICE))
    commands.extend(Deposit(trader, DEPOSIT) for trader in TRADERS)
    return commands


def stream(seed: int, count: int) -> list[Request]:
    """The first ``count`` requests of seed ``seed``'s stream (the admin setup first).

    Trading is a mix of crossing limit orders (mostly GTC, some IOC), cancels of one of
    the wallet's recent orders by client id (whether it is still open depends on how the
    run interleaved), and a few small withdrawals.
    """
    rng = random.Random(seed)
    requests: list[Request] = []
    for admin_command in setup_commands():
        index = len(requests)
        requests.append(Request(index, ADMIN, request_id_of(seed, index), admin_command))
    placed: dict[str, list[str]] = {trader: [] for trader in TRADERS}
    while len(requests) < count:
        index = len(requests)
        wallet = rng.choice(TRADERS)
        roll = rng.random()
        command: Command
        if roll < 0.15 and placed[wallet]:
            command = CancelOrder(client_id=rng.choice(placed[wallet][-16:]))
        elif roll < 0.17:
            command = Withdraw(parse_decimal(str(rng.randint(1, 50))))
        else:
            strike, option, mid = rng.choice(SERIES)
            side: Side = rng.choice(("buy", "sell"))
            # Buys and sells straddle the mid, so about half of the orders cross.
            price = parse_decimal(mid) + rng.randint(-20, 20) * 5 * TICK
            size = rng.randint(1, 30) * LOT
            tif: TimeInForce = "ioc" if rng.random() < 0.2 else "gtc"
            client_id = f"c{index}"
            placed[wallet].append(client_id)
            command = PlaceOrder(
                series_symbol(strike, option), side, price, size, tif=tif, client_id=client_id
            )
        requests.append(Request(index, wallet, request_id_of(seed, index), command))
    return requests[:count]


def setup_length() -> int:
    return len(setup_commands())


def answer_line(request: Request, answer: Reply | Refusal) -> dict[str, Any]:
    line: dict[str, Any] = {
        "index": request.index,
        "wallet": request.wallet,
        "request_id": request.request_id,
    }
    if isinstance(answer, Reply):
        line["seq"] = answer.seq
        line["result"] = _fields_of(answer.result)
    else:
        line["refusal"] = answer.code
        line["message"] = answer.message
    return line


def emit(line: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(line, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def drive(
    db: str,
    seed: int,
    count: int,
    *,
    concurrency: int = 8,
    snapshot_every: int = DEFAULT_SNAPSHOT_EVERY,
    window_ms: int = DEFAULT_WINDOW_MS,
    commit_delay_ms: float = 0.0,
    from_index: int = 0,
) -> None:
    requests = stream(seed, count)
    setup, trading = requests[: setup_length()], requests[setup_length() :]
    # Trading requests before ``from_index`` are not sent again (a long campaign bounds
    # what each run re-sends); the setup always goes.
    trading = [request for request in trading if request.index >= from_index]
    config = ServiceConfig(
        db=db,
        durability="group",
        snapshot_every=snapshot_every,
        recv_window_ms=window_ms,
    )
    writer: list[Exchange] = []

    def slow_commit(rows: Sequence[Row]) -> None:
        # Widens the gap between sequencing (and forking a snapshot) and durability, so a
        # kill lands in it more often. Runs on the writer thread, never on the event loop.
        time.sleep(commit_delay_ms / 1000)
        writer[0].writer.journal.append(rows)

    hook = slow_commit if commit_delay_ms > 0 else None
    async with open_exchange(config, commit_hook=hook) as exchange:
        writer.append(exchange)
        recovered = exchange.recovered
        emit(
            {
                "ready": True,
                "last_seq": recovered.last_seq,
                "snapshot_seq": recovered.snapshot_seq,
                "replayed": recovered.replayed,
            }
        )
        # The setup goes as one list, so it is sequenced in stream order.
        answers = await exchange.submit_many(
            [(r.wallet, r.request_id, now_ms(), r.command) for r in setup]
        )
        for request, answer in zip(setup, answers, strict=True):
            emit(answer_line(request, answer))

        async def worker(share: list[Request]) -> None:
            for request in share:
                answer = await exchange.submit(
                    request.wallet, request.request_id, now_ms(), request.command
                )
                emit(answer_line(request, answer))

        async with trio.open_nursery() as nursery:
            for task in range(concurrency):
                nursery.start_soon(worker, trading[task::concurrency])
    emit({"done": True})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--snapshot-every", type=int, default=DEFAULT_SNAPSHOT_EVERY)
    parser.add_argument("--window-ms", type=int, default=DEFAULT_WINDOW_MS)
    parser.add_argument("--commit-delay-ms", type=float, default=0.0)
    parser.add_argument("--from-index", type=int, default=0)
    args = parser.parse_args(argv)
    trio.run(
        lambda: drive(
            args.db,
            args.seed,
            args.count,
            concurrency=args.concurrency,
            snapshot_every=args.snapshot_every,
            window_ms=args.window_ms,
            commit_delay_ms=args.commit_delay_ms,
            from_index=args.from_index,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
