"""Fixtures for every test of the project.

No test may bind a fixed port ([#10] finding 7): 8001 is Canaux's default port and the very port a
Canaux user's own backend listens on, so a test that binds it fails on exactly their machines. The
whole run holds 127.0.0.1:8001 (when it is free) so that such a test fails here too.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator

import pytest

DEFAULT_PORT = 8001
"""The reference server's default port (``ServerConfig.port``, ``canaux serve``)."""


@pytest.fixture(scope="session", autouse=True)
def default_port_taken() -> Iterator[bool]:
    """Hold 127.0.0.1:8001 for the whole run; yields whether this run holds it.

    When something else already listens there (a Canaux backend, another test run), the port is
    taken anyway, which is the condition every test must survive.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", DEFAULT_PORT))
        sock.listen(1)
    except OSError as exc:
        sock.close()
        if exc.errno != errno.EADDRINUSE:
            raise
        yield False
        return
    try:
        yield True
    finally:
        sock.close()
