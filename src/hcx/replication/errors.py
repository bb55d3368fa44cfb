"""Why replication stops a process; each has its own exit code in the command line."""

from __future__ import annotations

from hcx.durability.errors import DurabilityError


class ReplicationFault(DurabilityError):
    """Replication cannot go on safely: nothing after it is released."""


class StreamDisagrees(ReplicationFault):
    """The stream holds records the local journal does not, or another chain, at ``seq``."""

    def __init__(self, seq: int, why: str) -> None:
        super().__init__(f"stream disagrees with the journal at seq {seq}: {why}")
        self.seq = seq
        self.why = why


class Deposed(ReplicationFault):
    """Another primary appended to the stream or took the lease: this one must stop."""


class Unreachable(ReplicationFault):
    """NATS did not answer within the bounded wait of a start in ``sync`` mode."""


class Rejected(ReplicationFault):
    """A standby found a stream record that does not verify: it stops before writing it."""

    def __init__(self, seq: int, why: str) -> None:
        super().__init__(f"stream record at seq {seq} rejected: {why}; nothing of it applied")
        self.seq = seq
        self.why = why


def unwrap(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The replication fault inside trio's exception groups, else the durability fault
    (a standby's journal writer), else the group itself: the CLI names either with its
    own exit code."""
    matched: BaseExceptionGroup[BaseException] | None = group.split(ReplicationFault)[0]
    if matched is None:
        matched = group.split(DurabilityError)[0]
    if matched is None:
        return group
    leaf: BaseException = matched
    while isinstance(leaf, BaseExceptionGroup):
        leaf = leaf.exceptions[0]
    return leaf
