"""The trading side of a chaos campaign: wallets that trade through kills, and the ledger
of every request sent and answer received (see ``tests.harness.chaos``).

An ``Actor`` sends through ``hcx.client`` and records each request in the ``Ledger``
before sending it and each answer when it arrives; two answers to one request must be
identical. Nothing here starts or kills a server.
"""

from __future__ import annotations

import collections
import itertools
import json
import random
import socket
import time
import uuid
from decimal import Decimal
from typing import Any, Protocol, TextIO

import attrs
import trio

from hcx.client import (
    CancelAllRequest,
    CancelAllResult,
    CancelOrderRequest,
    Client,
    ConnectionLost,
    CreateInstrumentRequest,
    DepositRequest,
    HcxError,
    OptionKind,
    OrderRequest,
    OrderResult,
    PlaceOrderRequest,
    ReplaceOrderRequest,
    Request,
    SetIndexPriceRequest,
    WithdrawRequest,
    parse_message,
)
from hcx.durability.records import decode_output_object
from hcx.protocol.messages import to_wire
from tests.harness.crash import Answer
from tests.harness.journal_driver import EXPIRY_MS, SERIES, UNDERLYING, series_symbol

Key = tuple[str, str]
ADMIN = "admin"
LISTENING = "hcx listening on "
# Liveness limits only (a server or client that hangs fails the campaign); nothing is timed.
START_LIMIT_S = 120.0
RECONNECT_LIMIT_S = 600.0
FINAL_LIMIT_S = 300.0
# Deliberate repeats pick requests younger than this: well inside the server's 60 s window.
REPEAT_MAX_AGE_MS = 20_000
UNAVAILABLE_RETRY_S = 0.05
DEPOSIT = Decimal(10_000_000)
# Server ports come from below Linux's ephemeral range (32768-60999): a client that
# reconnects to a port in that range while nothing listens can be given that very port as
# its own source port, connect to itself, and keep the server from binding it again.
PORT_RANGE = (20_000, 32_000)
# A series listed only after a few kills: orders on it are rejected ``unknown_symbol``
# until then, and repeats of those requests must keep getting that rejection.
LATE_SERIES: tuple[str, OptionKind, str] = ("3400", "call", "60")
# The private channels checked for exactly-once delivery, and their event type.
STREAM_EVENTS = {"orders": "OrderUpdate", "fills": "Fill"}
CHANNEL_OF = {event: channel for channel, event in STREAM_EVENTS.items()}


def comparable(result: Any) -> str:
    """A client's typed answer in the exact form the judge compares (``repr`` keeps a
    ``Decimal``'s digits, so "1.0" and "1" differ)."""
    return repr(result)


def render_stored(stored: list[Any]) -> str:
    """A journal record's result as the client would have parsed it off the wire."""
    return comparable(parse_message(to_wire(decode_output_object(stored))))


def first_difference(got: list[str], want: list[str]) -> int:
    for index, (a, b) in enumerate(zip(got, want, strict=False)):
        if a != b:
            return index
    return min(len(got), len(want))


def pick_port(rng: random.Random) -> int:
    """A free loopback port outside the ephemeral range (see ``PORT_RANGE``)."""
    for _ in range(1_000):
        port = rng.randrange(*PORT_RANGE)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free port in {PORT_RANGE}")


def new_request_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


@attrs.define
class Sent:
    """A request as recorded before it was sent."""

    wallet: str
    request_id: str
    ts: int
    kind: str
    command: dict[str, Any]
    cycle: int
    bulk: bool = False


