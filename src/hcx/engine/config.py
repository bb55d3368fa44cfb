"""Engine parameters that shape results: part of the state, so replay uses the same ones."""

from __future__ import annotations

import attrs


@attrs.frozen
class EngineConfig:
    """Rules of the venue. Rates are in basis points of the underlying's index price."""

    max_open_orders: int = 1_000
    default_maker_fee_bps: int = 2
    default_taker_fee_bps: int = 5
    max_fee_bps: int = 1_000
    short_margin_bps: int = 1_500
    min_short_margin_bps: int = 1_000
