"""Which build of the engine this process runs: compiled by mypyc, or pure Python.

It only reports; it never chooses (the install did: see ``setup.py``).
"""

from __future__ import annotations

import hcx.engine.engine


def engine_build() -> str:
    """``"compiled"`` when the engine was imported from a mypyc extension, else ``"pure"``."""
    path = hcx.engine.engine.__file__ or ""
    return "pure" if path.endswith(".py") else "compiled"


def version_line() -> str:
    from hcx import __version__

    return f"hcx {__version__} ({engine_build()} engine)"
