"""HTTP publish cases: ``POST /publish`` and ``GET /health`` from outside (http-publish.md).

The endpoint is optional, so every case needs ``--publish-url`` (derived automatically when
the suite starts the reference server) and is skipped without it. Accepted publishes must
reach WebSocket subscribers like any other event of the channel [HTTP-4]; refused ones must
be answered with the status and code of HTTP-1..3 and must publish nothing, which a watching
subscriber checks: after the refusal an accepted marker is published on the same channel, and
anything carrying the refused data must have arrived before it, if at all.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from canaux_conformance.cases import CaseContext, case
from canaux_conformance.outcomes import CaseFailed, CaseSkipped
from canaux_conformance.wire import Frame, RawClient, catalogue_entry, encode

__all__ = [
    "health_url",
    "http_pub_01_system_delivered",
    "http_pub_02_conformance_delivered_in_order",
    "http_pub_03_missing_credentials",
    "http_pub_04_wrong_token",
    "http_pub_05_unknown_channel",
    "http_pub_06_client_channel_forbidden",
    "http_pub_07_invalid_payload",
    "http_pub_08_malformed_body",
    "http_pub_09_oversize_body",
    "http_pub_10_health",
    "pointer_resolves",
]

_TEXT_LIMIT = 300
"""Characters of a response body kept in failure messages and the transcript."""

# Valid publish data for the client-published standard channels: a refusal of these over
# HTTP is about the channel, never about the data [HTTP-1].
_CLIENT_CHANNELS: dict[str, dict[str, Any]] = {
    "chat": {"type": "message", "text": "sent over http by the conformance suite"},
    "playqueue": {"op": "pause"},
}


# ----------------------------------------------------------------- requests


def _publish_url(ctx: CaseContext) -> str:
    if not ctx.target.publish_url:
        raise CaseSkipped(
            "no --publish-url: the HTTP publish endpoint (http-publish.md) is not tested"
        )
    return ctx.target.publish_url


def _bearer(ctx: CaseContext) -> str:
    if not ctx.target.publish_token:
        raise CaseSkipped("no --publish-token: the server cannot accept any publish from the suite")
    return f"Bearer {ctx.target.publish_token}"


def _mark(ctx: CaseContext) -> str:
    """A value no other case or run puts in its data (at most 40 characters)."""
    return f"{ctx.run_id}-{ctx.case_id.lower()}-{secrets.token_hex(4)}"[:40]


def _show(response: httpx.Response) -> str:
    return f"{response.status_code} {response.text[:_TEXT_LIMIT]}"


async def _post(
    ctx: CaseContext,
    content: bytes,
    *,
    authorization: str | None,
    what: str,
    requirement: str | None = None,
) -> httpx.Response:
    """``POST content`` to the publish URL with exactly the given ``Authorization`` header.

    A request that gets no HTTP answer at all fails the case: every input of HTTP-1..4 is owed
    one.
    """
    url = _publish_url(ctx)
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    shown = content[:_TEXT_LIMIT].decode(errors="replace")
    try:
        async with httpx.AsyncClient(timeout=ctx.timeout, trust_env=False) as http:
            response = await http.post(url, content=content, headers=headers)
    except httpx.HTTPError as exc:
        ctx.note(f"POST {url} ({what}) {shown} -> no answer: {exc!r}")
        raise CaseFailed(
            f"POST {url} ({what}) got no HTTP answer: {type(exc).__name__}: {exc}",
            requirement=requirement,
        ) from exc
    ctx.note(f"POST {url} ({what}) {shown} -> {_show(response)}")
    return response


def _body(channel: Any, data: Any) -> bytes:
    return json.dumps({"channel": channel, "data": data}, separators=(",", ":")).encode()


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _skip_if_token_rejected(ctx: CaseContext, response: httpx.Response) -> None:
    """A 401 to the suite's own token says nothing about the server: the token may be wrong."""
    if response.status_code == 401:
        raise CaseSkipped(
            f"POST {ctx.target.publish_url} refused the suite's token ({_show(response)}):"
            " check --publish-token"
        )


