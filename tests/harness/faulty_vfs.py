"""An apsw VFS that injects storage faults: failed fsyncs, a full disk, a power cut.

``FaultyVFS`` inherits every operation from SQLite's default VFS and counts the
mutating calls (``xWrite``, ``xSync``, ``xTruncate``) that reach the journal's files.
Armed with a ``FaultPlan``, it makes one of them fail:

- ``fail_sync_after=n``: syncs ``0..n-1`` succeed, sync ``n`` raises ``apsw.IOError``
  with ``SQLITE_IOERR_FSYNC`` (what a failing ``fsync()`` gives SQLite);
- ``fail_write_after=n``: write ``n`` raises ``apsw.FullError`` (``ENOSPC``);
- ``cut_power_after=n``: mutating call ``n`` fails and so does every later one, as if
  the disk had vanished under the process.

Once a fault has fired the VFS is *dead*: every later write, sync, truncate and delete
fails too (``FaultPlan.die_on_fault=False`` lets later calls through instead, to catch a
caller that retries). Reads keep working: what the process already had is still there.

Power loss. For the main database, its ``-wal`` and ``-journal`` the VFS keeps, per
path, an undo log of every change made since the last successful ``xSync`` of that path
(the old bytes of each overwritten range, the size at that sync). ``power_loss()``, called
once the exchange is gone, rewinds each file to its content at its last sync and deletes
the ``-shm`` (shared memory is never durable). With ``keep_probability > 0`` each lost
write is then re-applied with that probability, possibly torn at a 512-byte boundary,
in its original order: what a disk that wrote back some dirty pages before the lights
went out leaves behind.

Everything here runs on whatever thread SQLite calls from (the writer's worker thread,
the checkpointer's, the event loop's); one lock serialises the bookkeeping.
"""

from __future__ import annotations

import itertools
import os
import random
import threading
from typing import Any

import apsw
import attrs

SECTOR = 512
_names = itertools.count(1)

# Files whose content must survive a crash (temp files and the -shm are not tracked).
_DURABLE = apsw.SQLITE_OPEN_MAIN_DB | apsw.SQLITE_OPEN_WAL | apsw.SQLITE_OPEN_MAIN_JOURNAL


@attrs.define
class FaultPlan:
    """When to fail; counts start at zero when the plan is armed."""

    fail_sync_after: int | None = None
    fail_write_after: int | None = None
    cut_power_after: int | None = None
    die_on_fault: bool = True


@attrs.define
class _Change:
    """One mutation since the last sync: ``data`` written at ``offset`` replaced
    ``old`` (only the part that existed before); a truncate has ``size`` set."""

    offset: int
    data: bytes
    old: bytes
    size: int | None = None


@attrs.define
class _PathState:
    synced_size: int
    changes: list[_Change] = attrs.Factory(list)


