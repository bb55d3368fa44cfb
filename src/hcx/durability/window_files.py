"""Window files: the idempotency window's tables stored beside a snapshot, and read back.

A restart needs every request key of the last ``window + future`` ms; rebuilding a
million of them from the journal costs seconds of Python, reading their tables back as
raw arrays a few tens of milliseconds. So whoever writes a snapshot writes the window as
it stood at the same ``seq`` beside it, in ``<seq>.window``:
``MAGIC | seq | chain | the window's own bytes (IdempotencyWindow.write_to) | CRC32``,
written after the snapshot to a temporary name, fsynced, renamed and the directory
fsynced. Window files are pruned with their snapshots, and set aside with them.

A window file only saves time and decides nothing: one that is missing, damaged, of
other parameters, or not of the journal's history at its seq (its chain value differs) is
passed over, and the window is rebuilt from the journal. It never reads the journal and
never writes anything but its own files.
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import attrs

from hcx.durability.fsync import fsync_directory
from hcx.durability.idempotency import IdempotencyWindow

log = logging.getLogger("hcx.window")

MAGIC = b"HCXWIN01"
SUFFIX = ".window"
_HEADER = struct.Struct(">q16s")  # the seq the window holds keys up to, its chain value
_CRC = struct.Struct(">I")

# The journal's chain value at a seq, or None where it has no record.
ChainAt = Callable[[int], bytes | None]


@attrs.frozen
class StoredWindow:
    """A window read back from its file: every key of the journal up to ``seq``, whose
    chain value was ``chain`` when it was written."""

    seq: int
    chain: bytes
    window: IdempotencyWindow
    path: Path


def window_path(directory: Path, seq: int) -> Path:
    return directory / f"{seq:020d}{SUFFIX}"


def write_window_file(directory: Path, window: IdempotencyWindow, chain: bytes) -> Path:
    """Write ``window`` (holding the journal's keys up to ``window.last_seq``, whose chain
    value is ``chain``) atomically and durably; a failed write leaves no temporary file."""
    directory.mkdir(parents=True, exist_ok=True)
    seq = window.last_seq
    final = window_path(directory, seq)
    temporary = directory / f".{seq:020d}.{os.getpid()}{SUFFIX}.tmp"
    try:
        with open(temporary, "wb") as handle:
            crc = 0

            def write(data: bytes | memoryview) -> None:
                nonlocal crc
                crc = zlib.crc32(data, crc)
                handle.write(data)

            write(MAGIC + _HEADER.pack(seq, chain))
            window.write_to(write)
            handle.write(_CRC.pack(crc))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, final)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_directory(directory)
    return final


def read_window_file(path: Path) -> StoredWindow:
    """The window in ``path``; raises ``ValueError`` if the file is not whole and sound."""
    with open(path, "rb", buffering=0) as handle:
        remaining = os.fstat(handle.fileno()).st_size
        crc = 0

        def read_into(buffer: memoryview) -> None:
            nonlocal crc, remaining
            if len(buffer) > remaining:
                raise ValueError(f"{path.name}: truncated")
            filled = 0
            while filled < len(buffer):
                count = handle.readinto(buffer[filled:])
                if not count:
                    raise ValueError(f"{path.name}: truncated")
                filled += count
            remaining -= filled
            crc = zlib.crc32(buffer, crc)

        head = bytearray(len(MAGIC) + _HEADER.size)
        read_into(memoryview(head))
        if not head.startswith(MAGIC):
            raise ValueError(f"{path.name}: not a window file")
        seq, chain = _HEADER.unpack_from(head, len(MAGIC))
        window = IdempotencyWindow.read_from(read_into)
        computed = crc
        tail = bytearray(_CRC.size)
        read_into(memoryview(tail))
        if remaining or _CRC.unpack(tail)[0] != computed:
            raise ValueError(f"{path.name}: CRC mismatch")
    if window.last_seq != seq:
        raise ValueError(f"{path.name}: holds keys up to seq {window.last_seq}, not {seq}")
    return StoredWindow(seq, chain, window, path)


def list_windows(directory: Path) -> list[Path]:
    """Window files, newest first."""
    if not directory.is_dir():
        return []
    return sorted(directory.glob(f"*{SUFFIX}"), reverse=True)


def load_window(
    directory: Path, max_seq: int, chain_at: ChainAt, window_ms: int, future_ms: int
) -> StoredWindow | None:
    """The newest sound window file at or below ``max_seq`` of the journal's history and
    of these parameters, or None (the window is then rebuilt from the journal)."""
    for path in list_windows(directory):
        stem = path.name[: -len(SUFFIX)]
        if not stem.isdigit() or int(stem) > max_seq:
            continue
        try:
            stored = read_window_file(path)
        except (ValueError, OSError, OverflowError, MemoryError, struct.error) as exc:
            log.warning("window file passed over: %s", exc)
            continue
        window = stored.window
        if (window.window_ms, window.future_ms) != (window_ms, future_ms):
            log.info("window file %s: other window parameters, passed over", path.name)
            continue
        if stored.seq != int(stem) or chain_at(stored.seq) != stored.chain:
            log.warning("window file %s: not of this journal's history, passed over", path.name)
            continue
        return stored
    return None
