"""Prometheus metrics: commands and rejects, journal batches and commit latency, queues,
connections, slow consumers and replay time, in a registry of the service's own."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.commands = Counter(
            "hcx_commands",
            "Commands answered, by result type and status",
            ["type", "status"],
            registry=r,
        )
        self.rejects = Counter("hcx_rejects", "Rejected commands by reason", ["reason"], registry=r)
        self.protocol_errors = Counter(
            "hcx_protocol_errors", "Protocol errors sent, by code", ["code"], registry=r
        )
        self.batch_size = Histogram(
            "hcx_journal_batch_rows",
            "Rows per journal commit",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
            registry=r,
        )
        self.commit_seconds = Histogram(
            "hcx_journal_commit_seconds",
            "Journal commit latency",
            buckets=(0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5),
            registry=r,
        )
        self.queue_depth = Gauge(
            "hcx_queue_depth", "Items waiting in a pipeline channel", ["channel"], registry=r
        )
        self.connections = Gauge("hcx_connections", "Open WebSocket connections", registry=r)
        self.subscriptions = Gauge("hcx_subscriptions", "Live subscriptions", registry=r)
        self.slow_consumers = Counter(
            "hcx_slow_consumer_closes", "Connections closed as slow consumers", registry=r
        )
        self.auth_failures = Counter(
            "hcx_auth_failures", "Failed Authenticate attempts", registry=r
        )
        self.replay_seconds = Gauge(
            "hcx_replay_seconds", "Time the last start spent replaying", registry=r
        )
        self.replayed_records = Gauge(
            "hcx_replayed_records", "Records replayed at the last start", registry=r
        )
        self.last_seq = Gauge("hcx_last_seq", "Last released journal seq", registry=r)

    def result(self, result: Any) -> None:
        status = getattr(result, "status", "ok")
        self.commands.labels(result.TYPE, status).inc()
        reason = getattr(result, "reason", None)
        if status == "rejected" and reason:
            self.rejects.labels(reason).inc()

    def errors(self, code: str) -> None:
        self.protocol_errors.labels(code).inc()

    def commit(self, rows: int, seconds: float) -> None:
        self.batch_size.observe(rows)
        self.commit_seconds.observe(seconds)

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        start_http_server(port, addr=host, registry=self.registry)
