"""``canaux serve``: run the reference server (spec index.md).

Prints ``canaux: listening on ws://HOST:PORT/ws`` once listening (with ``--port 0``, the port
the system chose), so scripts and the conformance suite can read the address from stdout.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pickle
import re
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from canaux.protocol.limits import Limits
from canaux.server.channels.channel import Channel
from canaux.server.config import (
    DEFAULT_PORT,
    PUBLISH_TOKEN_ENV,
    Authenticator,
    ServerConfig,
    Unauthorized,
)
from canaux.server.jwt import JWT_SECRET_ENV, JWTAuthenticator
from canaux.server.run import announce, serve
from canaux.server.workers import WorkerLink, bind_listener, supervise

__all__ = [
    "accept_tokens",
    "add_parser",
    "allowed_origins",
    "config_from_args",
    "load_channels",
    "mount_path_of",
    "run",
]

_DEFAULTS = Limits()

_EPILOG = f"""\
endpoints (one port):
  /ws           Canaux WebSocket (subprotocol canaux.v1)
  /events       SSE: GET /events?channels=system,progress (resume with Last-Event-ID)
  /ws/chat      legacy chat socket;  /api/ws  legacy system/progress socket
  /publish      POST {{"channel": "system", "data": {{...}}}} with Authorization: Bearer TOKEN
  /tasks/scan   POST {{"path": "sub/dir"}} (optional) with the same token: scans a directory
                below --scan-root and reports on the progress channel
  /health       GET
  /asyncapi.json  GET: AsyncAPI document of this server's channels (schemas under /schemas/)

authentication: off by default (a token is then only an identity). With --jwt-secret or
  --jwt-public-key every client presents a JWT (hello.token, or Authorization: Bearer for
  /events and the legacy sockets): sub is its identity, exp closes the connection with 4440,
  the optional caps claim [{{"channels": ["chat", "team.*"], "allow": ["sub", "pub"]}}] lists
  what it may subscribe to / publish on; a caps grant with "pub" also opens POST /publish.

example:
  {PUBLISH_TOKEN_ENV}=s3cret canaux serve --scan-root ~/Music &
  curl -X POST -H 'Authorization: Bearer s3cret' http://127.0.0.1:{DEFAULT_PORT}/tasks/scan
