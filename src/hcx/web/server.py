"""Serves the web page's ASGI app with hypercorn under trio; never touches the exchange.

Started in the same nursery as the gateway's listener, so it stops with it.
"""

from __future__ import annotations

import logging
import socket
from typing import Any, Protocol

import trio
from hypercorn.config import Config
from hypercorn.trio import serve as hypercorn_serve

from hcx.web.app import Gateway, create_app

# hypercorn's own lines: only its warnings and errors (hcx logs the page's address itself).
http_log = logging.getLogger("hcx.web.http")
http_log.setLevel(logging.WARNING)


def _bind(host: str, port: int) -> int:
    """A bound socket's descriptor, handed to hypercorn: a port in use is an error that
    names the setting, not a traceback from deep inside the server."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"http_port {port} on {host}: {exc.strerror}") from None
    return sock.detach()


def _config(host: str, port: int, tls_cert: str | None, tls_key: str | None) -> Config:
    config = Config()
    config.bind = [f"fd://{_bind(host, port)}"]
    config.errorlog = http_log
    config.accesslog = None
    # The page is a handful of small files: no reason to keep idle browsers long.
    config.keep_alive_timeout = 5
    config.graceful_timeout = 1
    if tls_cert and tls_key:
        config.certfile = tls_cert
        config.keyfile = tls_key
    return config


async def serve_page(
    host: str,
    port: int,
    gateway: Gateway,
    *,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    task_status: Any = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until cancelled; ``task_status.started`` gets the page's URL."""
    config = _config(host, port, tls_cert, tls_key)

    async with trio.open_nursery() as nursery:
        binds: list[str] = await nursery.start(hypercorn_serve, create_app(gateway), config)
        task_status.started(binds[0].rstrip("/") + "/")


class Listening(Protocol):
    """What the page needs of the gateway's settings (a ``GatewayConfig``)."""

    @property
    def host(self) -> str: ...
    @property
    def tls_cert(self) -> str | None: ...
    @property
    def tls_key(self) -> str | None: ...


async def web_page(
    gateway_config: Listening,
    ws_port: int,
    http_port: int,
    *,
    task_status: Any = trio.TASK_STATUS_IGNORED,
) -> None:
    """The page for a gateway listening with ``gateway_config`` on ``ws_port``."""
    scheme = "wss" if gateway_config.tls_cert else "ws"
    await serve_page(
        gateway_config.host,
        http_port,
        Gateway(ws_port, gateway_config.host, scheme),
        tls_cert=gateway_config.tls_cert,
        tls_key=gateway_config.tls_key,
        task_status=task_status,
    )
