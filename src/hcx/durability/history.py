"""Reading journal history back for clients that resume: the oldest seq kept, and the
events of a range of records. Read-only; never writes, never runs on the writer's
connection unless the journal is in memory (then the caller serializes access).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hcx.durability.journal import Journal
from hcx.durability.records import decode_output_object, decode_record


def first_kept_seq(journal: Journal) -> int:
    """The lowest seq the journal still holds (1 for an empty journal)."""
    rows: Any = list(journal.connection.execute("SELECT min(seq) FROM journal"))
    return int(rows[0][0] or 1)


def events_between(
    journal: Journal, after: int, upto: int, wanted: Callable[[Any], bool]
) -> list[Any]:
    """The events of records ``after < seq <= upto``, in order, for which ``wanted`` is
    true (decoded to engine output objects)."""
    events = []
    for seq, _ts, _key, blob, _crc, _chain in journal.scan(after):
        if seq > upto:
            break
        for data in decode_record(blob).events:
            event = decode_output_object(data)
            if wanted(event):
                events.append(event)
    return events
