"""Passwords (Argon2id, argon2-cffi's defaults), refresh tokens (random, stored as SHA-256) and
the signing keys of the hub's access tokens (Ed25519, rotated, published as JWKS)."""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from crmhub.aggregate_store import Stored
from crmhub.events import CloudEvent
from crmhub.mongo import Document
from crmhub.outbox import OUTBOX, outbox_entries, save_aggregate
from crmhub.schemas.team import ApiToken
from motivation.domain.accounts import Account

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        _hasher.hash(password)  # spend the same time as a real check: no timing hint that the account has no password
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class AccountStore:
    def __init__(
        self, db: AsyncDatabase[Document], *, on_stored: Stored = lambda collection, doc_id, entries: None
    ) -> None:
        self.accounts: AsyncCollection[Document] = db["accounts"]
        self.sessions: AsyncCollection[Document] = db["refresh_tokens"]
        self._on_stored = on_stored

    async def get(self, manager_id: str) -> Account | None:
        doc = await self.accounts.find_one({"_id": manager_id}, {OUTBOX: 0})
        return None if doc is None else Account.model_validate({**doc, "id": doc["_id"]})

    async def put(self, account: Account, events: list[CloudEvent] | None = None) -> None:
        """Store the account, with the events of the change (its audit record) in its outbox."""
        state = account.model_dump()
        del state["id"]
        entries = outbox_entries(events or [])
        await self.accounts.update_one(
            {"_id": account.id}, {"$set": state, "$push": {OUTBOX: {"$each": entries}}}, upsert=True
        )
        if entries:
            self._on_stored(self.accounts.name, account.id, entries)

    async def any(self) -> bool:
        return await self.accounts.find_one({}, {"_id": 1}) is not None

    async def open_session(self, manager_id: str, *, expires_at: datetime) -> str:
        token = secrets.token_urlsafe(32)
        await self.sessions.insert_one(
            {"_id": token_digest(token), "manager_id": manager_id, "expires_at": expires_at, "revoked": False}
        )
        return token

    async def use_session(self, token: str, now: datetime) -> Document | None:
        """Revoke the session the token opens (a refresh token is used once) and return it, or None.
        A token used a second time revokes every session of its person (it was stolen)."""
        digest = token_digest(token)
        doc = await self.sessions.find_one_and_update(
            {"_id": digest, "revoked": False, "expires_at": {"$gt": now}},
            {"$set": {"revoked": True, "used_at": now}},
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            replayed = await self.sessions.find_one({"_id": digest, "revoked": True, "used_at": {"$ne": None}})
            if replayed is not None:
                await self.revoke_all(replayed["manager_id"])
        return doc

    async def revoke(self, token: str) -> None:
        await self.sessions.update_one({"_id": token_digest(token)}, {"$set": {"revoked": True}})

    async def revoke_all(self, manager_id: str) -> int:
        result = await self.sessions.update_many(
            {"manager_id": manager_id, "revoked": False}, {"$set": {"revoked": True}}
        )
        return result.modified_count


class ApiTokenStore:
    """Issued API tokens: their public description, the SHA-256 of the token, `version` and
    `outbox` (their crm.team state and audit records)."""

    def __init__(
        self, db: AsyncDatabase[Document], *, on_stored: Stored = lambda collection, doc_id, entries: None
    ) -> None:
        self.tokens: AsyncCollection[Document] = db["api_tokens"]
        self._on_stored = on_stored

    async def add(self, token: ApiToken, token_sha256: str, events: list[CloudEvent]) -> None:
        entries = outbox_entries(events)
        await self.tokens.insert_one(
            {"_id": token.id, **token.model_dump(), "token_sha256": token_sha256, "version": 1, OUTBOX: entries}
        )
        self._on_stored(self.tokens.name, token.id, entries)

    async def get(self, token_id: str) -> tuple[ApiToken, int] | None:
        doc = await self.tokens.find_one({"_id": token_id}, {OUTBOX: 0})
        return None if doc is None else (ApiToken.model_validate(doc), int(doc["version"]))

    async def replace(self, token: ApiToken, *, expected_version: int, events: list[CloudEvent]) -> bool:
        entries = outbox_entries(events)
        stored = await save_aggregate(
            self.tokens, token.id, expected_version=expected_version, state=token.model_dump(), events=entries
        )
        if stored:
            self._on_stored(self.tokens.name, token.id, entries)
        return stored

    async def all(self) -> list[tuple[ApiToken, datetime | None]]:
        """Every token with when it was last used (never the token or its hash)."""
        docs = self.tokens.find({}, {OUTBOX: 0, "token_sha256": 0})
        return [(ApiToken.model_validate(d), d.get("last_used_at")) async for d in docs]

    async def used(self, token_id: str, at: datetime) -> None:
        await self.tokens.update_one({"_id": token_id}, {"$max": {"last_used_at": at}})


class OneTimeLinks:
    """Links that work once and for a short time (a password reset, an address confirmation):
    only the SHA-256 of the token is kept."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.links: AsyncCollection[Document] = db["one_time_links"]

    async def issue(
        self,
        *,
        purpose: str,
        manager_id: str,
        now: datetime,
        lifetime: timedelta,
        address: str | None = None,
        channel: str | None = None,
    ) -> str:
        token = secrets.token_urlsafe(32)
        await self.links.insert_one(
            {
                "_id": token_digest(token),
                "purpose": purpose,
                "manager_id": manager_id,
                "address": address,
                "channel": channel,
                "expires_at": now + lifetime,
                "used_at": None,
            }
        )
        return token

    async def peek(self, token: str, now: datetime) -> Document | None:
        return await self.links.find_one({"_id": token_digest(token), "used_at": None, "expires_at": {"$gt": now}})

    async def use(self, token: str, *, purpose: str, now: datetime) -> Document | None:
        """The link's record, marked used (None: unknown, used, expired or for something else)."""
        return await self.links.find_one_and_update(
            {"_id": token_digest(token), "purpose": purpose, "used_at": None, "expires_at": {"$gt": now}},
            {"$set": {"used_at": now}},
            return_document=ReturnDocument.AFTER,
        )


class KeyRing:
    """Ed25519 signing keys in the service's database: the newest signs; older ones stay in the
    JWKS until tokens they signed have expired, then leave it (so their signatures stop working)."""

    def __init__(self, db: AsyncDatabase[Document], *, rotation: timedelta, keep: timedelta) -> None:
        self.keys: AsyncCollection[Document] = db["signing_keys"]
        self.rotation = rotation
        self.keep = keep

    async def current(self, now: datetime) -> Document:
        newest = await self.keys.find({}).sort([("created_at", -1)]).limit(1).to_list()
        if newest and _aware(newest[0]["created_at"]) > now - self.rotation:
            return newest[0]
        return await self.rotate(now)

    async def rotate(self, now: datetime) -> Document:
        private = Ed25519PrivateKey.generate()
        kid = uuid.uuid4().hex
        public = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(private.public_key()))
        doc = {
            "_id": kid,
            "created_at": now,
            "private_pem": private.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ).decode(),
            "public_jwk": {**public, "kid": kid, "use": "sig", "alg": "EdDSA"},
        }
        try:
            await self.keys.insert_one(doc)
        except DuplicateKeyError:  # pragma: no cover - a uuid4 collision
            return await self.rotate(now)
        return doc

    async def jwks(self, now: datetime) -> dict[str, Any]:
        """The public keys that may have signed a token still valid now."""
        docs = await self.keys.find({}).sort([("created_at", -1)]).to_list()
        published, newer_created = [], None
        for doc in docs:
            # a key retired when a newer one was made stays while its last tokens can live
            if newer_created is None or _aware(newer_created) > now - self.keep:
                published.append(doc["public_jwk"])
            newer_created = doc["created_at"]
        return {"keys": published}

    async def sign(self, claims: dict[str, Any], now: datetime) -> str:
        key = await self.current(now)
        private = serialization.load_pem_private_key(key["private_pem"].encode(), password=None)
        return jwt.encode(claims, private, algorithm="EdDSA", headers={"kid": key["_id"]})  # type: ignore[arg-type]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