async def _accepted(ctx: CaseContext, channel: str, data: Any) -> None:
    """Publish valid ``data`` on ``channel``: 202 ``{"channel", "delivered": true}`` [HTTP-4]."""
    response = await _post(
        ctx, _body(channel, data), authorization=_bearer(ctx), what="valid", requirement="HTTP-4"
    )
    _skip_if_token_rejected(ctx, response)
    if response.status_code in (400, 403) and _code(response) in ("unknown_channel", "forbidden"):
        raise CaseFailed(
            f"a valid publish on {channel!r} was refused: {_show(response)}", requirement="HTTP-1"
        )
    if response.status_code != 202:
        raise CaseFailed(
            f"a valid publish on {channel!r} answered {_show(response)}, expected 202",
            requirement="HTTP-4",
        )
    expected = {"channel": channel, "delivered": True}
    if _json(response) != expected:
        raise CaseFailed(
            f"a valid publish on {channel!r} answered the body {response.text[:_TEXT_LIMIT]!r},"
            f" expected {encode(expected)}",
            requirement="HTTP-4",
        )


def _code(response: httpx.Response) -> Any:
    body = _json(response)
    return body.get("code") if isinstance(body, dict) else None


def _expect_error(
    response: httpx.Response, status: int, code: str, *, requirement: str, what: str
) -> dict[str, Any]:
    """The error body ``{"code", "message", "pointer"?}`` of an answer that must be ``status``."""
    if response.status_code != status:
        raise CaseFailed(
            f"{what}: answered {_show(response)}, expected {status} {code!r}",
            requirement=requirement,
        )
    body = _json(response)
    if not isinstance(body, dict) or body.get("code") != code:
        raise CaseFailed(
            f"{what}: the {status} body is {response.text[:_TEXT_LIMIT]!r},"
            f" expected a JSON object with code {code!r}",
            requirement=requirement,
        )
    if not isinstance(body.get("message"), str):
        raise CaseFailed(
            f"{what}: the error body has no string 'message': {response.text[:_TEXT_LIMIT]!r}",
            requirement=requirement,
        )
    return body


# ----------------------------------------------------------------- channels and watchers


def _channel_and_data(ctx: CaseContext, mark: str) -> tuple[str, dict[str, Any]]:
    """A channel the endpoint must serve and valid data carrying ``mark``.

    A fresh ``conformance.*`` channel when the family is on (no other case sees its events),
    else ``system``; a server offering neither cannot be driven over HTTP.
    """
    try:
        return ctx.channel("http"), {"mark": mark}
    except CaseSkipped:
        pass
    if ctx.server is not None and ctx.server.offers("system"):
        return "system", {"level": "info", "text": mark, "code": "conformance.http"}
    raise CaseSkipped("the catalogue has neither 'conformance.*' nor 'system' to publish on")


async def _watcher(ctx: CaseContext, channel: str) -> RawClient:
    """A subscriber of ``channel`` that keeps every frame, valid or not, for inspection.

    Data the server should have refused may well fail the channel schema; reading it
    unvalidated lets the case report the HTTP requirement that was broken.
    """
    watcher = await ctx.connect("watcher", validate=False)
    await watcher.hello(token=ctx.target.token)
    await watcher.subscribe(channel)
    return watcher


def _carries(frame: Frame, channel: str, mark: str) -> bool:
    if frame.get("type") != "event" or frame.get("channel") != channel:
        return False
    return mark in json.dumps(frame.get("data"), ensure_ascii=False)


