"""Built-in sign-in against the real motivation process: passwords, access tokens every service
can verify from the published keys, refresh tokens used once, lockout, deactivation."""

from __future__ import annotations

import sys

import httpx
import jwt
import pytest

from localservers import free_port, start_service
from support.kafka import eventually

pytestmark = pytest.mark.integration
ADMIN_PASSWORD = "first-admin-password"


@pytest.fixture
def motivation(infra, tmp_path, unique):
    port = free_port()
    address = f"http://127.0.0.1:{port}"
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka,
        "MONGODB_URL": infra.mongo,
        "MOTIVATION_MONGODB_DATABASE": f"t_signin_{unique}",
        "MOTIVATION_ENVIRONMENT": "test",
        "MOTIVATION_AUTH_ISSUER": address,
        "MOTIVATION_AUTH_JWKS_URL": f"{address}/.well-known/jwks.json",
        "MOTIVATION_BOOTSTRAP_ADMIN_ID": f"admin-{unique}",
        "MOTIVATION_BOOTSTRAP_ADMIN_EMAIL": f"admin-{unique}@example.com",
        "MOTIVATION_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "MOTIVATION_MAX_FAILED_LOGINS": "3",
    }
    server = start_service(
        "motivation", env=env, port=port, log_path=tmp_path / "motivation.log", python=sys.executable
    )
    yield server
    server.stop()


async def _login(http: httpx.AsyncClient, login: str, password: str) -> httpx.Response:
    return await http.post("/v1/auth/login", json={"login": login, "password": password})