"""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``serve`` sub-command."""
    parser = subparsers.add_parser(
        "serve",
        help="run the reference server",
        description="Run the Canaux reference server: WebSocket, SSE, legacy sockets and "
        "HTTP publish on one port.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port, 0 for any free one ({DEFAULT_PORT})"
    )
    parser.add_argument(
        "--conformance",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="offer the conformance.* channels (off by default, as in production)",
    )
    parser.add_argument(
        "--core-only",
        action="store_true",
        help="offer only the conformance.* family (no chat, playqueue, system, progress): "
        "a core-only server, as the conformance suite's config matrix runs it",
    )
    parser.add_argument(
        "--accept-token",
        action="append",
        default=[],
        metavar="TOKEN",
        help="authenticate: accept this hello/bearer token, whose identity is the token itself; "
        "repeat for more; any other token (or none) is refused with 4401 / HTTP 401",
    )
    parser.add_argument(
        "--mount-path",
        default="",
        metavar="/PREFIX",
        help="serve every endpoint below this path (/PREFIX/ws, /PREFIX/events, ...), "
        "as when the app is mounted in FastAPI",
    )
    parser.add_argument(
        "--loop",
        choices=("asyncio", "uvloop"),
        default="asyncio",
        help="event loop (default asyncio); uvloop, which uvicorn picks by itself when it is "
        "installed (nicegui pulls it in), needs the uvloop package",
    )
    limits = parser.add_argument_group(
        'limits (enforced; announced in welcome unless marked "not announced")'
    )
    for name, flag, unit in (
        ("resume_window_ms", "--resume-window-ms", "ms a detached session stays resumable"),
        ("resume_buffer", "--resume-buffer", "events kept per session for resume"),
        ("heartbeat_ms", "--heartbeat-ms", "ms between heartbeats"),
        (
            "hello_timeout_ms",
            "--hello-timeout-ms",
            "ms a new connection has to say hello (not announced)",
        ),
        ("max_frame_bytes", "--max-frame-bytes", "largest client frame, UTF-8 bytes"),
        ("max_subscriptions", "--max-subscriptions", "subscriptions per session"),
        ("max_rate", "--max-rate", "client frames per second (token bucket)"),
        ("outbound_queue", "--outbound-queue", "frames queued per connection before 4503"),
        (
            "outbound_queue_bytes",
            "--outbound-queue-bytes",
            "UTF-8 bytes queued per connection before 4503",
        ),
        (
            "resume_buffer_bytes",
            "--resume-buffer-bytes",
            "UTF-8 bytes of events kept per session for resume",
        ),
        (
            "max_detached_sessions",
            "--max-detached-sessions",
            "detached sessions kept per identity; one more discards the oldest",
        ),
        (
            "max_detached_total",
            "--max-detached-total",
            "detached sessions kept in all (not announced; with --broker redis://, by the "
            "whole deployment); one more discards the oldest",
        ),
    ):
        default = getattr(_DEFAULTS, name)
        limits.add_argument(
            flag, dest=name, type=int, default=default, help=f"{unit} (default {default})"
        )
    _add_admission_arguments(parser)
    parser.add_argument(
        "--publish-token",
        default=os.environ.get(PUBLISH_TOKEN_ENV) or None,
        help=f"bearer token of POST /publish and /tasks/scan (default ${PUBLISH_TOKEN_ENV}; "
        "without one both answer 401)",
    )
    auth = parser.add_argument_group("authentication (JSON Web Tokens; see below)")
    auth.add_argument(
        "--jwt-secret",
        default=os.environ.get(JWT_SECRET_ENV) or None,
        help=f"accept JWTs signed HS256 with this secret (default ${JWT_SECRET_ENV})",
    )
    auth.add_argument(
        "--jwt-public-key",
        type=Path,
        metavar="PEM_FILE",
        help="accept JWTs signed RS256 by the private key of this PEM public key",
    )
    auth.add_argument("--jwt-audience", help="the aud claim tokens must carry")
    auth.add_argument("--jwt-issuer", help="the iss claim tokens must carry")
    parser.add_argument(
        "--scan-root",
        type=Path,
        default=None,
        help="directory POST /tasks/scan may walk (nothing outside it); scans are off without it",
    )
    parser.add_argument(
        "--channels",
        action="append",
        default=[],
        metavar="MODULE:NAME",
        help="also offer the app channels MODULE.NAME holds (a canaux.server.Channel or a list "
        "of them; MODULE is imported from the current directory too), e.g. "
        "myapp.channels:CHANNELS; may be repeated",
    )
    parser.add_argument(
        "--broker",
        default="memory:",
        metavar="URL",
        help="what several server processes share: memory: (default, this process alone) or "
        "a Redis URL such as redis://127.0.0.1:6379/0; every process started with the same "
        "URL serves one cluster (one order per channel; a dropped WebSocket session resumes "
        "on any of them)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="run N server processes on the one port (default 1): each connection goes to one "
        "of them; more than one needs a shared --broker redis://..., with which they serve one "
        "cluster; a worker that dies is replaced, SIGINT/SIGTERM stops them all gracefully",
    )
    # A worker of --workers N: the listening socket and the control socket its supervisor
    # passes it (canaux.server.workers); not for people.
    parser.add_argument("--worker-fds", default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="uvicorn log level (default info)",
    )


_SERVER_DEFAULTS = ServerConfig(publish_token=None)


