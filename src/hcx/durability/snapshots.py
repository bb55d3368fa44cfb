"""Snapshot files: the engine state at a ``seq``, written atomically, verified on load.

A snapshot lives beside the journal in ``<journal>.snapshots/<seq>.snap``:
``MAGIC | u32 header length | CBOR header {seq, ts, digest, chain} | CBOR state | CRC32``.
It is written to a temporary name, fsynced, renamed and the directory fsynced, so a crash
leaves either the old set or the new one. Loading checks the CRC, restores the engine and
recomputes its digest: a snapshot that does not prove itself is skipped for an older one.
Only the newest ``keep`` snapshots are kept, and the window files (``window_files``) of
those.

A snapshot is forked at the moment its ``seq`` is applied, before that record commits; a
crash in between leaves a snapshot of a future the journal never had, and a restart may
then commit a different record at that ``seq``. So a snapshot is only used, or believed,
when its chain value equals the journal's at its ``seq`` (``chain_at``).
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import cbor2

from hcx.durability.fsync import fsync_directory
from hcx.durability.window_files import list_windows
from hcx.engine import Engine

MAGIC = b"HCXSNAP1"
_LENGTH = struct.Struct(">I")

# The journal's chain value at a seq, or None where it has no record.
ChainAt = Callable[[int], bytes | None]


@attrs.frozen
class SnapshotInfo:
    seq: int
    ts: int
    digest: str
    chain: bytes
    path: Path


def snapshot_dir(journal_path: str) -> Path:
    return Path(f"{journal_path}.snapshots")


def encode_snapshot(state: dict[str, Any], digest: str, chain: bytes) -> bytes:
    header = cbor2.dumps(
        {"seq": state["last_seq"], "ts": state["last_ts"], "digest": digest, "chain": chain}
    )
    body = MAGIC + _LENGTH.pack(len(header)) + header + cbor2.dumps(state)
    return body + _LENGTH.pack(zlib.crc32(body))


def write_snapshot_file(directory: Path, data: bytes, seq: int) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"{seq:020d}.snap"
    # Per writer: a forked child and the final in-process snapshot may write one seq.
    temporary = directory / f".{seq:020d}.{os.getpid()}.snap.tmp"
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, final)
    fsync_directory(directory)
    return final


def read_snapshot(path: Path) -> tuple[SnapshotInfo, dict[str, Any]]:
    """Decode and CRC-check a snapshot file; raises ``ValueError`` if it is damaged."""
    data = path.read_bytes()
    if len(data) < len(MAGIC) + 8 or not data.startswith(MAGIC):
        raise ValueError(f"{path.name}: not a snapshot")
    (crc,) = _LENGTH.unpack(data[-4:])
    if zlib.crc32(data[:-4]) != crc:
        raise ValueError(f"{path.name}: CRC mismatch")
    start = len(MAGIC)
    (header_length,) = _LENGTH.unpack(data[start : start + 4])
    header = cbor2.loads(data[start + 4 : start + 4 + header_length])
    state = cbor2.loads(data[start + 4 + header_length : -4])
    info = SnapshotInfo(header["seq"], header["ts"], header["digest"], header["chain"], path)
    return info, state


def list_snapshots(directory: Path) -> list[Path]:
    """Snapshot files, newest first."""
    if not directory.is_dir():
        return []
    return sorted(directory.glob("*.snap"), reverse=True)


def load_latest(
    directory: Path, max_seq: int, chain_at: ChainAt | None = None
) -> tuple[Engine, SnapshotInfo] | None:
    """The newest snapshot at or below ``max_seq`` that proves itself by its digest and,
    given ``chain_at``, belongs to the journal's history."""
    for path in list_snapshots(directory):
        try:
            info, state = read_snapshot(path)
        except (ValueError, OSError, cbor2.CBORDecodeError):
            continue
        if info.seq > max_seq:
            continue
        if chain_at is not None and chain_at(info.seq) != info.chain:
            continue
        try:
            engine = Engine.restore(state)
        except (ValueError, KeyError, TypeError):
            continue  # another snapshot format: replay from an older one or from the start
        if engine.digest() != info.digest:
            continue
        return engine, info
    return None


def prune(directory: Path, keep: int = 2) -> list[Path]:
    snapshots = list_snapshots(directory)
    removed = []
    for path in snapshots[keep:]:
        path.unlink(missing_ok=True)
        removed.append(path)
    # A temporary file may be one that another snapshot child is still writing (children
    # overlap under load): only one older than every kept snapshot is certainly garbage.
    # So is a window file (``window_files``) older than every kept snapshot; a newer one
    # may be a child's whose snapshot is not renamed yet.
    if len(snapshots) >= keep > 0:
        oldest_kept = snapshots[keep - 1].name[:20]
        for stale in directory.glob(".*.tmp"):
            if stale.name[1:21] < oldest_kept:
                stale.unlink(missing_ok=True)
        for window in list_windows(directory):
            if window.name[:20] < oldest_kept:
                window.unlink(missing_ok=True)
    return removed


def digests_by_seq(directory: Path, chain_at: ChainAt | None = None) -> dict[int, str]:
    """The digest each readable snapshot claims, by seq (for a full verifying replay);
    given ``chain_at``, only snapshots of the journal's own history."""
    digests = {}
    for path in list_snapshots(directory):
        try:
            info, _ = read_snapshot(path)
        except (ValueError, OSError, cbor2.CBORDecodeError):
            continue
        if chain_at is not None and chain_at(info.seq) != info.chain:
            continue
        digests[info.seq] = info.digest
    return digests
