"""``hcx serve`` settings: a TOML file, then command-line flags over it.

```toml
[service]     # ServiceConfig: db, durability, capacities, windows, snapshots
[gateway]     # GatewayConfig: host, port, auth, limits, queues, heartbeat, TLS
[engine]      # EngineConfig: open-order cap, default fees, margin rates
metrics_port = 9100
http_port = 8080  # the web page (absent: no page)
```
Unknown keys are an error naming the key, so a typo never silently keeps a default.
"""

from __future__ import annotations

import ipaddress
import tomllib
from pathlib import Path
from typing import Any

import attrs

from hcx.engine import EngineConfig
from hcx.replication.wire import check_venue
from hcx.service.config import DURABILITY_MODES, REPLICATION_MODES, ServiceConfig
from hcx.service.gateway.config import GatewayConfig


class SettingsError(ValueError):
    pass


def _build(cls: type, values: dict[str, Any], section: str) -> Any:
    known = {a.name for a in attrs.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise SettingsError(f"[{section}] unknown setting(s): {', '.join(unknown)}")
    try:
        return cls(**values)
    except TypeError as exc:
        raise SettingsError(f"[{section}] {exc}") from None


@attrs.frozen
class Settings:
    service: ServiceConfig
    gateway: GatewayConfig
    metrics_port: int | None = None
    http_port: int | None = None


def load(path: str | None, overrides: dict[str, dict[str, Any]]) -> Settings:
    data: dict[str, Any] = {}
    if path is not None:
        data = tomllib.loads(Path(path).read_text())
    unknown = sorted(set(data) - {"service", "gateway", "engine", "metrics_port", "http_port"})
    if unknown:
        raise SettingsError(f"unknown section(s): {', '.join(unknown)}")
    engine = _build(EngineConfig, {**data.get("engine", {})}, "engine")
    service_values = {**data.get("service", {}), **overrides.get("service", {})}
    service = _build(ServiceConfig, {**service_values, "engine": engine}, "service")
    if service.durability not in DURABILITY_MODES:
        raise SettingsError(f"durability must be one of {', '.join(DURABILITY_MODES)}")
    if service.replication not in REPLICATION_MODES:
        raise SettingsError(f"replication must be one of {', '.join(REPLICATION_MODES)}")
    try:
        check_venue(service.venue)
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
    if service.nats_urls and service.durability == "memory":
        raise SettingsError("nats_urls: replication needs a journal (durability memory has none)")
    gateway = _build(
        GatewayConfig, {**data.get("gateway", {}), **overrides.get("gateway", {})}, "gateway"
    )
    if gateway.auth == "none" and not is_loopback(gateway.host):
        raise SettingsError("--auth none is only allowed on a loopback address")
    if bool(gateway.tls_cert) != bool(gateway.tls_key):
        raise SettingsError("--tls-cert and --tls-key go together")
    top = overrides.get("top", {})
    metrics_port = top.get("metrics_port", data.get("metrics_port"))
    http_port = top.get("http_port", data.get("http_port"))
    if http_port is not None and (
        not isinstance(http_port, int) or isinstance(http_port, bool) or not 0 <= http_port < 65536
    ):
        raise SettingsError(f"http_port must be a port number 0-65535, got {http_port!r}")
    return Settings(service, gateway, metrics_port, http_port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
