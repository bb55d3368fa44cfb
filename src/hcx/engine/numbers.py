"""Fixed-point numbers: decimal strings at the edges, integers inside.

Every price, size, amount, strike and multiplier is an integer count of millionths
(``SCALE``): ``"12.5"`` is ``12_500_000``. Money is micro-USD. Nothing is ever rounded on
the way in: a string with more than six decimal places is refused, and the engine refuses
values that are not a whole number of ticks or lots.
"""

from __future__ import annotations

SCALE_DIGITS = 6
SCALE: int = 10**SCALE_DIGITS
# premium = price * size * multiplier / PREMIUM_DIVISOR: three scaled factors make one
# scaled amount.
PREMIUM_DIVISOR: int = SCALE * SCALE
BPS = 10_000

_DIGITS = frozenset("0123456789")


class DecimalFormatError(ValueError):
    """A string that is not a plain decimal number with at most six decimal places."""


def parse_decimal(text: str) -> int:
    """``"12.5"`` -> ``12_500_000``. Accepts an optional leading ``-``; no exponents."""
    if not isinstance(text, str) or not text or len(text) > 40:
        raise DecimalFormatError('expected a decimal string such as "12.5"')
    negative = text[0] == "-"
    body = text[1:] if negative else text
    whole, dot, frac = body.partition(".")
    if not whole or not _DIGITS.issuperset(whole) or (dot and not frac):
        raise DecimalFormatError('expected a decimal string such as "12.5"')
    if frac and not _DIGITS.issuperset(frac):
        raise DecimalFormatError('expected a decimal string such as "12.5"')
    if len(frac) > SCALE_DIGITS:
        raise DecimalFormatError(f"at most {SCALE_DIGITS} decimal places")
    value = int(whole) * SCALE + (int(frac.ljust(SCALE_DIGITS, "0")) if frac else 0)
    return -value if negative else value


def format_decimal(value: int) -> str:
    """``12_500_000`` -> ``"12.5"``; the shortest exact form, no exponent."""
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(value), SCALE)
    if not frac:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{frac:0{SCALE_DIGITS}d}".rstrip("0")


def ceil_div(numerator: int, denominator: int) -> int:
    """Integer division rounded toward +infinity (for amounts the exchange collects)."""
    return -((-numerator) // denominator)


def fee_for(premium: int, fee_bps: int) -> int:
    """The fee on a premium, rounded up to the micro-unit in the exchange's favour."""
    return -(-premium * fee_bps // BPS)  # ceil_div, inlined: this runs for every fill
