"""Who is calling: every service verifies bearer tokens itself, locally, from the issuers' JWKS.

Trusted issuers are configuration: the hub's own (the motivation service signs people's access
tokens, `/.well-known/jwks.json`) and, optionally, an external OpenID Connect provider (issuer,
audience, the claim that carries roles and how its values map onto the hub's roles). Keys are
cached per issuer and fetched again when a token names a key id the cache does not know (at
most once per `refresh_seconds`) and every `max_age_seconds`, so a rotated key is picked up at
once and a rotated-out one stops working within minutes. Only asymmetric algorithms are accepted, chosen by the key's type, never by the token:
`alg: none` and HS/RS confusion cannot pass. A person's token is refused once the team
directory says the person is inactive.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import jwt
from jwt import PyJWK

from crmhub.team_directory import TeamDirectory

log = logging.getLogger("crmhub.auth")

Role = Literal["admin", "head", "manager", "accounting", "integration"]
ROLES: tuple[Role, ...] = ("admin", "head", "manager", "accounting", "integration")
ALGORITHM_OF_KEY = {"RSA": "RS256", "EC": "ES256", "OKP": "EdDSA"}
LEEWAY_SECONDS = 30


class Unauthenticated(Exception):
    """No usable token (HTTP 401). The message says why, and never contains the token."""


@dataclass(frozen=True)
class Principal:
    subject: str
    kind: Literal["person", "integration"]
    roles: frozenset[Role]
    department_id: str | None = None
    scopes: frozenset[str] = frozenset()
    token_id: str | None = None
    issuer: str = ""
    # the departments the team directory names this person head of (their own may be another:
    # a sales director in the board heading Moscow and the night shift)
    heads: frozenset[str] = frozenset()

    @property
    def actor(self) -> str:
        """How records and events name who did it: `manager:<id>` or `token:<id>`."""
        return f"manager:{self.subject}" if self.kind == "person" else f"token:{self.subject}"

    def has(self, role: Role) -> bool:
        return role in self.roles

    @property
    def departments(self) -> frozenset[str]:
        """What a head answers for: their own department and every department they head (nothing
        for anyone without the head role)."""
        if not self.has("head"):
            return frozenset()
        return self.heads | ({self.department_id} if self.department_id else set())

    def answers_for(self, department_id: str | None) -> bool:
        """A head, for a department they answer for."""
        return department_id is not None and department_id in self.departments


@dataclass(frozen=True)
class TrustedIssuer:
    issuer: str
    jwks_url: str
    audience: str
    # Where the roles are (a claim holding a list or a space-separated string), and how the
    # issuer's names map onto the hub's roles; the hub's own tokens carry hub roles in "roles".
    role_claim: str = "roles"
    role_map: Mapping[str, Role] = field(default_factory=dict)
    # External providers name people by e-mail; the hub's own tokens by manager id.
    subject_claim: Literal["sub", "email"] = "sub"


FetchJson = Callable[[str], Awaitable[dict[str, Any]]]


class KeySet:
    """One issuer's signing keys, by key id, refreshed on an unknown key id."""

    def __init__(
        self, url: str, fetch: FetchJson, *, refresh_seconds: float = 10.0, max_age_seconds: float = 300.0
    ) -> None:
        self.url = url
        self._fetch = fetch
        self._refresh_seconds = refresh_seconds
        self._max_age_seconds = max_age_seconds
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    async def key(self, kid: str) -> PyJWK:
        """The key; fetched again when unknown (at most every `refresh_seconds`) or when the copy is
        older than `max_age_seconds` (so a key the issuer stopped publishing stops working)."""
        if kid not in self._keys or self._age() >= self._max_age_seconds:
            async with self._lock:
                unknown = kid not in self._keys and self._age() >= self._refresh_seconds
                if unknown or self._age() >= self._max_age_seconds:
                    await self._refresh()
        found = self._keys.get(kid)
        if found is None:
            raise Unauthenticated("the token is signed with a key the issuer does not publish")
        return found

    def _age(self) -> float:
        return time.monotonic() - self._fetched_at

    async def _refresh(self) -> None:
        self._fetched_at = time.monotonic()
        try:
            document = await self._fetch(self.url)
        except Exception as exc:
            log.warning("could not fetch signing keys from %s: %s", self.url, exc)
            return
        keys: dict[str, PyJWK] = {}
        for entry in document.get("keys", []):
            if entry.get("kty") in ALGORITHM_OF_KEY and entry.get("kid") and entry.get("use", "sig") == "sig":
                try:
                    keys[entry["kid"]] = PyJWK(entry, algorithm=ALGORITHM_OF_KEY[entry["kty"]])
                except jwt.PyJWTError as exc:
                    log.warning("ignoring an unusable key %s from %s: %s", entry.get("kid"), self.url, exc)
        self._keys = keys


