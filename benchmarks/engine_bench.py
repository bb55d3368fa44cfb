"""Engine speed: a seeded mixed order stream applied in-process, one timed ``apply`` each.

The stream is about 60% places (about 30% of them crossing), 25% cancels, 10% replaces
and 5% immediate-or-cancel orders, from many funded wallets over a chain of calls and
puts on two underlyings. It is built before anything is timed: a shadow engine applies
each command as it is generated, so cancels and replaces name orders that really rest
and "crossing" means priced through the opposite side's best price at that moment.

Then a fresh engine applies the same envelopes, each timed with ``perf_counter_ns`` (each
output is freed after its tally, outside the timed call); the script prints commands/s
(over the summed apply times, and over the wall time of the loop; the loop runs under
``hcx serve``'s collector settings, ``hcx.gc_policy.tuned``), the p50/p99/p99.9
apply latency, the rejections by reason, and the memory a fresh engine retains for
100,000 resting orders (tracemalloc).

    .venv/bin/python benchmarks/engine_bench.py --seed 1 --commands 200000 --json
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import random
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from hcx import gc_policy
from hcx.engine import Engine, Envelope, Output
from hcx.engine.commands import (
    CancelOrder,
    Command,
    CreateInstrument,
    Deposit,
    OptionKind,
    PlaceOrder,
    ReplaceOrder,
    SetIndexPrice,
    SetMmp,
    Side,
    TimeInForce,
)
from hcx.engine.instruments import expected_symbol
from hcx.engine.numbers import parse_decimal
from hcx.engine.outputs import OrderResult, OrderUpdate, Trade

EXPIRY_MS = 1_798_156_800_000  # 2026-12-25T00:00Z
START_MS = 1_790_000_000_000
TICK = parse_decimal("0.1")
LOT = parse_decimal("0.1")
FUNDING = parse_decimal("1000000000")  # per wallet: enough that collateral rarely binds
# Underlying -> (index price, strike step); strikes sit around the index.
UNDERLYINGS: dict[str, tuple[int, int]] = {
    "BTC": (parse_decimal("60000"), parse_decimal("5000")),
    "ETH": (parse_decimal("3000"), parse_decimal("250")),
}
# The command mix: (kind, weight in percent).
MIX: tuple[tuple[str, int], ...] = (("place", 60), ("cancel", 25), ("replace", 10), ("ioc", 5))
CROSSING_SHARE = 0.30
MMP_VOL = parse_decimal("0.8")
MMP_LIMIT = parse_decimal("1000000")
RESTING_DEPTH_TICKS = 20  # a resting order sits up to this many ticks behind the touch


@dataclass(frozen=True)
class Listing:
    symbol: str
    mid: int  # a notional fair price on the tick grid; resting orders gather around it


@dataclass
class Stream:
    """Setup envelopes (not timed) and the timed mixed stream that follows them."""

    setup: list[Envelope]
    commands: list[Envelope]
    listings: list[Listing]
    kinds: Counter[str] = field(default_factory=Counter)


@dataclass
class RunStats:
    commands: int = 0
    apply_ns: int = 0
    wall_ns: int = 0
    samples_ns: list[int] = field(default_factory=list)
    rejects: Counter[str] = field(default_factory=Counter)
    trades: int = 0
    cancels_ok: int = 0
    replaces_ok: int = 0
    digest: str = ""

    def percentile_us(self, q: float) -> float:
        """Nearest-rank percentile of the apply times, in microseconds."""
        ordered = sorted(self.samples_ns)
        rank = max(1, math.ceil(q * len(ordered)))
        return ordered[rank - 1] / 1_000


def wallet_name(n: int) -> str:
    return f"w{n:05d}"


def listings(count: int) -> list[tuple[CreateInstrument, int]]:
    """``count`` options alternating underlyings, calls and puts, strikes around the index."""
    out = []
    names = sorted(UNDERLYINGS)
    for i in range(count):
        underlying = names[i % len(names)]
        index, step = UNDERLYINGS[underlying]
        option: OptionKind = "call" if (i // len(names)) % 2 == 0 else "put"
        rank = i // (2 * len(names))  # 0, 1, 2, ... -> strikes index, +step, -step, +2 step
        offset = (rank + 1) // 2 * (1 if rank % 2 else -1)
        strike = index + offset * step
        if strike <= 0:
            strike = index + (rank + 1) * step
        symbol = expected_symbol(underlying, EXPIRY_MS, strike, option)
        create = CreateInstrument(symbol, underlying, EXPIRY_MS, strike, option, TICK, LOT)
        mid = (50 + 7 * i) * parse_decimal("10")  # 500.0, 570.0, ...: far from zero
        out.append((create, mid))
    return out


class _Sequencer:
    """Numbers envelopes the way the service's sequencer would."""

    def __init__(self) -> None:
        self.seq = 0

    def envelope(self, wallet: str, command: Command) -> Envelope:
        self.seq += 1
        return Envelope(self.seq, START_MS + self.seq, wallet, f"r{self.seq}", command)