async def _nothing_published(
    ctx: CaseContext, watcher: RawClient, channel: str, mark: str, *, requirement: str
) -> None:
    """Fail if the refused publish carrying ``mark`` reached the watcher.

    Its request was answered before the marker was published, so had the server published it,
    its place in the channel's order would be before the marker's [HTTP-4, DELIVERY-4].
    """
    marker = _mark(ctx)
    if channel.startswith("conformance."):
        await watcher.publish(channel, {"mark": marker})
    elif ctx.target.publish_token:
        await _accepted(ctx, channel, {"level": "info", "text": marker})
    else:
        ctx.note("no --publish-token: no marker can be published; delivery not checked")
        return
    await watcher.expect(
        "event",
        channel=channel,
        where=lambda f: _carries(f, channel, marker),
        requirement="HTTP-4",
        what=f"the marker event {marker!r} on {channel!r}",
    )
    leaked = [f for f in watcher.received if _carries(f, channel, mark)]
    if leaked:
        raise CaseFailed(
            f"the refused publish was delivered anyway: {encode(leaked[0])[:_TEXT_LIMIT]}",
            requirement=requirement,
        )


def pointer_resolves(document: Any, pointer: str) -> bool:
    """True when the JSON Pointer (RFC 6901) ``pointer`` names a value inside ``document``."""
    if pointer == "":
        return True
    if not pointer.startswith("/"):
        return False
    node = document
    for raw in pointer[1:].split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            if token != "0" and token.startswith("0"):
                return False
            node = node[int(token)]
        else:
            return False
    return True


# ----------------------------------------------------------------- accepted publishes


@case(
    id="HTTP-PUB-01",
    requirements=("HTTP-4", "HTTP-1"),
    profile="system",
    title="a publish on system is answered 202 and reaches every subscriber, unchanged",
)
async def http_pub_01_system_delivered(ctx: CaseContext) -> None:
    """A system notice posted with the token is answered 202 ``{"channel": "system",
    "delivered": true}``; two WebSocket subscribers of system each receive it, valid against
    channels/system.json and JSON-equal to the posted data [HTTP-1, HTTP-4]."""
    _publish_url(ctx)
    ctx.require_channel("system")
    subscribers = [await ctx.client("A"), await ctx.client("B")]
    for subscriber in subscribers:
        await subscriber.subscribe("system")
    notice = {"level": "warning", "text": f"notice {_mark(ctx)}", "code": "conformance.http"}
    await _accepted(ctx, "system", notice)
    for subscriber in subscribers:
        event = await subscriber.expect(
            "event",
            channel="system",
            where=lambda f: (
                isinstance(f.get("data"), dict) and f["data"].get("text") == notice["text"]
            ),
            requirement="HTTP-4",
            what="the posted notice",
        )
        if _canonical(event["data"]) != _canonical(notice):
            raise CaseFailed(
                f"client {subscriber.name} received {encode(event['data'])},"
                f" posted {encode(notice)}",
                requirement="HTTP-4",
            )
    ctx.check()  # each event was validated against the system schema as it arrived


def _canonical(value: Any) -> str:
    # Sorted keys: member order is not part of the data; True and 1 still differ.
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


@case(
    id="HTTP-PUB-02",
    requirements=("HTTP-4", "HTTP-1"),
    title="a publish on a conformance channel is in the channel's order once answered 202",
)
async def http_pub_02_conformance_delivered_in_order(ctx: CaseContext) -> None:
    """A publish on a fresh conformance channel is answered 202; a WebSocket publish made
    after that answer reaches the subscriber after it, as HTTP-4 fixes the event's place in
    the order before answering; the data arrives unchanged [HTTP-1, HTTP-4]."""
    _publish_url(ctx)
    channel = ctx.channel("http")
    subscriber = await ctx.client("A")
    await subscriber.subscribe(channel)
    posted = {"mark": _mark(ctx), "body": {"n": 1, "text": "é ✓", "list": [True, None, 2.5]}}
    await _accepted(ctx, channel, posted)
    after = {"mark": _mark(ctx)}
    await subscriber.publish(channel, after)
    await subscriber.expect(
        "event",
        channel=channel,
        where=lambda f: _carries(f, channel, after["mark"]),
        requirement="HTTP-4",
        what="the WebSocket publish made after the 202",
    )
    arrived = [f for f in subscriber.received if f.get("type") == "event"]
    marks = [f["data"].get("mark") for f in arrived if isinstance(f.get("data"), dict)]
    if posted["mark"] not in marks:
        raise CaseFailed(
            "the WebSocket publish made after the 202 arrived, the HTTP publish did not",
            requirement="HTTP-4",
        )
    if marks.index(posted["mark"]) > marks.index(after["mark"]):
        raise CaseFailed(
            "the HTTP publish arrived after a WebSocket publish made once it was answered 202",
            requirement="HTTP-4",
        )
    got = next(f["data"] for f in arrived if f["data"].get("mark") == posted["mark"])
    if _canonical(got) != _canonical(posted):
        raise CaseFailed(f"received {encode(got)}, posted {encode(posted)}", requirement="HTTP-4")


