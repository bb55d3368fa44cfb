"""Exports: trades, fills and order updates as flat rows, from a journal or from outputs.

A row is an engine event's fields by name, amounts as the protocol's decimal strings,
so a simulator's ``trades()`` and ``hcx export --db FILE trades`` give the same rows for
the same history. Rows go out as CSV (a header of the kind's columns) or JSON lines. It
only reads: a journal is opened read-only and never written.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

from hcx.durability.journal import Journal
from hcx.durability.records import decode_output_object, decode_record
from hcx.engine.numbers import format_decimal
from hcx.engine.outputs import Fill, OrderUpdate, Trade
from hcx.engine.plain import field_names
from hcx.protocol.messages import DECIMAL_FIELDS

EVENT_OF_KIND: dict[str, type] = {"trades": Trade, "fills": Fill, "orders": OrderUpdate}
KINDS = tuple(EVENT_OF_KIND)
FORMATS = ("csv", "jsonl")


def columns(kind: str) -> list[str]:
    return list(field_names(EVENT_OF_KIND[kind]))


def _row_maker(cls: type) -> Callable[[Any], dict[str, Any]]:
    plan = [(name, name in DECIMAL_FIELDS) for name in field_names(cls)]

    def row(event: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, is_decimal in plan:
            value = getattr(event, name)
            out[name] = format_decimal(value) if is_decimal and value is not None else value
        return out

    return row


ROW_OF: dict[type, Callable[[Any], dict[str, Any]]] = {
    cls: _row_maker(cls) for cls in EVENT_OF_KIND.values()
}


def rows_of(events: Iterable[Any]) -> list[dict[str, Any]]:
    """The rows of engine events (all of one exported kind)."""
    return [ROW_OF[type(event)](event) for event in events]


def journal_rows(path: str, kind: str) -> Iterator[dict[str, Any]]:
    """Every ``kind`` event of the journal at ``path``, in journal order."""
    if kind not in EVENT_OF_KIND:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    wanted = EVENT_OF_KIND[kind].TYPE  # type: ignore[attr-defined]
    make = ROW_OF[EVENT_OF_KIND[kind]]
    journal = Journal(path, readonly=True)
    try:
        for row in journal.scan():
            for item in decode_record(bytes(row[3])).events:
                if item[0] == wanted:
                    yield make(decode_output_object(item))
    finally:
        journal.close()


def write_rows(rows: Iterable[dict[str, Any]], kind: str, fmt: str, out: IO[str]) -> int:
    """Write ``rows`` as ``fmt``; returns how many."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, not {fmt!r}")
    count = 0
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=columns(kind), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            count += 1
    else:
        for row in rows:
            out.write(json.dumps(row, separators=(",", ":")) + "\n")
            count += 1
    return count