async def test_the_first_admin_signs_in_and_the_token_verifies_against_the_published_keys(motivation, unique):
    async with httpx.AsyncClient(base_url=motivation.address, timeout=10) as http:
        answer = await _login(http, f"admin-{unique}@example.com", ADMIN_PASSWORD)
        assert answer.status_code == 200
        tokens = answer.json()
        assert tokens["token_type"] == "Bearer"
        jwks = (await http.get("/.well-known/jwks.json")).json()
        key = jwt.PyJWK(
            next(k for k in jwks["keys"] if k["kid"] == jwt.get_unverified_header(tokens["access_token"])["kid"])
        )
        claims = jwt.decode(
            tokens["access_token"], key, algorithms=["EdDSA"], audience="crm-hub", issuer=motivation.address
        )
        assert (claims["sub"], claims["roles"], claims["department_id"]) == (f"admin-{unique}", ["admin"], "hq")
        assert "private" not in str(jwks)
        assert all("d" not in k for k in jwks["keys"])
        me = await http.get("/v1/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
        assert me.json()["roles"] == ["admin"]


async def test_refresh_tokens_are_used_once_and_a_replay_ends_every_session(motivation, unique):
    async with httpx.AsyncClient(base_url=motivation.address, timeout=10) as http:
        first = (await _login(http, f"admin-{unique}", ADMIN_PASSWORD)).json()
        second = await http.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
        assert second.status_code == 200
        replay = await http.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
        assert replay.status_code == 401
        # the replay revoked the session the second refresh opened, too
        assert (
            await http.post("/v1/auth/refresh", json={"refresh_token": second.json()["refresh_token"]})
        ).status_code == 401
        third = (await _login(http, f"admin-{unique}", ADMIN_PASSWORD)).json()
        assert (await http.post("/v1/auth/logout", json={"refresh_token": third["refresh_token"]})).status_code == 204
        assert (await http.post("/v1/auth/refresh", json={"refresh_token": third["refresh_token"]})).status_code == 401


async def test_repeated_wrong_passwords_lock_the_account(motivation, unique):
    async with httpx.AsyncClient(base_url=motivation.address, timeout=10) as http:
        for _ in range(3):
            assert (await _login(http, f"admin-{unique}", "not-the-password")).status_code == 401
        locked = await _login(http, f"admin-{unique}", ADMIN_PASSWORD)
        assert locked.status_code == 401
        assert "locked" in locked.json()["message"]
        assert ADMIN_PASSWORD not in motivation.log_path.read_text()


async def test_a_manager_gets_an_account_and_is_shut_out_once_deactivated(motivation, unique):
    async with httpx.AsyncClient(base_url=motivation.address, timeout=10) as http:
        admin = {
            "Authorization": f"Bearer {(await _login(http, f'admin-{unique}', ADMIN_PASSWORD)).json()['access_token']}"
        }
        department = {"id": f"d-{unique}", "name": "Sales", "region": "Moscow"}
        assert (await http.post("/v1/team/departments", json=department, headers=admin)).status_code == 201
        anna = {
            "id": f"anna-{unique}",
            "name": "Anna",
            "department_id": department["id"],
            "email": f"anna-{unique}@example.com",
        }
        assert (await http.post("/v1/team/managers", json=anna, headers=admin)).status_code == 201
        short = await http.put(
            f"/v1/accounts/{anna['id']}", json={"roles": ["manager"], "password": "short"}, headers=admin
        )
        assert short.status_code == 422
        account = await http.put(
            f"/v1/accounts/{anna['id']}", json={"roles": ["manager"], "password": "anna-password-1"}, headers=admin
        )
        assert account.json() == {
            "manager_id": anna["id"],
            "roles": ["manager"],
            "has_password": True,
            "locked_until": None,
        }
        signed = (await _login(http, anna["id"], "anna-password-1")).json()
        as_anna = {"Authorization": f"Bearer {signed['access_token']}"}

        async def anna_reads() -> int:
            return (await http.get("/v1/team/managers", headers=as_anna)).status_code

        await eventually(lambda: _is(anna_reads, 200), timeout=60)  # once the directory copy knows her
        assert (
            await http.post("/v1/team/departments", json={**department, "id": f"x-{unique}"}, headers=as_anna)
        ).status_code == 403
        assert (await http.post(f"/v1/team/managers/{anna['id']}/deactivate", headers=admin)).status_code == 200
        await eventually(lambda: _is(anna_reads, 401), timeout=60)
        assert (await http.post("/v1/auth/refresh", json={"refresh_token": signed["refresh_token"]})).status_code == 401
        assert (await _login(http, anna["id"], "anna-password-1")).status_code == 401


async def _is(check, status: int) -> bool:
    return await check() == status


async def test_every_change_is_on_record_for_admins_and_for_the_head_of_its_department(motivation, unique):
    async with httpx.AsyncClient(base_url=motivation.address, timeout=10) as http:
        admin = {
            "Authorization": f"Bearer {(await _login(http, f'admin-{unique}', ADMIN_PASSWORD)).json()['access_token']}"
        }
        department = {"id": f"a-{unique}", "name": "Audit", "region": "Kazan"}
        assert (await http.post("/v1/team/departments", json=department, headers=admin)).status_code == 201
        olga = {
            "id": f"olga-{unique}",
            "name": "Olga",
            "department_id": department["id"],
            "email": f"olga-{unique}@example.com",
        }
        assert (await http.post("/v1/team/managers", json=olga, headers=admin)).status_code == 201
        await http.put(
            f"/v1/accounts/{olga['id']}", json={"roles": ["head"], "password": "olga-password-1"}, headers=admin
        )
        assert (
            await http.patch(f"/v1/team/managers/{olga['id']}", json={"name": "Olga P."}, headers=admin)
        ).status_code == 200

        async def recorded() -> list[dict]:
            page = (await http.get("/v1/audit", params={"entity": f"manager:{olga['id']}"}, headers=admin)).json()
            return page["items"]

        await eventually(lambda: _count(recorded, 2), timeout=60)
        update, creation = await recorded()
        assert (creation["action"], update["action"]) == ("team.manager.created", "team.manager.updated")
        assert update["actor"] == f"manager:admin-{unique}"
        assert update["address"] == "127.0.0.1"
        assert (update["before"]["name"], update["after"]["name"]) == ("Olga", "Olga P.")
        account = (await http.get("/v1/audit", params={"entity": f"account:{olga['id']}"}, headers=admin)).json()[
            "items"
        ]
        assert account[0]["after"] == {"roles": ["head"], "has_password": True, "password_changed": True}
        assert "olga-password-1" not in str(account)
        assert "$argon2" not in str(account)

        head = {"Authorization": f"Bearer {(await _login(http, olga['id'], 'olga-password-1')).json()['access_token']}"}
        await eventually(lambda: _is(lambda: _status(http, "/v1/audit", head), 200), timeout=60)
        seen = (await http.get("/v1/audit", headers=head)).json()["items"]
        assert seen
        assert {r["department_id"] for r in seen} == {department["id"]}  # a head sees their department only

        # named head of a second department, she answers for it too, with the token she has
        second = {"id": f"b-{unique}", "name": "Branch", "region": "Kazan", "head_manager_id": olga["id"]}
        assert (await http.post("/v1/team/departments", json=second, headers=admin)).status_code == 201

        async def both() -> set[str]:
            return {r["department_id"] for r in (await http.get("/v1/audit", headers=head)).json()["items"]}

        await eventually(lambda: _has(both, {department["id"], second["id"]}), timeout=60)
        assert (await http.get("/v1/auth/me", headers=head)).json()["heads"] == [second["id"]]
        other = (await http.get("/v1/audit", params={"department_id": f"x-{unique}"}, headers=head)).json()
        assert other["items"] == []  # asking for a department she does not answer for shows nothing


async def _has(check, wanted: set[str]) -> bool:
    return await check() == wanted


async def _status(http: httpx.AsyncClient, path: str, headers: dict[str, str]) -> int:
    return (await http.get(path, headers=headers)).status_code


async def _count(check, n: int) -> bool:
    return len(await check()) >= n


async def test_an_integration_token_works_within_its_scopes_everywhere_until_revoked(
    motivation, infra, tmp_path, unique
):
    leads_port = free_port()
    leads = start_service(
        "leads",
        env={
            "KAFKA_BOOTSTRAP_SERVERS": infra.kafka,
            "MONGODB_URL": infra.mongo,
            "LEADS_MONGODB_DATABASE": f"t_signin_leads_{unique}",
            "LEADS_ENVIRONMENT": "test",
            "LEADS_AUTH_ISSUER": motivation.address,
            "LEADS_AUTH_JWKS_URL": f"{motivation.address}/.well-known/jwks.json",
        },
        port=leads_port,
        log_path=tmp_path / "leads.log",
        python=sys.executable,
    )
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            login = await http.post(
                f"{motivation.address}/v1/auth/login", json={"login": f"admin-{unique}", "password": ADMIN_PASSWORD}
            )
            admin = {"Authorization": f"Bearer {login.json()['access_token']}"}
            issued = await http.post(
                f"{motivation.address}/v1/api-tokens",
                json={"name": "BI export", "scopes": ["leads:read"]},
                headers=admin,
            )
            assert issued.status_code == 201
            token, token_id = issued.json()["token"], issued.json()["api_token"]["id"]
            listed = (await http.get(f"{motivation.address}/v1/api-tokens", headers=admin)).json()["items"]
            assert [t["id"] for t in listed] == [token_id]
            assert token not in str(listed)
            bearer = {"Authorization": f"Bearer {token}"}

            async def reads() -> int:
                return (await http.get(f"{leads.address}/v1/leads", headers=bearer)).status_code

            await eventually(lambda: _is(reads, 200), timeout=60)  # once leads has read the token on crm.team

            async def last_used() -> object:
                return (await http.get(f"{motivation.address}/v1/api-tokens", headers=admin)).json()["items"][0][
                    "last_used_at"
                ]

            await eventually(last_used, timeout=60)  # leads told motivation the token was used
            assert (
                await http.post(f"{leads.address}/v1/leads/x-1/take", json={}, headers=bearer)
            ).status_code == 403  # not leads:write
            assert (await http.get(f"{motivation.address}/v1/team/managers", headers=bearer)).status_code == 403
            assert (await http.post(f"{motivation.address}/v1/api-tokens/{token_id}/revoke", headers=admin)).json()[
                "active"
            ] is False
            await eventually(lambda: _is(reads, 401), timeout=60)
    finally:
        leads.stop()


async def _link(infra, event_type: str, manager_id: str) -> dict:
    """The link the notifier would send, read from crm.motivation as the notifier reads it."""
    from support.kafka import headers_of, read_topic

    def mine(record) -> bool:
        return (
            headers_of(record).get("ce_type") == event_type and f'"manager_id":"{manager_id}"' in record.value.decode()
        )

    records = await read_topic(infra.kafka, "crm.motivation", until=lambda rs: any(mine(r) for r in rs), timeout=60)
    import json

    return json.loads(next(r for r in reversed(records) if mine(r)).value)


async def test_a_forgotten_password_is_reset_once_through_the_emailed_link(motivation, infra, unique):
    async with httpx.AsyncClient(base_url=motivation.address, timeout=10) as http:
        unknown = await http.post("/v1/auth/password-reset", json={"login": f"nobody-{unique}@example.com"})
        asked = await http.post("/v1/auth/password-reset", json={"login": f"admin-{unique}@example.com"})
        assert (unknown.status_code, asked.status_code) == (202, 202)
        assert unknown.json() == asked.json()  # the answer does not tell who exists
        link = (await _link(infra, "account.password_reset_requested", f"admin-{unique}"))["link"]
        token = link.rsplit("/", 1)[1]
        assert "new_password" in (await http.get(f"/v1/auth/links/{token}")).text  # the page the link opens
        assert (
            await http.post("/v1/auth/password-reset/confirm", json={"token": token, "new_password": "a-brand-new-one"})
        ).status_code == 204
        assert (await _login(http, f"admin-{unique}", ADMIN_PASSWORD)).status_code == 401
        assert (await _login(http, f"admin-{unique}", "a-brand-new-one")).status_code == 200
        again = await http.post(
            "/v1/auth/password-reset/confirm", json={"token": token, "new_password": "yet-another-one"}
        )
        assert again.status_code == 400  # a link works once


async def test_a_new_email_is_used_only_once_confirmed_from_that_address(motivation, infra, unique):
    async with httpx.AsyncClient(base_url=motivation.address, timeout=10) as http:
        admin = {
            "Authorization": f"Bearer {(await _login(http, f'admin-{unique}', ADMIN_PASSWORD)).json()['access_token']}"
        }
        department = {"id": f"c-{unique}", "name": "Confirm", "region": "Omsk"}
        await http.post("/v1/team/departments", json=department, headers=admin)
        boris = {
            "id": f"boris-{unique}",
            "name": "Boris",
            "department_id": department["id"],
            "email": f"boris-{unique}@example.com",
        }
        await http.post("/v1/team/managers", json=boris, headers=admin)
        changed = (
            await http.patch(
                f"/v1/team/managers/{boris['id']}", json={"email": f"new-{unique}@example.com"}, headers=admin
            )
        ).json()
        assert (changed["email"], changed["pending_email"]) == (
            boris["email"],
            f"new-{unique}@example.com",
        )  # still the old one
        request = await _link(infra, "account.address_confirmation_requested", boris["id"])
        assert (request["channel"], request["address"]) == ("email", f"new-{unique}@example.com")
        token = request["link"].rsplit("/", 1)[1]
        assert (
            "Confirm" in (await http.get(f"/v1/auth/links/{token}")).text
        )  # opening the link changes nothing by itself
        unchanged = (await http.get(f"/v1/team/managers/{boris['id']}", headers=admin)).json()
        assert unchanged["email"] == boris["email"]
        assert "подтверждён" in (await http.post(f"/v1/auth/links/{token}")).text
        confirmed = (await http.get(f"/v1/team/managers/{boris['id']}", headers=admin)).json()
        assert (confirmed["email"], confirmed["pending_email"]) == (f"new-{unique}@example.com", None)
