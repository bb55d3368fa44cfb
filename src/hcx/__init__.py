"""hcx: a durable exchange engine for options.

Embedded use (the same exchange as ``hcx serve``, in-process)::

    async with hcx.open_exchange(clock=hcx.SimClock()) as exchange:
        async with exchange.session("alice") as alice:
            await alice.place_order("BTC-20301231-3000-C", "buy", "12.5", "1")

``hcx.Simulator`` is the same exchange as plain synchronous calls at engine speed, with
time that moves when told, the book, forks and exports (see docs/embedding.md).
``hcx.SyncExchange`` offers the same with blocking calls, for programs that are not async.
"""

from hcx.embedded.exchange import EmbeddedExchange, open_exchange
from hcx.embedded.sync import SyncExchange, SyncSession, SyncSubscription
from hcx.service.clock import SimClock, WallClock
from hcx.simulator import SimSession, Simulator, SimulatorClosed

__version__ = "0.1.0"

__all__ = [
    "EmbeddedExchange",
    "SimClock",
    "SimSession",
    "Simulator",
    "SimulatorClosed",
    "SyncExchange",
    "SyncSession",
    "SyncSubscription",
    "WallClock",
    "open_exchange",
]
