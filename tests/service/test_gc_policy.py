"""The collector settings an exchange runs under, and that they are undone after."""

from __future__ import annotations

import gc

from hcx import gc_policy


def test_tuned_sets_and_restores_even_when_exchanges_close_out_of_order() -> None:
    before = gc.get_threshold()
    first = gc_policy.tuned()
    second = gc_policy.tuned()
    first.__enter__()
    assert gc.get_threshold()[0] == gc_policy.YOUNG_THRESHOLD
    assert gc.get_freeze_count() > 0
    second.__enter__()
    first.__exit__(None, None, None)  # the first to open closes first
    assert gc.get_threshold()[0] == gc_policy.YOUNG_THRESHOLD
    second.__exit__(None, None, None)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_paused_turns_collection_off_only_for_the_block() -> None:
    assert gc.isenabled()
    with gc_policy.paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_policy.paused():
            pass
        assert not gc.isenabled()  # it was off before: it stays off
    finally:
        gc.enable()


def test_settle_freezes_and_raises_the_young_threshold_but_never_lowers_it() -> None:
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, *before[1:])
        gc_policy.settle()
        assert gc.get_threshold() == (gc_policy.YOUNG_THRESHOLD, *before[1:])
        assert gc.get_freeze_count() > 0
        gc.set_threshold(10 * gc_policy.YOUNG_THRESHOLD, *before[1:])
        gc_policy.settle()
        assert gc.get_threshold()[0] == 10 * gc_policy.YOUNG_THRESHOLD
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
