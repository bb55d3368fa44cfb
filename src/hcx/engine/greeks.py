"""Black-Scholes delta in decimal arithmetic, so every machine computes the same bits.

Binary floats would do, except that ``log`` and ``erf`` come from the platform's maths
library and may differ in the last place between machines, and a journal replayed
elsewhere must reproduce every MMP decision. ``decimal`` is specified to the digit. The
result is a delta scaled by 1e6 (``numbers.SCALE``), rounded half-even.

The decimal evaluation is slow (tens of microseconds), so a binary-float evaluation
answers first, but only when it can prove its answer is the decimal one: both are within
a tiny error of the exact delta (floats: well under 1e-9 here, assuming ``log`` and
``erf`` are within 1024 units in the last place, where common libraries are within 2;
the decimal one: under 1e-25), so wherever the float value lies farther than its error
bound from a rounding boundary (a half millionth), both round to the same integer. Near
a boundary, or out of the float's range, the decimal evaluation decides. Either way the
result is the decimal evaluation's, on every machine.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

from hcx.engine.numbers import SCALE

YEAR_MS = 365 * 24 * 60 * 60 * 1000
_PI = Decimal("3.14159265358979323846264338327950288419716939937510")
_SQRT2 = Decimal(2).sqrt()
_TAIL = Decimal(6)  # N(±6) is 0 or 1 to well past six decimal places

# Binary-float error accounting: the unit roundoff, and the error allowed to the maths
# library's ``log`` and ``erf`` in units of the last place.
_UNIT = 2.0**-53
_LIBM_ULPS = 1024
_FLOAT_SQRT2 = math.sqrt(2.0)
_MIN_NORMAL = 2.0**-1022  # the smallest positive float with a full 53-bit significand


def delta(option: str, spot: int, strike: int, vol: int, time_ms: int) -> int:
    """Delta of one call or put, scaled by 1e6. ``spot``, ``strike`` and ``vol`` are
    scaled integers (vol 0.8 = 800_000); at or past expiry it is the intrinsic delta."""
    call = option == "call"
    if time_ms <= 0 or vol <= 0 or spot <= 0 or strike <= 0:
        if call:
            return SCALE if spot > strike else 0
        return -SCALE if spot < strike else 0
    value = _float_delta(call, spot, strike, vol, time_ms)
    if value is None:
        value = _decimal_delta(call, spot, strike, vol, time_ms)
    return value


def _decimal_delta(call: bool, spot: int, strike: int, vol: int, time_ms: int) -> int:
    """The definition: positive inputs, 40 significant digits, rounded half-even."""
    with localcontext() as context:
        context.prec = 40
        sigma = Decimal(vol) / SCALE
        years = Decimal(time_ms) / YEAR_MS
        d1 = ((Decimal(spot) / Decimal(strike)).ln() + sigma * sigma * years / 2) / (
            sigma * years.sqrt()
        )
        value = _norm_cdf(d1) - (0 if call else 1)
        return int((value * SCALE).to_integral_value(ROUND_HALF_EVEN))


def _norm_cdf(x: Decimal) -> Decimal:
    if x > _TAIL:
        return Decimal(1)
    if x < -_TAIL:
        return Decimal(0)
    z = x / _SQRT2
    z_squared = z * z
    term = z
    total = z
    n = 0
    while True:
        n += 1
        term = -term * z_squared / n
        step = term / (2 * n + 1)
        if abs(step) < Decimal("1e-30"):
            break
        total += step
    erf = 2 * total / _PI.sqrt()
    return (1 + erf) / 2


def _float_delta(call: bool, spot: int, strike: int, vol: int, time_ms: int) -> int | None:
    """``_decimal_delta``'s answer from binary floats (positive inputs), or None when the
    float value is too close to a rounding boundary, or too large, to be sure of it.

    Past ``N(±6)`` the decimal evaluation takes the tail as exactly 1 or 0; the exact
    value is then within 1e-9 of it, far from a boundary, so the float value rounds the
    same way there too."""
    try:
        moneyness = spot / strike  # int / int is correctly rounded, within the normal range
        sigma = vol / SCALE
        years = time_ms / YEAR_MS
    except OverflowError:  # a quotient beyond the float range
        return None
    if moneyness < _MIN_NORMAL:
        # Subnormal (or zero): the quotient keeps fewer than 53 bits, and the error bound
        # below, which assumes a relative error of one rounding, no longer holds.
        return None
    log_moneyness = math.log(moneyness)
    drift = sigma * sigma * years / 2
    root = sigma * math.sqrt(years)
    d1 = (log_moneyness + drift) / root
    if not math.isfinite(d1):
        return None
    cdf = 0.5 + 0.5 * math.erf(d1 / _FLOAT_SQRT2)
    scaled = (cdf if call else cdf - 1.0) * SCALE
    # Error bounds, each generous by a factor of two or more: the numerator of d1 (the
    # logarithm's own error, the quotient's rounding, the drift's few roundings), then
    # d1, then N(d1) (its slope is at most 0.4), then the scaled value.
    unit = _UNIT
    numerator_error = (
        2 * _LIBM_ULPS * unit * abs(log_moneyness)
        + 2 * unit
        + 8 * unit * drift
        + 2 * unit * abs(log_moneyness + drift)
    )
    d1_error = numerator_error / root + 8 * unit * abs(d1)
    value_error = 0.4 * d1_error + (2 * _LIBM_ULPS + 8) * unit
    tolerance = 2 * value_error * SCALE
    floor = math.floor(scaled)
    fraction = scaled - floor
    if abs(fraction - 0.5) <= tolerance:
        return None
    return int(floor) + (1 if fraction > 0.5 else 0)
