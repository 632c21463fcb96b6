"""The server under test: its URLs, what its welcome says, or a reference server we start.

``canaux-conformance ws://host:port/ws`` tests that server. Without a URL the suite starts the
reference server as a SUBPROCESS (``python -m canaux serve --port 0 --conformance``) and reads
the line ``canaux: listening on ws://127.0.0.1:PORT/ws`` from its standard output; it never
imports the reference package, so a bug there cannot hide itself from the suite.
"""

# Waits take a `timeout=` argument on purpose: every wait in a case is bounded per call.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Self
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "LISTENING_RE",
    "REFERENCE_SERVER_ARGS",
    "ReferenceServer",
    "ServerInfo",
    "Target",
    "TargetError",
    "derive_urls",
    "host_port",
]

LISTENING_RE = re.compile(r"canaux: listening on (?P<url>wss?://\S+)")
"""The line the reference server prints once it accepts connections."""

REFERENCE_SERVER_ARGS: tuple[str, ...] = (
    "--conformance",
    "--heartbeat-ms", "1000",
    "--hello-timeout-ms", "1500",
    "--resume-window-ms", "5000",
    "--log-level", "warning",
)  # fmt: skip
"""``canaux serve`` options for a reference server under test.

``--conformance`` turns on the ``conformance.*`` family; the short heartbeat, hello timeout and
resume window keep the waiting cases fast. The suite relies only on what ``welcome``
announces, so these values appear nowhere else.
"""


class TargetError(RuntimeError):
    """The target cannot be reached or started: no case can run."""


def host_port(ws_url: str) -> tuple[str, int]:
    """The host and port a WebSocket URL connects to."""
    parts = urlsplit(ws_url)
    if parts.hostname is None:
        raise ValueError(f"no host in {ws_url!r}")
    return parts.hostname, parts.port or (443 if parts.scheme == "wss" else 80)


def derive_urls(ws_url: str) -> dict[str, str]:
    """The other endpoints of a server, assuming the standard layout next to its ``/ws`` path.

    ``ws://h:p/prefix/ws`` gives ``http://h:p/prefix/events`` (SSE, spec sse.md),
    ``/prefix/publish`` (http-publish.md), ``/prefix/health``, and the legacy
    ``ws://h:p/prefix/ws/chat`` and ``/prefix/api/ws`` (legacy.md). A mounted server
    (``app.mount("/canaux", …)``) keeps its prefix.
    """
    parts = urlsplit(ws_url)
    if parts.scheme not in ("ws", "wss"):
        raise ValueError(f"not a WebSocket URL: {ws_url!r}")
    http = "https" if parts.scheme == "wss" else "http"
    path = parts.path.rstrip("/")
    prefix = path[: -len("/ws")] if path.endswith("/ws") else path

    def url(scheme: str, tail: str) -> str:
        return urlunsplit((scheme, parts.netloc, prefix + tail, "", ""))

    return {
        "sse": url(http, "/events"),
        "publish": url(http, "/publish"),
        "health": url(http, "/health"),
        "legacy_chat": url(parts.scheme, "/ws/chat"),
        "legacy_system": url(parts.scheme, "/api/ws"),
    }


@dataclass(frozen=True)
class Target:
    """Where the server under test listens and how to talk to it."""

    ws_url: str
    sse_url: str | None = None
    publish_url: str | None = None
    publish_token: str | None = None
    legacy_chat_url: str | None = None
    legacy_system_url: str | None = None
    token: str | None = None
    """``hello.token`` for the suite's clients (an identity: spec security.md, SECURITY-2)."""
    other_token: str | None = None
    """A second identity, for the SECURITY-2 cases (resume under another identity)."""
    max_detached_total: int | None = None
    """The server's bound on detached sessions in all (LIMIT-13), which ``welcome`` does not
    announce: given by the operator, or read from the flags of a reference server we start."""
    max_handshakes: int | None = None
    """The server's bound on connections in their opening handshake (SECURITY-12), which
    ``welcome`` does not announce: given by the operator, or read from the flags of a reference
    server we start."""
    reference: bool = False
    """True when the suite started the reference server itself."""
    peers: tuple[str, ...] = ()
    """WebSocket URLs of the other nodes of the same deployment (``--peer``, spec "Clusters"):
    the cluster cases and the stateful machine spread their clients over ``nodes``."""

    @classmethod
    def from_url(
        cls,
        ws_url: str,
        *,
        sse_url: str | None = None,
        publish_url: str | None = None,
        publish_token: str | None = None,
        token: str | None = None,
        other_token: str | None = None,
        max_detached_total: int | None = None,
        max_handshakes: int | None = None,
        derive: bool = False,
        reference: bool = False,
        peers: Sequence[str] = (),
    ) -> Self:
        """A target for ``ws_url``; ``derive``: optional endpoints at their standard paths."""
        derived = derive_urls(ws_url)
        if not derive:
            derived = {key: "" for key in derived}
        return cls(
            ws_url=ws_url,
            sse_url=sse_url or derived["sse"] or None,
            publish_url=publish_url or derived["publish"] or None,
            publish_token=publish_token,
            legacy_chat_url=derived["legacy_chat"] or None,
            legacy_system_url=derived["legacy_system"] or None,
            token=token,
            other_token=other_token,
            max_detached_total=max_detached_total,
            max_handshakes=max_handshakes,
            reference=reference,
            peers=tuple(peers),
        )

    @property
    def nodes(self) -> tuple[str, ...]:
        """The WebSocket URL of every node: this target's first, then its peers."""
        return (self.ws_url, *self.peers)

    def node_url(self, node: int) -> str:
        """The WebSocket URL of node ``node`` (0 is this target's, 1.. its peers, in order)."""
        return self.nodes[node]

    def with_endpoints(self, **changes: str | None) -> Target:
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def host_port(self) -> tuple[str, int]:
        return host_port(self.ws_url)


