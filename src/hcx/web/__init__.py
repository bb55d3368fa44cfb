"""The web view of the market: a static page served over HTTP beside the WebSocket gateway.

The page is one more protocol client: this package serves its files and tells it where the
gateway listens, and never serves market data of its own (that goes over ``/ws`` only).
"""