class FaultyVFS(apsw.VFS):
    def __init__(self, name: str | None = None, *, base: str = "") -> None:
        self.name = name or f"hcx-faulty-{os.getpid()}-{next(_names)}"
        self.base = base
        self.lock = threading.RLock()
        self.plan = FaultPlan()
        self.syncs = 0
        self.writes = 0
        self.mutations = 0
        self.fault: str | None = None
        self.dead = False
        self.armed = False
        self.paths: dict[str, _PathState] = {}
        super().__init__(self.name, base)

    # --- arming --------------------------------------------------------------------

    def arm(self, plan: FaultPlan) -> None:
        with self.lock:
            self.plan = plan
            self.syncs = self.writes = self.mutations = 0
            self.armed = True

    def cut_power(self) -> None:
        """Fail every mutating call from now on (the machine lost power just now)."""
        with self.lock:
            self._fire("power cut (manual)", dead=True)

    @property
    def fired(self) -> bool:
        return self.fault is not None

    def _fire(self, what: str, *, dead: bool) -> None:
        if self.fault is None:
            self.fault = what
        if dead:
            self.dead = True

    def _check(self, kind: str, path: str) -> None:
        """Count a mutating call and raise if the plan says this one fails."""
        plan = self.plan
        if self.dead:
            raise _io_error(kind, f"injected: storage is gone ({self.fault}); {kind} {path}")
        count = self.mutations
        self.mutations += 1
        if plan.cut_power_after is not None and count >= plan.cut_power_after:
            self._fire(f"power cut at mutation {count} ({kind} {path})", dead=True)
            raise _io_error(kind, f"injected: power cut at {kind} of {path}")
        if kind == "sync":
            count = self.syncs
            self.syncs += 1
            if plan.fail_sync_after is not None and count == plan.fail_sync_after:
                self._fire(f"fsync {count} of {path} failed", dead=plan.die_on_fault)
                raise _io_error("sync", f"injected: fsync of {path} failed")
        elif kind == "write":
            count = self.writes
            self.writes += 1
            if plan.fail_write_after is not None and count == plan.fail_write_after:
                self._fire(f"write {count} to {path} failed: disk full", dead=plan.die_on_fault)
                raise apsw.FullError(f"injected: disk full writing {path}")

    # --- the VFS -------------------------------------------------------------------

    def xOpen(self, name: str | apsw.URIFilename | None, flags: list[int]) -> apsw.VFSFile:
        path = name.filename() if isinstance(name, apsw.URIFilename) else name
        tracked = isinstance(path, str) and bool(flags[0] & _DURABLE)
        return FaultyFile(self, path if tracked else None, name, flags)

    def xDelete(self, filename: str, syncdir: bool) -> None:
        with self.lock:
            if self.dead:
                raise _io_error("delete", f"injected: storage is gone; delete {filename}")
            super().xDelete(filename, syncdir)
            # Treated as durable at once (SQLite syncs the directory when it matters).
            self.paths.pop(filename, None)

    # --- power loss ----------------------------------------------------------------

    def _state(self, path: str) -> _PathState:
        state = self.paths.get(path)
        if state is None:
            size = os.path.getsize(path) if os.path.exists(path) else 0
            state = self.paths[path] = _PathState(size)
        return state

    def unsynced_changes(self) -> int:
        with self.lock:
            return sum(len(state.changes) for state in self.paths.values())

    def power_loss(self, rng: random.Random | None = None, keep_probability: float = 0.0) -> int:
        """Rewind every tracked file to its last sync (call once nothing uses the files).

        Returns how many changes were lost (after re-applying the kept ones)."""
        with self.lock:
            self.dead = True
            lost = 0
            for path, state in self.paths.items():
                if not os.path.exists(path):
                    continue
                with open(path, "r+b") as handle:
                    for change in reversed(state.changes):
                        handle.seek(change.offset)
                        handle.write(change.old)
                    handle.truncate(state.synced_size)
                    for change in state.changes:
                        if rng is None or rng.random() >= keep_probability:
                            lost += 1
                            continue
                        if change.size is not None:
                            handle.truncate(change.size)
                            continue
                        data = change.data
                        if rng.random() < 0.25 and len(data) > SECTOR:
                            data = data[: SECTOR * rng.randint(1, (len(data) - 1) // SECTOR)]
                            lost += 1
                        handle.seek(change.offset)
                        handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                state.changes.clear()
                state.synced_size = os.path.getsize(path)
            for path in list(self.paths):
                shm = path + "-shm"
                if path.endswith(("-wal", "-journal")) or not os.path.exists(shm):
                    continue
                os.unlink(shm)
            return lost


class FaultyFile(apsw.VFSFile):
    def __init__(
        self,
        vfs: FaultyVFS,
        path: str | None,
        name: str | apsw.URIFilename | None,
        flags: list[int],
    ) -> None:
        self.vfs = vfs
        self.path = path
        self.label = path or "<temp>"
        super().__init__(vfs.base, name, flags)
        if path is not None:
            with vfs.lock:
                vfs._state(path)

    def xWrite(self, data: Any, offset: int) -> None:
        vfs = self.vfs
        with vfs.lock:
            vfs._check("write", self.label)
            if self.path is None:
                super().xWrite(data, offset)
                return
            new = bytes(data)
            old = _read(self.path, offset, len(new))
            super().xWrite(data, offset)
            vfs._state(self.path).changes.append(_Change(offset, new, old))

    def xTruncate(self, newsize: int) -> None:
        vfs = self.vfs
        with vfs.lock:
            vfs._check("truncate", self.label)
            if self.path is None:
                super().xTruncate(newsize)
                return
            tail = _read(self.path, newsize, -1)
            super().xTruncate(newsize)
            vfs._state(self.path).changes.append(_Change(newsize, b"", tail, size=newsize))

    def xSync(self, flags: int) -> None:
        vfs = self.vfs
        with vfs.lock:
            vfs._check("sync", self.label)
            super().xSync(flags)
            if self.path is not None:
                state = vfs._state(self.path)
                state.changes.clear()
                state.synced_size = os.path.getsize(self.path)


def _read(path: str, offset: int, length: int) -> bytes:
    """The bytes of ``path`` in ``[offset, offset + length)`` that exist now (to its end
    for ``length=-1``)."""
    with open(path, "rb") as handle:
        handle.seek(offset)
        return handle.read(length)


def _io_error(kind: str, message: str) -> apsw.Error:
    error = apsw.IOError(message)
    # SQLite reports the extended code a VFS method's exception carries.
    error.extendedresult = {  # type: ignore[attr-defined]
        "sync": apsw.SQLITE_IOERR_FSYNC,
        "write": apsw.SQLITE_IOERR_WRITE,
        "truncate": apsw.SQLITE_IOERR_TRUNCATE,
        "delete": apsw.SQLITE_IOERR_DELETE,
    }[kind]
    return error
