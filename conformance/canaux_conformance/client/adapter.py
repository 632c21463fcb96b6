"""The adapter process: the client under test, driven over JSON lines (spec/client-adapter.md).

:class:`Adapter` starts the adapter command as a child process, waits for its ``ready``, writes
commands (``connect``, ``subscribe``, ``unsubscribe``, ``publish``, ``close``) numbered from 1,
and keeps every message the adapter writes, in arrival order, for the case to wait on. The
adapter's standard error is kept whole for the report. Anything the adapter does that the page
does not allow is an :class:`AdapterError`: the case ends as ``error``, never as a failure of the
client (a wrong adapter must never make a client fail).
"""

# Waits take a `timeout=` argument on purpose: every wait in a case is bounded per call.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from canaux_conformance.cases import PROFILES
from canaux_conformance.outcomes import CaseSkipped, SuiteError
from canaux_conformance.transcript import Transcript
from canaux_conformance.waits import wait_until

__all__ = [
    "ADAPTER_PROTOCOL",
    "MESSAGE_TYPES",
    "READY_TIMEOUT",
    "Adapter",
    "AdapterError",
    "AdapterInfo",
    "Message",
]

ADAPTER_PROTOCOL = 1
"""The version of spec/client-adapter.md this driver speaks."""

MESSAGE_TYPES = frozenset(
    {"ready", "done", "event", "reset", "state", "ack", "refused", "failed", "attempt", "fatal"}
)
"""Every ``msg`` an adapter may write (spec/client-adapter.md "Messages")."""

_OUTCOMES = frozenset({"ack", "refused", "failed"})
READY_TIMEOUT = 30.0
"""Seconds an adapter has to write ``ready`` (the page says 30): starting a runtime and
importing a client library can take seconds on a loaded machine."""
_STOP_GRACE = 5.0
"""Seconds an adapter has to exit once its standard input is closed (the page says 5)."""
_STDERR_KEPT = 64_000


class AdapterError(SuiteError):
    """The adapter broke spec/client-adapter.md: the case is an error of the set-up."""

    culprit = "the adapter broke its protocol"


@dataclass(frozen=True)
class Message:
    """One line the adapter wrote, with the loop time it arrived at."""

    at: float
    body: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.body.get("msg"))

    def get(self, key: str, default: Any = None) -> Any:
        return self.body.get(key, default)


@dataclass(frozen=True)
class AdapterInfo:
    """What the adapter's ``ready`` declared."""

    client_name: str
    client_version: str
    base_ms: int
    cap_ms: int
    configurable: bool
    unsupported: frozenset[str]
    profiles: tuple[str, ...] | None = None
    """The case profiles the client implements (``ready.profiles``, revision 1.1); ``None``
    when not declared: every case applies."""

    @classmethod
    def from_ready(cls, body: dict[str, Any]) -> AdapterInfo:
        client = body.get("client")
        backoff = body.get("backoff")
        unsupported = body.get("unsupported", [])
        if not isinstance(client, dict) or not isinstance(backoff, dict):
            raise AdapterError(f"ready needs 'client' and 'backoff' objects: {body!r}")
        base, cap = backoff.get("base_ms"), backoff.get("cap_ms")
        if not (isinstance(base, int) and isinstance(cap, int) and 0 < base <= cap):
            raise AdapterError(f"ready.backoff needs integers 0 < base_ms <= cap_ms: {backoff!r}")
        if not isinstance(unsupported, list) or not all(isinstance(u, str) for u in unsupported):
            raise AdapterError(f"ready.unsupported must be a list of strings: {unsupported!r}")
        profiles = body.get("profiles")
        if profiles is not None and not (
            isinstance(profiles, list)
            and profiles
            and all(isinstance(p, str) and p in PROFILES for p in profiles)
        ):
            raise AdapterError(
                f"ready.profiles must be a non-empty list of {', '.join(PROFILES)}: {profiles!r}"
            )
        return cls(
            client_name=str(client.get("name", "?")),
            client_version=str(client.get("version", "?")),
            base_ms=base,
            cap_ms=cap,
            configurable=bool(backoff.get("configurable", False)),
            unsupported=frozenset(unsupported),
            profiles=tuple(profiles) if profiles is not None else None,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.client_name,
            "version": self.client_version,
            "backoff": {
                "base_ms": self.base_ms,
                "cap_ms": self.cap_ms,
                "configurable": self.configurable,
            },
            "unsupported": sorted(self.unsupported),
            **({"profiles": list(self.profiles)} if self.profiles is not None else {}),
        }


