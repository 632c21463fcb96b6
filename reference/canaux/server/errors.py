"""JSON error bodies of the HTTP endpoints (spec sse.md [SSE-3], http-publish.md).

HTTP errors reuse the error registry of error-codes.md (``unknown_channel``, ``bad_frame``…) plus
``unauthorized`` for a missing or wrong bearer token, so a client handles one vocabulary.
"""

from __future__ import annotations

from starlette.responses import JSONResponse

__all__ = ["bearer_token", "error_response"]


def error_response(
    status: int, code: str, message: str, *, pointer: str | None = None, **extra: object
) -> JSONResponse:
    """``{"code", "message", "pointer"?}`` with the given HTTP status."""
    body: dict[str, object] = {"code": code, "message": message}
    if pointer is not None:
        body["pointer"] = pointer
    body.update(extra)
    headers = {"WWW-Authenticate": 'Bearer realm="canaux"'} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or ``None``."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token
