"""What the CLI is handed out of trio's exception groups: a replication fault first, else
a durability fault (a standby's journal writer failing), else the group unchanged."""

from __future__ import annotations

from hcx.durability.errors import DurabilityError
from hcx.replication.errors import Deposed, unwrap


def test_a_nested_durability_fault_is_handed_out_for_its_exit_code() -> None:
    fault = DurabilityError("fsync failed")
    group = BaseExceptionGroup("outer", [BaseExceptionGroup("inner", [fault])])
    assert unwrap(group) is fault


def test_a_replication_fault_comes_before_a_durability_fault() -> None:
    deposed = Deposed("fenced")
    group = BaseExceptionGroup("outer", [DurabilityError("x"), ExceptionGroup("in", [deposed])])
    assert unwrap(group) is deposed


def test_anything_else_stays_a_group() -> None:
    group = BaseExceptionGroup("outer", [ValueError("x")])
    assert unwrap(group) is group
