"""How ``GET /events`` refuses a request: the order of its checks and its credentials
(sse.md "Errors": SSE-14, SSE-8)."""

from __future__ import annotations

import json
import secrets

import httpx

from canaux_conformance.audit import http_error_findings
from canaux_conformance.cases import CaseContext, case
from canaux_conformance.outcomes import CaseFailed, CaseSkipped

__all__ = ["sse_err_01_check_order", "sse_err_02_credentials"]

BAD_NAME = "Bad!"
"""Not a channel name (CHANNEL-1): upper case and ``!``."""

MOST_NAMES = 256
"""Most distinct names the case puts in one URL to go over ``max_subscriptions``."""


def _url(ctx: CaseContext) -> str:
    if not ctx.target.sse_url:
        raise CaseSkipped("no SSE endpoint (give --sse-url)")
    return ctx.target.sse_url


def _bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


async def _refusal(
    ctx: CaseContext, http: httpx.AsyncClient, channels: str | None, headers: dict[str, str]
) -> tuple[int, object]:
    """The status and the JSON body's ``code`` of ``GET /events?channels=...`` (the stream
    of a 200 is closed at once)."""
    params = {} if channels is None else {"channels": channels}
    async with http.stream("GET", _url(ctx), params=params, headers=headers) as response:
        shown = "(none)" if channels is None else repr(channels[:200])
        if response.status_code == 200:
            ctx.note(f"GET /events channels={shown} -> 200 (a stream)")
            return 200, None
        body = (await response.aread()).decode(errors="replace")
        ctx.note(f"GET /events channels={shown} -> {response.status_code} {body[:200]}")
        kind = response.headers.get("content-type", "")
        for finding in http_error_findings(response.status_code, kind, body, requirement="SSE-15"):
            raise CaseFailed(f"GET /events: {finding.message}", requirement=finding.requirement)
        try:
            value = json.loads(body)
        except ValueError:
            return response.status_code, None
        return response.status_code, value.get("code") if isinstance(value, dict) else None


@case(
    id="SSE-ERR-01",
    requirements=("SSE-14", "SSE-3", "SSE-6", "SSE-15"),
    profile="sse",
    title="GET /events checks the channels list entry by entry, then the count, then credentials",
)
async def sse_err_01_check_order(ctx: CaseContext) -> None:
    """Each refused list gets the error of its FIRST failing check [SSE-14]: ``nope,Bad!`` is
    unknown_channel and ``Bad!,nope`` bad_frame (entries in list order, grammar before
    catalogue); more than ``max_subscriptions`` names followed by an unknown one is
    unknown_channel (entries before the count), without it too_many_subscriptions; with an
    authenticating server, an unknown channel without credentials is still unknown_channel
    (credentials after the list)."""
    nope = f"nowhere-{ctx.run_id}"
    allowed = ctx.server.limit("max_subscriptions", 64) if ctx.server else 64
    headers = _bearer(ctx.target.token)
    checks: list[tuple[str | None, dict[str, str], str, str]] = [
        (None, headers, "bad_frame", "the parameter is missing"),
        ("", headers, "bad_frame", "the parameter is empty"),
        (f"{nope},{BAD_NAME}", headers, "unknown_channel", "its first entry is unknown"),
        (f"{BAD_NAME},{nope}", headers, "bad_frame", "its first entry is not a name"),
    ]
    if allowed < MOST_NAMES:
        many = ",".join(ctx.channel("n") for _ in range(allowed + 1))
        checks += [
            (f"{many},{nope}", headers, "unknown_channel", "an entry fails before the count"),
            (f"{many},{BAD_NAME}", headers, "bad_frame", "an entry fails before the count"),
            (many, headers, "too_many_subscriptions", f"{allowed + 1} distinct names"),
        ]
    else:
        ctx.note(f"max_subscriptions {allowed}: the count is not checked (URL too long)")
    if ctx.target.token:
        checks.append((nope, {}, "unknown_channel", "the list fails before the credentials"))
    async with httpx.AsyncClient(timeout=ctx.timeout, trust_env=False) as http:
        for channels, sent, code, why in checks:
            status, got = await _refusal(ctx, http, channels, sent)
            if status != 400 or got != code:
                shown = "no channels parameter" if channels is None else f"channels={channels!r}"
                raise CaseFailed(
                    f"GET /events with {shown[:160]} answered {status} code {got!r}; "
                    f"expected 400 {code} ({why})",
                    requirement="SSE-14",
                )


@case(
    id="SSE-ERR-02",
    requirements=("SSE-8",),
    profile="sse",
    title="an authenticating server answers GET /events without or with bad credentials 401",
)
async def sse_err_02_credentials(ctx: CaseContext) -> None:
    """With ``--token`` (the server authenticates), a valid request for a conformance channel
    answers 401 unauthorized with no Authorization header and with a token the server cannot
    have issued, and streams with the run's token [SSE-8]."""
    if not ctx.target.token:
        raise CaseSkipped(
            "no --token: the server is not known to authenticate clients", applicable=False
        )
    channel = ctx.channel("auth")
    refused = f"not-a-token-{secrets.token_hex(8)}"
    async with httpx.AsyncClient(timeout=ctx.timeout, trust_env=False) as http:
        for headers, what in (({}, "no credentials"), (_bearer(refused), "a rejected token")):
            status, code = await _refusal(ctx, http, channel, headers)
            if status != 401 or code != "unauthorized":
                raise CaseFailed(
                    f"GET /events?channels={channel} with {what} answered {status} code "
                    f"{code!r}; expected 401 unauthorized",
                    requirement="SSE-8",
                )
        status, _ = await _refusal(ctx, http, channel, _bearer(ctx.target.token))
        if status != 200:
            raise CaseFailed(
                f"GET /events?channels={channel} with the run's --token answered {status}",
                requirement="SSE-1",
            )