def _add_admission_arguments(parser: argparse.ArgumentParser) -> None:
    """Who may connect, and how many at once (spec SECURITY-8, SECURITY-12..14)."""
    group = parser.add_argument_group("connections (per server, not announced)")
    group.add_argument(
        "--max-connections",
        type=int,
        default=_SERVER_DEFAULTS.max_connections,
        help="open connections (WebSocket, SSE, legacy, HTTP) before a new one is answered 503 "
        f"(default {_SERVER_DEFAULTS.max_connections})",
    )
    group.add_argument(
        "--max-handshakes",
        type=int,
        default=_SERVER_DEFAULTS.max_handshakes,
        help="connections still sending their request head before a new one is answered 503 "
        f"(default {_SERVER_DEFAULTS.max_handshakes})",
    )
    timeout_ms = round(_SERVER_DEFAULTS.handshake_timeout_s * 1000)
    group.add_argument(
        "--handshake-timeout-ms",
        type=int,
        default=timeout_ms,
        help=f"ms a request has to arrive (head and body), else 408 (default {timeout_ms})",
    )
    group.add_argument(
        "--allowed-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="a browser origin (https://app.example) allowed on /ws, /events and the legacy "
        "sockets; repeat for more; others get 403; requests without Origin always pass "
        "(default: any origin)",
    )


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    """The :class:`ServerConfig` the parsed arguments describe; ``ValueError`` if invalid."""
    limits = Limits(
        max_frame_bytes=args.max_frame_bytes,
        max_subscriptions=args.max_subscriptions,
        max_rate=args.max_rate,
        resume_window_ms=args.resume_window_ms,
        resume_buffer=args.resume_buffer,
        heartbeat_ms=args.heartbeat_ms,
        hello_timeout_ms=args.hello_timeout_ms,
        outbound_queue=args.outbound_queue,
        outbound_queue_bytes=args.outbound_queue_bytes,
        resume_buffer_bytes=args.resume_buffer_bytes,
        max_detached_sessions=args.max_detached_sessions,
        max_detached_total=args.max_detached_total,
        # [OPS-9] ids are remembered at least as far back as the resume buffer reaches.
        dedup_ids=max(_DEFAULTS.dedup_ids, args.resume_buffer),
    )
    mount_path_of(args)  # checked here too, so a bad prefix is refused with the rest
    scan_root = args.scan_root
    if scan_root is not None and not scan_root.is_dir():
        raise ValueError(f"--scan-root {scan_root} is not a directory")
    authenticate: Authenticator | None = _jwt_authenticator(args)
    if args.accept_token:
        if authenticate is not None:
            raise ValueError("--accept-token and --jwt-secret/--jwt-public-key exclude each other")
        authenticate = accept_tokens(args.accept_token)
    return ServerConfig(
        authenticate=authenticate,
        host=args.host,
        port=args.port,
        conformance=args.conformance or args.core_only,
        standard_channels=not args.core_only,
        limits=limits,
        publish_token=args.publish_token,
        scan_root=scan_root,
        channels=[channel for spec in args.channels for channel in load_channels(spec)],
        log_level=args.log_level,
        broker=None if args.broker == "memory:" else args.broker,
        max_connections=args.max_connections,
        max_handshakes=args.max_handshakes,
        handshake_timeout_s=args.handshake_timeout_ms / 1000,
        allowed_origins=allowed_origins(args.allowed_origin) if args.allowed_origin else None,
    )


_ORIGIN_RE = re.compile(r"[a-z][a-z0-9+.-]*://[^/?#\s]+")


def allowed_origins(values: Sequence[str]) -> frozenset[str]:
    """``--allowed-origin`` values as browsers serialise an origin (lower case, no path)
    [SECURITY-14]; ``ValueError`` for one that can never match (a path, no scheme)."""
    origins = set()
    for value in values:
        origin = value.strip().lower()
        if not _ORIGIN_RE.fullmatch(origin):
            raise ValueError(
                f"--allowed-origin {value!r}: expected scheme://host[:port] with no path, "
                "such as https://app.example"
            )
        origins.add(origin)
    return frozenset(origins)


def load_channels(spec: str) -> list[Channel]:
    """The channels ``MODULE:NAME`` names (``--channels``); ``ValueError`` when it names none."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"--channels {spec!r}: expected MODULE:NAME")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as uvicorn does for its app argument
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"--channels {spec!r}: cannot import {module_name}: {exc}") from None
    found = getattr(module, attribute, None)
    channels = [found] if isinstance(found, Channel) else found
    if not isinstance(channels, list | tuple) or not all(isinstance(c, Channel) for c in channels):
        raise ValueError(
            f"--channels {spec!r}: {module_name}.{attribute} is not a canaux.server.Channel "
            "or a list of them"
        )
    return list(channels)


def _jwt_authenticator(args: argparse.Namespace) -> JWTAuthenticator | None:
    if args.jwt_secret is None and args.jwt_public_key is None:
        if args.jwt_audience or args.jwt_issuer:
            raise ValueError("--jwt-audience/--jwt-issuer need --jwt-secret or --jwt-public-key")
        return None
    public_key = None
    if args.jwt_public_key is not None:
        try:
            public_key = args.jwt_public_key.read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"--jwt-public-key {args.jwt_public_key}: {exc.strerror}") from None
    return JWTAuthenticator(
        secret=args.jwt_secret,
        public_key=public_key,
        audience=args.jwt_audience,
        issuer=args.jwt_issuer,
    )


def accept_tokens(tokens: Sequence[str]) -> Authenticator:
    """An authenticator accepting exactly ``tokens``; a token's identity is the token itself
    [HANDSHAKE-7, SECURITY-2]."""
    accepted = frozenset(tokens)

    async def authenticate(token: str | None) -> str:
        if token is None or token not in accepted:
            raise Unauthorized("token not accepted")
        return token

    return authenticate


def mount_path_of(args: argparse.Namespace) -> str:
    """``--mount-path`` without its trailing slash; ``ValueError`` unless it starts with one."""
    path = str(args.mount_path or "").rstrip("/")
    if path and not path.startswith("/"):
        raise ValueError(f"--mount-path {args.mount_path!r} must start with '/'")
    return path


def run(args: argparse.Namespace) -> int:
    """Run ``canaux serve`` until interrupted; returns the exit status."""
    if args.worker_fds is not None:
        return _run_worker(args.worker_fds)
    try:
        config = config_from_args(args)
        mount_path = mount_path_of(args)
        if args.workers < 1:
            raise ValueError(f"--workers {args.workers}: at least 1")
        if args.workers > 1 and config.broker is None:
            # Each worker would keep its own channels and sessions: N servers behind one port,
            # a publish reaching a fraction of the subscribers. Not one deployment.
            raise ValueError(
                f"--workers {args.workers} needs a broker the workers share, such as "
                "--broker redis://127.0.0.1:6379/0 (with memory: each worker would be a "
                "separate server behind the one port)"
            )
    except (TypeError, ValueError) as exc:
        print(f"canaux serve: {exc}", flush=True)
        return 2
    if args.workers == 1:
        return serve(config, mount_path=mount_path, loop=args.loop)
    try:
        listener = bind_listener(config.host, config.port)
    except OSError as exc:
        print(f"canaux serve: cannot listen on {config.host}:{config.port}: {exc}", flush=True)
        return 1
    worker_args = argparse.Namespace(**{**vars(args), "workers": 1, "worker_fds": None})
    with listener:
        return supervise(
            [sys.executable, "-m", "canaux", "serve"],
            pickle.dumps(worker_args),
            args.workers,
            listener,
            announce=lambda port: announce(config.host, port, mount_path),
        )


def _run_worker(fds: str) -> int:
    """One worker of ``--workers N``: the arguments come from the supervisor [see workers]."""
    listen_fd, control_fd = (int(fd) for fd in fds.split(","))
    link = WorkerLink(control_fd)
    args = pickle.loads(link.receive())  # our own parent's bytes
    listener = socket.socket(fileno=listen_fd)
    link.stop_with_supervisor()
    config = config_from_args(args)
    return serve(
        config,
        mount_path=mount_path_of(args),
        loop=args.loop,
        sockets=[listener],
        ready=link.listening,
    )
