"""Build hook: compile the engine core with mypyc when a C compiler is present.

Everything else about the package lives in pyproject.toml. The same sources run
interpreted: with ``HCX_PURE=1``, without mypyc, or without a C compiler or Python
headers, the install is pure Python and says so. ``hcx --version`` names the build.
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from pathlib import Path

from setuptools import setup

# mypyc compiles every module of the engine but these: config stays an attrs class,
# interpreted (read once a command at most, and attrs classes compiled by mypyc fail at
# import); the package's __init__ only re-exports.
INTERPRETED = ("__init__.py", "config.py")
# Beside the engine, the modules every journaled command passes through where compiling
# them measured a gain (docs/benchmarks.md): the record codec, replay's check of each
# record, and the idempotency window's tables.
DURABILITY = ("records.py", "verify.py", "idempotency.py")
COMPILED = sorted(
    [
        *(
            path.as_posix()
            for path in Path("src/hcx/engine").glob("*.py")
            if path.name not in INTERPRETED
        ),
        *(f"src/hcx/durability/{name}" for name in DURABILITY),
    ]
)


def _say(message: str) -> None:
    # pip hides a build's stdout unless asked (-v); stderr shows in its log either way.
    print(f"hcx build: {message}", file=sys.stderr)


def _why_pure() -> str | None:
    """Why this install must be pure Python, or None when it can be compiled."""
    if os.environ.get("HCX_PURE", "") not in ("", "0"):
        return "HCX_PURE is set"
    try:
        import mypyc.build  # noqa: F401
    except ImportError:
        return "mypyc is not installed"
    # setuptools compiles with $CC when set, else with the compiler Python was built with.
    compiler = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        return f"no C compiler ({compiler})"
    if not (Path(sysconfig.get_paths()["include"]) / "Python.h").exists():
        return "no Python headers (Python.h)"
    return None


def _extensions() -> list[object]:
    reason = _why_pure()
    if reason is not None:
        _say(f"pure Python build ({reason})")
        return []
    from mypyc.build import mypycify

    _say(f"compiling {len(COMPILED)} modules with mypyc")
    # Only the engine is type-checked strictly here: the rest of hcx is followed for its
    # types but its errors are not the build's (the build environment has mypy, attrs and
    # cbor2, which the compiled records call, not trio or apsw). Its own cache, so a
    # developer's mypy cache never shapes a build.
    options = [
        "--follow-imports=silent",
        "--no-warn-unused-configs",
        "--cache-dir=build/mypyc-cache",
    ]
    return list(mypycify([*options, *COMPILED], opt_level="3", group_name="hcx_core"))


setup(ext_modules=_extensions())
