"""The results of the engine's commands (one per command): half of ``outputs``.

It owns only the result classes and their ``values`` (see ``plain``); it never decides
what a result says (the handlers do). ``hcx.engine.outputs`` re-exports every name here,
which is where the rest of hcx imports them from.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from hcx.engine.plain import Value

OrderStatus = Literal["open", "partially_filled", "filled", "canceled", "rejected"]
AdminStatus = Literal["ok", "rejected"]


# --- results -------------------------------------------------------------------------


class OrderResult(Value):
    """An order's state after the command. Fields other than ``request_id``, ``wallet``,
    ``status`` and ``seq`` are ``None`` when the command named no order that exists."""

    TYPE: ClassVar[str] = "OrderResult"
    FIELDS: ClassVar[tuple[str, ...]] = (
        "request_id",
        "order_id",
        "client_id",
        "wallet",
        "symbol",
        "side",
        "price",
        "size",
        "tif",
        "status",
        "filled_size",
        "reason",
        "mmp_triggered",
        "replaced_order_id",
        "ts",
        "seq",
    )

    def __init__(
        self,
        request_id: str,
        order_id: int | None,
        client_id: str | None,
        wallet: str,
        symbol: str | None,
        side: str | None,
        price: int | None,
        size: int | None,
        tif: str | None,
        status: OrderStatus,
        filled_size: int,
        reason: str | None,
        mmp_triggered: bool,
        replaced_order_id: int | None,
        ts: int,
        seq: int,
    ) -> None:
        self.request_id = request_id
        self.order_id = order_id
        self.client_id = client_id
        self.wallet = wallet
        self.symbol = symbol
        self.side = side
        self.price = price
        self.size = size
        self.tif = tif
        self.status = status
        self.filled_size = filled_size
        self.reason = reason
        self.mmp_triggered = mmp_triggered
        self.replaced_order_id = replaced_order_id
        self.ts = ts
        self.seq = seq

    def values(self) -> tuple[Any, ...]:
        return (
            self.request_id,
            self.order_id,
            self.client_id,
            self.wallet,
            self.symbol,
            self.side,
            self.price,
            self.size,
            self.tif,
            self.status,
            self.filled_size,
            self.reason,
            self.mmp_triggered,
            self.replaced_order_id,
            self.ts,
            self.seq,
        )


class CancelAllResult(Value):
    TYPE: ClassVar[str] = "CancelAllResult"
    FIELDS: ClassVar[tuple[str, ...]] = ("request_id", "wallet", "canceled", "seq")

    def __init__(
        self,
        request_id: str,
        wallet: str,
        canceled: list[int],
        seq: int,
    ) -> None:
        self.request_id = request_id
        self.wallet = wallet
        self.canceled = canceled
        self.seq = seq

    def values(self) -> tuple[Any, ...]:
        return (
            self.request_id,
            self.wallet,
            self.canceled,
            self.seq,
        )


class BalanceResult(Value):
    TYPE: ClassVar[str] = "BalanceResult"
    FIELDS: ClassVar[tuple[str, ...]] = (
        "request_id",
        "wallet",
        "status",
        "reason",
        "total",
        "available",
        "reserved",
        "seq",
    )

    def __init__(
        self,
        request_id: str,
        wallet: str,
        status: AdminStatus,
        reason: str | None,
        total: int,
        available: int,
        reserved: int,
        seq: int,
    ) -> None:
        self.request_id = request_id
        self.wallet = wallet
        self.status = status
        self.reason = reason
        self.total = total
        self.available = available
        self.reserved = reserved
        self.seq = seq

    def values(self) -> tuple[Any, ...]:
        return (
            self.request_id,
            self.wallet,
            self.status,
            self.reason,
            self.total,
            self.available,
            self.reserved,
            self.seq,
        )


class AdminResult(Value):
    TYPE: ClassVar[str] = "AdminResult"
    FIELDS: ClassVar[tuple[str, ...]] = (
        "request_id",
        "wallet",
        "command",
        "status",
        "reason",
        "seq",
    )

    def __init__(
        self,
        request_id: str,
        wallet: str,
        command: str,
        status: AdminStatus,
        reason: str | None,
        seq: int,
    ) -> None:
        self.request_id = request_id
        self.wallet = wallet
        self.command = command
        self.status = status
        self.reason = reason
        self.seq = seq

    def values(self) -> tuple[Any, ...]:
        return (
            self.request_id,
            self.wallet,
            self.command,
            self.status,
            self.reason,
            self.seq,
        )


class MmpResult(Value):
    TYPE: ClassVar[str] = "MmpResult"
    FIELDS: ClassVar[tuple[str, ...]] = (
        "request_id",
        "wallet",
        "status",
        "reason",
        "underlying",
        "frozen_until_ms",
        "seq",
    )

    def __init__(
        self,
        request_id: str,
        wallet: str,
        status: AdminStatus,
        reason: str | None,
        underlying: str,
        frozen_until_ms: int | None,
        seq: int,
    ) -> None:
        self.request_id = request_id
        self.wallet = wallet
        self.status = status
        self.reason = reason
        self.underlying = underlying
        self.frozen_until_ms = frozen_until_ms
        self.seq = seq

    def values(self) -> tuple[Any, ...]:
        return (
            self.request_id,
            self.wallet,
            self.status,
            self.reason,
            self.underlying,
            self.frozen_until_ms,
            self.seq,
        )


class RfqResult(Value):
    TYPE: ClassVar[str] = "RfqResult"
    FIELDS: ClassVar[tuple[str, ...]] = (
        "request_id",
        "wallet",
        "rfq_id",
        "quote_id",
        "status",
        "fill_id",
        "reason",
        "seq",
    )

    def __init__(
        self,
        request_id: str,
        wallet: str,
        rfq_id: str,
        quote_id: str,
        status: Literal["filled", "rejected"],
        fill_id: int | None,
        reason: str | None,
        seq: int,
    ) -> None:
        self.request_id = request_id
        self.wallet = wallet
        self.rfq_id = rfq_id
        self.quote_id = quote_id
        self.status = status
        self.fill_id = fill_id
        self.reason = reason
        self.seq = seq

    def values(self) -> tuple[Any, ...]:
        return (
            self.request_id,
            self.wallet,
            self.rfq_id,
            self.quote_id,
            self.status,
            self.fill_id,
            self.reason,
            self.seq,
        )


class CancelAfterResult(Value):
    """``deadline_ms``: when the wallet's orders will be canceled unless renewed; absent
    when the switch is off."""

    TYPE: ClassVar[str] = "CancelAfterResult"
    FIELDS: ClassVar[tuple[str, ...]] = (
        "request_id",
        "wallet",
        "status",
        "reason",
        "deadline_ms",
        "seq",
    )

    def __init__(
        self,
        request_id: str,
        wallet: str,
        status: AdminStatus,
        reason: str | None,
        deadline_ms: int | None,
        seq: int,
    ) -> None:
        self.request_id = request_id
        self.wallet = wallet
        self.status = status
        self.reason = reason
        self.deadline_ms = deadline_ms
        self.seq = seq

    def values(self) -> tuple[Any, ...]:
        return (
            self.request_id,
            self.wallet,
            self.status,
            self.reason,
            self.deadline_ms,
            self.seq,
        )


Result = (
    OrderResult
    | CancelAllResult
    | BalanceResult
    | AdminResult
    | MmpResult
    | RfqResult
    | CancelAfterResult
)
