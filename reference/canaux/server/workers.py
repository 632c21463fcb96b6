"""``canaux serve --workers N``: N server processes on one port, one deployment (spec "Clusters").

The supervisor (:func:`supervise`, the parent) binds the listening socket itself, so ``--port 0``
works and every worker accepts from the same kernel queue: a connection waits there until one
worker takes it, and none is lost when a worker stops or dies. It then starts N workers, each
a fresh interpreter (nothing of the parent's state is shared by accident) that inherits the
socket and a control socket of its own:

- over the control socket the parent sends the worker its arguments, the worker answers one
  byte once it is listening, and the parent closing it (or dying) tells the worker to stop
  gracefully, so no worker outlives its supervisor;
- the parent prints the listening line once, when every worker listens;
- SIGINT, SIGTERM or SIGHUP to the parent stops every worker gracefully (each closes its
  clients with 1001 and stores their sessions) and the parent exits 0 once they all exited 0;
  a second signal kills the workers at once (exit 1);
- a worker that dies after it was listening is replaced by a new one on the same socket (its
  clients reconnect and resume on the others); a worker that dies before it listens (a bad
  setting, the broker unreachable) stops them all, and the parent exits 1.

The workers run in their own process group: a Ctrl-C in the terminal reaches the parent alone,
which passes it on, so a worker stopped by that signal is never mistaken for one that died.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import socket
import struct
import subprocess
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

__all__ = ["LISTEN_BACKLOG", "Worker", "WorkerLink", "bind_listener", "supervise"]

LISTEN_BACKLOG = 2048
"""The kernel's queue of connections not yet accepted, as a single server widens it to."""

_READY = b"R"
_LENGTH = struct.Struct("!I")
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def bind_listener(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (``port`` 0: any free one), inheritable."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(LISTEN_BACKLOG)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


@dataclass
class Worker:
    """One worker process as the supervisor sees it."""

    process: subprocess.Popen[bytes]
    control: socket.socket
    replaces: int | None = None
    """The pid of the worker this one replaces."""
    ready: bool = False


class WorkerLink:
    """The worker's end of its control socket (``canaux serve`` run by :func:`supervise`)."""

    def __init__(self, fd: int) -> None:
        self._sock = socket.socket(fileno=fd)

    def receive(self) -> bytes:
        """The payload the supervisor sent (the worker's arguments)."""
        header = self._read(_LENGTH.size)
        return self._read(_LENGTH.unpack(header)[0])

    def _read(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self._sock.recv(size - len(data))
            if not chunk:
                raise EOFError("the supervisor closed the control socket")
            data += chunk
        return data

    def listening(self) -> None:
        """Tell the supervisor this worker accepts connections."""
        self._sock.sendall(_READY)

    def stop_with_supervisor(self) -> None:
        """Stop this process gracefully (as SIGTERM does) once the supervisor is gone or asks."""

        def watch() -> None:
            with contextlib.suppress(OSError):
                while self._sock.recv(1024):
                    pass
            os.kill(os.getpid(), signal.SIGTERM)

        threading.Thread(target=watch, name="canaux supervisor link", daemon=True).start()


def _say(message: str) -> None:
    print(f"canaux: {message}", flush=True)


def supervise(
    command: Sequence[str],
    payload: bytes,
    workers: int,
    listener: socket.socket,
    *,
    announce: Callable[[int], None],
) -> int:
    """Run ``workers`` processes of ``command`` on ``listener`` until stopped; the exit status.

    Each process gets ``--worker-fds LISTEN,CONTROL`` appended to ``command`` and ``payload``
    on its control socket (:class:`WorkerLink`). ``announce(port)`` runs once, when every
    worker listens. Runs in the main thread (it installs signal handlers).
    """
    port = int(listener.getsockname()[1])
    wake_r, wake_w = socket.socketpair()
    wake_r.setblocking(False)
    wake_w.setblocking(False)
    stop_requests = 0
    selector = selectors.DefaultSelector()
    selector.register(wake_r, selectors.EVENT_READ)
    running: dict[int, Worker] = {}

    def start(replaces: int | None = None) -> None:
        parent_end, child_end = socket.socketpair()
        fds = f"{listener.fileno()},{child_end.fileno()}"
        process = subprocess.Popen(
            [*command, "--worker-fds", fds],
            stdin=subprocess.DEVNULL,
            pass_fds=(listener.fileno(), child_end.fileno()),
            process_group=0,
        )
        child_end.close()
        parent_end.sendall(_LENGTH.pack(len(payload)) + payload)
        parent_end.setblocking(False)
        worker = Worker(process, parent_end, replaces)
        running[process.pid] = worker
        selector.register(parent_end, selectors.EVENT_READ, worker)

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stop_requests
        stop_requests += 1

    previous_wakeup = signal.set_wakeup_fd(wake_w.fileno())
    previous = {sig: signal.signal(sig, on_signal) for sig in _STOP_SIGNALS}
    announced = False
    failed = False
    stopping_since = 0
    try:
        for _ in range(workers):
            start()
        while running:
            if stop_requests and not stopping_since:
                stopping_since = stop_requests
                _stop(running.values(), signal.SIGTERM)
            elif stop_requests > stopping_since > 0:
                failed = True
                _stop(running.values(), signal.SIGKILL)
            for key, _ in selector.select():
                if key.fileobj is wake_r:
                    while True:
                        try:
                            if not wake_r.recv(512):
                                break
                        except BlockingIOError:
                            break
                    continue
                worker: Worker = key.data
                try:
                    data = worker.control.recv(64)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if data:
                    if _READY in data and not worker.ready:
                        worker.ready = True
                        if worker.replaces is not None:
                            _say(f"worker {worker.process.pid} listening (replaces "
                                 f"{worker.replaces})")  # fmt: skip
                    if not announced and all(w.ready for w in running.values()):
                        announced = True
                        announce(port)
                    continue
                # The control socket closed: the worker exited.
                selector.unregister(worker.control)
                worker.control.close()
                status = worker.process.wait()
                del running[worker.process.pid]
                if stopping_since:
                    # Stopped as asked: gracefully (0), or by the signal itself while it
                    # was still starting (before its handlers were in place).
                    failed = failed or status not in (0, -signal.SIGTERM)
                elif not worker.ready:
                    _say(f"worker {worker.process.pid} exited ({_status(status)}) before it "
                         "was listening; stopping")  # fmt: skip
                    failed = True
                    stopping_since = stop_requests = max(stop_requests, 1)
                    _stop(running.values(), signal.SIGTERM)
                else:
                    _say(f"worker {worker.process.pid} exited ({_status(status)}); starting "
                         "another")  # fmt: skip
                    start(replaces=worker.process.pid)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        signal.set_wakeup_fd(previous_wakeup)
        for worker in running.values():
            worker.process.kill()
            worker.process.wait()
        selector.close()
        wake_r.close()
        wake_w.close()
    return 1 if failed else 0


def _stop(workers: Iterable[Worker], sig: int) -> None:
    for worker in list(workers):
        if worker.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                worker.process.send_signal(sig)


def _status(status: int) -> str:
    if status < 0:
        try:
            return f"signal {signal.Signals(-status).name}"
        except ValueError:
            return f"signal {-status}"
    return f"status {status}"
