"""The reason codes the engine gives: the one list that documents and tests read.

It owns the names only; it never decides when a reason applies (the handlers do).
``REASONS`` is every code a result or an order update of the engine can carry, in the
order the protocol's reference lists them; ``ORDER_REJECTIONS`` those that reject a
place, cancel or replace; ``ORDER_END_REASONS`` why an accepted order ended without
resting (or was canceled by matching).
"""

from __future__ import annotations

from typing import Final

ORDER_REJECTIONS: Final = (
    "insufficient_balance",
    "unknown_symbol",
    "instrument_not_active",
    "invalid_price",
    "invalid_size",
    "post_only_would_take",
    "reduce_only_violation",
    "fok_unfilled",
    "ioc_remainder",
    "self_trade",
    "unknown_order",
    "not_owner",
    "mmp_frozen",
    "too_many_open_orders",
    "duplicate_client_id",
)
ORDER_END_REASONS: Final = ("fok_unfilled", "ioc_remainder", "self_trade", "reduce_only_violation")
REASONS: Final = (
    *ORDER_REJECTIONS,
    "invalid_amount",
    "invalid_vol",
    "invalid_symbol",
    "invalid_underlying",
    "invalid_expiry",
    "invalid_strike",
    "invalid_increment",
    "invalid_fee",
    "invalid_wallet",
    "instrument_exists",
    "not_expired",
    "already_settled",
    "invalid_limits",
    "unknown_underlying",
    "mmp_not_set",
    "quote_expired",
    "quote_already_filled",
    "unknown_quote",
    "invalid_legs",
    "invalid_timeout",
    "cancel_after",
    "cancel_on_disconnect",
)
