"""Single sign-on against a real OpenID Connect provider started locally (node-oidc-provider,
deploy/local/oidc): a person signs in there with the authorization-code flow (PKCE), and a hub
service accepts the provider's access token, matching the person by e-mail and mapping the
provider's groups onto the hub's roles."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import sys

import httpx
import pytest

from crmhub.schemas.team import Department, Manager
from localservers import ProvisioningError, free_port, start_oidc, start_service
from support.team import publish_team

pytestmark = pytest.mark.integration
REDIRECT = "http://127.0.0.1/sso/callback"


def sign_in_at_provider(provider: str, login: str) -> str:
    """The browser's part of the authorization-code flow, done over HTTP; the access token."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    params = {
        "client_id": "crm-hub",
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": "openid email groups",
        "resource": "urn:crm-hub",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": secrets.token_hex(8),
    }
    with httpx.Client(base_url=provider, timeout=10) as http:
        response = http.get("/auth", params=params)
        for _ in range(12):
            location = response.headers.get("location", "")
            if location.startswith(REDIRECT):
                break
            if location:
                response = http.get(location)
                continue
            form = {
                "prompt": re.search(r'name="prompt" value="(\w+)"', response.text).group(1)
            }  # the provider's sign-in or consent page
            if form["prompt"] == "login":
                form |= {"login": login, "password": "whatever the provider checks"}
            response = http.post(re.search(r'action="([^"]+)"', response.text).group(1), data=form)
        code = re.search(r"[?&]code=([^&]+)", location).group(1)
        token = http.post(
            "/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT,
                "client_id": "crm-hub",
                "client_secret": "crm-hub-local-secret",
                "code_verifier": verifier,
                "resource": "urn:crm-hub",
            },
        )
        token.raise_for_status()
        access: str = token.json()["access_token"]
        return access


async def test_a_person_signed_in_at_the_companys_provider_uses_the_hub_with_the_mapped_role(infra, tmp_path, unique):
    olga = Manager(id=f"olga-{unique}", name="Olga", department_id=f"sso-{unique}", email=f"olga-{unique}@example.com")
    department = Department(id=f"sso-{unique}", name="SSO", region="Moscow")
    await publish_team(infra.kafka, [department], [olga])
    accounts = {
        "olga": {"email": olga.email, "groups": ["crm-heads", "everyone"]},
        "stranger": {"email": f"stranger-{unique}@example.com", "groups": ["crm-heads"]},
    }
    try:
        provider = start_oidc(tmp_path / "oidc", accounts=accounts)
    except ProvisioningError as exc:
        pytest.fail(str(exc), pytrace=False)
    port = free_port()
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka,
        "MONGODB_URL": infra.mongo,
        "LEADS_MONGODB_DATABASE": f"t_sso_{unique}",
        "LEADS_ENVIRONMENT": "test",
        "LEADS_OIDC_ISSUER": provider.address,
        "LEADS_OIDC_JWKS_URL": f"{provider.address}/jwks",
        "LEADS_OIDC_ROLE_CLAIM": "groups",
        "LEADS_OIDC_ROLE_MAP": '{"crm-heads": "head"}',
    }
    leads = start_service("leads", env=env, port=port, log_path=tmp_path / "leads.log", python=sys.executable)
    try:
        token = sign_in_at_provider(provider.address, "olga")
        async with httpx.AsyncClient(
            base_url=leads.address, timeout=10, headers={"Authorization": f"Bearer {token}"}
        ) as http:
            listed = await http.get("/v1/leads")
            assert listed.status_code == 200, listed.text  # a head: their department's leads
            assert (await http.get("/v1/stats/leads")).status_code == 200
            assert (await http.get("/v1/sources")).status_code == 403  # administrators only
            stranger = sign_in_at_provider(
                provider.address, "stranger"
            )  # signed in there, unknown to the team directory
            refused = await http.get("/v1/leads", headers={"Authorization": f"Bearer {stranger}"})
            assert refused.status_code == 401
    finally:
        leads.stop()
        provider.stop()
