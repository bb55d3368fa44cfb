"""The page's HTTP side: files from the package with content types, ETag revalidation, a
strict CSP naming the gateway, and a config that says only where the gateway is."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from tests.web.harness import PageServer


def _get(url: str, headers: dict[str, str] | None = None) -> Any:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        return urllib.request.urlopen(request, timeout=10)
    except urllib.error.HTTPError as error:
        return error


def test_files_config_and_headers(served: PageServer) -> None:
    base = served.page_url
    page = _get(base)
    assert page.status == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert b'<script type="module" src="js/main.js">' in page.read()
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "script-src 'self';" in csp
    assert f"connect-src 'self' ws://127.0.0.1:{served.ws_port}/ws;" in csp
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "no-cache"

    script = _get(base + "js/main.js")
    assert script.status == 200
    assert script.headers["content-type"].startswith("text/javascript")
    etag = script.headers["etag"]
    assert etag
    again = _get(base + "js/main.js", {"If-None-Match": etag})
    assert again.status == 304
    assert _get(base + "style.css").headers["content-type"].startswith("text/css")

    config = _get(base + "config.json")
    assert config.headers["cache-control"] == "no-store"
    assert json.loads(config.read()) == {"ws_url": served.ws_url}
    assert _get(base + "nothing-here.js").status == 404


def test_config_follows_the_host_the_browser_used_but_never_a_forged_one(
    served: PageServer,
) -> None:
    base = served.page_url + "config.json"
    as_localhost = _get(base, {"Host": f"localhost:{served.http_port}"})
    assert json.loads(as_localhost.read())["ws_url"] == f"ws://localhost:{served.ws_port}/ws"
    assert f"ws://localhost:{served.ws_port}/ws" in as_localhost.headers["content-security-policy"]
    forged = _get(base, {"Host": "x; script-src *"})
    assert json.loads(forged.read())["ws_url"] == served.ws_url
    assert "script-src *" not in forged.headers["content-security-policy"]