@dataclass
class Adapter:
    """One adapter process for one case."""

    argv: Sequence[str]
    transcript: Transcript
    timeout: float = 5.0
    """Seconds for each ``done`` (``ready`` gets :data:`READY_TIMEOUT`)."""
    name: str = "adapter"
    stop_grace: float = _STOP_GRACE
    """Seconds the adapter has to exit once its standard input is closed."""
    info: AdapterInfo | None = None
    messages: list[Message] = field(default_factory=list)
    _process: asyncio.subprocess.Process | None = None
    _stderr: bytearray = field(default_factory=bytearray)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _problem: AdapterError | None = None
    _next: int = 0
    _answered: set[int] = field(default_factory=set)
    _ended: set[int] = field(default_factory=set)
    _eof: bool = False
    _closing: bool = False

    # ----------------------------------------------------------------- life cycle

    async def start(self) -> AdapterInfo:
        """Start the process and wait for its ``ready``."""
        env = {**os.environ, "CANAUX_ADAPTER_PROTOCOL": str(ADAPTER_PROTOCOL)}
        try:
            self._process = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                limit=2**24,
            )
        except OSError as exc:
            raise AdapterError(f"cannot start the adapter {list(self.argv)}: {exc}") from exc
        self.transcript.add(self.name, "open", " ".join(self.argv))
        self._tasks = [
            asyncio.create_task(self._read_stdout()),
            asyncio.create_task(self._read_stderr()),
        ]
        ready = await self.wait_for(
            lambda m: m.kind == "ready",
            timeout=max(READY_TIMEOUT, self.timeout),
            what="ready message",
        )
        if ready.get("protocol") != ADAPTER_PROTOCOL:
            raise AdapterError(
                f"the adapter speaks protocol {ready.get('protocol')!r}; "
                f"this suite speaks {ADAPTER_PROTOCOL}"
            )
        self.info = AdapterInfo.from_ready(ready.body)
        return self.info

    async def aclose(self) -> None:
        """Close standard input, give the adapter its grace period, then kill it."""
        process = self._process
        if process is None:
            return
        self._closing = True
        if process.stdin is not None and not process.stdin.is_closing():
            process.stdin.close()
        try:
            async with asyncio.timeout(self.stop_grace):
                await process.wait()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            self.transcript.note(f"the adapter did not exit within {self.stop_grace:g}s: killed")
        for task in self._tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 2.0)
        self.transcript.add(self.name, "close", f"exit status {process.returncode}")

    @property
    def stderr(self) -> str:
        return self._stderr.decode("utf-8", "replace")

    # ----------------------------------------------------------------- commands

    def supports(self, feature: str) -> bool:
        return self.info is not None and feature not in self.info.unsupported

    def require(self, feature: str) -> None:
        """Skip the case when the adapter declared ``feature`` unsupported."""
        if not self.supports(feature):
            raise CaseSkipped(f"the adapter does not support {feature!r}")

    async def send(self, cmd: str, **members: Any) -> int:
        """Write one command; return its ``n`` (no wait)."""
        self.check()
        process = self._process
        if process is None or process.stdin is None:
            raise AdapterError("the adapter is not running")
        self._next += 1
        body = {"cmd": cmd, "n": self._next, **members}
        line = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        self.transcript.add(self.name, "send", line)
        try:
            process.stdin.write(line.encode() + b"\n")
            await process.stdin.drain()
        except (ConnectionError, BrokenPipeError) as exc:
            raise AdapterError(f"the adapter closed its standard input: {exc}") from exc
        return self._next

    async def command(self, cmd: str, **members: Any) -> Message:
        """Write one command and wait for its ``done``; skip on ``unsupported``."""
        n = await self.send(cmd, **members)
        done = await self.wait_for(
            lambda m: m.kind == "done" and m.get("n") == n,
            timeout=self.timeout,
            what=f"done for command {n} ({cmd})",
        )
        unsupported = done.get("unsupported")
        if unsupported is not None:
            raise CaseSkipped(f"the adapter does not support {unsupported!r} ({cmd})")
        return done

    # ----------------------------------------------------------------- observations

    def check(self) -> None:
        """Raise the first protocol error the adapter made."""
        if self._problem is not None:
            raise self._problem

    def of_kind(self, *kinds: str) -> list[Message]:
        return [m for m in self.messages if m.kind in kinds]

    def outcome(self, n: int) -> Message | None:
        """The ``ack`` / ``refused`` / ``failed`` of command ``n``, if it came."""
        return next((m for m in self.messages if m.kind in _OUTCOMES and m.get("n") == n), None)

    async def wait_for(
        self, predicate: Callable[[Message], bool], *, timeout: float, what: str
    ) -> Message:
        """The first message (already received or to come) matching ``predicate``; an
        :class:`AdapterError` when the adapter exits or writes none within ``timeout``."""
        found = await self.observe(predicate, timeout=timeout)
        if found is not None:
            return found
        if self._eof:
            raise AdapterError(f"the adapter exited while the suite waited for {what}")
        raise AdapterError(f"the adapter wrote no {what} within {timeout:g}s")

    async def observe(
        self, predicate: Callable[[Message], bool], *, timeout: float
    ) -> Message | None:
        """Like :meth:`wait_for`, but ``None`` instead of an error when nothing comes in time
        (or the adapter exits first)."""
        seen = 0

        def look() -> Message | None:
            nonlocal seen
            for message in self.messages[seen:]:
                if predicate(message):
                    return message
            seen = len(self.messages)
            self.check()
            return None

        return await wait_until(look, self._changed, timeout=timeout, ended=lambda: self._eof)

    # ----------------------------------------------------------------- readers

    def _fail(self, problem: str) -> None:
        if self._problem is None:
            self._problem = AdapterError(problem)
            self.transcript.note(f"adapter error: {problem}")
        self._changed.set()

    def _accept(self, body: dict[str, Any]) -> None:
        kind = body.get("msg")
        if kind not in MESSAGE_TYPES:
            self._fail(f"unknown message {kind!r}")
            return
        n = body.get("n")
        if kind == "fatal":
            self._fail(f"the adapter gave up: {body.get('message')!r}")
        elif kind == "done":
            if not isinstance(n, int) or not 1 <= n <= self._next or n in self._answered:
                self._fail(f"done for a command that was not sent or already answered: {n!r}")
            self._answered.add(n if isinstance(n, int) else -1)
            if body.get("error") is not None and isinstance(n, int):
                self._ended.add(n)
        elif kind in _OUTCOMES:
            if not isinstance(n, int) or not 1 <= n <= self._next or n in self._ended:
                self._fail(f"a second outcome, or one for an unknown command: {body!r}")
            self._ended.add(n if isinstance(n, int) else -1)

    async def _read_stdout(self) -> None:
        process = self._process
        assert process is not None
        assert process.stdout is not None
        loop = asyncio.get_running_loop()
        while True:
            try:
                raw = await process.stdout.readline()
            except ValueError:  # a line over the reader's limit
                self._fail("a line longer than 16 MiB")
                break
            if not raw:
                break
            text = raw.decode("utf-8", "replace").rstrip("\r\n")
            self.transcript.add(self.name, "recv", text)
            try:
                body = json.loads(text)
            except ValueError:
                self._fail(f"a line that is not JSON: {text[:200]!r}")
                continue
            if not isinstance(body, dict):
                self._fail(f"a line that is not a JSON object: {text[:200]!r}")
                continue
            self.messages.append(Message(loop.time(), body))
            self._accept(body)
            self._changed.set()
        self._eof = True
        if not self._closing:
            self._fail("the adapter closed its standard output before the case ended")
        self._changed.set()

    async def _read_stderr(self) -> None:
        process = self._process
        assert process is not None
        assert process.stderr is not None
        while chunk := await process.stderr.read(65536):
            room = _STDERR_KEPT - len(self._stderr)
            if room > 0:
                self._stderr += chunk[:room]
