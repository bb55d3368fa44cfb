"""``tests.harness.journal_driver`` as a replicated primary: the same seeded stream and
answer lines, its exchange publishing to JetStream in ``sync`` mode (and holding the
lease), so a SIGKILL campaign can fail it over to a standby. A replication fault exits
with ``hcx serve``'s code for it (7 when deposed).

``python tests/replication/repl_driver.py --nats URL [journal_driver options]``
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from hcx.cli import replication_exit
from hcx.replication.attach import open_replication
from hcx.replication.errors import ReplicationFault, unwrap
from hcx.service.config import ServiceConfig
from hcx.service.exchange import Exchange
from hcx.service.supervisor import open_exchange
from tests.harness import journal_driver


def replicated(url: str, mode: str, replicas: int) -> Any:
    @asynccontextmanager
    async def opener(config: ServiceConfig, **kwargs: Any) -> AsyncIterator[Exchange]:
        config = attrs.evolve(config, nats_urls=url, replication=mode, nats_replicas=replicas)
        async with (
            open_replication(config) as replication,
            open_exchange(
                config, stage=replication.stage, publishers=replication.publishers, **kwargs
            ) as exchange,
        ):
            yield exchange

    return opener


def main() -> int:
    args = sys.argv[1:]
    at = args.index("--nats")
    url = args[at + 1]
    del args[at : at + 2]
    mode = "sync"
    if "--replication" in args:
        at = args.index("--replication")
        mode = args[at + 1]
        del args[at : at + 2]
    replicas = 1
    if "--replicas" in args:
        at = args.index("--replicas")
        replicas = int(args[at + 1])
        del args[at : at + 2]
    journal_driver.open_exchange = replicated(url, mode, replicas)  # type: ignore[assignment]
    try:
        return journal_driver.main(args)
    except BaseExceptionGroup as group:
        fault = unwrap(group)
        if not isinstance(fault, ReplicationFault):
            raise
        return replication_exit("repl_driver", fault)
    except ReplicationFault as fault:
        return replication_exit("repl_driver", fault)


if __name__ == "__main__":
    sys.exit(main())
