"""The built-in JWT authenticator and token grants (spec security.md SECURITY-2/10, HANDSHAKE-7).

Tokens are made here with PyJWT; RSA keys are generated with ``cryptography``.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from canaux.client import Client, ClientState, ConnectionClosedByServer
from canaux.server import ServerConfig, Unauthorized
from canaux.server.access import authenticate
from canaux.server.jwt import JWTAuthenticator
from canaux.server.principal import Grants, Principal
from canaux.server.testing import running_server

from .wire import (
    TIMEOUT,
    close_code,
    http_publish,
    make_config,
    open_ws,
    recv,
    request,
    send,
    session,
)

SECRET = "test-jwt-secret-of-at-least-32-bytes!"


@dataclasses.dataclass(frozen=True)
class RSAKeys:
    private_pem: bytes
    public_pem: bytes


@pytest.fixture(scope="module")
def rsa_keys() -> RSAKeys:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return RSAKeys(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )


def base64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256(claims: dict[str, Any], secret: str = SECRET) -> str:
    return jwt.encode(claims, secret, algorithm="HS256")


class TestVerify:
    def test_hs256_subject_is_the_identity(self) -> None:
        expires = int(time.time()) + 600
        principal = JWTAuthenticator(secret=SECRET).verify(hs256({"sub": "alice", "exp": expires}))
        assert principal.identity == "alice"
        assert principal.expires_at == expires
        assert principal.grants is None
        assert principal.claims["sub"] == "alice"

    def test_rs256_with_a_public_key(self, rsa_keys: RSAKeys) -> None:
        token = jwt.encode({"sub": "svc"}, rsa_keys.private_pem, algorithm="RS256")
        principal = JWTAuthenticator(public_key=rsa_keys.public_pem).verify(token)
        assert (principal.identity, principal.expires_at) == ("svc", None)

    def test_caps_claim_becomes_grants(self) -> None:
        caps = [
            {"channels": ["chat"], "allow": ["sub", "pub"]},
            {"channels": ["team.*", "system"], "allow": ["subscribe"]},
        ]
        principal = JWTAuthenticator(secret=SECRET).verify(hs256({"sub": "a", "caps": caps}))
        assert principal.permits("publish", "chat")
        assert principal.permits("subscribe", "team.7")
        assert not principal.permits("publish", "team.7")
        assert not principal.permits("subscribe", "progress")  # matched by no grant

    @pytest.mark.parametrize(
        ("token", "reason"),
        [
            (None, "required"),
            ("", "required"),
            ("not.a.jwt", "rejected"),
            (hs256({"sub": "a"}, secret="another-secret-of-at-least-32-bytes"), "rejected"),
            (hs256({"sub": "a", "exp": int(time.time()) - 10}), "expired"),
            # Parameters are built at collection: a "not before" a year ahead stays in the
            # future however long the run takes before this test (a 10-minute margin did not).
            (hs256({"sub": "a", "nbf": int(time.time()) + 365 * 86_400}), "rejected"),
            (hs256({"name": "no subject"}), "rejected"),
            (hs256({"sub": ""}), "sub"),
            (hs256({"sub": "a", "aud": "someone-else"}), "rejected"),
            (hs256({"sub": "a", "caps": {"chat": "sub"}}), "caps"),
            (hs256({"sub": "a", "caps": [{"channels": ["chat"], "allow": ["read"]}]}), "caps"),
            (base64url(b'{"alg":"none"}') + "." + base64url(b'{"sub":"a"}') + ".", "algorithm"),
        ],
    )
    def test_refused_tokens_say_why(self, token: str | None, reason: str) -> None:
        with pytest.raises(Unauthorized, match=reason):
            JWTAuthenticator(secret=SECRET).verify(token)

    def test_hmac_signed_with_the_public_key_is_refused(self, rsa_keys: RSAKeys) -> None:
        """The algorithm-confusion attack: HS256 keyed with the (public) RSA key."""
        head = base64url(b'{"alg":"HS256","typ":"JWT"}') + "." + base64url(b'{"sub":"admin"}')
        mac = hmac.new(rsa_keys.public_pem, head.encode(), hashlib.sha256).digest()
        forged = head + "." + base64url(mac)
        for authenticator in (
            JWTAuthenticator(public_key=rsa_keys.public_pem),
            JWTAuthenticator(public_key=rsa_keys.public_pem, secret=SECRET),
        ):
            with pytest.raises(Unauthorized, match=r"algorithm|rejected"):
                authenticator.verify(forged)

    def test_audience_and_issuer_when_configured(self) -> None:
        authenticator = JWTAuthenticator(secret=SECRET, audience="canaux", issuer="https://id")
        good = hs256({"sub": "a", "aud": "canaux", "iss": "https://id"})
        assert authenticator.verify(good).identity == "a"
        for claims in ({"sub": "a", "aud": "canaux"}, {"sub": "a", "iss": "https://id"}):
            with pytest.raises(Unauthorized):
                authenticator.verify(hs256(claims))

    @pytest.mark.parametrize(
        "options",
        [
            {},
            {"secret": ""},
            {"public_key": "not a key"},
            {"secret": SECRET, "algorithms": ["RS256"]},
        ],
    )
    def test_bad_configuration_is_a_value_error(self, options: dict[str, Any]) -> None:
        with pytest.raises(ValueError, match=r"\w"):
            JWTAuthenticator(**options)


class TestGrants:
    def test_first_matching_grant_decides(self) -> None:
        grants = Grants.from_claim(
            [
                {"channels": ["conformance.ro"], "allow": ["sub"]},
                {"channels": ["conformance.*"], "allow": ["sub", "pub"]},
            ]
        )
        assert not grants.allows("publish", "conformance.ro")
        assert grants.allows("publish", "conformance.rw")
        assert not grants.allows("subscribe", "chat")

    @pytest.mark.parametrize(
        "claim",
        [
            "chat",
            [{"channels": "chat", "allow": ["sub"]}],
            [{"channels": [], "allow": ["sub"]}],
            [{"channels": ["chat"], "allow": ["sub"], "extra": 1}],
            [{"channels": ["chat"]}],
        ],
    )
    def test_malformed_claims_are_refused(self, claim: object) -> None:
        with pytest.raises(ValueError, match=r"\w"):
            Grants.from_claim(claim)


@pytest.mark.anyio
class TestAuthenticateHook:
    async def test_an_expired_principal_is_refused_at_hello(self) -> None:
        """SECURITY-10: credentials already expired are rejected (whatever the authenticator)."""

        async def stale(token: str | None) -> Principal:
            return Principal("alice", expires_at=time.time() - 1)

        with pytest.raises(Unauthorized, match="expired"):
            await authenticate(ServerConfig(authenticate=stale), "t")

    async def test_without_authenticator_the_token_is_the_identity(self) -> None:
        assert await authenticate(ServerConfig(), None) is None
        principal = await authenticate(ServerConfig(), "t-1")
        assert principal == Principal("t-1")


def jwt_config(**options: Any) -> ServerConfig:
    return dataclasses.replace(
        make_config(), authenticate=JWTAuthenticator(secret=SECRET, **options)
    )


@pytest.mark.anyio
class TestHandshake:
    async def test_valid_token_is_welcomed_and_resumes_under_its_subject(self) -> None:
        """SECURITY-2: the identity is ``sub``; a fresh token of the same subject resumes."""
        async with running_server(jwt_config()) as server:
            first = hs256({"sub": "alice", "exp": int(time.time()) + 600, "jti": "1"})
            async with session(server, token=first) as (_, welcome):
                sid = welcome["session"]
            second = hs256({"sub": "alice", "exp": int(time.time()) + 900, "jti": "2"})
            async with session(server, token=second, resume={"session": sid, "seq": 0}) as (
                _,
                welcome,
            ):
                assert welcome["resumed"] is True
            bob = hs256({"sub": "bob"})
            async with session(server, token=bob, resume={"session": sid, "seq": 0}) as (
                _,
                welcome,
            ):
                assert welcome["resumed"] is False

    @pytest.mark.parametrize(
        "claims",
        [None, {"sub": "a", "exp": 1}, {"nosub": True}],
        ids=["no-token", "expired", "no-sub"],
    )
    async def test_refused_token_closes_4401(self, claims: dict[str, Any] | None) -> None:
        """HANDSHAKE-7, SECURITY-10 (already expired at hello)."""
        async with running_server(jwt_config()) as server, open_ws(server) as ws:
            hello: dict[str, Any] = {"type": "hello", "version": 1}
            if claims is not None:
                hello["token"] = hs256(claims)
            await send(ws, hello)
            assert await close_code(ws) == 4401


LIFETIME_S = 3.0
"""How long the expiring tokens of these tests live: enough to connect on a loaded machine."""


def short_lived(subject: str = "alice", **claims: Any) -> str:
    return hs256({"sub": subject, "exp": time.time() + LIFETIME_S, **claims})


@pytest.mark.anyio
class TestExpiry:
    """SECURITY-10/11: expiry ends the connection with 4440; the session waits for a resume."""

    async def test_websocket_closes_4440_and_a_fresh_token_resumes(self) -> None:
        async with running_server(jwt_config()) as server:
            async with session(server, token=hs256({"sub": "alice"})) as (ws, welcome):
                ack = await request(
                    ws, {"type": "subscribe", "id": "s1", "channel": "conformance.exp"}
                )
                assert ack == {"type": "ack", "id": "s1"}
            resume = {"session": welcome["session"], "seq": 0}
            # Only the hello has to fit in the token's life; then the server closes at exp.
            async with session(server, token=short_lived(), resume=resume) as (ws, again):
                assert again["resumed"] is True
                assert await close_code(ws) == 4440
            # Published while the session is detached: kept for the resume [RESUME-3].
            response = await http_publish(server, "conformance.exp", {"mark": "m1"})
            assert response.status_code == 202
            async with session(server, token=hs256({"sub": "alice"}), resume=resume) as (
                ws,
                again,
            ):
                assert again["resumed"] is True
                event = await recv(ws)
                assert (event["seq"], event["data"]) == (1, {"mark": "m1"})

    async def test_legacy_socket_closes_4440(self) -> None:
        async with running_server(jwt_config()) as server:
            headers = {"Authorization": f"Bearer {short_lived()}"}
            async with open_ws(
                server, "/api/ws", subprotocols=[], additional_headers=headers
            ) as ws:
                assert await close_code(ws) == 4440

    async def test_sse_stream_ends_and_resumes_with_a_fresh_token(self) -> None:
        async with running_server(jwt_config()) as server:
            url = server.events_url + "?channels=conformance.exp"
            async with httpx.AsyncClient(timeout=TIMEOUT) as http:
                headers = {"Authorization": f"Bearer {short_lived()}"}
                lines: list[str] = []
                async with asyncio.timeout(TIMEOUT), http.stream("GET", url, headers=headers) as r:
                    assert r.status_code == 200
                    lines = [line async for line in r.aiter_lines()]  # ends at the expiry
                welcome = json.loads(next(x for x in lines if x.startswith("data:"))[5:])
                assert welcome["type"] == "welcome"
                headers = {
                    "Authorization": f"Bearer {hs256({'sub': 'alice'})}",
                    "Last-Event-ID": f"{welcome['session']}:0",
                }
                async with http.stream("GET", url, headers=headers) as r:
                    async for line in r.aiter_lines():
                        if line.startswith("data:"):
                            assert json.loads(line[5:])["resumed"] is True
                            break


@pytest.mark.anyio
class TestTokenProvider:
    """CLIENT-10: a provider is asked before every connection; 4440 is then a mere reconnect."""

    async def test_client_reconnects_with_a_fresh_token_and_resumes(self) -> None:
        issued: list[str] = []

        async def provider() -> str:
            issued.append(short_lived(jti=str(len(issued))))
            return issued[-1]

        got: asyncio.Queue[Any] = asyncio.Queue()
        async with running_server(jwt_config()) as server:
            client = Client(server.ws_url, token=provider, backoff_base=0.05, backoff_cap=0.2)
            client.register_handler("conformance.exp", got.put_nowait)
            states: asyncio.Queue[ClientState] = asyncio.Queue()
            client.on_state(states.put_nowait)
            try:
                async with asyncio.timeout(TIMEOUT):
                    await client.wait_ready()
                    first = client.session
                    # The token expires: 4440, then a reconnection with a new token.
                    while await states.get() is not ClientState.RECONNECTING:
                        pass
                    while await states.get() is not ClientState.CONNECTED:
                        pass
                    response = await http_publish(server, "conformance.exp", {"n": 1})
                    assert response.status_code == 202
                    assert await got.get() == {"n": 1}
            finally:
                await client.close()
            assert client.session == first  # resumed, not a new session
            assert len(issued) >= 2
            assert len(set(issued)) == len(issued)

    async def test_sync_provider_and_fixed_token_after_expiry(self) -> None:
        async with running_server(jwt_config()) as server:
            fixed = Client(server.ws_url, token=short_lived(), backoff_base=0.05)
            stopped = asyncio.Event()
            fixed.on_state(lambda state: stopped.set() if state is ClientState.CLOSED else None)
            try:
                async with asyncio.timeout(TIMEOUT):
                    await fixed.connect()
                    await stopped.wait()
                with pytest.raises(ConnectionClosedByServer) as raised:
                    await fixed.send("conformance.exp", {"n": 1})
                assert raised.value.code == 4440
            finally:
                await fixed.close()
            calls: list[int] = []

            def sync_provider() -> str:
                calls.append(1)
                return hs256({"sub": "carol"})

            async with Client(server.ws_url, token=sync_provider) as client:
                assert client.connected
            assert calls == [1]


CAPS = [
    {"channels": ["conformance.ro"], "allow": ["sub"]},
    {"channels": ["conformance.*", "system"], "allow": ["sub", "pub"]},
]


@pytest.mark.anyio
class TestGrantsEnforced:
    """CHANNEL-13: outside its ``caps`` a token gets ``forbidden``; the connection stays."""

    async def test_websocket_subscribe_and_publish_follow_the_caps(self) -> None:
        async with running_server(jwt_config()) as server:
            async with session(server, token=hs256({"sub": "a", "caps": CAPS})) as (ws, _):
                refused = await request(ws, {"type": "subscribe", "id": "1", "channel": "chat"})
                assert (refused["type"], refused["code"]) == ("error", "forbidden")
                ok = await request(
                    ws, {"type": "subscribe", "id": "2", "channel": "conformance.ro"}
                )
                assert ok == {"type": "ack", "id": "2"}
                publish = {"type": "publish", "id": "3", "channel": "conformance.ro", "data": {}}
                refused = await request(ws, publish)
                assert (refused["type"], refused["code"]) == ("error", "forbidden")
                # An unknown channel is still unknown, not forbidden [CHANNEL-3 comes first].
                unknown = await request(ws, {"type": "subscribe", "id": "4", "channel": "nope"})
                assert unknown["code"] == "unknown_channel"
                frame = {"type": "publish", "id": "5", "channel": "conformance.rw", "data": {}}
                assert (await request(ws, frame))["type"] == "ack"
            # Without caps the token restricts nothing.
            async with session(server, token=hs256({"sub": "b"})) as (ws, _):
                ok = await request(ws, {"type": "subscribe", "id": "1", "channel": "chat"})
                assert ok["type"] == "ack"

    async def test_sse_and_legacy_follow_the_caps(self) -> None:
        async with (
            running_server(jwt_config()) as server,
            httpx.AsyncClient(timeout=TIMEOUT) as http,
        ):
            headers = {"Authorization": f"Bearer {hs256({'sub': 'a', 'caps': CAPS})}"}
            response = await http.get(server.events_url + "?channels=progress", headers=headers)
            assert (response.status_code, response.json()["code"]) == (403, "forbidden")
            async with http.stream(
                "GET", server.events_url + "?channels=system", headers=headers
            ) as r:
                assert r.status_code == 200
            no_token = await http.get(server.events_url + "?channels=system")
            assert no_token.status_code == 401
            # /api/ws delivers only the channels the caps allow (system, not progress).
            async with open_ws(
                server, "/api/ws", subprotocols=[], additional_headers=headers
            ) as ws:
                assert (await http_publish(server, "progress", PROGRESS)).status_code == 202
                assert (await http_publish(server, "system", NOTICE)).status_code == 202
                assert json.loads(await ws.recv()) == {"channel": "system", "data": NOTICE}

    async def test_http_publish_with_a_token_needs_an_explicit_pub_grant(self) -> None:
        async with (
            running_server(jwt_config()) as server,
            httpx.AsyncClient(timeout=TIMEOUT) as http,
        ):

            async def post(token: str, channel: str, data: Any) -> httpx.Response:
                return await http.post(
                    server.base_url + "/publish",
                    json={"channel": channel, "data": data},
                    headers={"Authorization": f"Bearer {token}"},
                )

            granted = hs256({"sub": "scanner", "caps": CAPS})
            assert (await post(granted, "system", NOTICE)).status_code == 202
            refused = await post(granted, "progress", PROGRESS)
            assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
            no_caps = await post(hs256({"sub": "user"}), "system", NOTICE)
            assert (no_caps.status_code, no_caps.json()["code"]) == (403, "forbidden")
            rejected = await post("not-a-token", "system", NOTICE)
            assert rejected.status_code == 401
            unknown = await post(granted, "nope", {})
            assert unknown.json()["code"] == "unknown_channel"


NOTICE = {"level": "info", "text": "granted"}
PROGRESS = {"task": "t-1", "kind": "scan", "status": "running", "current": 1, "total": 2}
