"""A simulator session: ``hcx.client.Client``'s calls as plain synchronous methods; it
owns one wallet's calls and never sequences or touches state itself.

The command methods are the client's own (``hcx.client.builders``: the same arguments,
the same ``Request``, stamped with the simulator's clock and the wallet's seeded ids),
bound to a synchronous ``submit``: the request is read by the gateway's own checks
(``typed.command_of``: an error names the field) and sequenced by the simulator; answers
are the client's typed classes, protocol errors raise ``HcxError``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from hcx.client import builders as build
from hcx.client.builders import sync_call
from hcx.client.calls import expect
from hcx.client.errors import HcxError
from hcx.client.messages import (
    BulkResult,
    Instrument,
    Instruments,
    OpenOrders,
    Order,
    Pong,
    Portfolio,
    QuoteAck,
    QuoteLeg,
    RfqLeg,
    RfqResult,
    Trade,
    Trades,
    parse_message,
)
from hcx.client.requests import AcceptQuoteRequest, OrderRequest, Request
from hcx.durability.trade_history import TradeHistory
from hcx.engine import Engine
from hcx.engine.commands import Command
from hcx.protocol import fields as f
from hcx.protocol.commands import BULK_ITEM_TYPES, bulk_items, parse_command
from hcx.protocol.errors import ProtocolError, invalid_field
from hcx.protocol.messages import (
    instruments_message,
    open_orders_message,
    portfolio_message,
    to_wire,
)
from hcx.protocol.rfq import RfqDesk, quote_message, request_message
from hcx.protocol.trades import read_get_trades, trades_message
from hcx.simulator.typed import as_hcx_error, command_of, request_id_of, typed

R = TypeVar("R")


class Exchange(Protocol):
    """What a session needs of its simulator."""

    rfq: RfqDesk
    recent_orders: Any
    trade_history: TradeHistory
    closed: bool

    @property
    def engine(self) -> Engine: ...

    def now_ms(self) -> int: ...

    def apply(self, wallet: str, request_id: str, client_ts: int, command: Command) -> Any: ...

    def stored_result(self, wallet: str, request_id: str) -> Any: ...

    def deliver(self, key: tuple[str, str | None], message: dict[str, Any]) -> None: ...

    def deliver_to_quoters(self, message: dict[str, Any], except_wallet: str) -> None: ...

    def queue(
        self, channel: str, *, wallet: str | None = None, symbol: str | None = None
    ) -> Any: ...

    def _check_open(self) -> None: ...


class SimSession:
    def __init__(self, sim: Exchange, wallet: str, request_ids: Callable[[], str]) -> None:
        self._sim = sim
        self.wallet = wallet
        self.role = "admin"
        self._new_request_id = request_ids
        self._now_ms = sim.now_ms

    # --- the path of every command -----------------------------------------------------

    def submit(self, request: Request[R]) -> R:
        """Send a prepared request (or the same one again) and return its result, of the
        request's own ``RESULT`` type."""
        sim = self._sim
        if sim.closed:
            sim._check_open()
        if type(request) is AcceptQuoteRequest:
            return self._accept(request)  # type: ignore[return-value]
        try:
            request_id, ts, command = command_of(request)
        except ProtocolError as exc:
            raise as_hcx_error(exc, {"request_id": request.request_id}) from None
        result: R = expect(typed(sim.apply(self.wallet, request_id, ts, command)), request.RESULT)
        return result

    place_order = sync_call(build.place_order)
    cancel_order = sync_call(build.cancel_order)
    replace_order = sync_call(build.replace_order)
    cancel_all = sync_call(build.cancel_all)
    withdraw = sync_call(build.withdraw)
    set_mmp = sync_call(build.set_mmp)
    cancel_after = sync_call(build.cancel_after)
    reset_mmp = sync_call(build.reset_mmp)
    accept_quote = sync_call(build.accept_quote)
    create_instrument = sync_call(build.create_instrument)
    deposit = sync_call(build.deposit)
    set_index_price = sync_call(build.set_index_price)
    halt_instrument = sync_call(build.halt_instrument)
    resume_instrument = sync_call(build.resume_instrument)
    settle = sync_call(build.settle)

    def ping(self) -> Pong:
        self._sim._check_open()
        return Pong(server_ms=self._sim.now_ms())

    def bulk_orders(self, orders: Sequence[OrderRequest]) -> BulkResult:
        """Up to 50 order requests; each succeeds or fails on its own, in order."""
        sim = self._sim
        sim._check_open()
        message = build.bulk_message(orders)
        try:
            items = bulk_items(message)
        except ProtocolError as exc:
            raise as_hcx_error(exc, message) from None
        results: list[Any] = []
        for index, item in enumerate(items):
            try:
                if not isinstance(item, dict) or item.get("type") not in BULK_ITEM_TYPES:
                    raise invalid_field(
                        f"orders[{index}].type", "must be PlaceOrder, CancelOrder or ReplaceOrder"
                    )
                request_id, ts, command = parse_command(item)
            except ProtocolError as exc:
                wire = exc.to_wire(None, request_id_of(item))
                if exc.field is not None and not exc.field.startswith("orders["):
                    wire["field"] = f"orders[{index}].{exc.field}"
                results.append(wire)
                continue
            answer = sim.apply(self.wallet, request_id, ts, command)
            results.append(answer if type(answer) is dict else to_wire(answer))
        return expect(parse_message({"type": "BulkResult", "results": results}), BulkResult)

    # --- RFQ (not journaled) -----------------------------------------------------------

    def request_quote(self, legs: Sequence[RfqLeg], *, rfq_id: str | None = None) -> str:
        """Open an RFQ (legs from the taker's side); returns its ``rfq_id``. Every
        other wallet's ``rfq`` channel gets the ``RfqRequest``."""
        sim = self._sim
        sim._check_open()
        message = build.request_quote_message(self, legs, rfq_id)
        try:
            rfq = sim.rfq.open(self.wallet, message, sim.engine.state.instruments, sim.now_ms())
        except ProtocolError as exc:
            raise as_hcx_error(exc, message) from None
        sim.deliver_to_quoters(request_message(rfq), except_wallet=self.wallet)
        return rfq.rfq_id

    def quote(
        self,
        rfq_id: str,
        legs: Sequence[QuoteLeg],
        valid_ms: int,
        mmp: bool = False,
        *,
        quote_id: str | None = None,
    ) -> QuoteAck:
        """Quote an RFQ (the quoter's own sides); the taker's ``rfq`` channel gets it."""
        sim = self._sim
        sim._check_open()
        message = build.quote_message(self, rfq_id, legs, valid_ms, mmp, quote_id)
        try:
            rfq, quote = sim.rfq.quote(self.wallet, message, sim.now_ms())
        except ProtocolError as exc:
            raise as_hcx_error(exc, message) from None
        sim.deliver(("rfq", rfq.taker), quote_message(rfq, quote, sim.engine.state.instruments))
        return QuoteAck(rfq_id=rfq.rfq_id, quote_id=quote.quote_id)

    def _accept(self, request: AcceptQuoteRequest) -> RfqResult:
        """``AcceptQuote``: the desk makes the engine command of the quote (as the
        gateway's RFQ handling does), then it is sequenced like any command."""
        sim = self._sim
        message = request.to_wire()
        try:
            request_id = f.request_id(message)
            client_ts = f.req_integer(message, "ts")
            rfq_id = f.request_id(message, "rfq_id")
            quote_id = f.request_id(message, "quote_id")
        except ProtocolError as exc:
            raise as_hcx_error(exc, message) from None
        command = sim.rfq.acceptance(self.wallet, rfq_id, quote_id)
        return expect(typed(sim.apply(self.wallet, request_id, client_ts, command)), RfqResult)

    # --- queries -----------------------------------------------------------------------

    def get_open_orders(self, symbol: str | None = None) -> OpenOrders:
        self._sim._check_open()
        message = build.open_orders_message(symbol)
        try:
            symbol = f.string(message, "symbol", optional=True)
        except ProtocolError as exc:
            raise as_hcx_error(exc) from None
        engine = self._sim.engine
        answer = open_orders_message(engine.open_orders(self.wallet, symbol), engine.last_seq)
        return expect(parse_message(answer), OpenOrders)

    def get_portfolio(self) -> Portfolio:
        self._sim._check_open()
        engine, wallet = self._sim.engine, self.wallet
        answer = portfolio_message(
            wallet, engine.balance(wallet), engine.positions(wallet), engine.last_seq
        )
        return expect(parse_message(answer), Portfolio)

    def get_order(
        self,
        order_id: int | None = None,
        *,
        client_id: str | None = None,
        request_id: str | None = None,
    ) -> Order:
        """One own order, open or recently closed; ``HcxError("not_found")`` otherwise."""
        sim = self._sim
        sim._check_open()
        message = build.get_order_message(order_id, client_id, request_id)
        try:
            order_id = f.integer(message, "order_id", optional=True, minimum=1)
            client_id = f.string(message, "client_id", optional=True, max_length=36)
            request_id = f.request_id(message) if request_id is not None else None
            if sum(x is not None for x in (order_id, client_id, request_id)) != 1:
                raise invalid_field(
                    "order_id", "give exactly one of order_id, client_id, request_id"
                )
        except ProtocolError as exc:
            raise as_hcx_error(exc) from None
        wanted = order_id
        if request_id is not None:
            stored = sim.stored_result(self.wallet, request_id)
            wanted = getattr(stored, "order_id", None)
            if wanted is None:
                raise HcxError("not_found", "no order was placed by that request")
        found = sim.engine.open_order(self.wallet, order_id=wanted, client_id=client_id)
        if found is None and wanted is not None:
            closed = sim.recent_orders.get(wanted)
            found = closed if closed is not None and closed.wallet == self.wallet else None
        if found is None:
            raise HcxError("not_found", "no such order of this wallet")
        return expect(parse_message({**to_wire(found), "type": "Order"}), Order)

    def get_instruments(self) -> tuple[Instrument, ...]:
        self._sim._check_open()
        answer = expect(
            parse_message(instruments_message(self._sim.engine.instruments())), Instruments
        )
        return answer.instruments

    def get_trades(
        self, symbol: str, *, from_seq: int | None = None, limit: int | None = None
    ) -> tuple[Trade, ...]:
        """``symbol``'s trades with ``seq >= from_seq`` (else the latest), oldest first,
        at most ``limit`` (1 to 1000, default 100): the journal's whole history, as
        ``hcx serve`` answers it."""
        sim = self._sim
        sim._check_open()
        try:
            symbol, from_seq, limit = read_get_trades(build.trades_message(symbol, from_seq, limit))
        except ProtocolError as exc:
            raise as_hcx_error(exc) from None
        rows = sim.trade_history.page(symbol, from_seq, limit)
        return expect(parse_message(trades_message(symbol, rows, None)), Trades).trades

    # --- channels (queues filled as commands apply) ------------------------------------

    def subscribe_book(self, symbol: str) -> Any:
        """A queue: the ``BookSnapshot`` now, then every ``BookUpdate``."""
        return self._sim.queue("book", symbol=symbol)

    def subscribe_trades(self, symbol: str | None = None) -> Any:
        return self._sim.queue("trades", symbol=symbol)

    def subscribe_instruments(self) -> Any:
        return self._sim.queue("instruments")

    def subscribe_orders(self) -> Any:
        return self._sim.queue("orders", wallet=self.wallet)

    def subscribe_fills(self) -> Any:
        return self._sim.queue("fills", wallet=self.wallet)

    def subscribe_portfolio(self) -> Any:
        return self._sim.queue("portfolio", wallet=self.wallet)

    def subscribe_rfq(self) -> Any:
        """``RfqRequest`` of every other wallet's RFQ, ``RfqQuote`` on one's own."""
        return self._sim.queue("rfq", wallet=self.wallet)
