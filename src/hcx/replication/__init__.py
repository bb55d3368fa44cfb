"""Replication of the committed journal on NATS JetStream: publication, standby, lease.

Nothing here sequences commands: the primary publishes rows its journal already holds,
and a standby verifies every row before writing it into its own journal.
"""
