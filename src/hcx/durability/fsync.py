"""Making a rename durable: the fsync of the directory that holds the renamed file.

It owns only that call; it never writes, renames or decides what is durable.
"""

from __future__ import annotations

import os
from pathlib import Path


def fsync_directory(directory: Path) -> None:
    """Flush ``directory``'s entries, so that a rename into it survives a power loss."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
