"""The engine must stay pure: no I/O, no clock, no randomness, no threads."""

from __future__ import annotations

import ast
from pathlib import Path

import hcx.engine

FORBIDDEN = {"trio", "apsw", "socket", "time", "random", "os", "threading", "asyncio", "cbor2"}
ENGINE_DIR = Path(hcx.engine.__file__).parent


def _imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_engine_sources_exist() -> None:
    assert len(list(ENGINE_DIR.glob("*.py"))) >= 5


def test_engine_imports_nothing_impure() -> None:
    offenders = {
        path.name: sorted(_imported_roots(path) & FORBIDDEN) for path in ENGINE_DIR.glob("*.py")
    }
    assert {name: bad for name, bad in offenders.items() if bad} == {}


def test_purity_check_catches_an_offender(tmp_path: Path) -> None:
    sample = tmp_path / "bad.py"
    sample.write_text("import time\nfrom os import path\n")
    assert _imported_roots(sample) & FORBIDDEN == {"time", "os"}
