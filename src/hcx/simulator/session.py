"""A simulator session: ``hcx.client.Client``'s calls as plain synchronous methods.

Every command is built as the client builds it (the same request classes, the same wire
message, stamped with the simulator's clock and the wallet's seeded ids), checked by the
gateway's own parsing (``parse_command``: an error names the field) and sequenced by the
simulator; answers are the client's typed classes, protocol errors raise ``HcxError``.
It owns the request shapes of one wallet; it never sequences or touches state itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

import attrs

from hcx.client.errors import HcxError
from hcx.client.messages import (
    AdminResult,
    BalanceResult,
    BulkResult,
    CancelAllResult,
    Instrument,
    Instruments,
    MmpResult,
    OpenOrders,
    OptionKind,
    Order,
    OrderResult,
    Pong,
    Portfolio,
    QuoteAck,
    QuoteLeg,
    RfqLeg,
    RfqResult,
    SelfTradePrevention,
    Side,
    TimeInForce,
    parse_message,
)
from hcx.client.requests import (
    AcceptQuoteRequest,
    Amount,
    CancelAllRequest,
    CreateInstrumentRequest,
    DepositRequest,
    HaltInstrumentRequest,
    OrderRequest,
    ReplaceOrderRequest,
    Request,
    ResetMmpRequest,
    SetIndexPriceRequest,
    SetMmpRequest,
    SettleRequest,
    WithdrawRequest,
    decimal_string,
    leg_wire,
)
from hcx.engine import Engine
from hcx.engine.commands import Command
from hcx.engine.numbers import format_decimal
from hcx.engine.outputs import OrderResult as EngineOrderResult
from hcx.protocol import fields as f
from hcx.protocol.commands import BULK_ITEM_TYPES, bulk_items, parse_command
from hcx.protocol.errors import ProtocolError, invalid_field
from hcx.protocol.messages import (
    DECIMAL_FIELDS,
    instruments_message,
    open_orders_message,
    portfolio_message,
    to_wire,
)
from hcx.protocol.rfq import RfqDesk, quote_message, request_message

R = TypeVar("R")


class Exchange(Protocol):
    """What a session needs of its simulator."""

    rfq: RfqDesk
    recent_orders: Any

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

    # --- the path of every command -----------------------------------------------------

    def _stamp(self, request_id: str | None, ts: int | None) -> dict[str, Any]:
        return {
            "request_id": request_id or self._new_request_id(),
            "ts": self._sim.now_ms() if ts is None else ts,
        }

    def _command(self, request: Request[Any], cls: type[R]) -> R:
        return _expect(self._answer(request.to_wire()), cls)

    def _answer(self, message: dict[str, Any]) -> Any:
        sim = self._sim
        sim._check_open()
        try:
            request_id, ts, command = parse_command(message)
        except ProtocolError as exc:
            raise as_hcx_error(exc, message) from None
        return typed(sim.apply(self.wallet, request_id, ts, command))

    def submit(self, request: Request[R]) -> R:
        """Send a prepared request (or the same one again) and return its result, of the
        request's own ``RESULT`` type."""
        answer: R = _expect(self._answer(request.to_wire()), request.RESULT)
        return answer

    def ping(self) -> Pong:
        self._sim._check_open()
        return Pong(server_ms=self._sim.now_ms())

    # --- orders ------------------------------------------------------------------------

    def place_order(
        self,
        symbol: str,
        side: Side,
        price: Amount,
        size: Amount,
        *,
        tif: TimeInForce | None = None,
        post_only: bool | None = None,
        reduce_only: bool | None = None,
        mmp: bool | None = None,
        client_id: str | None = None,
        stp: SelfTradePrevention | None = None,
        request_id: str | None = None,
        ts: int | None = None,
    ) -> OrderResult:
        # The message ``PlaceOrderRequest(...).to_wire()`` gives (a test holds them equal),
        # without building the request object: this is the hot call of a backtest.
        message = {
            "type": "PlaceOrder",
            "request_id": request_id or self._new_request_id(),
            "ts": self._sim.now_ms() if ts is None else ts,
            "symbol": symbol,
            "side": side,
            "price": decimal_string(price),
            "size": decimal_string(size),
        }
        if tif is not None:
            message["tif"] = tif
        if post_only is not None:
            message["post_only"] = post_only
        if reduce_only is not None:
            message["reduce_only"] = reduce_only
        if mmp is not None:
            message["mmp"] = mmp
        if client_id is not None:
            message["client_id"] = client_id
        if stp is not None:
            message["stp"] = stp
        return _expect(self._answer(message), OrderResult)

    def cancel_order(
        self,
        order_id: int | None = None,
        *,
        client_id: str | None = None,
        request_id: str | None = None,
        ts: int | None = None,
    ) -> OrderResult:
        message: dict[str, Any] = {
            "type": "CancelOrder",
            "request_id": request_id or self._new_request_id(),
            "ts": self._sim.now_ms() if ts is None else ts,
        }
        if order_id is not None:
            message["order_id"] = order_id
        if client_id is not None:
            message["client_id"] = client_id
        return _expect(self._answer(message), OrderResult)

    def replace_order(
        self,
        order_id: int,
        price: Amount,
        size: Amount,
        *,
        tif: TimeInForce | None = None,
        post_only: bool | None = None,
        reduce_only: bool | None = None,
        mmp: bool | None = None,
        client_id: str | None = None,
        request_id: str | None = None,
        ts: int | None = None,
    ) -> OrderResult:
        request = ReplaceOrderRequest(
            order_id=order_id,
            price=price,
            size=size,
            tif=tif,
            post_only=post_only,
            reduce_only=reduce_only,
            mmp=mmp,
            client_id=client_id,
            **self._stamp(request_id, ts),
        )
        return self._command(request, OrderResult)

    def cancel_all(
        self,
        *,
        symbol: str | None = None,
        underlying: str | None = None,
        request_id: str | None = None,
        ts: int | None = None,
    ) -> CancelAllResult:
        request = CancelAllRequest(
            symbol=symbol, underlying=underlying, **self._stamp(request_id, ts)
        )
        return self._command(request, CancelAllResult)

    def bulk_orders(self, orders: Sequence[OrderRequest]) -> BulkResult:
        """Up to 50 order requests; each succeeds or fails on its own, in order."""
        sim = self._sim
        sim._check_open()
        message = {"type": "BulkOrders", "orders": [order.to_wire() for order in orders]}
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
                wire = exc.to_wire(None, _request_id_of(item))
                if exc.field is not None and not exc.field.startswith("orders["):
                    wire["field"] = f"orders[{index}].{exc.field}"
                results.append(wire)
                continue
            answer = sim.apply(self.wallet, request_id, ts, command)
            results.append(answer if type(answer) is dict else to_wire(answer))
        return _expect(parse_message({"type": "BulkResult", "results": results}), BulkResult)

    def withdraw(
        self, amount: Amount, *, request_id: str | None = None, ts: int | None = None
    ) -> BalanceResult:
        request = WithdrawRequest(amount=amount, **self._stamp(request_id, ts))
        return self._command(request, BalanceResult)

    # --- market maker protection -------------------------------------------------------

    def set_mmp(
        self,
        underlying: str,
        *,
        interval_ms: int,
        frozen_ms: int,
        qty_limit: Amount | None = None,
        delta_limit: Amount | None = None,
        enabled: bool = True,
        request_id: str | None = None,
        ts: int | None = None,
    ) -> MmpResult:
        request = SetMmpRequest(
            underlying=underlying,
            interval_ms=interval_ms,
            frozen_ms=frozen_ms,
            qty_limit=qty_limit,
            delta_limit=delta_limit,
            enabled=enabled,
            **self._stamp(request_id, ts),
        )
        return self._command(request, MmpResult)

    def reset_mmp(
        self, underlying: str, *, request_id: str | None = None, ts: int | None = None
    ) -> MmpResult:
        request = ResetMmpRequest(underlying=underlying, **self._stamp(request_id, ts))
        return self._command(request, MmpResult)

    # --- RFQ ---------------------------------------------------------------------------

    def request_quote(self, legs: Sequence[RfqLeg], *, rfq_id: str | None = None) -> str:
        """Open an RFQ (legs from the taker's side); returns its ``rfq_id``. Every
        other wallet's ``rfq`` channel gets the ``RfqRequest``."""
        sim = self._sim
        sim._check_open()
        message = {
            "type": "RequestQuote",
            "rfq_id": rfq_id or self._new_request_id(),
            "legs": [leg_wire(leg) for leg in legs],
        }
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
        message: dict[str, Any] = {
            "type": "Quote",
            "rfq_id": rfq_id,
            "quote_id": quote_id or self._new_request_id(),
            "legs": [leg_wire(leg) for leg in legs],
            "valid_ms": valid_ms,
        }
        if mmp:
            message["mmp"] = True
        try:
            rfq, quote = sim.rfq.quote(self.wallet, message, sim.now_ms())
        except ProtocolError as exc:
            raise as_hcx_error(exc, message) from None
        sim.deliver(("rfq", rfq.taker), quote_message(rfq, quote, sim.engine.state.instruments))
        return QuoteAck(rfq_id=rfq.rfq_id, quote_id=quote.quote_id)

    def accept_quote(
        self, rfq_id: str, quote_id: str, *, request_id: str | None = None, ts: int | None = None
    ) -> RfqResult:
        """Execute a quote on one's own RFQ: all legs at the quoted prices, or none."""
        sim = self._sim
        sim._check_open()
        message = AcceptQuoteRequest(
            rfq_id=rfq_id, quote_id=quote_id, **self._stamp(request_id, ts)
        ).to_wire()
        try:
            request_id_ = f.request_id(message)
            client_ts = f.req_integer(message, "ts")
            rfq_id_ = f.request_id(message, "rfq_id")
            quote_id_ = f.request_id(message, "quote_id")
        except ProtocolError as exc:
            raise as_hcx_error(exc, message) from None
        command = sim.rfq.acceptance(self.wallet, rfq_id_, quote_id_)
        return _expect(typed(sim.apply(self.wallet, request_id_, client_ts, command)), RfqResult)

    # --- admin commands ----------------------------------------------------------------

    def create_instrument(
        self,
        symbol: str,
        underlying: str,
        expiry_ms: int,
        strike: Amount,
        option: OptionKind,
        tick_size: Amount,
        lot_size: Amount,
        *,
        multiplier: Amount | None = None,
        maker_fee_bps: int | None = None,
        taker_fee_bps: int | None = None,
        request_id: str | None = None,
        ts: int | None = None,
    ) -> AdminResult:
        request = CreateInstrumentRequest(
            symbol=symbol,
            underlying=underlying,
            expiry_ms=expiry_ms,
            strike=strike,
            option=option,
            tick_size=tick_size,
            lot_size=lot_size,
            multiplier=multiplier,
            maker_fee_bps=maker_fee_bps,
            taker_fee_bps=taker_fee_bps,
            **self._stamp(request_id, ts),
        )
        return self._command(request, AdminResult)

    def deposit(
        self, wallet: str, amount: Amount, *, request_id: str | None = None, ts: int | None = None
    ) -> AdminResult:
        request = DepositRequest(wallet=wallet, amount=amount, **self._stamp(request_id, ts))
        return self._command(request, AdminResult)

    def set_index_price(
        self,
        underlying: str,
        price: Amount,
        *,
        vol: Amount | None = None,
        request_id: str | None = None,
        ts: int | None = None,
    ) -> AdminResult:
        request = SetIndexPriceRequest(
            underlying=underlying, price=price, vol=vol, **self._stamp(request_id, ts)
        )
        return self._command(request, AdminResult)

    def halt_instrument(
        self, symbol: str, *, request_id: str | None = None, ts: int | None = None
    ) -> AdminResult:
        request = HaltInstrumentRequest(symbol=symbol, **self._stamp(request_id, ts))
        return self._command(request, AdminResult)

    def settle(
        self, symbol: str, price: Amount, *, request_id: str | None = None, ts: int | None = None
    ) -> AdminResult:
        request = SettleRequest(symbol=symbol, price=price, **self._stamp(request_id, ts))
        return self._command(request, AdminResult)

    # --- queries -----------------------------------------------------------------------

    def get_open_orders(self, symbol: str | None = None) -> OpenOrders:
        self._sim._check_open()
        message: dict[str, Any] = {"symbol": symbol} if symbol is not None else {}
        try:
            symbol = f.string(message, "symbol", optional=True)
        except ProtocolError as exc:
            raise as_hcx_error(exc) from None
        engine = self._sim.engine
        answer = open_orders_message(engine.open_orders(self.wallet, symbol), engine.last_seq)
        return _expect(parse_message(answer), OpenOrders)

    def get_portfolio(self) -> Portfolio:
        self._sim._check_open()
        engine, wallet = self._sim.engine, self.wallet
        answer = portfolio_message(
            wallet, engine.balance(wallet), engine.positions(wallet), engine.last_seq
        )
        return _expect(parse_message(answer), Portfolio)

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
        message = {
            key: value
            for key, value in (
                ("order_id", order_id),
                ("client_id", client_id),
                ("request_id", request_id),
            )
            if value is not None
        }
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
        return _expect(parse_message({**to_wire(found), "type": "Order"}), Order)

    def get_instruments(self) -> tuple[Instrument, ...]:
        self._sim._check_open()
        answer = _expect(
            parse_message(instruments_message(self._sim.engine.instruments())), Instruments
        )
        return answer.instruments

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


