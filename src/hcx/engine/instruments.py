"""Option instruments: their terms, their symbol and their trading status.

Symbols read ``UNDERLYING-YYYYMMDD-STRIKE-C|P`` (``BTC-20261225-3000-C``) and must agree
with the terms they are created with. Terms must keep every premium a whole number of
micro-USD: one tick times one lot times the multiplier is a multiple of 1e-6 USD.
"""

from __future__ import annotations

import datetime
import re
from typing import ClassVar

from hcx.engine.commands import CreateInstrument, OptionKind
from hcx.engine.config import EngineConfig
from hcx.engine.numbers import PREMIUM_DIVISOR, SCALE, format_decimal
from hcx.engine.outputs import InstrumentStatus
from hcx.engine.plain import Value

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
# The last millisecond a date can name (9999-12-31): later expiries have no symbol.
MAX_EXPIRY_MS = (datetime.datetime.max.replace(tzinfo=datetime.UTC) - _EPOCH) // datetime.timedelta(
    milliseconds=1
)
_UNDERLYING = re.compile(r"[A-Z0-9]{1,16}\Z")


class Instrument(Value):
    # The snapshot's row order: changing it changes every digest.
    FIELDS: ClassVar[tuple[str, ...]] = (
        "symbol",
        "underlying",
        "expiry_ms",
        "strike",
        "option",
        "tick_size",
        "lot_size",
        "multiplier",
        "maker_fee_bps",
        "taker_fee_bps",
        "status",
    )

    def __init__(
        self,
        symbol: str,
        underlying: str,
        expiry_ms: int,
        strike: int,
        option: OptionKind,
        tick_size: int,
        lot_size: int,
        multiplier: int,
        maker_fee_bps: int,
        taker_fee_bps: int,
        status: InstrumentStatus = "active",
    ) -> None:
        self.symbol = symbol
        self.underlying = underlying
        self.expiry_ms = expiry_ms
        self.strike = strike
        self.option = option
        self.tick_size = tick_size
        self.lot_size = lot_size
        self.multiplier = multiplier
        self.maker_fee_bps = maker_fee_bps
        self.taker_fee_bps = taker_fee_bps
        self.status = status

    def terms(self) -> tuple[object, ...]:
        return (
            self.underlying,
            self.expiry_ms,
            self.strike,
            self.option,
            self.tick_size,
            self.lot_size,
            self.multiplier,
            self.maker_fee_bps,
            self.taker_fee_bps,
        )

    def premium(self, price: int, size: int) -> int:
        """Cash for ``size`` contracts at ``price``: exact by the terms' divisibility rule."""
        if self.multiplier == SCALE:
            # The usual contract of one unit: the same quotient with one factor of SCALE
            # cancelled, which spares a multiplication of numbers past machine size.
            return price * size // SCALE
        return price * size * self.multiplier // PREMIUM_DIVISOR

    def is_trading(self, ts_ms: int) -> bool:
        return self.status == "active" and ts_ms < self.expiry_ms


def expected_symbol(underlying: str, expiry_ms: int, strike: int, option: OptionKind) -> str:
    day = (_EPOCH + datetime.timedelta(milliseconds=expiry_ms)).strftime("%Y%m%d")
    return f"{underlying}-{day}-{format_decimal(strike)}-{'C' if option == 'call' else 'P'}"


def instrument_from_command(cmd: CreateInstrument, config: EngineConfig) -> Instrument:
    maker = config.default_maker_fee_bps if cmd.maker_fee_bps is None else cmd.maker_fee_bps
    taker = config.default_taker_fee_bps if cmd.taker_fee_bps is None else cmd.taker_fee_bps
    return Instrument(
        symbol=cmd.symbol,
        underlying=cmd.underlying,
        expiry_ms=cmd.expiry_ms,
        strike=cmd.strike,
        option=cmd.option,
        tick_size=cmd.tick_size,
        lot_size=cmd.lot_size,
        multiplier=cmd.multiplier,
        maker_fee_bps=maker,
        taker_fee_bps=taker,
    )


def invalid_terms(inst: Instrument, config: EngineConfig) -> str | None:
    """Why these terms cannot be listed (a reason code), or None."""
    if not _UNDERLYING.match(inst.underlying):
        return "invalid_underlying"
    if not 0 < inst.expiry_ms <= MAX_EXPIRY_MS:
        return "invalid_expiry"
    if inst.strike <= 0:
        return "invalid_strike"
    if inst.tick_size <= 0 or inst.lot_size <= 0 or inst.multiplier <= 0:
        return "invalid_increment"
    if (inst.tick_size * inst.lot_size * inst.multiplier) % PREMIUM_DIVISOR:
        return "invalid_increment"
    for fee in (inst.maker_fee_bps, inst.taker_fee_bps):
        if not 0 <= fee <= config.max_fee_bps:
            return "invalid_fee"
    if inst.symbol != expected_symbol(inst.underlying, inst.expiry_ms, inst.strike, inst.option):
        return "invalid_symbol"
    return None
