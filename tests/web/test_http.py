"""The page's HTTP side: files from the package with content types, ETag revalidation, a
strict CSP naming the gateway, and a config that says only where the gateway is."""

from __future__ import annotations

import errno
import json
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from hcx.settings import load
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


def test_a_bad_or_busy_http_port_is_a_clear_error(tmp_path: Path) -> None:
    db = str(tmp_path / "hcx.db")
    bad = _hcx("serve", "--db", db, "--port", "0", "--http-port", "70000")
    assert bad.returncode == 2
    assert "http_port must be a port number 0-65535, got 70000" in bad.stderr
    settings = tmp_path / "hcx.toml"
    settings.write_text('http_port = "8080"\n')
    bad = _hcx("serve", "--db", db, "--port", "0", "--config", str(settings))
    assert bad.returncode == 2
    assert "http_port must be a port number" in bad.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = _hcx("serve", "--db", db, "--port", "0", "--http-port", str(port), "--auth", "none")
    assert busy.returncode == 2
    assert f"cannot listen: [Errno {errno.EADDRINUSE}] http_port {port} on 127.0.0.1" in busy.stderr
    assert "Traceback" not in busy.stderr


def test_the_settings_file_and_the_flag_set_the_page_port(tmp_path: Path) -> None:
    settings = tmp_path / "hcx.toml"
    settings.write_text("http_port = 8081\n")
    assert load(str(settings), {}).http_port == 8081
    assert load(str(settings), {"top": {"http_port": 0}}).http_port == 0
    assert load(None, {}).http_port is None


def _hcx(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hcx.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
