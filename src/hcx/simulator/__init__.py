"""``hcx.Simulator``: the exchange in-process, synchronous, at engine speed.

```python
sim = hcx.Simulator(clock=hcx.SimClock(1_893_456_000_000), seed=7)
admin, alice = sim.session("admin"), sim.session("alice")
admin.create_instrument("ETH-20300103-3000-C", "ETH", 1_893_657_600_000, "3000", "call",
                        "0.1", "0.1")
admin.deposit("alice", "100000")
result = alice.place_order("ETH-20300103-3000-C", "buy", "120.5", "1")
sim.advance(60_000)
```
"""

from hcx.simulator.core import CLOCK_WALLET, Simulator, SimulatorClosed
from hcx.simulator.events import EventQueue
from hcx.simulator.session import SimSession

__all__ = ["CLOCK_WALLET", "EventQueue", "SimSession", "Simulator", "SimulatorClosed"]
