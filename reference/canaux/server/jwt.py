"""The built-in authenticator for JSON Web Tokens (RFC 7519), with PyJWT (spec §9 "Security").

::

    from canaux.server import ServerConfig
    from canaux.server.jwt import JWTAuthenticator

    config = ServerConfig(authenticate=JWTAuthenticator(secret="s3cret"))            # HS256
    config = ServerConfig(authenticate=JWTAuthenticator(public_key=open("k.pem").read()))  # RS256

The token comes from ``hello.token`` (WebSocket) or ``Authorization: Bearer`` (SSE, legacy
sockets, HTTP publish). It must be signed with the configured key (HS256 with ``secret``,
RS256 with ``public_key``; never ``none``), carry ``sub`` (the identity, SECURITY-2), and, when
present, ``exp`` in the future, ``nbf`` in the past and the configured ``aud`` / ``iss``.
``exp`` is when the server closes the connection with 4440 [SECURITY-10].

The optional ``caps`` claim lists what the token may do, as Centrifugo's connection
capabilities: ``[{"channels": ["chat", "team.*"], "allow": ["sub", "pub"]}]``; the first entry
matching a channel decides, and a channel no entry matches is ``forbidden`` [CHANNEL-13].
Without the claim the token restricts nothing (the channels' own policies still apply).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jwt

from canaux.server.config import Unauthorized
from canaux.server.principal import Principal, grants_of

__all__ = ["CAPS_CLAIM", "JWT_SECRET_ENV", "JWTAuthenticator"]

CAPS_CLAIM = "caps"
"""The claim that holds a token's channel grants (Centrifugo's name)."""

JWT_SECRET_ENV = "CANAUX_JWT_SECRET"
"""Where ``canaux serve`` reads its HS256 secret when ``--jwt-secret`` is not given."""


class JWTAuthenticator:
    """An :data:`~canaux.server.config.Authenticator` that accepts signed JWTs.

    Give ``secret`` (HS256), ``public_key`` (PEM, RS256) or both; ``algorithms`` narrows or
    widens the list (HS384/HS512 with the secret, RS384/RS512 with the public key). A token
    with an ``aud`` is refused unless ``audience`` names it (PyJWT's rule).
    """

    def __init__(
        self,
        *,
        secret: str | bytes | None = None,
        public_key: str | bytes | None = None,
        algorithms: Sequence[str] | None = None,
        audience: str | None = None,
        issuer: str | None = None,
        leeway_s: float = 0.0,
        caps_claim: str = CAPS_CLAIM,
    ) -> None:
        if secret is None and public_key is None:
            raise ValueError("JWTAuthenticator needs a secret (HS256) or a public key (RS256)")
        if secret is not None and not secret:
            raise ValueError("the JWT secret must not be empty")
        self._keys: dict[str, Any] = {}
        if secret is not None:
            self._keys.update(dict.fromkeys(("HS256", "HS384", "HS512"), secret))
        if public_key is not None:
            try:
                rsa = jwt.algorithms.RSAAlgorithm(jwt.algorithms.RSAAlgorithm.SHA256)
                key = rsa.prepare_key(public_key)
            except (ValueError, TypeError, jwt.InvalidKeyError) as exc:
                raise ValueError(f"not an RSA public key in PEM form: {exc}") from None
            self._keys.update(dict.fromkeys(("RS256", "RS384", "RS512"), key))
        defaults = [a for a in ("HS256", "RS256") if a in self._keys]
        self.algorithms = tuple(algorithms) if algorithms is not None else tuple(defaults)
        unusable = [a for a in self.algorithms if a not in self._keys]
        if unusable or not self.algorithms:
            raise ValueError(f"no key for algorithm(s) {unusable or self.algorithms}")
        self.audience = audience
        self.issuer = issuer
        self.leeway_s = leeway_s
        self.caps_claim = caps_claim

    async def __call__(self, token: str | None) -> Principal:
        return self.verify(token)

    def verify(self, token: str | None) -> Principal:
        """The principal of ``token``; :class:`Unauthorized` says why it is refused."""
        if not token:
            raise Unauthorized("a token is required")
        try:
            algorithm = jwt.get_unverified_header(token).get("alg")
            # The key follows from the algorithm, and only configured algorithms are tried:
            # a token cannot pick "none", nor HMAC with the public key as its secret.
            if algorithm not in self.algorithms:
                raise Unauthorized(f"token algorithm {algorithm!r} is not accepted")
            claims: dict[str, Any] = jwt.decode(
                token,
                self._keys[algorithm],
                algorithms=[algorithm],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_s,
                options={"require": ["sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("token expired") from None
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"token rejected: {exc}") from None
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject:
            raise Unauthorized("the token's sub must be a non-empty string")
        try:
            grants = grants_of(claims, self.caps_claim)
        except ValueError as exc:
            raise Unauthorized(str(exc)) from None
        expires = claims.get("exp")
        return Principal(
            identity=subject,
            expires_at=float(expires) + self.leeway_s if expires is not None else None,
            grants=grants,
            claims=claims,
        )
