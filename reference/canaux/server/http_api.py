"""Plain HTTP endpoints: ``POST /publish``, ``GET /health``, ``POST /tasks/scan``
(spec http-publish.md).

``POST /publish`` lets a backend job in another process publish on every channel the server
itself may publish on (``system``, ``progress``, ``conformance.*``, app channels with
``publish="server"`` or ``"both"``) [HTTP-1]; it requires ``Authorization: Bearer <token>``
(the configured publish token). It takes the same path as the in-process
:meth:`~canaux.server.runtime.ServerRuntime.publish`: schema, then the channel's hook (progress
updates are checked against the task's previous one, so progress never goes backwards even
when several jobs post [PROGRESS-1]).

``POST /tasks/scan`` (same token) starts a :class:`~canaux.server.channels.progress.ScanTask`
below the configured scan root; its progress appears on ``progress``.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from canaux.protocol.channels import is_valid_channel_name
from canaux.protocol.codes import ErrorCode
from canaux.protocol.frames import decode_json
from canaux.protocol.ijson import IJsonError
from canaux.server.access import http_may_publish, http_publisher
from canaux.server.channels.channel import Refused
from canaux.server.channels.progress import ScanTask, resolve_scan_path
from canaux.server.errors import bearer_token, error_response
from canaux.server.runtime import ServerRuntime

__all__ = ["health_endpoint", "publish_endpoint", "scan_endpoint"]

Endpoint = Callable[[Request], Awaitable[Response]]

_STATUS = {
    ErrorCode.UNKNOWN_CHANNEL: 400,
    ErrorCode.BAD_FRAME: 400,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.VERSION_CONFLICT: 409,
    ErrorCode.INVALID_PAYLOAD: 422,
}
"""HTTP status of a refused publish, by error code [HTTP-1, HTTP-3]; others are 422."""


def _authorized(runtime: ServerRuntime, request: Request) -> bool:
    expected = runtime.config.publish_token
    given = bearer_token(request.headers.get("authorization"))
    if expected is None or given is None:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def _unauthorized(runtime: ServerRuntime) -> Response:
    if runtime.config.publish_token is None and runtime.config.authenticate is None:
        message = "publishing over http is disabled: no publish token configured"
    else:
        message = "missing or wrong bearer token"
    return error_response(401, "unauthorized", message)


async def _json_body(request: Request, limit: int) -> tuple[Any, Response | None]:
    """The decoded JSON body (at most ``limit`` bytes), or an error response."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None, error_response(413, ErrorCode.BAD_FRAME, f"body over {limit} bytes")
        chunks.append(chunk)
    if not chunks:
        return None, None
    try:
        return decode_json(b"".join(chunks)), None
    except IJsonError as exc:
        # [HTTP-3] [TRANSPORT-18] not JSON, or JSON that I-JSON forbids: nothing is published.
        return None, error_response(
            400, ErrorCode.BAD_FRAME, f"body is not i-json: {exc}", pointer=exc.pointer or ""
        )


def publish_endpoint(runtime: ServerRuntime) -> Endpoint:
    """``POST /publish``: ``{"channel": …, "data": …}`` → 202 ``{"channel", "delivered": true}``."""

    async def publish(request: Request) -> Response:
        runtime.ensure_started()
        # [HTTP-2] the publish token, or a token the authenticator accepts (its grants decide).
        publisher = await http_publisher(
            runtime.config, bearer_token(request.headers.get("authorization"))
        )
        if publisher is None:
            return _unauthorized(runtime)
        body, problem = await _json_body(request, runtime.limits.max_frame_bytes)
        if problem is not None:
            return problem
        if not isinstance(body, dict):
            return error_response(
                400, ErrorCode.BAD_FRAME, "body must be a json object", pointer=""
            )
        channel = body.get("channel")
        if not isinstance(channel, str) or not is_valid_channel_name(channel):
            # [HTTP-3] a body without a valid channel (a string in the grammar [CHANNEL-1]).
            return error_response(
                400, ErrorCode.BAD_FRAME, "channel: required channel name", pointer="/channel"
            )
        if "data" not in body:
            return error_response(400, ErrorCode.BAD_FRAME, "data: required", pointer="/data")
        if runtime.channels.resolve(channel) is not None and not http_may_publish(
            publisher, channel
        ):
            return error_response(
                403,
                ErrorCode.FORBIDDEN,
                f"this token may not publish on {channel}",
                channel=channel,
            )
        try:
            # The same path as ``server.publish``: catalogue, who publishes, schema, then the
            # channel's hook (progress stays monotonic [PROGRESS-1]) [HTTP-1, HTTP-3].
            await runtime.publish(channel, body["data"])
        except Refused as refused:
            return error_response(
                _STATUS.get(refused.code, 422),
                refused.code,
                refused.message,
                pointer=refused.pointer,
            )
        return JSONResponse({"channel": channel, "delivered": True}, status_code=202)

    return publish


def health_endpoint(runtime: ServerRuntime) -> Endpoint:
    """``GET /health``: ``{"status": "ok", "sessions": N, "connections": N}``."""

    async def health(request: Request) -> Response:
        runtime.ensure_started()
        # [HTTP-5] 200 and "ok" while the server answers at all, without credentials.
        body = {
            "status": "ok",
            "sessions": len(runtime.registry),
            "connections": len(runtime.connections),
        }
        return JSONResponse(body)

    return health


def scan_endpoint(runtime: ServerRuntime) -> Endpoint:
    """``POST /tasks/scan`` with optional ``{"path": "sub/dir"}`` → 202 ``{"task", "kind"}``."""

    async def scan(request: Request) -> Response:
        runtime.ensure_started()
        if not _authorized(runtime, request):
            return _unauthorized(runtime)
        root = runtime.config.scan_root
        if root is None:
            return error_response(
                404, "not_found", "no scan root configured (canaux serve --scan-root)"
            )
        body, problem = await _json_body(request, runtime.limits.max_frame_bytes)
        if problem is not None:
            return problem
        relative = ""
        if body is not None:
            if not isinstance(body, dict) or not isinstance(body.get("path", ""), str):
                return error_response(
                    400, ErrorCode.BAD_FRAME, "path must be a string", pointer="/path"
                )
            relative = body.get("path", "")
        try:
            directory = resolve_scan_path(Path(root), relative)
        except ValueError as exc:
            return error_response(400, ErrorCode.BAD_FRAME, str(exc), pointer="/path")
        task = runtime.tasks.start(ScanTask(directory))
        return JSONResponse({"task": task, "kind": "scan"}, status_code=202)

    return scan
