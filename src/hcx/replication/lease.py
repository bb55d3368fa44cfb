"""The primary's lease: one key in a JetStream key-value bucket, changed by compare-and-set.

The value names the holder (a journal's node id, kept in its meta, so a promoted standby
and the ``hcx serve`` that then runs on its journal are the same holder). The holder
renews it every ``renew_s``; a renewal refused by compare-and-set means another node took
it: ``Deposed``. A challenger takes it only at the revision it read, so two cannot both
win. Runs its nats calls on the ``AsyncioThread``; it never touches the journal's rows.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

import nats.js.errors
import trio

from hcx.durability.journal import Journal
from hcx.replication import wire
from hcx.replication.bridge import AsyncioThread
from hcx.replication.errors import Deposed
from hcx.replication.stream import JournalStream, is_transient

log = logging.getLogger("hcx.replication")
KEY = "primary"
NODE_KEY = "replication_node"
# A lease not renewed for this long may be taken by a starting primary.
LEASE_FRESH_MS = 2_000


def node_id(journal: Journal) -> str:
    """This journal's node id (made once, kept in its meta)."""
    stored = journal.get_meta(NODE_KEY)
    if stored is not None:
        return stored.decode()
    made = uuid.uuid4().hex[:16]
    journal.set_meta(NODE_KEY, made.encode())
    return made


class Lease:
    def __init__(self, bridge: AsyncioThread, stream: JournalStream, holder: str) -> None:
        self.bridge = bridge
        self.stream = stream
        self.holder = holder
        self.revision = 0
        self.kv: Any = None

    async def _bucket(self) -> Any:
        if self.kv is None:
            js = self.stream.js
            bucket = wire.lease_bucket(self.stream.venue)
            try:
                self.kv = await js.key_value(bucket)
            except nats.js.errors.BucketNotFoundError:
                self.kv = await js.create_key_value(
                    bucket=bucket, history=1, replicas=self.stream.replicas
                )
        return self.kv

    async def _read(self) -> tuple[int, str | None]:
        kv = await self._bucket()
        try:
            entry = await kv.get(KEY)
        except nats.js.errors.KeyNotFoundError:
            return 0, None
        value = json.loads(entry.value or b"{}")
        return int(entry.revision), value.get("holder")

    async def _write(self, last: int) -> int:
        kv = await self._bucket()
        value = json.dumps({"holder": self.holder, "ms": time.time_ns() // 1_000_000}).encode()
        if last == 0:
            return int(await kv.create(KEY, value))
        return int(await kv.update(KEY, value, last=last))

    async def read(self) -> tuple[int, str | None]:
        """(revision, holder) as the bucket has it now; (0, None) if never taken."""
        return await self.bridge.call(self._read)

    async def take(self, revision: int) -> bool:
        """Compare-and-set at ``revision``: True if this node holds the lease now."""
        try:
            self.revision = await self.bridge.call(lambda: self._write(revision))
        except nats.js.errors.KeyWrongLastSequenceError:
            return False
        except nats.js.errors.BadRequestError:
            return False
        log.info("replication: lease taken by %s (revision %d)", self.holder, self.revision)
        return True

    async def hold_at_start(self, fresh_ms: int) -> None:
        """A primary's start: take the lease if it is ours, free, or not renewed for
        ``fresh_ms``; ``Deposed`` if another node renews it."""
        revision, holder = await self.read()
        if holder not in (None, self.holder):
            seen = trio.current_time()
            while trio.current_time() - seen < fresh_ms / 1000:
                await trio.sleep(0.05)
                now_revision, holder = await self.read()
                if now_revision != revision:
                    raise Deposed(f"the lease is held and renewed by node {holder}")
        if not await self.take(revision):
            raise Deposed("another node took the lease at the same moment")

    async def renew_forever(self, renew_s: float = 0.2) -> None:
        """Renew until refused (``Deposed``); an unreachable NATS is retried (and said
        once per outage)."""
        failing = False
        while True:
            await trio.sleep(renew_s)
            try:
                self.revision = await self.bridge.call(lambda: self._write(self.revision))
                if failing:
                    log.warning("replication: lease renewed again (revision %d)", self.revision)
                failing = False
            except (nats.js.errors.KeyWrongLastSequenceError, nats.js.errors.BadRequestError):
                revision, holder = await self.read()
                if holder == self.holder:
                    # An earlier renewal landed and its answer was lost in an outage.
                    self.revision = revision
                    continue
                raise Deposed(f"the lease was taken by node {holder}") from None
            except Exception as exc:
                if not is_transient(exc):
                    raise
                if not failing:
                    log.warning("replication: lease renewal failed (%r); retrying", exc)
                failing = True
