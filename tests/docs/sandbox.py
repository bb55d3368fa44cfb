"""Where a documented command runs: a fresh directory that looks like a checkout after
``make run`` to the command (``.venv``, ``benchmarks/``, ``scripts/``, ``examples/``),
with ``.venv/bin`` first on ``PATH`` (as after ``source .venv/bin/activate``) and
``TMPDIR`` inside it, so nothing is left behind; never writes into the checkout.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.docs.documented import PROGRAM_DIRS, ROOT


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Sandbox:
    directory: Path
    values: dict[str, str] = field(default_factory=dict)

    @classmethod
    def create(cls, directory: Path) -> Sandbox:
        directory.mkdir(parents=True, exist_ok=True)
        # The interpreter running the tests is the project's .venv under ``make test``.
        (directory / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
        for name in PROGRAM_DIRS:
            (directory / name).symlink_to(ROOT / name, target_is_directory=True)
        (directory / "tmp").mkdir()
        return cls(directory, {"sandbox": str(directory)})

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PATH": f"{self.directory / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}",
            "TMPDIR": str(self.directory / "tmp"),
            "PYTHONUNBUFFERED": "1",
        }

    def run(self, command: str, timeout: float) -> subprocess.CompletedProcess[str]:
        """``command`` through ``sh``, as a user would type it, in the sandbox; on a
        timeout its whole process group (servers it started included) is killed."""
        process = subprocess.Popen(
            ["/bin/sh", "-c", command],
            cwd=self.directory,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            out, err = process.communicate()
            raise AssertionError(f"{command!r} ran over {timeout} s:\n{out}\n{err}") from None
        return subprocess.CompletedProcess(process.args, process.returncode, out, err)

    def start(self, command: str, ready: str, timeout: float = 60) -> Background:
        """``command`` in the background until a line of its stdout contains ``ready``."""
        log = self.directory / f"background-{len(list(self.directory.glob('background-*')))}"
        with log.open("w") as err:
            process = subprocess.Popen(
                ["/bin/sh", "-c", f"exec {command}"],
                cwd=self.directory,
                env=self.env,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                start_new_session=True,
            )
        background = Background(process, log)
        assert process.stdout is not None
        deadline = time.monotonic() + timeout
        pending = b""
        while True:
            remaining = deadline - time.monotonic()
            readable, _, _ = select.select([process.stdout], [], [], max(remaining, 0))
            if not readable:
                background.kill()
                raise AssertionError(f"{command!r} never printed {ready!r}:\n{background}")
            # Raw reads: a buffered readline could hold lines select() no longer sees.
            chunk = os.read(process.stdout.fileno(), 65536)
            if not chunk:
                process.wait()
                raise AssertionError(f"{command!r} exited {process.returncode}:\n{background}")
            pending += chunk
            *complete, pending = pending.split(b"\n")
            background.lines.extend(line.decode() for line in complete)
            if any(ready in line for line in background.lines):
                return background


@dataclass
class Background:
    process: subprocess.Popen[str]
    log: Path
    lines: list[str] = field(default_factory=list)

    def stop(self, timeout: float = 15) -> int:
        """SIGTERM (the documented graceful stop) and wait; killed if it does not stop."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise
        if self.process.stdout is not None:
            self.process.stdout.close()
        return self.process.returncode

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def __str__(self) -> str:
        return "\n".join(self.lines) + "\n--- stderr ---\n" + self.log.read_text()


def copy_into(source: Path, target: Path) -> None:
    """The files of ``source`` (a prepared journal and its keys) into ``target``."""
    for path in source.iterdir():
        if path.is_dir():
            shutil.copytree(path, target / path.name)
        else:
            shutil.copy2(path, target / path.name)