def _setup(
    sequencer: _Sequencer, instruments: int, wallets: int, mmp: bool = False
) -> tuple[list[Envelope], list[Listing]]:
    envs = []
    chain = listings(instruments)
    for create, _ in chain:
        envs.append(sequencer.envelope("admin", create))
    for underlying, (index, _) in sorted(UNDERLYINGS.items()):
        envs.append(sequencer.envelope("admin", SetIndexPrice(underlying, index, MMP_VOL)))
    for n in range(wallets):
        envs.append(sequencer.envelope("admin", Deposit(wallet_name(n), FUNDING)))
        if mmp:
            # Limits high enough that protection rarely trips: the accounting (quantity
            # and Black-Scholes delta over a rolling window) runs on every mmp fill.
            for underlying in sorted(UNDERLYINGS):
                envs.append(
                    sequencer.envelope(
                        wallet_name(n),
                        SetMmp(underlying, 1_000, 1_000, MMP_LIMIT, MMP_LIMIT),
                    )
                )
    return envs, [Listing(create.symbol, mid) for create, mid in chain]


def _best(engine: Engine, symbol: str) -> tuple[int | None, int | None]:
    depth = engine.book_depth(symbol)
    assert depth is not None
    _, bids, asks = depth
    return (bids[0][0] if bids else None), (asks[0][0] if asks else None)


def _resting_price(
    rng: random.Random, side: Side, mid: int, bid: int | None, ask: int | None
) -> int:
    """A price on ``side`` that does not cross the opposite best."""
    behind = rng.randrange(RESTING_DEPTH_TICKS) * TICK
    if side == "buy":
        top = mid if ask is None else min(mid, ask - TICK)
        return max(top - behind, TICK) if top > TICK else TICK
    bottom = mid if bid is None else max(mid, bid + TICK)
    return bottom + behind


