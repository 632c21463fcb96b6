"""A real ``redis-server`` for the Redis broker's tests: loopback, a free port, its own folder.

:class:`RedisServer` starts Debian's ``redis-server`` (the Makefile installs it) on 127.0.0.1
and a port the system just reported free (Redis cannot listen on port 0: ``--port 0`` turns
TCP off), in a temporary directory, with no persistence unless ``aof=True``. It is ready when
it prints "Ready to accept connections"; if another process took the port in between, Redis
exits and the next free port is tried. :meth:`RedisServer.restart` keeps the port and the
folder (so an AOF file survives it), :meth:`RedisServer.stop` ends it.
"""

from __future__ import annotations

import collections
import shutil
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

__all__ = ["REDIS_SERVER", "RedisServer", "RedisUnavailable"]

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
STARTUP_TIMEOUT_S = 20.0
PORT_ATTEMPTS = 5


class RedisUnavailable(RuntimeError):
    """``redis-server`` could not be started."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RedisServer:
    """One ``redis-server`` process; use as a context manager or call start/stop."""

    def __init__(self, *, aof: bool = False) -> None:
        self.aof = aof
        self.port = 0
        self._folder = Path(tempfile.mkdtemp(prefix="canaux-redis-"))
        self._process: subprocess.Popen[str] | None = None
        self.output: collections.deque[str] = collections.deque(maxlen=100)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _command(self, port: int) -> list[str]:
        persistence = (
            ["--appendonly", "yes", "--appendfsync", "always"]
            if self.aof
            else ["--appendonly", "no"]
        )
        return [
            REDIS_SERVER,
            "--bind", "127.0.0.1",
            "--port", str(port),
            "--dir", str(self._folder),
            "--save", "",
            *persistence,
            "--logfile", "",
            "--loglevel", "notice",
        ]  # fmt: skip

    def start(self) -> RedisServer:
        """Start on a free port (or, after :meth:`stop` via :meth:`restart`, the same one)."""
        for _ in range(PORT_ATTEMPTS if self.port == 0 else 1):
            port = self.port or _free_port()
            if self._launch(port):
                self.port = port
                return self
        raise RedisUnavailable("redis-server did not start:\n" + "\n".join(self.output))

    def _launch(self, port: int) -> bool:
        try:
            process = subprocess.Popen(
                self._command(port),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        except OSError as exc:
            raise RedisUnavailable(f"cannot run {REDIS_SERVER}: {exc} (make installs it)") from exc
        ready = threading.Event()
        assert process.stdout is not None
        stdout = process.stdout

        def drain() -> None:
            # Reads until Redis exits, so its output never blocks it on a full pipe.
            for line in stdout:
                self.output.append(line.rstrip())
                if "Ready to accept connections" in line:
                    ready.set()
            ready.set()

        threading.Thread(target=drain, name=f"redis-server {port}", daemon=True).start()
        ready.wait(STARTUP_TIMEOUT_S)
        if process.poll() is None and ready.is_set():
            self._process = process
            return True
        process.kill()
        process.wait(STARTUP_TIMEOUT_S)
        return False

    def stop(self, *, kill: bool = False) -> None:
        """End the server (SIGTERM, or SIGKILL with ``kill``) and wait until it has exited."""
        process, self._process = self._process, None
        if process is None:
            return
        if kill:
            process.kill()
        else:
            process.terminate()
        try:
            process.wait(STARTUP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STARTUP_TIMEOUT_S)

    def restart(self, *, kill: bool = False) -> None:
        """Stop and start again on the same port and folder (an AOF file is replayed)."""
        self.stop(kill=kill)
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._folder, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