def _request_id_of(item: Any) -> str | None:
    if isinstance(item, dict) and isinstance(item.get("request_id"), str):
        value: str = item["request_id"][:64]
        return value
    return None


def _order_result_converter() -> Callable[[Any], OrderResult]:
    """Engine ``OrderResult`` -> client ``OrderResult`` in one call: what
    ``parse_message(to_wire(result))`` gives (a test holds them equal), without the wire
    dict between; every order call's answer passes here."""
    args = []
    for field in attrs.fields(OrderResult):
        name = field.name
        if name in DECIMAL_FIELDS and field.default is attrs.NOTHING:
            args.append(f"{name}=fmt(o.{name})")
        elif name in DECIMAL_FIELDS:
            args.append(f"{name}=None if o.{name} is None else fmt(o.{name})")
        else:
            args.append(f"{name}=o.{name}")
    namespace: dict[str, Any] = {"OrderResult": OrderResult, "fmt": format_decimal}
    # The source is built from attrs field names only, never from input.
    exec(f"def convert(o):\n    return OrderResult({', '.join(args)})", namespace)
    convert: Callable[[Any], OrderResult] = namespace["convert"]
    return convert


_ORDER_RESULT = _order_result_converter()


def typed(answer: Any) -> Any:
    """An answer of ``Simulator.apply`` as the client gives it: its typed result, or
    ``HcxError`` raised for a refusal."""
    if type(answer) is EngineOrderResult:
        return _ORDER_RESULT(answer)
    parsed = parse_message(answer if type(answer) is dict else to_wire(answer))
    if isinstance(parsed, HcxError):
        raise parsed
    return parsed


def as_hcx_error(exc: ProtocolError, message: Any = None) -> HcxError:
    """A protocol error as the client raises it (its wire form, read back)."""
    return HcxError.from_wire(exc.to_wire(None, _request_id_of(message)))


def _expect(answer: Any, cls: type[R]) -> R:
    if not isinstance(answer, cls):
        raise HcxError("unexpected_answer", f"expected {cls.__name__}, got {answer!r}")
    return answer
