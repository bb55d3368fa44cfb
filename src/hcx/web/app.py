"""The web page's ASGI app: static files from the package and ``/config.json``; never data.

``/config.json`` only says where the WebSocket gateway listens (as seen from the host name
the browser used), so the page learns nothing a protocol client could not ask for. Every
answer carries a strict Content-Security-Policy whose ``connect-src`` names exactly that
gateway; static files are revalidated by ETag (``no-cache``), the config is ``no-store``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import attrs
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"
# A host name or IP literal as it may appear in a Host header; anything else falls back
# to the configured host, so a forged header can never write into the CSP.
_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]{1,253})$")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@attrs.frozen
class Gateway:
    """Where the page's WebSocket goes: ``scheme://<host the browser used>:port/ws``."""

    port: int
    host: str = "127.0.0.1"
    scheme: str = "ws"

    def url_for(self, host_header: str | None) -> str:
        host = _browser_host(host_header) or _bracketed(self.host)
        return f"{self.scheme}://{host}:{self.port}/ws"


def _browser_host(host_header: str | None) -> str | None:
    if not host_header:
        return None
    if host_header.startswith("["):
        host = host_header.split("]", 1)[0] + "]"
    else:
        host = host_header.split(":", 1)[0]
    return host if _HOST.match(host) else None


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def security_headers(ws_url: str) -> list[tuple[bytes, bytes]]:
    policy = (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self' {ws_url}; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )
    return [
        (b"content-security-policy", policy.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"x-frame-options", b"DENY"),
    ]


class _Headers:
    """Adds the security headers to every answer, and ``no-cache`` where none is set."""

    def __init__(self, app: ASGIApp, gateway: Gateway) -> None:
        self.app = app
        self.gateway = gateway

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")
        extra = security_headers(self.gateway.url_for(host))

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"cache-control" for name, _ in headers):
                    headers.append((b"cache-control", b"no-cache"))
                message["headers"] = headers + extra
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(gateway: Gateway) -> ASGIApp:
    async def config(request: Request) -> Response:
        return JSONResponse(
            {"ws_url": gateway.url_for(request.headers.get("host"))},
            headers={"cache-control": "no-store"},
        )

    app = Starlette(
        routes=[
            Route("/config.json", config, methods=["GET", "HEAD"]),
            Mount("/", StaticFiles(directory=STATIC, html=True)),
        ]
    )
    return _Headers(app, gateway)
