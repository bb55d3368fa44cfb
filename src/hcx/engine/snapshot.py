"""The whole engine state as plain data, back again, and its digest.

The snapshot holds only ints, strings, bools, None, lists and string-keyed dicts, in a
canonical order (wallets and instruments by name, resting orders by id), so any encoder
can store it and ``digest`` (SHA-256 of its canonical JSON) is the same on every machine.
Orders are listed by id: ids grow with arrival and an order only joins a level when it is
created, so re-adding them by id rebuilds every level's time priority exactly.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import attrs

from hcx.engine.accounts import Exposure, Wallet
from hcx.engine.book import Order
from hcx.engine.config import EngineConfig
from hcx.engine.instruments import Instrument
from hcx.engine.mmp import MmpState
from hcx.engine.state import NO_DEADLINE, EngineState

SNAPSHOT_VERSION = 2

_ORDER_FIELDS = list(Order.FIELDS)
_EXPOSURE_FIELDS = list(Exposure.FIELDS)
_INSTRUMENT_FIELDS = list(Instrument.FIELDS)
_MMP_FIELDS = list(MmpState.FIELDS)

Snapshot = dict[str, Any]


def take_snapshot(state: EngineState, last_seq: int, last_ts: int) -> Snapshot:
    wallets = []
    for name in sorted(state.wallets):
        wallet = state.wallets[name]
        wallets.append(
            {
                "name": name,
                "total": wallet.total,
                "reserved": wallet.reserved,
                "exposures": [
                    [symbol, *(getattr(wallet.exposures[symbol], f) for f in _EXPOSURE_FIELDS)]
                    for symbol in sorted(wallet.exposures)
                ],
            }
        )
    snapshot: Snapshot = {
        "version": SNAPSHOT_VERSION,
        "last_seq": last_seq,
        "last_ts": last_ts,
        "config": attrs.asdict(state.config),
        "instruments": [
            [getattr(state.instruments[s], f) for f in _INSTRUMENT_FIELDS]
            for s in sorted(state.instruments)
        ],
        "book_seqs": dict(sorted(state.book_seqs.items())),
        "index_prices": dict(sorted(state.index_prices.items())),
        "index_vols": dict(sorted(state.index_vols.items())),
        "wallets": wallets,
        "orders": [
            [getattr(state.orders[oid], f) for f in _ORDER_FIELDS] for oid in sorted(state.orders)
        ],
        "next_order_id": state.next_order_id,
        "next_trade_id": state.next_trade_id,
        "next_fill_id": state.next_fill_id,
        "fees_collected": state.fees_collected,
        "deposited": state.deposited,
        "withdrawn": state.withdrawn,
        "mmp": [
            [wallet, underlying, *(_mmp_row(state.mmp[(wallet, underlying)]))]
            for wallet, underlying in sorted(state.mmp)
        ],
        # Insertion order matters (oldest first is what expires first): kept as is.
        "filled_rfqs": [[rfq_id, expires] for rfq_id, expires in state.filled_rfqs.items()],
    }
    # Only when set: a state without them keeps the digest it had before they existed.
    if state.cancel_after:
        snapshot["cancel_after"] = dict(sorted(state.cancel_after.items()))
    if state.disconnect_sessions:
        snapshot["disconnect_sessions"] = dict(sorted(state.disconnect_sessions.items()))
    return snapshot


def _mmp_row(mmp: MmpState) -> list[Any]:
    return [
        *(getattr(mmp, f) for f in _MMP_FIELDS if f != "window"),
        [list(item) for item in mmp.window],
    ]


def restore_state(snapshot: Snapshot) -> tuple[EngineState, int, int]:
    """Rebuild the state a snapshot describes; returns it with the last seq and ts."""
    if snapshot.get("version") != SNAPSHOT_VERSION:
        raise ValueError(f"unsupported snapshot version {snapshot.get('version')!r}")
    state = EngineState(config=EngineConfig(**snapshot["config"]))
    state.book_seqs.update(snapshot["book_seqs"])
    for row in snapshot["instruments"]:
        state.list_instrument(Instrument(**dict(zip(_INSTRUMENT_FIELDS, row, strict=True))))
    state.index_prices.update(snapshot["index_prices"])
    state.index_vols.update(snapshot["index_vols"])
    for row in snapshot["wallets"]:
        wallet = Wallet(row["name"], total=row["total"], reserved=row["reserved"])
        for symbol, *values in row["exposures"]:
            wallet.exposures[symbol] = Exposure(**dict(zip(_EXPOSURE_FIELDS, values, strict=True)))
        state.wallets[wallet.name] = wallet
    for row in snapshot["orders"]:
        order = Order(**dict(zip(_ORDER_FIELDS, row, strict=True)))
        state.books[order.symbol].side(order.side).add(order)
        wallet = state.wallets[order.wallet]
        wallet.open_orders[order.order_id] = order
        if order.client_id is not None:
            wallet.client_ids[order.client_id] = order.order_id
        state.orders[order.order_id] = order
    state.next_order_id = snapshot["next_order_id"]
    state.next_trade_id = snapshot["next_trade_id"]
    state.next_fill_id = snapshot["next_fill_id"]
    for wallet_name, underlying, *values in snapshot["mmp"]:
        *plain, window = values
        mmp = MmpState(**dict(zip([f for f in _MMP_FIELDS if f != "window"], plain, strict=True)))
        mmp.window.extend(tuple(item) for item in window)
        state.mmp[(wallet_name, underlying)] = mmp
    state.filled_rfqs.update((rfq_id, expires) for rfq_id, expires in snapshot["filled_rfqs"])
    state.fees_collected = snapshot["fees_collected"]
    state.deposited = snapshot["deposited"]
    state.withdrawn = snapshot["withdrawn"]
    state.cancel_after.update(snapshot.get("cancel_after", {}))
    state.cancel_after_next = min(state.cancel_after.values(), default=NO_DEADLINE)
    state.disconnect_sessions.update(snapshot.get("disconnect_sessions", {}))
    return state, snapshot["last_seq"], snapshot["last_ts"]


def canonical_bytes(snapshot: Snapshot) -> bytes:
    return json.dumps(snapshot, sort_keys=True, separators=(",", ":")).encode()


def digest_of(snapshot: Snapshot) -> str:
    return hashlib.sha256(canonical_bytes(snapshot)).hexdigest()
