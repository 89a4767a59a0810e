"""Bearer tokens as every service checks them: good ones name the person and their roles; every
hostile or stale one is refused with 401 and a reason that never repeats the token."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from crmhub.auth import TokenVerifier, TrustedIssuer, Unauthenticated
from crmhub.schemas.team import Department, DepartmentUpserted, ManagerUpserted
from support.team import directory, manager

ISSUER = "https://hub.example/auth"
JWKS_URL = f"{ISSUER}/jwks"


class Keys:
    """An issuer's published keys, as its JWKS endpoint would answer (and how often it was asked)."""

    def __init__(self) -> None:
        self.private: dict[str, object] = {}
        self.published: list[dict] = []
        self.fetches = 0

    def add_ed25519(self) -> str:
        kid = uuid.uuid4().hex
        key = Ed25519PrivateKey.generate()
        self.private[kid] = key
        self.published.append(
            {**json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(key.public_key())), "kid": kid, "use": "sig"}
        )
        return kid

    def add_rsa(self) -> str:
        kid = uuid.uuid4().hex
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.private[kid] = key
        self.published.append(
            {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key())), "kid": kid, "use": "sig"}
        )
        return kid

    def retire(self, kid: str) -> None:
        self.published = [k for k in self.published if k["kid"] != kid]

    async def fetch(self, url: str) -> dict:
        assert url == JWKS_URL
        self.fetches += 1
        return {"keys": list(self.published)}


def claims(**overrides) -> dict:
    now = int(time.time())
    return {
        "iss": ISSUER,
        "aud": "crm-hub",
        "sub": "anna",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "roles": ["manager"],
        **overrides,
    }


def sign(keys: Keys, kid: str, body: dict, *, algorithm: str = "EdDSA") -> str:
    return jwt.encode(body, keys.private[kid], algorithm=algorithm, headers={"kid": kid})


@pytest.fixture
def setup():
    keys = Keys()
    kid = keys.add_ed25519()
    team = directory(manager("anna"), manager("gone", active=False))
    verifier = TokenVerifier([TrustedIssuer(ISSUER, JWKS_URL, "crm-hub")], fetch=keys.fetch, directory=team)
    return keys, kid, verifier, team


async def test_a_good_token_names_the_person_their_roles_and_department(setup):
    keys, kid, verifier, _ = setup
    principal = await verifier.verify(sign(keys, kid, claims(roles=["manager", "not-a-role"])))
    assert (principal.subject, principal.kind, principal.roles, principal.department_id) == (
        "anna",
        "person",
        {"manager"},
        "sales",
    )
    assert principal.actor == "manager:anna"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unsigned(body: dict, header: dict) -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(body).encode())}."


async def test_alg_none_is_refused(setup):
    _, kid, verifier, _ = setup
    with pytest.raises(Unauthenticated, match="algorithm"):
        await verifier.verify(_unsigned(claims(), {"alg": "none", "kid": kid, "typ": "JWT"}))


async def test_an_hmac_token_signed_with_the_public_key_is_refused(setup):
    keys, _, verifier, _ = setup
    rsa_kid = keys.add_rsa()
    public_pem = (
        keys.private[rsa_kid]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    signing_input = f"{_b64(json.dumps({'alg': 'HS256', 'kid': rsa_kid, 'typ': 'JWT'}).encode())}.{_b64(json.dumps(claims()).encode())}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()  # what a confused verifier would accept
    forged = f"{signing_input}.{_b64(mac)}"
    with pytest.raises(Unauthenticated, match="algorithm"):
        await verifier.verify(forged)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"iss": "https://evil.example"}, "issuer is not trusted"),
        ({"aud": "another-app"}, "another audience"),
        # times relative to when the test runs, not to when it was collected (a long suite outlives them)
        ({"exp": lambda now: now - 120}, "expired"),
        ({"nbf": lambda now: now + 600}, "not valid yet"),
        ({"sub": "gone"}, "no longer active"),
        ({"sub": "stranger"}, "unknown"),
    ],
    ids=["wrong issuer", "wrong audience", "expired", "not yet valid", "deactivated manager", "unknown person"],
)
async def test_stale_or_misdirected_tokens_are_refused(setup, change, reason):
    keys, kid, verifier, _ = setup
    now = int(time.time())
    token = sign(keys, kid, claims(**{k: v(now) if callable(v) else v for k, v in change.items()}))
    with pytest.raises(Unauthenticated, match=reason) as refused:
        await verifier.verify(token)
    assert token not in str(refused.value)