# ----------------------------------------------------------------- credentials


@case(
    id="HTTP-PUB-03",
    requirements=("HTTP-2",),
    title="a publish without Bearer credentials is answered 401 unauthorized, nothing published",
)
async def http_pub_03_missing_credentials(ctx: CaseContext) -> None:
    """A valid body sent with no Authorization header, with an empty Bearer and with the
    token under the Basic scheme is answered 401 ``unauthorized`` each time, and a subscriber
    of the channel receives none of them [HTTP-2]."""
    _publish_url(ctx)
    mark = _mark(ctx)
    channel, data = _channel_and_data(ctx, mark)
    watcher = await _watcher(ctx, channel)
    token = ctx.target.publish_token or "conformance"
    for what, authorization in (
        ("no Authorization header", None),
        ("a Bearer scheme without a token", "Bearer"),
        ("the token under the Basic scheme", f"Basic {token}"),
    ):
        response = await _post(ctx, _body(channel, data), authorization=authorization, what=what)
        _expect_error(response, 401, "unauthorized", requirement="HTTP-2", what=what)
    await _nothing_published(ctx, watcher, channel, mark, requirement="HTTP-2")


@case(
    id="HTTP-PUB-04",
    requirements=("HTTP-2",),
    title="a publish with a wrong token is answered 401 unauthorized, nothing published",
)
async def http_pub_04_wrong_token(ctx: CaseContext) -> None:
    """A valid body sent with a random token, and with the right token plus one character,
    is answered 401 ``unauthorized`` and reaches no subscriber [HTTP-2]."""
    _publish_url(ctx)
    mark = _mark(ctx)
    channel, data = _channel_and_data(ctx, mark)
    watcher = await _watcher(ctx, channel)
    wrong = [("a random token", f"Bearer wrong-{secrets.token_hex(16)}")]
    if ctx.target.publish_token:
        # A server comparing only a prefix of the token would take this one.
        wrong.append(("the token plus one character", f"Bearer {ctx.target.publish_token}x"))
    for what, authorization in wrong:
        response = await _post(ctx, _body(channel, data), authorization=authorization, what=what)
        _expect_error(response, 401, "unauthorized", requirement="HTTP-2", what=what)
    await _nothing_published(ctx, watcher, channel, mark, requirement="HTTP-2")


# ----------------------------------------------------------------- channels the endpoint refuses


@case(
    id="HTTP-PUB-05",
    requirements=("HTTP-1",),
    title="a publish on a channel outside the catalogue is answered 400 unknown_channel",
)
async def http_pub_05_unknown_channel(ctx: CaseContext) -> None:
    """A well-formed publish on a channel name that no catalogue entry covers is answered
    400 ``unknown_channel`` [HTTP-1]."""
    _publish_url(ctx)
    channel = f"nosuch-{ctx.run_id}.http"
    if ctx.server is not None and catalogue_entry(ctx.server.catalogue, channel) is not None:
        raise CaseSkipped(f"this server's catalogue covers {channel!r}", applicable=False)
    data = {"level": "info", "text": _mark(ctx)}
    response = await _post(
        ctx, _body(channel, data), authorization=_bearer(ctx), what="an unknown channel"
    )
    _skip_if_token_rejected(ctx, response)
    _expect_error(response, 400, "unknown_channel", requirement="HTTP-1", what=repr(channel))


