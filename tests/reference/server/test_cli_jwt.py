"""``canaux serve --jwt-secret / --jwt-public-key``: the flags that switch JWT auth on
(handshake.md, Authentication)."""

from __future__ import annotations

import json
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from websockets.asyncio.client import connect

from canaux.cli import build_parser, main
from canaux.commands.serve import config_from_args
from canaux.server.jwt import JWTAuthenticator
from tests.reference.client.served import served

from .wire import TIMEOUT, close_code

SECRET = "cli-test-secret-of-at-least-32-bytes"


def test_jwt_flags_build_the_authenticator(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = tmp_path / "key.pem"
    pem.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    args = build_parser().parse_args(
        ["serve", "--jwt-secret", SECRET, "--jwt-public-key", str(pem), "--jwt-audience", "app"]
    )
    authenticator = config_from_args(args).authenticate
    assert isinstance(authenticator, JWTAuthenticator)
    assert authenticator.algorithms == ("HS256", "RS256")
    token = jwt.encode({"sub": "svc", "aud": "app"}, key, algorithm="RS256")
    assert authenticator.verify(token).identity == "svc"
    assert config_from_args(build_parser().parse_args(["serve"])).authenticate is None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["serve", "--jwt-audience", "x"], "need --jwt-secret"),
        (["serve", "--jwt-public-key", "/nonexistent.pem"], "--jwt-public-key"),
    ],
)
def test_bad_jwt_flags_are_refused(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().out


@pytest.mark.anyio
async def test_served_with_jwt_secret() -> None:
    async with served(0, "--jwt-secret", SECRET) as process:
        async with connect(process.ws_url, subprotocols=["canaux.v1"], open_timeout=TIMEOUT) as ws:  # type: ignore[list-item]
            await ws.send(json.dumps({"type": "hello", "version": 1}))
            assert await close_code(ws) == 4401
        token = jwt.encode({"sub": "alice"}, SECRET, algorithm="HS256")
        async with connect(process.ws_url, subprotocols=["canaux.v1"], open_timeout=TIMEOUT) as ws:  # type: ignore[list-item]
            await ws.send(json.dumps({"type": "hello", "version": 1, "token": token}))
            welcome = json.loads(await ws.recv())
            assert welcome["type"] == "welcome"