@attrs.define
class Ledger:
    """Every request sent (recorded before sending) and every answer received.

    ``log`` (optional) gets one JSON line per request before it is sent and one per
    answer, so a failing campaign can be read back request by request.
    """

    problems: list[str]
    log: TextIO | None = None
    sent: dict[Key, Sent] = attrs.Factory(dict)
    answers: dict[Key, Answer] = attrs.Factory(dict)
    answered_by_kind: collections.Counter[str] = attrs.Factory(collections.Counter)
    max_seq: int = 0

    def record_sent(
        self, wallet: str, request: Request[Any], cycle: int, *, bulk: bool = False
    ) -> None:
        key = (wallet, request.request_id)
        if key in self.sent:
            self.problems.append(f"{key}: request id used twice by the campaign itself")
        wire = request.to_wire()
        self.sent[key] = Sent(
            wallet, request.request_id, request.ts, request.TYPE, wire, cycle, bulk
        )
        self._log({"sent": wallet, "cycle": cycle, "bulk": bulk, "command": wire})

    def record_answer(self, wallet: str, request_id: str, result: Any, cycle: int) -> None:
        key = (wallet, request_id)
        answer = Answer(int(result.seq), comparable(result), cycle)
        first = self.answers.get(key)
        if first is None:
            self.answers[key] = answer
            sent = self.sent.get(key)
            self.answered_by_kind[sent.kind if sent is not None else "?"] += 1
        elif (first.seq, first.result) != (answer.seq, answer.result):
            self.problems.append(
                f"{key} answered seq {answer.seq} {answer.result} after seq "
                f"{first.seq} {first.result} in cycle {first.cycle}"
            )
        self.max_seq = max(self.max_seq, answer.seq)
        self._log({"answer": wallet, "request_id": request_id, "seq": answer.seq})

    def record_refusal(self, wallet: str, request_id: str, error: HcxError) -> None:
        self.problems.append(f"({wallet}, {request_id}) refused: {error.code} {error.message}")
        self._log({"refused": wallet, "request_id": request_id, "code": error.code})

    def outstanding(self) -> list[Key]:
        return [key for key in self.sent if key not in self.answers]

    def flush(self) -> None:
        if self.log is not None and not self.log.closed:
            self.log.flush()

    def _log(self, line: dict[str, Any]) -> None:
        if self.log is not None and not self.log.closed:
            self.log.write(json.dumps(line, separators=(",", ":")) + "\n")


class Campaign(Protocol):
    """What an ``Actor`` reads and counts on the campaign that runs it."""

    ledger: Ledger
    cycle: int
    problems: list[str]
    bulks: int
    repeats: int
    bulk_items_resent: int
    unavailable_resent: int
    kills: int
    list_late_after: int
    late_listed: bool