@case(
    id="HTTP-PUB-06",
    requirements=("HTTP-1",),
    title="a publish on chat or playqueue is answered 403 forbidden",
)
async def http_pub_06_client_channel_forbidden(ctx: CaseContext) -> None:
    """Valid publish data for chat and for playqueue, on those channels when the catalogue
    lists them, is answered 403 ``forbidden``: the endpoint serves only server-published
    channels and the conformance family [HTTP-1]."""
    _publish_url(ctx)
    offered = [
        name for name in _CLIENT_CHANNELS if ctx.server is not None and ctx.server.offers(name)
    ]
    if not offered:
        raise CaseSkipped("the catalogue lists neither chat nor playqueue", applicable=False)
    for channel in offered:
        response = await _post(
            ctx,
            _body(channel, _CLIENT_CHANNELS[channel]),
            authorization=_bearer(ctx),
            what=f"valid {channel} data",
        )
        _skip_if_token_rejected(ctx, response)
        _expect_error(response, 403, "forbidden", requirement="HTTP-1", what=repr(channel))


# ----------------------------------------------------------------- bodies the endpoint refuses


@case(
    id="HTTP-PUB-07",
    requirements=("HTTP-3",),
    title="data failing the channel schema: 422 invalid_payload with a pointer, nothing published",
)
async def http_pub_07_invalid_payload(ctx: CaseContext) -> None:
    """Data that fails the channel's schema (a system level outside the enum, a conformance
    mark that is not a string) is answered 422 ``invalid_payload`` with a ``pointer`` naming
    a place under ``/data`` in the body sent, and reaches no subscriber [HTTP-3]."""
    _publish_url(ctx)
    mark = _mark(ctx)
    channel, valid = _channel_and_data(ctx, mark)
    if channel == "system":
        data: dict[str, Any] = {**valid, "level": "loud"}
    else:
        data = {"mark": 42, "body": {"note": mark}}
    watcher = await _watcher(ctx, channel)
    body = _body(channel, data)
    response = await _post(ctx, body, authorization=_bearer(ctx), what="invalid data")
    _skip_if_token_rejected(ctx, response)
    error = _expect_error(
        response, 422, "invalid_payload", requirement="HTTP-3", what="data failing the schema"
    )
    pointer = error.get("pointer")
    if not isinstance(pointer, str):
        raise CaseFailed(f"the 422 body has no string 'pointer': {encode(error)}")
    if not (pointer == "/data" or pointer.startswith("/data/")) or not pointer_resolves(
        json.loads(body), pointer
    ):
        raise CaseFailed(f"the pointer {pointer!r} names no place under /data in {body.decode()}")
    await _nothing_published(ctx, watcher, channel, mark, requirement="HTTP-3")


@case(
    id="HTTP-PUB-08",
    requirements=("HTTP-3",),
    title="a body that is not {channel, data} is answered 400 bad_frame",
)
async def http_pub_08_malformed_body(ctx: CaseContext) -> None:
    """Truncated JSON, JSON that is not an object, a body without ``channel``, with a
    non-string ``channel`` or without ``data`` are each answered 400 ``bad_frame`` [HTTP-3]."""
    _publish_url(ctx)
    channel, data = _channel_and_data(ctx, _mark(ctx))
    bodies: list[tuple[str, bytes]] = [
        ("truncated JSON", _body(channel, data)[:-3]),
        ("a JSON array", json.dumps([channel, data]).encode()),
        ("a JSON string", json.dumps(channel).encode()),
        ("no channel member", json.dumps({"data": data}).encode()),
        ("a channel that is a number", _body(7, data)),
        ("no data member", json.dumps({"channel": channel}).encode()),
    ]
    for what, content in bodies:
        response = await _post(ctx, content, authorization=_bearer(ctx), what=what)
        _skip_if_token_rejected(ctx, response)
        _expect_error(response, 400, "bad_frame", requirement="HTTP-3", what=what)


