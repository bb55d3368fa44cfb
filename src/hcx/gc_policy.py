"""The cyclic garbage collector's settings while an exchange runs.

The engine's state is many long-lived objects (orders, wallets, exposures) and it makes
no reference cycles; what a command allocates (its outputs, record, entry) dies by
reference counting once released. CPython's defaults (a young collection every 700 net
allocations, and full collections that walk every tracked object) spend much of their
time re-walking that state. Two settings fix that without ever turning collection off
while serving, so the cycles that do occur (trio's exceptions and tracebacks) are still
collected:

- ``paused()``: replay only builds state, so it runs with automatic collection off and
  ends with one collection;
- ``tuned()`` (``hcx serve``, and the benchmarks that stand for it): after recovery the
  recovered state is frozen (``gc.freeze``), so full collections skip it and a forked
  snapshot child does not copy the pages a collection would touch; young collections run
  every ``YOUNG_THRESHOLD`` allocations. Both are undone on exit, for embedders that open
  exchanges repeatedly in one process;
- ``settle()`` (the ``Simulator``, which is opened by a constructor and may never be
  closed): the same freeze and young threshold, once, and never undone; a threshold
  already higher is kept.

What a setting is worth is in docs/benchmarks.md (section Collector settings).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG_THRESHOLD = 50_000


@contextmanager
def paused() -> Iterator[None]:
    """Automatic collection off for the block (restored as it was), one collection after."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
            gc.collect()


_tuned_depth = 0
_untuned_threshold: tuple[int, int, int] = gc.get_threshold()


@contextmanager
def tuned(young_threshold: int = YOUNG_THRESHOLD) -> Iterator[None]:
    """Freeze what exists now and collect the young generation less often. The settings
    are the process's: with exchanges open at once, the first to open sets them and the
    last to close restores what was there before the first."""
    global _tuned_depth, _untuned_threshold
    if _tuned_depth == 0:
        _untuned_threshold = gc.get_threshold()
        gc.collect()
        gc.freeze()
        gc.set_threshold(young_threshold, *_untuned_threshold[1:])
    _tuned_depth += 1
    try:
        yield
    finally:
        _tuned_depth -= 1
        if _tuned_depth == 0:
            gc.set_threshold(*_untuned_threshold)
            gc.unfreeze()


def freeze_now() -> None:
    """Freeze what exists now, with no collection first: a state built up under an open
    ``tuned`` block (a standby's, handed to the server at its promotion) leaves the full
    collections as ``tuned`` left the state it froze, and the moment it is called at
    (a failover) is not stalled by a collection over all of it."""
    gc.freeze()


def settle(young_threshold: int = YOUNG_THRESHOLD) -> None:
    """Collect, freeze what exists now, and collect the young generation no more often
    than every ``young_threshold`` allocations, for the rest of the process (no block
    ends it: an object that outlives its creator has no exit to undo it at)."""
    gc.collect()
    gc.freeze()
    current = gc.get_threshold()
    if current[0] < young_threshold:
        gc.set_threshold(young_threshold, *current[1:])
