"""The engine's one list of reason codes (``hcx.engine.reasons``) against its sources:
every listed code is given somewhere in the engine, and the lists nest as they say."""

from __future__ import annotations

import ast
from pathlib import Path

import hcx.engine
from hcx.engine.reasons import ORDER_END_REASONS, ORDER_REJECTIONS, REASONS

ENGINE = Path(hcx.engine.__file__).resolve().parent


def _literals() -> set[str]:
    out: set[str] = set()
    for path in ENGINE.glob("*.py"):
        if path.name == "reasons.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                out.add(node.value)
    return out


def test_every_listed_reason_is_given_by_the_engine() -> None:
    assert sorted(set(REASONS) - _literals()) == []


def test_the_lists_nest_without_repeats() -> None:
    assert len(set(REASONS)) == len(REASONS)
    assert set(ORDER_REJECTIONS) <= set(REASONS)
    assert set(ORDER_END_REASONS) <= set(ORDER_REJECTIONS)
