"""Where the client connects: the servers' URLs in failover order, and how one is opened.

A client is given one URL or several (a primary and its standbys, say). ``Endpoints``
parses them once (``ws://`` or ``wss://``; anything else is refused naming the URL) and
keeps which one is current; the connection moves to the next after a failed attempt or
a ``read_only`` answer. ``wss://`` is TLS with the system's CA store, or a CA file, or an
``ssl.SSLContext`` the caller made. It never speaks the protocol itself.
"""

from __future__ import annotations

import ssl
import urllib.parse
from collections.abc import Sequence

import attrs
import trio


@attrs.frozen
class Endpoint:
    url: str
    host: str
    port: int
    host_header: str
    resource: str
    tls: bool


def parse_endpoint(url: str) -> Endpoint:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(f"expected a ws:// or wss:// URL, not {url!r}")
    tls = parts.scheme == "wss"
    return Endpoint(
        url,
        parts.hostname,
        parts.port or (443 if tls else 80),
        parts.netloc,
        (parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
        tls,
    )


class Endpoints:
    """The URLs in failover order and the one in use."""

    def __init__(
        self,
        urls: str | Sequence[str],
        *,
        ca_file: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        listed = [urls] if isinstance(urls, str) else list(urls)
        if not listed:
            raise ValueError("give at least one URL")
        self.all = [parse_endpoint(url) for url in listed]
        self.index = 0
        self._ca_file = ca_file
        self._ssl_context = ssl_context

    @property
    def current(self) -> Endpoint:
        return self.all[self.index]

    def advance(self) -> Endpoint:
        """Move on to the next URL (back to the first after the last)."""
        self.index = (self.index + 1) % len(self.all)
        return self.current

    def ssl_context(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = ssl.create_default_context(cafile=self._ca_file)
        return self._ssl_context

    async def open_stream(
        self, endpoint: Endpoint
    ) -> trio.SocketStream | trio.SSLStream[trio.SocketStream]:
        if not endpoint.tls:
            return await trio.open_tcp_stream(endpoint.host, endpoint.port)
        stream = await trio.open_ssl_over_tcp_stream(
            endpoint.host, endpoint.port, ssl_context=self.ssl_context(), https_compatible=True
        )
        try:
            # Here, not lazily inside the WebSocket handshake, so that a certificate that
            # does not verify is reported as such (an ``ssl.SSLError``).
            await stream.do_handshake()
        except trio.BrokenResourceError as exc:
            await trio.aclose_forcefully(stream)
            if isinstance(exc.__cause__, ssl.SSLError):
                raise exc.__cause__ from None
            raise
        return stream
