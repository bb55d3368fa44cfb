"""The deterministic engine: commands in, one result and ordered events out.

Nothing here performs I/O, reads a clock or draws randomness; time enters only through
the envelope's ``ts_ms``. That purity is what lets the journal replay a crash away.
"""

from hcx.engine.commands import Envelope
from hcx.engine.config import EngineConfig
from hcx.engine.engine import Engine
from hcx.engine.outputs import Output

__all__ = ["Engine", "EngineConfig", "Envelope", "Output"]
