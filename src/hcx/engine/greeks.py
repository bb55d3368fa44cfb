"""Black-Scholes delta in decimal arithmetic, so every machine computes the same bits.

Binary floats would do, except that ``log`` and ``erf`` come from the platform's maths
library and may differ in the last place between machines, and a journal replayed
elsewhere must reproduce every MMP decision. ``decimal`` is specified to the digit. The
result is a delta scaled by 1e6 (``numbers.SCALE``), rounded half-even.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, localcontext

from hcx.engine.numbers import SCALE

YEAR_MS = 365 * 24 * 60 * 60 * 1000
_PI = Decimal("3.14159265358979323846264338327950288419716939937510")
_SQRT2 = Decimal(2).sqrt()
_TAIL = Decimal(6)  # N(±6) is 0 or 1 to well past six decimal places


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


def delta(option: str, spot: int, strike: int, vol: int, time_ms: int) -> int:
    """Delta of one call or put, scaled by 1e6. ``spot``, ``strike`` and ``vol`` are
    scaled integers (vol 0.8 = 800_000); at or past expiry it is the intrinsic delta."""
    call = option == "call"
    if time_ms <= 0 or vol <= 0 or spot <= 0 or strike <= 0:
        if call:
            return SCALE if spot > strike else 0
        return -SCALE if spot < strike else 0
    with localcontext() as context:
        context.prec = 40
        sigma = Decimal(vol) / SCALE
        years = Decimal(time_ms) / YEAR_MS
        d1 = ((Decimal(spot) / Decimal(strike)).ln() + sigma * sigma * years / 2) / (
            sigma * years.sqrt()
        )
        value = _norm_cdf(d1) - (0 if call else 1)
        return int((value * SCALE).to_integral_value(ROUND_HALF_EVEN))