def build_stream(
    seed: int, commands: int, wallets: int, instruments: int, mmp_share: float = 0.0
) -> Stream:
    """The seeded stream; a shadow engine keeps cancels and crossing prices truthful.
    ``mmp_share`` of the orders carry the ``mmp`` flag (every wallet has MMP set)."""
    rng = random.Random(seed)
    # The mmp flags come from a generator of their own, so a stream with MMP is the same
    # commands as the one without, flags aside: the difference in speed is MMP's alone.
    flags = random.Random(seed + 1)
    sequencer = _Sequencer()
    setup, chain = _setup(sequencer, instruments, wallets, mmp=mmp_share > 0)
    shadow = Engine()
    for env in setup:
        shadow.apply(env)
    stream = Stream(setup, [], chain)
    # Orders believed resting, by id: (wallet, symbol index, side). ``live`` holds the same
    # ids for O(1) random picks; ids already gone are dropped lazily when picked.
    resting: dict[int, tuple[str, int, Side]] = {}
    live: list[int] = []
    kinds = [kind for kind, _ in MIX]
    weights = [weight for _, weight in MIX]

    def pick_resting() -> tuple[int, tuple[str, int, Side]] | None:
        while live:
            i = rng.randrange(len(live))
            order_id = live[i]
            info = resting.get(order_id)
            if info is not None:
                return order_id, info
            live[i] = live[-1]
            live.pop()
        return None

    while len(stream.commands) < commands:
        kind = rng.choices(kinds, weights)[0]
        picked = pick_resting() if kind in ("cancel", "replace") else None
        if kind in ("cancel", "replace") and picked is None:
            kind = "place"  # nothing rests yet: seed the book instead
        command: Command
        if kind in ("place", "ioc"):
            wallet = wallet_name(rng.randrange(wallets))
            n = rng.randrange(len(chain))
            listing = chain[n]
            side: Side = "buy" if rng.random() < 0.5 else "sell"
            bid, ask = _best(shadow, listing.symbol)
            size = LOT * rng.randint(1, 10)
            opposite = ask if side == "buy" else bid
            crossing = kind == "ioc" or rng.random() < CROSSING_SHARE
            if crossing and opposite is not None:
                through = rng.randrange(3) * TICK
                price = opposite + through if side == "buy" else max(opposite - through, TICK)
                kind = kind if kind == "ioc" else "place_crossing"
            else:
                price = _resting_price(rng, side, listing.mid, bid, ask)
            tif: TimeInForce = "ioc" if kind == "ioc" else "gtc"
            protected = mmp_share > 0 and flags.random() < mmp_share
            command = PlaceOrder(listing.symbol, side, price, size, tif=tif, mmp=protected)
        else:
            assert picked is not None
            order_id, (wallet, n, side) = picked
            if kind == "cancel":
                command = CancelOrder(order_id=order_id)
            else:
                bid, ask = _best(shadow, chain[n].symbol)
                price = _resting_price(rng, side, chain[n].mid, bid, ask)
                command = ReplaceOrder(order_id, price, LOT * rng.randint(1, 10))
        env = sequencer.envelope(wallet, command)
        stream.commands.append(env)
        stream.kinds[kind] += 1
        output = shadow.apply(env)
        result = output.result
        for event in output.events:
            if type(event) is OrderUpdate and event.status in ("filled", "canceled"):
                assert event.order_id is not None
                resting.pop(event.order_id, None)
        if (
            type(result) is OrderResult
            and result.order_id is not None
            and result.status in ("open", "partially_filled")
        ):
            resting[result.order_id] = (wallet, n, side)
            live.append(result.order_id)
    return stream


def run(stream: Stream, keep_samples: bool = True, outputs: list[Output] | None = None) -> RunStats:
    """Apply the setup (not timed), then the stream with every ``apply`` timed."""
    engine = Engine()
    for env in stream.setup:
        engine.apply(env)
    stats = RunStats(commands=len(stream.commands))
    samples = [0] * len(stream.commands)
    apply = engine.apply
    clock = time.perf_counter_ns
    # The collector's settings of ``hcx serve`` (frozen start state, young generation
    # collected every 50,000 allocations), under which the engine runs there.
    with gc_policy.tuned():
        wall_start = clock()
        _apply_timed(stream, apply, samples, outputs, stats)
        stats.wall_ns = clock() - wall_start
    stats.apply_ns = sum(samples)
    stats.samples_ns = samples if keep_samples else []
    stats.digest = engine.digest()
    return stats


def _apply_timed(
    stream: Stream,
    apply: Callable[[Envelope], Output],
    samples: list[int],
    outputs: list[Output] | None,
    stats: RunStats,
) -> None:
    clock = time.perf_counter_ns
    rejects = stats.rejects
    trades = cancels_ok = replaces_ok = 0
    for i, env in enumerate(stream.commands):
        start = clock()
        output = apply(env)
        samples[i] = clock() - start
        result = output.result
        if type(result) is OrderResult:
            if result.status == "rejected":
                rejects[result.reason or "?"] += 1
            elif type(env.command) is CancelOrder:
                cancels_ok += 1
            elif result.replaced_order_id is not None:
                replaces_ok += 1
        for event in output.events:
            if type(event) is Trade:
                trades += 1
        if outputs is not None:
            outputs.append(output)
        # Free the output here rather than on the next assignment, inside the next timed
        # call: releasing outputs is their consumer's work (the service's release stage).
        del output
    stats.trades, stats.cancels_ok, stats.replaces_ok = trades, cancels_ok, replaces_ok


def resting_orders(
    stream: Stream, count: int, rng: random.Random, wallets: int
) -> Iterable[Envelope]:
    """``count`` non-crossing gtc orders spread over the listings and wallets."""
    sequencer = _Sequencer()
    sequencer.seq = len(stream.setup)
    for i in range(count):
        listing = stream.listings[i % len(stream.listings)]
        side: Side = "buy" if rng.random() < 0.5 else "sell"
        behind = (1 + rng.randrange(50)) * TICK
        price = listing.mid - behind if side == "buy" else listing.mid + behind
        size = LOT * rng.randint(1, 10)
        yield sequencer.envelope(
            wallet_name(i % wallets), PlaceOrder(listing.symbol, side, price, size)
        )