@attrs.define(eq=False)
class Actor:
    """One wallet: its connections (one task on each), the orders it believes open and
    its recent requests. Sends, records, and tracks what the answers say."""

    campaign: Campaign
    wallet: str
    clients: list[Client]
    # Own orders believed open: order id -> (symbol, the price its series trades around).
    own: dict[int, tuple[str, Decimal]] = attrs.Factory(dict)
    client_ids: itertools.count[int] = attrs.Factory(itertools.count)
    # Recent requests, for deliberate repeats.
    recent: collections.deque[Request[Any]] = attrs.Factory(lambda: collections.deque(maxlen=64))
    # The private channels as received on the first connection (``watch``), from seq
    # ``stream_start`` on: channel -> messages in the comparable form, in arrival order.
    stream_start: int = 0
    seen: dict[str, list[str]] = attrs.Factory(lambda: {c: [] for c in STREAM_EVENTS})
    last_seen: dict[str, int] = attrs.Factory(lambda: dict.fromkeys(STREAM_EVENTS, 0))
    # Whether this wallet has named the late series yet (its first order does, so that
    # one is refused before the listing however few orders a loaded machine gets out).
    named_late: bool = False

    def stamp(self, rng: random.Random) -> dict[str, Any]:
        return {"request_id": new_request_id(rng), "ts": time.time_ns() // 1_000_000}

    async def command(self, client: Client, request: Request[Any]) -> Any:
        """Record, send and wait (across any number of reconnects); record the answer."""
        ledger = self.campaign.ledger
        ledger.record_sent(self.wallet, request, self.campaign.cycle)
        self.recent.append(request)
        return await self._submit(client, request)

    async def repeat(self, client: Client, rng: random.Random) -> None:
        """Send one of the wallet's recent requests again, as a client unsure whether it
        went through would (maybe on the other connection, maybe while the original is
        still in flight): the answer must be the original's."""
        now = time.time_ns() // 1_000_000
        candidates = [r for r in self.recent if now - r.ts < REPEAT_MAX_AGE_MS]
        if candidates:
            self.campaign.repeats += 1
            await self._submit(client, rng.choice(candidates))

    async def _submit(self, client: Client, request: Request[Any]) -> Any:
        ledger = self.campaign.ledger
        while True:
            try:
                result = await client.submit(request)
                break
            except HcxError as exc:
                if exc.code != "unavailable":
                    ledger.record_refusal(self.wallet, request.request_id, exc)
                    return None
                # The server is stopping (SIGTERM) and did not execute it: send the same
                # request again, until the restarted server takes it.
                self.campaign.unavailable_resent += 1
                await trio.sleep(UNAVAILABLE_RETRY_S)
        ledger.record_answer(self.wallet, request.request_id, result, self.campaign.cycle)
        self.track(result)
        return result

    async def bulk(self, client: Client, items: list[OrderRequest]) -> None:
        ledger = self.campaign.ledger
        for item in items:
            ledger.record_sent(self.wallet, item, self.campaign.cycle, bulk=True)
            self.recent.append(item)
        connections = client.connections
        while True:
            try:
                answer = await client.bulk_orders(items)
                break
            except HcxError as exc:
                if exc.code != "unavailable":
                    for item in items:
                        ledger.record_refusal(self.wallet, item.request_id, exc)
                    return
                self.campaign.unavailable_resent += len(items)
                await trio.sleep(UNAVAILABLE_RETRY_S)
        if client.connections != connections:
            # Still waiting when the connection was re-established: the client re-sent it.
            self.campaign.bulk_items_resent += len(items)
        self.campaign.bulks += 1
        for item, result in zip(items, answer.results, strict=True):
            if isinstance(result, HcxError):
                ledger.record_refusal(self.wallet, item.request_id, result)
            else:
                ledger.record_answer(self.wallet, item.request_id, result, self.campaign.cycle)
                self.track(result)

    async def watch(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Follow the wallet's ``orders`` and ``fills`` channels on its first connection;
        the client resumes them with ``from_seq`` after every reconnect."""
        client = self.clients[0]
        self.stream_start = (await client.get_portfolio()).seq
        async with (
            client.subscribe_orders(from_seq=self.stream_start) as orders,
            client.subscribe_fills(from_seq=self.stream_start) as fills,
            trio.open_nursery() as nursery,
        ):
            nursery.start_soon(self._drain, "orders", orders)
            nursery.start_soon(self._drain, "fills", fills)
            task_status.started()

    async def _drain(self, channel: str, subscription: Any) -> None:
        async for message in subscription:
            self.seen[channel].append(comparable(message))
            self.last_seen[channel] = message.seq

    async def barrier(self, rng: random.Random) -> int:
        """A last order that rests (a post-only bid far below the market): once its
        ``OrderUpdate`` arrives, the orders channel has delivered everything before it."""
        strike, option, _ = SERIES[0]
        result = await self.command(
            self.clients[-1],
            PlaceOrderRequest(
                symbol=series_symbol(strike, option),
                side="buy",
                price="0.1",
                size="0.1",
                post_only=True,
                **self.stamp(rng),
            ),
        )
        return int(result.seq) if result is not None else 0

    def track(self, result: Any) -> None:
        if isinstance(result, OrderResult) and result.order_id is not None:
            if result.status in ("open", "partially_filled") and result.symbol is not None:
                self.own[result.order_id] = (result.symbol, self.mid_of(result.symbol))
            else:
                self.own.pop(result.order_id, None)
        elif isinstance(result, CancelAllResult):
            for order_id in result.canceled:
                self.own.pop(order_id, None)

    @staticmethod
    def mid_of(symbol: str) -> Decimal:
        for strike, option, mid in (*SERIES, LATE_SERIES):
            if series_symbol(strike, option) == symbol:
                return Decimal(mid)
        return Decimal(100)

    # --- what traders send ----------------------------------------------------------

    def place(self, rng: random.Random) -> PlaceOrderRequest:
        # Now and then on the series listed late: rejected (unknown_symbol) until it is.
        late = not self.named_late or rng.random() < 0.04
        self.named_late = True
        strike, option, mid = LATE_SERIES if late else rng.choice(SERIES)
        return PlaceOrderRequest(
            symbol=series_symbol(strike, option),
            side=rng.choice(("buy", "sell")),
            # Buys and sells straddle the mid, so about half of the orders cross.
            price=Decimal(mid) + rng.randint(-20, 20) * Decimal("0.5"),
            size=rng.randint(1, 30) * Decimal("0.1"),
            tif="ioc" if rng.random() < 0.2 else "gtc",
            client_id=f"{self.wallet}-{next(self.client_ids)}",
            **self.stamp(rng),
        )

    def cancel(self, rng: random.Random) -> CancelOrderRequest:
        if self.own and rng.random() < 0.8:
            return CancelOrderRequest(order_id=rng.choice(list(self.own)), **self.stamp(rng))
        # By client id: a recent one, open, filled or never placed.
        recent = max(next(self.client_ids) - rng.randint(1, 20), 0)
        return CancelOrderRequest(client_id=f"{self.wallet}-{recent}", **self.stamp(rng))

    def replace(self, rng: random.Random) -> ReplaceOrderRequest | None:
        if not self.own:
            return None
        order_id = rng.choice(list(self.own))
        _, mid = self.own.pop(order_id)
        return ReplaceOrderRequest(
            order_id=order_id,
            price=mid + rng.randint(-20, 20) * Decimal("0.5"),
            size=rng.randint(1, 30) * Decimal("0.1"),
            **self.stamp(rng),
        )

    async def trade(self, client: Client, rng: random.Random, stop: trio.Event) -> None:
        """One trading task on ``client``: a random mix of requests until ``stop``."""
        try:
            while not stop.is_set():
                roll = rng.random()
                if roll < 0.48 or (roll < 0.6 and len(self.own) > 400):
                    await self.command(client, self.place(rng))
                elif roll < 0.63:
                    await self.command(client, self.cancel(rng))
                elif roll < 0.75:
                    request = self.replace(rng)
                    await self.command(client, request if request is not None else self.place(rng))
                elif roll < 0.88:
                    items: list[OrderRequest] = []
                    for _ in range(rng.randint(2, 10)):
                        replace = self.replace(rng) if rng.random() < 0.2 else None
                        if replace is not None:
                            items.append(replace)
                        elif rng.random() < 0.25:
                            items.append(self.cancel(rng))
                        else:
                            items.append(self.place(rng))
                    await self.bulk(client, items)
                elif roll < 0.94:
                    amount = Decimal(rng.randint(1, 20))
                    await self.command(client, WithdrawRequest(amount=amount, **self.stamp(rng)))
                elif roll < 0.97:
                    strike, option, _ = rng.choice(SERIES)
                    symbol = series_symbol(strike, option)
                    await self.command(client, CancelAllRequest(symbol=symbol, **self.stamp(rng)))
                else:
                    await self.repeat(rng.choice(self.clients), rng)
        except ConnectionLost as exc:
            self.campaign.problems.append(f"{self.wallet}: client gave up: {exc}")

    async def administer(self, rng: random.Random, stop: trio.Event, traders: list[str]) -> None:
        """The admin's task: top wallets up and move the index, now and then."""
        client = self.clients[0]
        try:
            while not stop.is_set():
                await trio.sleep(rng.uniform(0.01, 0.2))
                campaign = self.campaign
                if not campaign.late_listed and campaign.kills >= campaign.list_late_after:
                    strike, option, _ = LATE_SERIES
                    request: Request[Any] = self.listing(strike, option, rng)
                    campaign.late_listed = True
                elif rng.random() < 0.7:
                    request = DepositRequest(
                        wallet=rng.choice(traders), amount=rng.randint(1, 1000), **self.stamp(rng)
                    )
                else:
                    price = 3000 + rng.randint(-10, 10) * 5
                    request = SetIndexPriceRequest(
                        underlying=UNDERLYING, price=price, **self.stamp(rng)
                    )
                await self.command(client, request)
        except ConnectionLost as exc:
            self.campaign.problems.append(f"{self.wallet}: client gave up: {exc}")

    def listing(self, strike: str, option: Any, rng: random.Random) -> CreateInstrumentRequest:
        return CreateInstrumentRequest(
            symbol=series_symbol(strike, option),
            underlying=UNDERLYING,
            expiry_ms=EXPIRY_MS,
            strike=strike,
            option=option,
            tick_size="0.1",
            lot_size="0.1",
            **self.stamp(rng),
        )

    async def set_up(self, rng: random.Random, traders: list[str]) -> None:
        """List the chain (but ``LATE_SERIES``), publish the index, fund every trader."""
        client = self.clients[0]
        for strike, option, _ in SERIES:
            await self.command(client, self.listing(strike, option, rng))
        await self.command(
            client, SetIndexPriceRequest(underlying=UNDERLYING, price=3000, **self.stamp(rng))
        )
        for trader in traders:
            await self.command(
                client, DepositRequest(wallet=trader, amount=DEPOSIT, **self.stamp(rng))
            )
