"""``canaux serve --workers N``: N server processes on one port, one deployment (spec "Clusters").

The parent binds the listening socket (so ``--port 0`` works and every worker shares the port:
the kernel hands each new connection to one of them), then forks ``N`` workers, each a whole
server with its own app and its own connection to the shared broker: with a Redis broker they
serve one deployment, so a client may reconnect to any worker and resume there. Each worker
prints the listening line (same address); the parent passes SIGINT/SIGTERM on to the workers
(each stops gracefully: 1001 to its clients, its sessions stored) and exits once they all have.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
from types import FrameType

from starlette.applications import Starlette

from canaux.server.config import ServerConfig
from canaux.server.run import serve

__all__ = ["serve_workers"]

_BACKLOG = 2048
"""The kernel's queue of connections not yet accepted, as a single server widens it to."""


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(_BACKLOG)
    sock.set_inheritable(True)
    return sock


def _worker(config: ServerConfig, sock: socket.socket, mount_path: str, loop: str) -> None:
    # Not the parent's handlers (fork copies them): the parent forwards the signal, and a
    # worker stops like a single server does.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    raise SystemExit(serve(config, mount_path=mount_path, loop=loop, sockets=[sock]))


def serve_workers(
    config: ServerConfig,
    workers: int,
    *,
    mount_path: str = "",
    loop: str = "asyncio",
    app: Starlette | None = None,
) -> int:
    """Serve ``config`` with ``workers`` processes on one port; return an exit status.

    ``config.broker`` must be one the processes share (a Redis URL): with the in-memory
    broker each worker would be a separate server behind one port.
    """
    if workers < 1:
        raise ValueError(f"--workers must be at least 1, not {workers}")
    if app is not None:
        raise ValueError("an app object cannot be shared by several processes")
    if workers > 1 and not isinstance(config.broker, str):
        raise ValueError("--workers needs a broker the processes share: --broker redis://...")
    sock = _listen(config.host, config.port)
    context = multiprocessing.get_context("fork")
    processes = [
        context.Process(
            target=_worker, args=(config, sock, mount_path, loop), name=f"canaux worker {n}"
        )
        for n in range(workers)
    ]
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for process in processes:
            if process.pid is not None and process.exitcode is None:
                os.kill(process.pid, signal.SIGTERM)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for process in processes:
            process.start()
        sock.close()  # the workers hold it now
        for process in processes:
            process.join()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    del stopping
    return 0 if all(p.exitcode == 0 for p in processes) else 1