def resting_memory(stream: Stream, count: int, seed: int, wallets: int) -> tuple[int, int]:
    """Bytes a fresh engine retains for ``count`` resting orders, and how many rested.

    Counted: everything allocated while the orders are built and applied that is still
    alive afterwards, which is the engine's (the commands and outputs are dropped), so
    the request id and other strings an order keeps are included.
    """
    engine = Engine()
    for env in stream.setup:
        engine.apply(env)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        rested = _apply_all(engine, resting_orders(stream, count, random.Random(seed), wallets))
        gc.collect()
        retained = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    return retained, rested


def _apply_all(engine: Engine, envelopes: Iterable[Envelope]) -> int:
    """Apply ``envelopes``, dropping each output; returns how many orders rested."""
    rested = 0
    for env in envelopes:
        result = engine.apply(env).result
        if type(result) is OrderResult and result.status == "open":
            rested += 1
    return rested


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--commands", type=int, default=200_000)
    parser.add_argument("--wallets", type=int, default=1_000)
    parser.add_argument("--instruments", type=int, default=20)
    parser.add_argument(
        "--resting", type=int, default=100_000, help="orders for the memory figure (0: skip)"
    )
    parser.add_argument(
        "--json", action="store_true", help="also print the figures as one JSON line"
    )
    parser.add_argument(
        "--mmp-share",
        type=float,
        default=0.0,
        help="share of orders with the mmp flag (every wallet has MMP set), e.g. 0.33",
    )
    args = parser.parse_args(argv)

    build_start = time.perf_counter()
    stream = build_stream(args.seed, args.commands, args.wallets, args.instruments, args.mmp_share)
    build_s = time.perf_counter() - build_start
    mix = ", ".join(f"{kind} {count}" for kind, count in sorted(stream.kinds.items()))
    print(f"stream: {len(stream.commands)} commands ({mix}); built in {build_s:.1f} s")

    stats = run(stream)
    n = stats.commands
    per_s_apply = n / (stats.apply_ns / 1e9)
    per_s_wall = n / (stats.wall_ns / 1e9)
    p50, p99, p999 = (stats.percentile_us(q) for q in (0.50, 0.99, 0.999))
    rejected = sum(stats.rejects.values())
    print(f"apply:  {per_s_apply:,.0f} commands/s (summed apply time {stats.apply_ns / 1e9:.3f} s)")
    print(
        f"wall:   {per_s_wall:,.0f} commands/s"
        f" (the loop with timing and tallies {stats.wall_ns / 1e9:.3f} s)"
    )
    print(f"latency per apply: p50 {p50:.1f} us, p99 {p99:.1f} us, p99.9 {p999:.1f} us")
    print(f"trades {stats.trades}, cancels ok {stats.cancels_ok}, replaces ok {stats.replaces_ok}")
    reasons = ", ".join(f"{reason} {count}" for reason, count in stats.rejects.most_common())
    print(f"rejected {rejected} ({100 * rejected / n:.2f}%){': ' + reasons if reasons else ''}")

    memory_mb = None
    if args.resting:
        retained, rested = resting_memory(stream, args.resting, args.seed, args.wallets)
        memory_mb = retained / 1e6
        print(
            f"memory: {memory_mb:.1f} MB retained for {rested} resting orders"
            f" ({retained / max(rested, 1):.0f} bytes each)"
        )
    print(f"state digest {stats.digest}")
    if args.json:
        figures = {
            "seed": args.seed,
            "commands": n,
            "wallets": args.wallets,
            "instruments": args.instruments,
            "commands_per_s_apply": round(per_s_apply),
            "commands_per_s_wall": round(per_s_wall),
            "p50_us": p50,
            "p99_us": p99,
            "p999_us": p999,
            "trades": stats.trades,
            "cancels_ok": stats.cancels_ok,
            "replaces_ok": stats.replaces_ok,
            "rejects": dict(stats.rejects),
            "resting_orders": args.resting,
            "resting_memory_mb": memory_mb,
            "digest": stats.digest,
        }
        print(json.dumps(figures, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
