"""Access tokens for tests: a signing key whose public half a local HTTP server publishes as
JWKS, so the services under test verify tokens exactly as they verify the motivation service's
(the motivation service's own sign-in is tested against itself in tests/motivation)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from localservers import free_port

AUDIENCE = "crm-hub"
ADMIN = "test-admin"
ADMIN_DEPARTMENT = "test-hq"


class TokenMint:
    def __init__(self) -> None:
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.jwks_url = f"{self.issuer}/.well-known/jwks.json"
        self.kid = uuid.uuid4().hex
        self.key = Ed25519PrivateKey.generate()
        public = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(self.key.public_key()))
        self.jwks = {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "EdDSA"}]}
        mint = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = json.dumps(mint.jwks).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()

    def env(self) -> dict[str, str]:
        """Environment that makes a service trust this mint as the hub's issuer."""
        return {"CRMHUB_AUTH_ISSUER": self.issuer, "CRMHUB_AUTH_JWKS_URL": self.jwks_url}

    def token(
        self,
        subject: str = ADMIN,
        roles: tuple[str, ...] = ("admin",),
        *,
        department_id: str | None = None,
        lifetime: float = 3600,
        **claims: Any,
    ) -> str:
        now = int(time.time())
        body = {
            "iss": self.issuer,
            "aud": AUDIENCE,
            "sub": subject,
            "iat": now,
            "nbf": now,
            "exp": now + int(lifetime),
            "jti": uuid.uuid4().hex,
            "kind": "person",
            "roles": list(roles),
            "department_id": department_id,
            **claims,
        }
        return jwt.encode(body, self.key, algorithm="EdDSA", headers={"kid": self.kid})

    def headers(self, subject: str = ADMIN, roles: tuple[str, ...] = ("admin",), **kwargs: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(subject, roles, **kwargs)}"}


_ACTIVE: list[TokenMint] = []


def activate(mint: TokenMint) -> None:
    _ACTIVE[:] = [mint]


def admin_headers() -> dict[str, str]:
    """The test administrator's `Authorization` header, from the session's mint (tests/conftest.py)."""
    if not _ACTIVE:
        raise RuntimeError("no token mint: the `mint` session fixture starts one")
    return _ACTIVE[0].headers()


def person_headers(subject: str, *roles: str, department_id: str | None = None) -> dict[str, str]:
    """A signed-in person's `Authorization` header (the person must be in the team directory)."""
    if not _ACTIVE:
        raise RuntimeError("no token mint: the `mint` session fixture starts one")
    return _ACTIVE[0].headers(subject, roles or ("manager",), department_id=department_id)