class TokenVerifier:
    def __init__(
        self,
        issuers: list[TrustedIssuer],
        *,
        fetch: FetchJson,
        directory: TeamDirectory | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_token_used: Callable[[str], None] = lambda token_id: None,
    ) -> None:
        self.on_token_used = on_token_used
        self.issuers = {i.issuer: i for i in issuers}
        self.keys = {i.issuer: KeySet(i.jwks_url, fetch) for i in issuers}
        self.directory = directory
        self.now = now

    async def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise Unauthenticated("the bearer token is not a well-formed JWT") from None
        issuer = self.issuers.get(str(unverified.get("iss", "")))
        if issuer is None:
            raise Unauthenticated("the token's issuer is not trusted")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Unauthenticated("the token names no signing key (kid)")
        key = await self.keys[issuer.issuer].key(kid)
        algorithm = ALGORITHM_OF_KEY[str(key.key_type)]
        if header.get("alg") != algorithm:
            raise Unauthenticated(f"the token's algorithm does not match its key (expected {algorithm})")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=issuer.audience,
                issuer=issuer.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise Unauthenticated("the token is not valid yet") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated("the token is for another audience") from None
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"the token is invalid: {type(exc).__name__}") from None
        return self._principal(issuer, claims)

    def _principal(self, issuer: TrustedIssuer, claims: dict[str, Any]) -> Principal:
        raw_roles = claims.get(issuer.role_claim, [])
        names = (
            raw_roles.split()
            if isinstance(raw_roles, str)
            else [str(r) for r in raw_roles]
            if isinstance(raw_roles, list)
            else []
        )
        roles = frozenset(role for n in names if (role := _hub_role(issuer.role_map.get(n, n))) is not None)
        scopes = frozenset(str(claims.get("scope", "")).split())
        if claims.get("kind") == "integration":
            token_id = str(claims["sub"])
            if self.directory is not None:
                known = self.directory.api_token(token_id)
                if known is None or not known.active:
                    raise Unauthenticated("the API token is unknown or revoked")
                scopes &= frozenset(known.scopes)
            self.on_token_used(token_id)
            return Principal(
                token_id,
                "integration",
                frozenset({"integration"}),
                scopes=scopes,
                token_id=claims.get("jti"),
                issuer=issuer.issuer,
            )
        subject = str(claims.get(issuer.subject_claim) or "")
        manager = None
        if self.directory is not None:
            manager = (
                self.directory.manager(subject)
                if issuer.subject_claim == "sub"
                else self.directory.manager_by_email(subject)
            )
            if manager is None or not manager.active:
                raise Unauthenticated("the person is unknown or no longer active")
        return Principal(
            subject=manager.id if manager else subject,
            kind="person",
            roles=roles,
            department_id=manager.department_id if manager else claims.get("department_id"),
            scopes=scopes,
            token_id=claims.get("jti"),
            issuer=issuer.issuer,
            # only a head answers for departments: nobody else's request pays for the lookup
            heads=self.directory.headed_by(manager.id)
            if self.directory and manager and "head" in roles
            else frozenset(),
        )


def _hub_role(name: str) -> Role | None:
    return next((r for r in ROLES if r == name), None)


def parse_role_map(text: str) -> dict[str, Role]:
    """`{"crm-admins": "admin", ...}` from configuration; unknown hub roles are refused."""
    mapping = json.loads(text or "{}")
    bad = [v for v in mapping.values() if v not in ROLES]
    if bad:
        raise ValueError(f"role map names unknown hub roles: {bad}; use {', '.join(ROLES)}")
    return dict(mapping)