async def test_a_forged_signature_is_refused(setup):
    _keys, kid, verifier, _ = setup
    impostor = Keys()
    impostor.private[kid] = Ed25519PrivateKey.generate()  # same key id, another key
    with pytest.raises(Unauthenticated, match="invalid"):
        await verifier.verify(sign(impostor, kid, claims()))


async def test_a_new_key_is_fetched_when_first_seen_and_a_rotated_out_key_stops_working(setup):
    keys, old, verifier, _ = setup
    assert (await verifier.verify(sign(keys, old, claims()))).subject == "anna"
    new = keys.add_ed25519()
    verifier.keys[ISSUER]._refresh_seconds = 0
    assert (await verifier.verify(sign(keys, new, claims()))).subject == "anna"  # an unknown key id: fetched
    assert keys.fetches == 2
    keys.retire(old)
    verifier.keys[ISSUER]._max_age_seconds = 0  # the cached copy has aged: the next check fetches again
    with pytest.raises(Unauthenticated, match="does not publish"):
        await verifier.verify(sign(keys, old, claims()))
    assert (await verifier.verify(sign(keys, new, claims()))).subject == "anna"


async def test_deactivation_takes_effect_from_the_team_directory_at_once(setup):
    keys, kid, verifier, team = setup
    token = sign(keys, kid, claims())
    assert (await verifier.verify(token)).subject == "anna"
    team.apply(ManagerUpserted(change="deactivated", version=2, manager=manager("anna", active=False)))
    with pytest.raises(Unauthenticated, match="no longer active"):
        await verifier.verify(token)


async def test_a_head_answers_for_their_own_department_and_those_the_directory_names_them_head_of(setup):
    keys, kid, verifier, team = setup
    team.apply(ManagerUpserted(change="created", version=1, manager=manager("olga", "board")))
    token = sign(keys, kid, claims(sub="olga", roles=["head"]))
    assert (await verifier.verify(token)).departments == {"board"}
    for version, department in enumerate(("moscow", "night"), start=1):
        named = Department(
            id=department, name=department, region="Moscow", timezone="Europe/Moscow", head_manager_id="olga"
        )
        team.apply(DepartmentUpserted(change="created", version=version, department=named))
    olga = await verifier.verify(token)  # the same token: the directory is asked at each request
    assert olga.departments == {"board", "moscow", "night"}
    assert olga.answers_for("night")
    assert not olga.answers_for("sales")
    # the head role is what gives the authority: a manager the directory names head sees their own
    as_manager = await verifier.verify(sign(keys, kid, claims(sub="olga", roles=["manager"])))
    assert as_manager.departments == set()
    assert not as_manager.answers_for("moscow")


async def test_malformed_bearer_values_are_refused(setup):
    _, _, verifier, _ = setup
    for junk in ("", "abc", "a.b.c", "eyJhbGciOiJFZERTQSJ9.e30.sig"):
        with pytest.raises(Unauthenticated):
            await verifier.verify(junk)


async def test_an_integration_token_needs_a_live_entry_and_gets_no_more_than_its_scopes(setup):
    from datetime import UTC, datetime, timedelta

    from crmhub.schemas.team import ApiToken, ApiTokenUpserted

    keys, kid, verifier, team = setup
    token = sign(keys, kid, claims(sub="t1", kind="integration", scope="leads:read leads:write", roles=[]))
    with pytest.raises(Unauthenticated, match="unknown or revoked"):
        await verifier.verify(token)
    entry = ApiToken(id="t1", name="BI", scopes=["leads:read"], expires_at=datetime.now(UTC) + timedelta(days=1))
    team.apply(ApiTokenUpserted(version=1, api_token=entry))
    principal = await verifier.verify(token)
    assert (principal.kind, principal.scopes, principal.actor) == ("integration", {"leads:read"}, "token:t1")
    team.apply(ApiTokenUpserted(version=2, api_token=entry.model_copy(update={"active": False})))
    with pytest.raises(Unauthenticated, match="unknown or revoked"):
        await verifier.verify(token)


async def test_an_external_providers_people_are_matched_by_email_and_its_roles_mapped():
    keys = Keys()
    kid = keys.add_rsa()
    sso = TrustedIssuer(
        "https://sso.example",
        JWKS_URL,
        "crm-hub",
        role_claim="groups",
        role_map={"crm-heads": "head"},
        subject_claim="email",
    )
    verifier = TokenVerifier([sso], fetch=keys.fetch, directory=directory(manager("olga")))
    body = {
        **claims(iss="https://sso.example", sub="f3a1-opaque"),
        "email": "OLGA@example.com",
        "groups": ["crm-heads", "staff"],
    }
    principal = await verifier.verify(sign(keys, kid, body, algorithm="RS256"))
    assert (principal.subject, principal.roles) == ("olga", {"head"})
