"""Durability: the journal, its records, replay, snapshots and the idempotency window.

Everything a client is told is first a record here, fsynced. This package owns how those
records look, where they live and how the engine is rebuilt from them.
"""
