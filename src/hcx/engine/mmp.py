"""Market maker protection: per (wallet, underlying), a rolling window over the fills of
``mmp`` orders that freezes the pair when it trades too much too fast.

Within ``interval_ms``, the filled quantity (contracts) and the absolute net delta
(Black-Scholes, from the index price and the vol given with ``SetIndexPrice``, time to
expiry from the envelope's time) are summed. Reaching ``qty_limit`` or ``delta_limit``
freezes the pair until ``ts + frozen_ms`` (until ``ResetMmp`` when ``frozen_ms`` is 0) and
cancels every resting ``mmp`` order of the wallet on that underlying; while frozen, new
``mmp`` orders are rejected ``mmp_frozen``. All of it is engine state: journaled,
replayed, snapshotted and in the digest.
"""

from __future__ import annotations

from collections import deque
from typing import ClassVar

from hcx.engine.plain import Fields

UNTIL_RESET = -1


class MmpState(Fields):
    # The snapshot's row order: changing it changes every digest.
    FIELDS: ClassVar[tuple[str, ...]] = (
        "interval_ms",
        "frozen_ms",
        "qty_limit",
        "delta_limit",
        "enabled",
        "frozen_until",
        "window",
        "window_qty",
        "window_delta",
    )

    def __init__(
        self,
        interval_ms: int,
        frozen_ms: int,
        qty_limit: int | None,
        delta_limit: int | None,
        enabled: bool = True,
        frozen_until: int = 0,
        window: deque[tuple[int, int, int]] | None = None,
        window_qty: int = 0,
        window_delta: int = 0,
    ) -> None:
        self.interval_ms = interval_ms
        self.frozen_ms = frozen_ms
        self.qty_limit = qty_limit
        self.delta_limit = delta_limit
        self.enabled = enabled
        # 0: not frozen; UNTIL_RESET; or the ts at which trading resumes.
        self.frozen_until = frozen_until
        # (ts, size, signed delta) of fills inside the window, oldest first.
        self.window: deque[tuple[int, int, int]] = deque() if window is None else window
        self.window_qty = window_qty
        self.window_delta = window_delta

    def copy(self) -> MmpState:
        """An independent copy (its own window), for trying fills without changing this."""
        return MmpState(
            self.interval_ms,
            self.frozen_ms,
            self.qty_limit,
            self.delta_limit,
            self.enabled,
            self.frozen_until,
            deque(self.window),
            self.window_qty,
            self.window_delta,
        )

    def is_frozen(self, ts_ms: int) -> bool:
        return self.frozen_until == UNTIL_RESET or ts_ms < self.frozen_until

    def record(self, ts_ms: int, size: int, signed_delta: int) -> bool:
        """Count one fill; True if it breaches a limit (the pair is frozen from now)."""
        window = self.window
        window.append((ts_ms, size, signed_delta))
        self.window_qty += size
        self.window_delta += signed_delta
        horizon = ts_ms - self.interval_ms
        while window and window[0][0] <= horizon:
            _, old_size, old_delta = window.popleft()
            self.window_qty -= old_size
            self.window_delta -= old_delta
        breached = (self.qty_limit is not None and self.window_qty >= self.qty_limit) or (
            self.delta_limit is not None and abs(self.window_delta) >= self.delta_limit
        )
        if breached:
            self.frozen_until = ts_ms + self.frozen_ms if self.frozen_ms > 0 else UNTIL_RESET
            self.clear_window()
        return breached

    def clear_window(self) -> None:
        self.window.clear()
        self.window_qty = 0
        self.window_delta = 0

    def frozen_until_ms(self, ts_ms: int) -> int | None:
        """For results: None when not frozen, -1 until reset, else the resume time."""
        return self.frozen_until if self.is_frozen(ts_ms) else None