@case(
    id="HTTP-PUB-09",
    requirements=("HTTP-3",),
    title="a body one byte over max_frame_bytes is answered 413 bad_frame, nothing published",
)
async def http_pub_09_oversize_body(ctx: CaseContext) -> None:
    """A well-formed publish whose body is one byte larger than the advertised
    ``max_frame_bytes`` is answered 413 ``bad_frame`` and reaches no subscriber [HTTP-3]."""
    _publish_url(ctx)
    if ctx.server is None or not isinstance(ctx.server.limits.get("max_frame_bytes"), int):
        raise CaseSkipped("no welcome with limits.max_frame_bytes: the size limit is unknown")
    limit = ctx.server.limit("max_frame_bytes", 65536)
    mark = _mark(ctx)
    channel, data = _channel_and_data(ctx, mark)
    pad_key = "text" if channel == "system" else "body"
    prefix = str(data.get(pad_key, ""))
    size = len(_body(channel, {**data, pad_key: prefix}))
    content = _body(channel, {**data, pad_key: prefix + "x" * (limit + 1 - size)})
    watcher = await _watcher(ctx, channel)
    response = await _post(
        ctx,
        content,
        authorization=_bearer(ctx),
        what=f"a {len(content)}-byte body",
        requirement="HTTP-3",
    )
    _skip_if_token_rejected(ctx, response)
    _expect_error(
        response, 413, "bad_frame", requirement="HTTP-3", what=f"a {len(content)}-byte body"
    )
    await _nothing_published(ctx, watcher, channel, mark, requirement="HTTP-3")


# ----------------------------------------------------------------- health


def health_url(publish_url: str) -> str | None:
    """``GET /health`` next to ``POST /publish`` (the layout of http-publish.md), or None."""
    parts = urlsplit(publish_url)
    if not parts.path.endswith("/publish"):
        return None
    path = parts.path[: -len("/publish")] + "/health"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


@case(
    id="HTTP-PUB-10",
    requirements=("HTTP-5",),
    title="GET /health answers 200 {status: ok, sessions, connections} without credentials",
)
async def http_pub_10_health(ctx: CaseContext) -> None:
    """With a client connected, ``GET /health`` next to the publish endpoint, sent without
    credentials, is answered 200 with ``status`` ``"ok"`` and counts of at least one live
    session and one open connection [HTTP-5]. Skipped when the server does not offer it."""
    url = health_url(_publish_url(ctx))
    if url is None:
        raise CaseSkipped("the publish URL does not end in /publish: /health cannot be located")
    await ctx.client("A")
    try:
        async with httpx.AsyncClient(timeout=ctx.timeout, trust_env=False) as http:
            response = await http.get(url)
    except httpx.HTTPError as exc:
        raise CaseFailed(f"GET {url} got no HTTP answer: {type(exc).__name__}: {exc}") from exc
    ctx.note(f"GET {url} -> {_show(response)}")
    if response.status_code in (404, 405):
        raise CaseSkipped(f"GET {url} answered {response.status_code}: no health endpoint")
    body = _json(response)
    if response.status_code != 200 or not isinstance(body, dict):
        raise CaseFailed(f"GET {url} answered {_show(response)}, expected 200 and a JSON object")
    if body.get("status") != "ok":
        raise CaseFailed(f"status is {body.get('status')!r}, expected 'ok'")
    for member in ("sessions", "connections"):
        count = body.get(member)
        if not isinstance(count, int) or isinstance(count, bool):
            raise CaseFailed(f"{member!r} is {count!r}, expected an integer")
        if count < 1:
            raise CaseFailed(f"{member!r} is {count} while the suite holds one open")
