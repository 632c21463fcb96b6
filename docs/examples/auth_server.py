"""Guide "Authenticate and authorise": a FastAPI backend that issues realtime tokens (HS256)
and serves Canaux under ``/canaux`` with the built-in JWT authenticator.

Run it with ``uvicorn docs.examples.auth_server:api --port 8001``; tests/docs/test_guide_auth.py
serves it on a free port and checks what the guide says of it.
"""

from __future__ import annotations

# --8<-- [start:imports]
import os
import time

import jwt
from fastapi import FastAPI

from canaux.server import ServerConfig, Unauthorized, create_app
from canaux.server.jwt import JWTAuthenticator
from canaux.server.principal import Principal

# --8<-- [end:imports]

# --8<-- [start:token]
# One secret shared by the code that signs tokens and the server that checks them.
SECRET = os.environ.get("CANAUX_JWT_SECRET", "dev-only-secret-change-me-32-bytes!")


def realtime_token(user: str, *, dj: bool = False, lifetime_s: float = 900.0) -> str:
    """A token for ``user``: who they are, until when, and which channels they may use."""
    queue = ["sub", "pub"] if dj else ["sub"]  # only the DJ changes the play queue
    claims = {
        "sub": user,
        "exp": int(time.time() + lifetime_s),
        "caps": [
            {"channels": ["chat"], "allow": ["sub", "pub"]},
            {"channels": ["playqueue"], "allow": queue},
            {"channels": ["system", "progress"], "allow": ["sub"]},
        ],
    }
    return jwt.encode(claims, SECRET, algorithm="HS256")


# --8<-- [end:token]

# --8<-- [start:app]
config = ServerConfig(authenticate=JWTAuthenticator(secret=SECRET))
canaux = create_app(config)
api = FastAPI()
api.mount("/canaux", canaux)


@api.post("/auth/realtime-token")
async def issue_token() -> dict[str, str]:
    user = "alice"  # in a real app: the user of this request's session or OAuth token
    return {"token": realtime_token(user)}


# --8<-- [end:app]


# --8<-- [start:custom]
API_KEYS = {"k-7f3a": "scanner", "k-91bc": "alice"}  # e.g. rows of your database


async def api_key_authenticator(token: str | None) -> str | Principal:
    if token is None or token not in API_KEYS:
        raise Unauthorized("unknown api key")  # WebSocket: 4401; SSE, HTTP: 401
    return API_KEYS[token]  # the identity; return a Principal to add an expiry or grants


# --8<-- [end:custom]