@dataclass(frozen=True)
class ServerInfo:
    """What the server announced in a ``welcome`` (heartbeat, limits, catalogue: spec handshake.md
    "Welcome")."""

    welcome: Mapping[str, Any]

    @property
    def heartbeat_ms(self) -> int:
        return int(self.welcome.get("heartbeat_ms", 15000))

    @property
    def limits(self) -> Mapping[str, Any]:
        limits = self.welcome.get("limits")
        return limits if isinstance(limits, Mapping) else {}

    def limit(self, name: str, default: int) -> int:
        value = self.limits.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else default

    @property
    def catalogue(self) -> list[Mapping[str, Any]]:
        channels = self.welcome.get("channels")
        return [c for c in channels if isinstance(c, Mapping)] if isinstance(channels, list) else []

    @property
    def channel_names(self) -> list[str]:
        return [str(c.get("name")) for c in self.catalogue]

    def offers(self, name: str) -> bool:
        """True when the catalogue lists ``name`` exactly (``conformance.*`` for the family)."""
        return name in self.channel_names

    def implied_profiles(self) -> list[str]:
        """Profiles a welcome implies: core always, plus every standard channel it lists."""
        names = set(self.channel_names)
        return ["core"] + [p for p in ("chat", "playqueue", "system", "progress") if p in names]


@dataclass
class ReferenceServer:
    """The reference server, a subprocess on a free loopback port (``canaux-conformance`` alone)."""

    args: Sequence[str] = REFERENCE_SERVER_ARGS
    python: str = sys.executable
    startup_timeout: float = 30.0
    env: Mapping[str, str] | None = None
    publish_token: str = field(default_factory=lambda: "conformance-" + os.urandom(12).hex())
    output: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=200))
    _process: asyncio.subprocess.Process | None = None
    _drains: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def command(self) -> list[str]:
        return [
            self.python, "-m", "canaux", "serve", "--host", "127.0.0.1", "--port", "0", *self.args,
        ]  # fmt: skip

    async def start(self) -> Target:
        """Start the server; return its target once it prints its listening line."""
        env = dict(os.environ if self.env is None else self.env)
        env["CANAUX_PUBLISH_TOKEN"] = self.publish_token
        env.setdefault("PYTHONUNBUFFERED", "1")
        try:
            self._process = await asyncio.create_subprocess_exec(
                *self.command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env=env,
            )
        except OSError as exc:
            raise TargetError(f"cannot start the reference server: {exc}") from exc
        stdout = self._process.stdout
        assert stdout is not None
        try:
            async with asyncio.timeout(self.startup_timeout):
                while True:
                    raw = await stdout.readline()
                    if not raw:
                        code = await self._process.wait()
                        raise TargetError(
                            f"the reference server exited with status {code} before listening:\n"
                            + "\n".join(self.output)
                        )
                    line = raw.decode(errors="replace").rstrip()
                    self.output.append(line)
                    found = LISTENING_RE.search(line)
                    if found:
                        url = found.group("url")
                        break
        except TimeoutError:
            await self.stop()
            raise TargetError(
                f"the reference server did not print its listening line within "
                f"{self.startup_timeout:g}s:\n" + "\n".join(self.output)
            ) from None
        # Keep reading its output so a chatty server never blocks on a full pipe.
        self._drains.append(asyncio.create_task(self._drain(stdout)))
        return Target.from_url(url, publish_token=self.publish_token, derive=True, reference=True)

    async def _drain(self, stream: asyncio.StreamReader) -> None:
        while raw := await stream.readline():
            self.output.append(raw.decode(errors="replace").rstrip())

    async def stop(self, timeout: float = 10.0) -> int | None:
        """Terminate (SIGTERM, then SIGKILL after ``timeout``); return the exit status."""
        process = self._process
        if process is None:
            return None
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            try:
                async with asyncio.timeout(timeout):
                    await process.wait()
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        for task in self._drains:
            task.cancel()
        self._drains.clear()
        return process.returncode

    async def __aenter__(self) -> Target:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
