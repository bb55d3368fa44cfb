"""The sans-I/O wire layer: frames to messages to engine commands, and back.

Shared by the WebSocket gateway and the Python client; it does no I/O and keeps no
connection state, so both sides are tested against the same code.
"""

PROTOCOL_VERSION = 1
SUBPROTOCOL_JSON = "hcx.v1.json"
SUBPROTOCOL_CBOR = "hcx.v1.cbor"
SUBPROTOCOLS = (SUBPROTOCOL_JSON, SUBPROTOCOL_CBOR)
# In-process only (the embedded API): frames are the message dicts themselves.
SUBPROTOCOL_LOCAL = "hcx.v1.local"
