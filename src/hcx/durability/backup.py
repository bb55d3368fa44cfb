"""Online backup: a consistent copy of a live journal with SQLite's backup API.

The copy is taken in steps from a reader connection, so the server keeps committing
while it runs; SQLite restarts the copy if the source changes under it, and the result is
one consistent snapshot of the journal (API keys included). The copy is written to a
temporary file, fsynced and renamed, then checked with a full replay if asked.
"""

from __future__ import annotations

import os
from pathlib import Path

import apsw

from hcx.durability.fsync import fsync_directory

PAGES_PER_STEP = 1_024


def backup(source: str, target: str) -> int:
    """Copy ``source`` to ``target`` (which must not exist); returns the pages copied."""
    if not Path(source).is_file():
        raise FileNotFoundError(f"no journal at {source}")
    destination = Path(target)
    if destination.exists():
        raise FileExistsError(f"{target} exists")
    temporary = destination.with_name(f".{destination.name}.partial")
    temporary.unlink(missing_ok=True)
    reader = apsw.Connection(source, flags=apsw.SQLITE_OPEN_READONLY)
    writer = apsw.Connection(str(temporary))
    try:
        with writer.backup("main", reader, "main") as job:
            while not job.done:
                job.step(PAGES_PER_STEP)
            pages = job.page_count
    finally:
        writer.close()
        reader.close()
    with open(temporary, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, destination)
    fsync_directory(destination.parent)
    return int(pages)
