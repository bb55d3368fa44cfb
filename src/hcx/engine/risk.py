"""Pre-trade collateral: the margin a short option position must hold.

Per contract (the Cboe-style standard formula, rates in ``EngineConfig``):

* call: ``max(15% x S - OTM, 10% x S)`` with ``OTM = max(K - S, 0)``
* put:  ``max(15% x S - OTM, 10% x K)`` with ``OTM = max(S - K, 0)``

times the contract multiplier, where ``S`` is the underlying's index price (the strike
when no index has been published yet) and ``K`` the strike. The premium received for the
short is held on top of this (see ``accounts``). Amounts round up.
"""

from __future__ import annotations

from hcx.engine.config import EngineConfig
from hcx.engine.instruments import Instrument
from hcx.engine.numbers import BPS, SCALE, ceil_div


def short_margin_per_contract(inst: Instrument, index: int | None, config: EngineConfig) -> int:
    """Micro-USD to hold for one whole contract sold short, premium excluded."""
    spot = inst.strike if index is None else index
    strike = inst.strike
    if inst.option == "call":
        out_of_money = max(strike - spot, 0)
        floor_base = spot
    else:
        out_of_money = max(spot - strike, 0)
        floor_base = strike
    rate = ceil_div(spot * config.short_margin_bps, BPS) - out_of_money
    floor = ceil_div(floor_base * config.min_short_margin_bps, BPS)
    return ceil_div(max(rate, floor) * inst.multiplier, SCALE)
