"""One client's session: decode, validate, authenticate, authorize, rate-limit, dispatch.

Checks run in the protocol's order: the frame and the message's fields (``invalid_field``
naming the field), authentication and role, then the sequencer's ``ts`` window and the
engine's rules. A bad message gets an ``Error`` and the connection stays open; nothing
invalid reaches the sequencer, so nothing invalid is journaled. Answers to commands and
reads come back through waiters that the release stage resolves, i.e. only once durable.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from hcx.engine import Engine
from hcx.protocol import fields as f
from hcx.protocol.channels import BOOK, CHANNELS, PRIVATE_CHANNELS, PUBLIC_CHANNELS, RFQ, TRADES
from hcx.protocol.codec import decode
from hcx.protocol.commands import (
    ADMIN_COMMANDS,
    BULK_ITEM_TYPES,
    TRADER_COMMANDS,
    bulk_items,
    parse_command,
)
from hcx.protocol.errors import ProtocolError, invalid_field
from hcx.protocol.messages import (
    book_snapshot_message,
    instruments_message,
    open_orders_message,
    order_message,
    portfolio_message,
    to_wire,
)
from hcx.protocol.rfq import instruments_of, leg_symbols, quote_message, request_message
from hcx.sequencing import Refusal, Reply
from hcx.service.entries import QueryItem, Submission
from hcx.service.gateway import disconnect, history, read_only
from hcx.service.gateway.fanout import RFQ_QUOTERS, Fanout, Subscription
from hcx.service.gateway.limits import TokenBucket
from hcx.service.gateway.outbound import Outbound
from hcx.service.gateway.services import SessionServices

QUERY_TYPES = ("GetOpenOrders", "GetPortfolio", "GetOrder", "GetInstruments")
QUOTER_ROLES = ("quoter", "admin")


class CallbackWaiter:
    """A waiter that hands the released answer to a callback (the release stage calls
    ``resolve``; nothing awaits it)."""

    __slots__ = ("callback",)

    def __init__(self, callback: Callable[[Any], None]) -> None:
        self.callback = callback

    def resolve(self, answer: Any) -> None:
        self.callback(answer)


class Session:
    def __init__(self, services: SessionServices, outbound: Outbound, remote: str) -> None:
        self.services = services
        self.outbound = outbound
        self.remote = remote
        self.wallet: str | None = None
        self.role: str | None = None
        self.subscriptions: dict[tuple[str, str | None], Subscription] = {}
        # Set while cancel-on-disconnect is armed: the engine's session id and wallet.
        self.disconnect_id: str | None = None
        self.disconnect_wallet: str | None = None
        config = services.config
        self.messages = TokenBucket(
            config.message_rate_per_connection, config.message_burst_per_connection
        )

    @property
    def fanout(self) -> Fanout:
        return self.services.fanout

    @property
    def subprotocol(self) -> str:
        return self.outbound.subprotocol

    def send(self, message: dict[str, Any]) -> None:
        self.outbound.offer(message)

    def error(self, exc: ProtocolError, msg_id: Any = None, request_id: str | None = None) -> None:
        self.services.metrics.errors(exc.code)
        self.send(exc.to_wire(msg_id, request_id))

    # --- the entry point --------------------------------------------------------------

    async def handle(self, frame: str | bytes) -> None:
        msg_id = None
        message: dict[str, Any] = {}
        try:
            message = decode(frame, self.subprotocol)
            raw_id = message.get("id")
            msg_id = (
                raw_id if isinstance(raw_id, str | int) and not isinstance(raw_id, bool) else None
            )
            kind = message.get("type")
            if not isinstance(kind, str):
                raise ProtocolError("invalid_message", "every message needs a string type")
            msg_id = f.message_id(message)
            wait_ms = self.messages.take()
            if wait_ms:
                raise _rate_limited(wait_ms)
            await self._dispatch(kind, message, msg_id)
        except ProtocolError as exc:
            self.error(exc, msg_id, _request_id_of(message))

    async def _dispatch(self, kind: str, message: dict[str, Any], msg_id: Any) -> None:
        if self.services.read_only:
            read_only.refuse(kind)
        if kind in TRADER_COMMANDS or kind in ADMIN_COMMANDS:
            await self._command(message, msg_id)
        elif kind == "BulkOrders":
            await self._bulk(message, msg_id)
        elif kind in QUERY_TYPES:
            await self._query(kind, message, msg_id)
        elif kind == "Subscribe":
            await self._subscribe(message, msg_id)
        elif kind == "Unsubscribe":
            self._unsubscribe(message, msg_id)
        elif kind == "Authenticate":
            await self._authenticate(message, msg_id)
        elif kind == "RequestQuote":
            await self._request_quote(message, msg_id)
        elif kind == "Quote":
            await self._quote(message, msg_id)
        elif kind == "AcceptQuote":
            await self._accept_quote(message, msg_id)
        elif kind == "GetTrades":
            history.get_trades(self, message, msg_id)
        elif kind == "Ping":
            self.send(_with_id({"type": "Pong", "server_ms": self.services.clock.now_ms()}, msg_id))
        else:
            raise ProtocolError("unknown_type", f"unknown message type {kind!r}")

    # --- session ---------------------------------------------------------------------

    async def _authenticate(self, message: dict[str, Any], msg_id: Any) -> None:
        wallet = f.req_string(message, "wallet")
        cancel_on_disconnect = f.boolean(message, "cancel_on_disconnect")
        services = self.services
        if services.config.auth == "none":
            role: str | None = "admin"
        else:
            key = f.req_string(message, "key", max_length=256)
            wait_ms = services.auth_throttle.wait_ms(self.remote)
            if wait_ms:
                raise _rate_limited(wait_ms)
            attempt = services.auth_throttle.begin(self.remote)
            role = await services.verify_key(wallet, key)
            services.end_auth_attempt(self.remote, attempt, ok=role is not None)
            if role is None:
                raise ProtocolError("auth_failed", "wallet and key do not match a live key")
        if self.wallet is not None and self.wallet != wallet:
            self._drop_private_subscriptions()
            await disconnect.closed(services, self)
        self.wallet, self.role = wallet, role
        answer: dict[str, Any] = {"type": "Authenticated", "wallet": wallet, "role": role}
        if cancel_on_disconnect:
            if self.disconnect_id is None:
                await disconnect.arm(services, self)
            answer["cancel_on_disconnect"] = True
        self.send(_with_id(answer, msg_id))

    def _require_wallet(self) -> str:
        if self.wallet is None:
            raise ProtocolError("auth_required", "authenticate first")
        return self.wallet

    # --- commands ----------------------------------------------------------------------

    def _authorize(self, kind: str) -> str:
        wallet = self._require_wallet()
        if kind in ADMIN_COMMANDS and self.role != "admin":
            raise ProtocolError("forbidden", f"{kind} needs the admin role")
        return wallet

    def _order_rate(self, wallet: str, count: int) -> None:
        wait_ms = self.services.order_rate.take(wallet, count)
        if wait_ms:
            raise _rate_limited(wait_ms)

    async def _command(self, message: dict[str, Any], msg_id: Any) -> None:
        parsed = parse_command(message)
        wallet = self._authorize(message["type"])
        self._order_rate(wallet, 1)
        if self.services.stopping:
            raise ProtocolError("unavailable", "the exchange is shutting down")
        waiter = CallbackWaiter(
            lambda answer: self._answer_command(answer, msg_id, parsed.request_id)
        )
        await self.services.send(
            [Submission(wallet, parsed.request_id, parsed.ts, parsed.command, waiter)]
        )

    def _answer_command(self, answer: Any, msg_id: Any, request_id: str) -> None:
        if isinstance(answer, Reply):
            self.services.metrics.result(answer.result)
            self.send(_with_id(to_wire(answer.result), msg_id))
        else:
            self.error(ProtocolError(answer.code, answer.message), msg_id, request_id)

    # --- RFQ -------------------------------------------------------------------------

    async def _request_quote(self, message: dict[str, Any], msg_id: Any) -> None:
        wallet = self._require_wallet()
        services = self.services
        listed = await services.query(instruments_of(leg_symbols(message)))
        rfq = services.rfq.open(wallet, message, listed, services.clock.now_ms())
        self.send(_with_id({"type": "RfqOpened", "rfq_id": rfq.rfq_id}, msg_id))
        services.fanout.deliver_to_quoters(request_message(rfq), except_wallet=wallet)

    async def _quote(self, message: dict[str, Any], msg_id: Any) -> None:
        wallet = self._require_wallet()
        if self.role not in QUOTER_ROLES:
            raise ProtocolError("forbidden", "quoting needs the quoter role")
        services = self.services
        rfq, quote = services.rfq.quote(wallet, message, services.clock.now_ms())
        ack = {"type": "QuoteAck", "rfq_id": rfq.rfq_id, "quote_id": quote.quote_id}
        self.send(_with_id(ack, msg_id))
        # Every leg's symbol is the RFQ's, listed when it opened; instruments are never
        # unlisted, so all are found.
        listed = await services.query(instruments_of(symbol for symbol, *_ in quote.legs))
        services.fanout.deliver_to(RFQ, rfq.taker, quote_message(rfq, quote, listed))

    async def _accept_quote(self, message: dict[str, Any], msg_id: Any) -> None:
        request_id = f.request_id(message)
        ts = f.req_integer(message, "ts")
        rfq_id = f.request_id(message, "rfq_id")
        quote_id = f.request_id(message, "quote_id")
        wallet = self._require_wallet()
        self._order_rate(wallet, 1)
        if self.services.stopping:
            raise ProtocolError("unavailable", "the exchange is shutting down")
        desk = self.services.rfq
        command = desk.acceptance(wallet, rfq_id, quote_id)

        def answer(reply: Any) -> None:
            if isinstance(reply, Reply) and getattr(reply.result, "status", None) == "filled":
                desk.filled(rfq_id)
            self._answer_command(reply, msg_id, request_id)

        await self.services.send(
            [Submission(wallet, request_id, ts, command, CallbackWaiter(answer))]
        )

    async def _bulk(self, message: dict[str, Any], msg_id: Any) -> None:
        items = bulk_items(message)
        wallet = self._require_wallet()
        self._order_rate(wallet, len(items))
        if self.services.stopping:
            raise ProtocolError("unavailable", "the exchange is shutting down")
        header: dict[str, Any] = {"type": "BulkResult"}
        if msg_id is not None:
            header["id"] = msg_id
        wrapper_request = message.get("request_id")
        if isinstance(wrapper_request, str):
            header["request_id"] = wrapper_request
        bulk = _Bulk(self, header, len(items))
        results = bulk.results
        submissions = []
        for index, item in enumerate(items):
            try:
                if not isinstance(item, dict) or item.get("type") not in BULK_ITEM_TYPES:
                    raise invalid_field(
                        f"orders[{index}].type", "must be PlaceOrder, CancelOrder or ReplaceOrder"
                    )
                request_id, ts, command = parse_command(item)
            except ProtocolError as exc:
                wire = exc.to_wire(None, _request_id_of(item))
                if exc.field is not None and not exc.field.startswith("orders["):
                    wire["field"] = f"orders[{index}].{exc.field}"
                results[index] = wire
                continue
            submissions.append(
                Submission(wallet, request_id, ts, command, _BulkSlot(bulk, index, request_id))
            )
        bulk.remaining = len(submissions)
        if submissions:
            await self.services.send(submissions)  # type: ignore[arg-type]
        else:
            bulk.finish()

    # --- reads -------------------------------------------------------------------------

    async def _query(self, kind: str, message: dict[str, Any], msg_id: Any) -> None:
        read: Callable[[Engine], Any]
        if kind == "GetInstruments":
            read = _instruments
        else:
            wallet = self._require_wallet()
            if kind == "GetOpenOrders":
                symbol = f.string(message, "symbol", optional=True)
                read = _open_orders(wallet, symbol)
            elif kind == "GetPortfolio":
                read = _portfolio(wallet)
            else:
                read = self._get_order(wallet, message)
        await self.services.send(
            [QueryItem(read, CallbackWaiter(lambda answer: self._answer_query(answer, msg_id)))]
        )

    def _answer_query(self, answer: Any, msg_id: Any) -> None:
        if callable(answer):
            answer = answer()
        if isinstance(answer, ProtocolError):
            self.error(answer, msg_id)
        else:
            self.send(_with_id(answer, msg_id))

    def _get_order(self, wallet: str, message: dict[str, Any]) -> Callable[[Engine], Any]:
        order_id = f.integer(message, "order_id", optional=True, minimum=1)
        client_id = f.string(message, "client_id", optional=True, max_length=36)
        request_id = f.request_id(message) if message.get("request_id") is not None else None
        if sum(x is not None for x in (order_id, client_id, request_id)) != 1:
            raise invalid_field("order_id", "give exactly one of order_id, client_id, request_id")
        recent = self.services.fanout.recent_orders
        services = self.services

        def read(engine: Engine) -> Any:
            wanted = order_id
            if request_id is not None:
                stored = services.stored_result(wallet, request_id)
                wanted = getattr(stored, "order_id", None)
                if wanted is None:
                    return ProtocolError("not_found", "no order was placed by that request")
            found = engine.open_order(wallet, order_id=wanted, client_id=client_id)
            if found is not None:
                return order_message(found)
            if wanted is None:
                return ProtocolError("not_found", "no such order of this wallet")
            # Closed orders are remembered by the release stage: look there when this
            # answer is released, after the command that closed the order has been.
            return partial(_closed_order, recent, wallet, wanted)

        return read

    # --- subscriptions -----------------------------------------------------------------

    async def _subscribe(self, message: dict[str, Any], msg_id: Any) -> None:
        channel = f.choice(message, "channel", CHANNELS)
        symbol = f.string(message, "symbol", optional=True)
        from_seq = f.integer(message, "from_seq", optional=True)
        confirm = _with_id({"type": "Subscribed", "channel": channel}, msg_id)
        if symbol is not None:
            confirm["symbol"] = symbol
        fanout = self.services.fanout
        if channel in PRIVATE_CHANNELS:
            wallet = self._require_wallet()
            key: str | None = wallet
        elif channel == BOOK:
            if symbol is None:
                raise invalid_field("symbol", "is required for the book channel")
            key = symbol
        elif channel == TRADES:
            key = symbol
        elif channel == RFQ:
            key = self._require_wallet()
            if self.role in QUOTER_ROLES and (RFQ_QUOTERS, key) not in self.subscriptions:
                requests = Subscription(self.outbound)
                self.subscriptions[(RFQ_QUOTERS, key)] = requests
                fanout.add(RFQ_QUOTERS, key, requests)
        else:
            key = None
        if (channel, key) in self.subscriptions:
            self.send(confirm)
            return
        if channel == BOOK:
            await self._subscribe_book(key, confirm)  # type: ignore[arg-type]
            return
        if channel == "trades" and from_seq is not None:
            history.resume_trades(self, symbol, from_seq, confirm)
            return
        if channel in PRIVATE_CHANNELS and from_seq is not None:
            await self._resume(channel, key, from_seq, confirm)  # type: ignore[arg-type]
            return
        subscription = Subscription(self.outbound, urgent=channel not in PUBLIC_CHANNELS)
        self.subscriptions[(channel, key)] = subscription
        fanout.add(channel, key, subscription)
        self.send(confirm)

    async def _subscribe_book(self, symbol: str, confirm: dict[str, Any]) -> None:
        def read(engine: Engine) -> Any:
            return engine.book_depth(symbol)

        def answer(depth: Any) -> None:
            # Runs in the release stage, in sequence: updates after this point follow the
            # snapshot with no gap.
            if depth is None:
                self.error(invalid_field("symbol", f"unknown symbol {symbol!r}"), confirm.get("id"))
                return
            book_seq, bids, asks = depth
            subscription = Subscription(self.outbound, urgent=False)
            self.subscriptions[(BOOK, symbol)] = subscription
            self.services.fanout.add(BOOK, symbol, subscription)
            self.send(confirm)
            self.send(book_snapshot_message(symbol, book_seq, bids, asks))

        await self.services.send([QueryItem(read, CallbackWaiter(answer))])

    async def _resume(
        self, channel: str, wallet: str, from_seq: int, confirm: dict[str, Any]
    ) -> None:
        services = self.services
        subscription = Subscription(self.outbound, buffering=True)
        self.subscriptions[(channel, wallet)] = subscription
        services.fanout.add(channel, wallet, subscription)
        boundary = services.released_seq
        first_kept = await services.first_kept_seq()
        if from_seq < first_kept - 1:
            services.fanout.remove(channel, wallet, subscription)
            del self.subscriptions[(channel, wallet)]
            raise ProtocolError(
                "resume_unavailable", f"the journal keeps seq {first_kept} onward", "from_seq"
            )
        self.send(confirm)
        if from_seq < boundary:
            for event in await services.history(wallet, channel, from_seq, boundary):
                self.outbound.offer(to_wire(event))
        subscription.go_live()

    def _unsubscribe(self, message: dict[str, Any], msg_id: Any) -> None:
        channel = f.choice(message, "channel", CHANNELS)
        symbol = f.string(message, "symbol", optional=True)
        key = self.wallet if channel in (*PRIVATE_CHANNELS, RFQ) else symbol
        if channel == RFQ:
            requests = self.subscriptions.pop((RFQ_QUOTERS, key), None)
            if requests is not None:
                self.services.fanout.remove(RFQ_QUOTERS, key, requests)
        subscription = self.subscriptions.pop((channel, key), None)
        if subscription is not None:
            self.services.fanout.remove(channel, key, subscription)
        out = _with_id({"type": "Unsubscribed", "channel": channel}, msg_id)
        if symbol is not None:
            out["symbol"] = symbol
        self.send(out)

    def _drop_private_subscriptions(self) -> None:
        for (channel, key), subscription in list(self.subscriptions.items()):
            if channel in (*PRIVATE_CHANNELS, RFQ, RFQ_QUOTERS):
                self.services.fanout.remove(channel, key, subscription)
                del self.subscriptions[(channel, key)]

    def close(self) -> None:
        for (channel, key), subscription in self.subscriptions.items():
            self.services.fanout.remove(channel, key, subscription)
        self.subscriptions.clear()
        self.outbound.close()


# --- helpers ---------------------------------------------------------------------------


def _with_id(message: dict[str, Any], msg_id: Any) -> dict[str, Any]:
    if msg_id is not None:
        message["id"] = msg_id
    return message


def _rate_limited(wait_ms: float) -> ProtocolError:
    return ProtocolError("rate_limited", "rate limit exceeded", retry_after_ms=int(wait_ms) + 1)


def _request_id_of(item: Any) -> str | None:
    if isinstance(item, dict) and isinstance(item.get("request_id"), str):
        value: str = item["request_id"][:64]
        return value
    return None


class _Bulk:
    """One ``BulkOrders`` message waiting for its items' answers: a single ``BulkResult``
    goes out when the last one is in."""

    __slots__ = ("header", "remaining", "results", "session")

    def __init__(self, session: Session, header: dict[str, Any], count: int) -> None:
        self.session = session
        self.header = header
        self.results: list[Any] = [None] * count
        self.remaining = 0

    def finish(self) -> None:
        self.header["results"] = self.results
        self.session.send(self.header)


class _BulkSlot:
    """The waiter of one item of a ``BulkOrders``: fills its place in the results."""

    __slots__ = ("bulk", "index", "request_id")

    def __init__(self, bulk: _Bulk, index: int, request_id: str) -> None:
        self.bulk = bulk
        self.index = index
        self.request_id = request_id

    def resolve(self, answer: Any) -> None:
        bulk = self.bulk
        if isinstance(answer, Reply):
            bulk.results[self.index] = to_wire(answer.result)
        elif isinstance(answer, Refusal):
            bulk.results[self.index] = ProtocolError(answer.code, answer.message).to_wire(
                None, self.request_id
            )
        bulk.remaining -= 1
        if bulk.remaining == 0:
            bulk.finish()


def _closed_order(recent: Any, wallet: str, order_id: int) -> Any:
    closed = recent.get(order_id)
    if closed is None or closed.wallet != wallet:
        return ProtocolError("not_found", "no such order of this wallet")
    return order_message(closed)


def _instruments(engine: Engine) -> dict[str, Any]:
    return instruments_message(engine.instruments())


def _open_orders(wallet: str, symbol: str | None) -> Callable[[Engine], dict[str, Any]]:
    def read(engine: Engine) -> dict[str, Any]:
        return open_orders_message(engine.open_orders(wallet, symbol), engine.last_seq)

    return read


def _portfolio(wallet: str) -> Callable[[Engine], dict[str, Any]]:
    def read(engine: Engine) -> dict[str, Any]:
        return portfolio_message(
            wallet, engine.balance(wallet), engine.positions(wallet), engine.last_seq
        )

    return read
