"""The seed app running for real: backend and frontend as subprocesses.

The backend (``python -m examples.soniquebay.backend``) starts on a free loopback port picked
once (port 0); a restart binds that same port again, as a redeployed backend does. The
frontend (``python -m examples.soniquebay.frontend``) gets the seed note's settings: ``WS_URL``
as a base URL and ``CANAUX_MOUNT_PATH=/canaux``. Both print the line that gives their port.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parents[3]
BACKEND_RE = re.compile(r"soniquebay backend: listening on http://(?P<host>[^:/]+):(?P<port>\d+)")
FRONTEND_RE = re.compile(r"soniquebay frontend: http://(?P<host>[^:/]+):(?P<port>\d+)/")
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0
TRACKS = ("Miles Davis/So What.mp3", "Miles Davis/Blue in Green.flac", "Intro.ogg")


@dataclass(eq=False)
class AppProcess:
    """One subprocess of the app; its output is kept (and shown when a test fails)."""

    name: str
    process: subprocess.Popen[str]
    output: list[str] = field(default_factory=list)
    _lines: queue.Queue[str | None] = field(default_factory=queue.Queue)

    def __post_init__(self) -> None:
        threading.Thread(target=self._read, name=f"{self.name}-output", daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def wait_for(self, pattern: re.Pattern[str], timeout: float = START_TIMEOUT_S) -> re.Match[str]:
        """The first output line matching ``pattern``; fails on exit or after ``timeout``."""
        while True:
            try:
                line = self._lines.get(timeout=timeout)
            except queue.Empty:
                pytest.fail(f"{self.name} said nothing matching {pattern.pattern}: {self.log()}")
            if line is None:
                pytest.fail(f"{self.name} exited ({self.process.wait()}): {self.log()}")
            self.output.append(line)
            match = pattern.search(line)
            if match:
                return match

    def log(self) -> str:
        while True:
            try:
                line = self._lines.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.output.append(line)
        return "".join(self.output[-60:])

    def stop(self) -> int:
        """SIGTERM (a graceful stop), then wait; a process that hangs is killed."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT_S)
            pytest.fail(f"{self.name} did not stop within {STOP_TIMEOUT_S} s: {self.log()}")


def spawn(name: str, module: str, *args: str, env: dict[str, str] | None = None) -> AppProcess:
    process = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )
    return AppProcess(name, process)


@dataclass(eq=False)
class SeedApp:
    """The running app: the backend (restartable on its port) and the frontend."""

    music: Path
    backend: AppProcess
    backend_port: int
    frontend: AppProcess
    http: httpx.Client
    stopped: list[AppProcess] = field(default_factory=list)
    """Backends stopped by a test, kept for their output."""
    _frontend_url: str | None = None

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.backend_port}"

    @property
    def frontend_url(self) -> str:
        """The frontend's base URL, once it has said where it listens (it starts meanwhile)."""
        if self._frontend_url is None:
            match = self.frontend.wait_for(FRONTEND_RE)
            self._frontend_url = f"http://{match['host']}:{match['port']}"
        return self._frontend_url

    def health(self) -> dict[str, Any]:
        """The backend's own count of its sessions and connections (``/canaux/health``)."""
        answer = self.http.get(f"{self.api}/canaux/health")
        answer.raise_for_status()
        body: dict[str, Any] = answer.json()
        return body

    def stop_backend(self) -> None:
        status = self.backend.stop()
        self.stopped.append(self.backend)
        assert status == 0, f"the backend did not stop cleanly ({status}): {self.backend.log()}"

    def kill_backend(self) -> None:
        """SIGKILL: the backend dies at once, without closing anything (a crash)."""
        self.backend.process.kill()
        self.backend.process.wait(timeout=STOP_TIMEOUT_S)
        self.stopped.append(self.backend)

    def start_backend(self) -> None:
        """Start the backend again on the port the first one had."""
        self.backend, _ = start_backend(self.music, self.backend_port)

    def stop(self) -> None:
        """Stop both (gracefully: exit status 0) and check that neither logged an error."""
        problems = []
        for process in (self.frontend, self.backend):
            status = process.stop()
            if status != 0:
                problems.append(f"{process.name} exited with {status}")
        for process in (self.frontend, *self.stopped, self.backend):
            log = process.log()
            if any(word in log for word in ("Traceback", "ERROR", "Exception")):
                problems.append(f"{process.name} logged an error")
        if problems:
            logs = "\n".join(
                f"--- {p.name}:\n{p.log()}" for p in (self.frontend, *self.stopped, self.backend)
            )
            pytest.fail(f"{'; '.join(problems)}\n{logs}")


def start_backend(music: Path, port: int) -> tuple[AppProcess, int]:
    """The backend on ``port`` (0: a free one); returns it with the port it bound."""
    backend = spawn(
        "backend",
        "examples.soniquebay.backend",
        "--port",
        str(port),
        "--music",
        str(music),
        "--chunk-delay",
        "0.1",
    )
    try:
        bound = int(backend.wait_for(BACKEND_RE)["port"])
    except BaseException:
        backend.stop()
        raise
    if port not in (0, bound):
        backend.stop()
        pytest.fail(f"the backend bound port {bound}, not {port}")
    return backend, bound
