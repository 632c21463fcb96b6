"""What a running server says about its channels: ``GET /asyncapi.json``, ``GET /schemas/…``.

The ``welcome`` catalogue names each channel and the ``$id`` of its schema [HANDSHAKE-9,
CHANNEL-11]. These endpoints publish the rest [HTTP-7]: an AsyncAPI 3.0 document of this
server's whole catalogue, app channels included, built by the same code as the spec site's
(:func:`canaux.server.asyncapi.build_document`), and, beside it, the schema files its payloads
reference: the protocol's (``schemas/frame.json``, ``schemas/channels/chat.json``…) and one per
app channel (``schemas/app/<name>.json``, the document announced under its ``$id``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

import canaux_schemas
from canaux.server.asyncapi import DocumentChannel, build_document
from canaux.server.channels.channel import Channel
from canaux.server.channels.schema import channel_document
from canaux.server.errors import error_response
from canaux.server.runtime import ServerRuntime

__all__ = ["asyncapi_endpoint", "describe", "schema_endpoint", "schema_files"]

Endpoint = Callable[[Request], Awaitable[Response]]

_STANDARD_PATHS = {
    schema_id: f"channels/{name}.json" for name, schema_id in canaux_schemas.CHANNEL_SCHEMAS.items()
}


def _schema_path(channel: Channel) -> str:
    schema_id, document = channel_document(channel)
    if document is None and schema_id in _STANDARD_PATHS:
        return _STANDARD_PATHS[schema_id]
    return f"app/{channel.name}.json"


def schema_files(runtime: ServerRuntime) -> dict[str, Mapping[str, Any]]:
    """Every schema file the server's AsyncAPI document references, by path under ``schemas/``."""
    files: dict[str, Mapping[str, Any]] = dict(canaux_schemas.all_schemas())
    for channel in runtime.channels:
        files[_schema_path(channel)] = runtime.channels.schema_document(channel)
    return files


def describe(runtime: ServerRuntime, *, host: str, pathname: str = "") -> dict[str, Any]:
    """The AsyncAPI 3.0 document of ``runtime``'s catalogue, for a server at ``host`` (and
    ``pathname``, the mount path): every entry, in catalogue order [HTTP-7]."""
    channels = [
        DocumentChannel(c.name, _schema_path(c), runtime.channels.schema_document(c))
        for c in runtime.channels
    ]
    names = ", ".join(f"`{channel.name}`" for channel in channels)
    return build_document(
        canaux_schemas.all_schemas(),
        channels,
        host=host,
        pathname=pathname,
        description=(
            "The channels this Canaux server offers (protocol version 1, subprotocol "
            f"`canaux.v1`): {names}. Payloads reference the schema files served beside this "
            "document, under `./schemas/`."
        ),
    )


def _where(request: Request) -> tuple[str, str]:
    host = request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"
    return host, str(request.scope.get("root_path", "")).rstrip("/")


def asyncapi_endpoint(runtime: ServerRuntime) -> Endpoint:
    """``GET /asyncapi.json``: this server's AsyncAPI document, without credentials.

    The catalogue never changes while the server runs [CHANNEL-10]: the document is built
    once; each answer only puts the request's host and mount path into its servers (an
    unauthenticated request costs no rebuild).
    """
    built: dict[str, Any] | None = None

    async def asyncapi(request: Request) -> Response:
        nonlocal built
        runtime.ensure_started()
        if built is None:
            built = describe(runtime, host="localhost")
        host, pathname = _where(request)
        servers = {}
        for name, server in built["servers"].items():
            located = {**server, "host": host}
            if pathname:
                located["pathname"] = pathname
            servers[name] = located
        return JSONResponse({**built, "servers": servers})

    return asyncapi


def schema_endpoint(runtime: ServerRuntime) -> Endpoint:
    """``GET /schemas/<path>``: one schema file the AsyncAPI document references."""
    files: dict[str, Mapping[str, Any]] | None = None

    async def schema(request: Request) -> Response:
        nonlocal files
        runtime.ensure_started()
        if files is None:
            files = schema_files(runtime)
        path = str(request.path_params.get("path", ""))
        document = files.get(path)
        if document is None:
            return error_response(404, "not_found", f"no schema file {path!r} on this server")
        return JSONResponse(document)

    return schema
