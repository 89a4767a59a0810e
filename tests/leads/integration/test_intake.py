"""Site leads end to end: stored before 202, assigned, announced on crm.leads; retries and
double clicks create nothing new; the same person becomes a touch; bad input stores nothing."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from urllib.parse import urlencode

import pytest

from crmhub.intake import sign_timestamped
from crmhub.outbox import PENDING, PENDING_INDEX
from crmhub.schemas.inbound import LeadSubmitted
from leads.adapters.auth import sign_typeform
from support.fakes import Answer
from support.hub import SECRET, phone
from support.kafka import eventually, headers_of, publish, read_topic

pytestmark = pytest.mark.integration


async def _events_of(kafka: str, lead_id: str, count: int) -> list[tuple[str, dict]]:
    records = await read_topic(kafka, "crm.leads", until=lambda rs: sum(r.key == lead_id.encode() for r in rs) >= count)
    return [(headers_of(r)["ce_type"], json.loads(r.value)) for r in records if r.key == lead_id.encode()]


async def test_a_lead_is_stored_assigned_and_announced_before_the_answer(hub):
    async with hub.client() as http:
        number = phone()
        response = await hub.submit(
            http,
            {
                "name": "Анна 🌷 Смирнова",
                "phone": number.replace("+7", "8 "),
                "message": "Нужна кухня",
                "utm": {"source": "yandex", "campaign": "kitchens"},
            },
        )
        assert response.status_code == 202
        lead_id = response.json()["lead_id"]
        assert response.json()["status"] == "created"
        lead = await hub.lead(http, lead_id)  # readable at once: stored before the 202
    assert lead["status"] == "assigned"
    assert lead["contact"] == {"name": "Анна 🌷 Смирнова", "phone": number, "email": None}
    assert lead["manager_id"] in hub.managers
    assert lead["sla_deadline"] is not None
    events = await _events_of(hub.kafka, lead_id, 2)
    assert [t for t, _ in events] == ["lead.created", "lead.assigned"]
    assigned = events[1][1]
    assert assigned["manager_id"] == lead["manager_id"]
    assert assigned["lead"]["contact"]["phone"] == number
    assert assigned["lead"]["utm"]["campaign"] == "kitchens"


async def test_retries_and_double_clicks_return_the_same_lead_and_create_nothing(hub):
    async with hub.client() as http:
        body = {"phone": phone(), "message": "double click"}
        first, second = await asyncio.gather(hub.submit(http, body), hub.submit(http, body))
        assert first.json()["lead_id"] == second.json()["lead_id"]
        assert {first.json()["status"], second.json()["status"]} <= {"created", "repeated", "merged"}
        keyed = {"phone": phone()}
        a = await hub.submit(http, keyed, headers={"Idempotency-Key": "order-1"})
        b = await hub.submit(http, {**keyed, "message": "changed on retry"}, headers={"Idempotency-Key": "order-1"})
        assert (a.json()["status"], b.json()["status"]) == ("created", "repeated")
        assert a.json()["lead_id"] == b.json()["lead_id"]
        provider = {"phone": phone(), "submission_id": "provider-77"}
        c = await hub.submit(http, provider)
        d = await hub.submit(http, provider)
        assert d.json() == {"lead_id": c.json()["lead_id"], "status": "repeated"}
        listed = await http.get("/v1/leads", params={"source": hub.source("site")})
    ids = [item["id"] for item in listed.json()["items"]]
    assert len(ids) == len(set(ids))
    events = await _events_of(hub.kafka, a.json()["lead_id"], 2)
    assert [t for t, _ in events].count("lead.created") == 1


async def test_the_same_person_again_becomes_a_touch_of_the_open_lead(hub):
    number = phone()
    async with hub.client() as http:
        first = (await hub.submit(http, {"phone": number, "message": "кухня"})).json()
        again = (await hub.submit(http, {"phone": number, "email": "Petr@Example.com", "message": "и шкаф"})).json()
        by_mail = (await hub.submit(http, {"email": "petr@example.com", "message": "по почте"})).json()
        assert again == {"lead_id": first["lead_id"], "status": "merged"}
        assert by_mail == {"lead_id": first["lead_id"], "status": "merged"}
        lead = await hub.lead(http, first["lead_id"])
    assert lead["touch_count"] == 3
    assert [t["message"] for t in lead["touches"]] == ["и шкаф", "по почте"]
    assert lead["contact"]["email"] == "petr@example.com"
    events = await _events_of(hub.kafka, first["lead_id"], 4)
    assert [t for t, _ in events] == ["lead.created", "lead.assigned", "lead.duplicate", "lead.duplicate"]
    assert events[3][1]["matched_by"] == "email"


async def test_simultaneous_submissions_from_one_person_make_one_lead(hub):
    number = phone()
    async with hub.client() as http:
        responses = await asyncio.gather(
            *(hub.submit(http, {"phone": number, "message": f"attempt {i}"}) for i in range(8))
        )
        results = [r.json() for r in responses]
        assert all(r.status_code == 202 for r in responses)
        assert len({r["lead_id"] for r in results}) == 1
        assert Counter(r["status"] for r in results) == {"created": 1, "merged": 7}
        lead = await hub.lead(http, results[0]["lead_id"])
    assert lead["touch_count"] == 8


async def test_every_provider_format_over_http(hub):
    async with hub.client() as http:
        tilda = urlencode({"Name": "Ира", "Phone": phone(), "tranid": "8800:555", "formid": "f1"})
        url = f"/v1/intake/{hub.source('tilda')}?api_key={SECRET}"
        probe = await http.post(
            url, content=b"test=test", headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
        assert probe.status_code == 200
        assert probe.json() == {"status": "ok", "probe": True}
        t1 = await http.post(url, content=tilda, headers={"Content-Type": "application/x-www-form-urlencoded"})
        t2 = await http.post(url, content=tilda, headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert t1.status_code == 202
        assert t2.json() == {"lead_id": t1.json()["lead_id"], "status": "repeated"}

        form = await http.post(
            f"/v1/intake/{hub.source('form')}?api_key={SECRET}",
            content=urlencode({"name": "Form", "phone": phone(), "website": ""}),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert form.status_code == 303
        assert form.headers["location"].startswith("https://example.com/thanks?lead_id=")

        b24 = json.dumps(
            {"fields": {"NAME": "Глеб", "PHONE": [{"VALUE": phone(), "VALUE_TYPE": "WORK"}], "ORIGIN_ID": "b24-1"}}
        ).encode()
        signed = {"Content-Type": "application/json", "X-Signature": sign_timestamped(SECRET, int(time.time()), b24)}
        assert (await http.post(f"/v1/intake/{hub.source('b24')}", content=b24, headers=signed)).status_code == 202
        stale = {
            "Content-Type": "application/json",
            "X-Signature": sign_timestamped(SECRET, int(time.time()) - 3600, b24),
        }
        assert (await http.post(f"/v1/intake/{hub.source('b24')}", content=b24, headers=stale)).status_code == 401

        tf = json.dumps(
            {
                "event_type": "form_response",
                "form_response": {
                    "token": "tok-1",
                    "answers": [{"type": "phone_number", "phone_number": phone(), "field": {"ref": "p"}}],
                },
            }
        ).encode()
        tf_headers = {"Content-Type": "application/json", "Typeform-Signature": sign_typeform(SECRET, tf)}
        assert (await http.post(f"/v1/intake/{hub.source('tf')}", content=tf, headers=tf_headers)).status_code == 202
        forged = {"Content-Type": "application/json", "Typeform-Signature": sign_typeform("wrong", tf)}
        assert (await http.post(f"/v1/intake/{hub.source('tf')}", content=tf, headers=forged)).status_code == 401

        amo = {
            "source_uid": "amo-1",
            "_embedded": {
                "contacts": [
                    {"name": "Amo", "custom_fields_values": [{"field_code": "PHONE", "values": [{"value": phone()}]}]}
                ]
            },
        }
        assert (
            await http.post(f"/v1/intake/{hub.source('amo')}", json=amo, headers={"X-Api-Key": SECRET})
        ).status_code == 202
        listed = await http.get("/v1/leads", params={"source": hub.source("tf")})
    assert listed.json()["items"][0]["manager_id"] in hub.managers


async def test_spam_is_discarded_and_counted_never_a_lead(hub):
    async with hub.client() as http:
        honeypot = await http.post(
            f"/v1/intake/{hub.source('site')}",
            json={"phone": phone(), "website": "http://spam.example"},
            headers={"X-Api-Key": SECRET},
        )
        assert honeypot.status_code == 202
        assert honeypot.json() == {"lead_id": None, "status": "discarded"}
        blocked = await hub.submit(http, {"email": "bot@spam.example"})
        assert blocked.status_code == 403
        blocked_phone = await hub.submit(http, {"phone": "+7 999 000-00-00"})
        assert blocked_phone.status_code == 403
        metrics = (await http.get("/metrics")).text
    assert f'leads_spam_total{{reason="honeypot",source="{hub.source("site")}"}} 1.0' in metrics
    assert f'leads_spam_total{{reason="blocked_domain",source="{hub.source("site")}"}} 1.0' in metrics


async def test_rate_limits_answer_429_with_retry_after(hub):
    async with hub.client() as http:
        statuses = []
        for _ in range(5):
            response = await http.post(
                f"/v1/intake/{hub.source('limited')}",
                json={"phone": phone()},
                headers={"X-Api-Key": f"{SECRET}-limited"},
            )
            statuses.append(response.status_code)
        assert statuses[:3] == [202, 202, 202]
        assert statuses[3:] == [429, 429]
        assert int(response.headers["Retry-After"]) >= 1


BAD_REQUESTS = [
    (
        "malformed JSON",
        {"content": b'{"phone": ', "headers": {"Content-Type": "application/json"}},
        400,
        "malformed_json",
    ),
    (
        "JSON nested 10,000 levels deep",
        {"content": b'{"a":' * 10_000 + b"1" + b"}" * 10_000, "headers": {"Content-Type": "application/json"}},
        400,
        "malformed_json",
    ),
    (
        "wrong content type",
        {"content": b"phone=1", "headers": {"Content-Type": "text/plain"}},
        415,
        "unsupported_media_type",
    ),
    ("oversize body", {"json": {"phone": "+79160000000", "message": "x" * 300_000}}, 413, "body_too_large"),
    ("missing phone and e-mail", {"json": {"name": "Nobody"}}, 422, "phone"),
    ("invalid phone and e-mail", {"json": {"phone": "123", "email": "nope"}}, 422, "email"),
    ("operator as phone", {"json": {"phone": {"$gt": ""}}}, 422, "phone"),
    ("$where as name", {"json": {"phone": "+79160000000", "name": {"$where": "sleep(100)"}}}, 422, "name"),
    ("operator key in custom", {"json": {"phone": "+79160000000", "custom": {"$set": "x"}}}, 422, "custom"),
    ("10,000-character message", {"json": {"phone": "+79160000000", "message": "я" * 10_000}}, 422, "message"),
    ("unknown field", {"json": {"phone": "+79160000000", "admin": True}}, 422, "admin"),
    ("wrong type", {"json": {"phone": "+79160000000", "consent": "maybe"}}, 422, "consent"),
    ("NUL byte in a name", {"json": {"phone": "+79160000000", "name": "Ив\u0000ан"}}, 422, "name"),
    ("NUL byte in a UTM value", {"json": {"phone": "+79160000000", "utm": {"source": "a\u0000"}}}, 422, "source"),
    ("NUL byte in a custom value", {"json": {"phone": "+79160000000", "custom": {"k": "v\u0000"}}}, 422, "custom"),
    ("integer wider than 64 bits", {"json": {"phone": "+79160000000", "custom": {"k": 2**70}}}, 422, "64 bits"),
    (
        "NaN in custom fields",
        {
            "content": b'{"phone": "+79160000000", "custom": {"k": NaN}}',
            "headers": {"Content-Type": "application/json"},
        },
        422,
        "finite",
    ),
]


@pytest.mark.parametrize(("case", "kwargs", "status", "mentions"), BAD_REQUESTS, ids=[c[0] for c in BAD_REQUESTS])
async def test_bad_input_gets_a_clear_4xx_and_stores_nothing(hub, mongo_client, case, kwargs, status, mentions):
    database = mongo_client[f"{hub.database}_leads"]
    before = await database.leads.count_documents({})
    async with hub.client() as http:
        response = await http.post(
            f"/v1/intake/{hub.source('site')}", headers={"X-Api-Key": SECRET, **kwargs.pop("headers", {})}, **kwargs
        )
        assert response.status_code == status, response.text
        assert mentions in response.text
        assert (await http.get("/health")).status_code == 200
    assert await database.leads.count_documents({}) == before


async def test_authentication_and_unknown_sources(hub, mongo_client):
    before = await mongo_client[f"{hub.database}_leads"].leads.count_documents({})
    async with hub.client() as http:
        assert (await http.post(f"/v1/intake/{hub.source('site')}", json={"phone": phone()})).status_code == 401
        assert (
            await http.post(f"/v1/intake/{hub.source('site')}", json={"phone": phone()}, headers={"X-Api-Key": "guess"})
        ).status_code == 401
        assert (await http.post("/v1/leads", json={"phone": phone()})).status_code == 401
        assert (
            await http.post("/v1/intake/nowhere", json={"phone": phone()}, headers={"X-Api-Key": SECRET})
        ).status_code == 404
        assert (await http.post("/v1/intake/..%2F..", json={})).status_code in (404, 422)
    assert await mongo_client[f"{hub.database}_leads"].leads.count_documents({}) == before


async def test_a_refused_submission_leaves_no_claim_behind(hub):
    """A submission refused for a field it carries must not keep its person from submitting again."""
    async with hub.client() as http:
        url = f"/v1/intake/{hub.source('site')}"
        refused = await http.post(
            url, headers={"X-Api-Key": SECRET}, json={"phone": "+79160000077", "custom": {"k": 2**70}}
        )
        assert refused.status_code == 422
        fixed = await http.post(
            url, headers={"X-Api-Key": SECRET}, json={"phone": "+79160000077", "custom": {"k": str(2**70)}}
        )
        assert fixed.status_code == 202, fixed.text
        assert fixed.json()["status"] == "created"


async def test_absurd_dates_in_queries_are_a_422_naming_the_parameter(hub):
    async with hub.client() as http:
        for params in ({"from": "9999-12-31T23:59:59-14:00"}, {"to": "0001-01-01T00:00:00+14:00"}):
            for path in ("/v1/stats/leads", "/v1/leads"):
                answer = await http.get(path, params=params)
                assert answer.status_code == 422, (path, answer.text)
                assert "out of range" in answer.text


async def test_contact_form_7_plugin_json_and_its_own_multipart_post(hub):
    """The body of the CF7-to-webhook plugins (JSON keyed by form-tag names) and CF7's own
    multipart form post, with its hidden _wpcf7 fields (contactform7.com/tag-syntax)."""
    url = f"/v1/intake/{hub.source('cf7')}?api_key={SECRET}"
    async with hub.client() as http:
        plugin = {
            "your-name": "Ольга",
            "your-email": "olga@example.org",
            "tel-214": phone(),
            "your-subject": "Диван",
            "your-message": "Перезвоните",
            "checkbox-9": ["синий", "зелёный"],
            "acceptance-1": "1",
        }
        first = await http.post(url, json=plugin)
        own = await http.post(
            url,
            files={
                "_wpcf7": (None, "42"),
                "_wpcf7_version": (None, "5.9"),
                "_wpcf7_unit_tag": (None, "wpcf7-f42-p7-o1"),
                "_wpcf7_container_post": (None, "7"),
                "your-name": (None, "Пётр"),
                "your-tel": (None, phone()),
                "your-message": (None, "Нужен шкаф"),
                "file-1": ("plan.pdf", b"%PDF-1.4", "application/pdf"),
            },
        )
        assert (first.status_code, own.status_code) == (202, 202), (first.text, own.text)
        lead = (await http.get(f"/v1/leads/{first.json()['lead_id']}")).json()
        posted = (await http.get(f"/v1/leads/{own.json()['lead_id']}")).json()
    assert (lead["contact"]["name"], lead["contact"]["email"], lead["message"], lead["consent"]) == (
        "Ольга",
        "olga@example.org",
        "Перезвоните",
        True,
    )
    assert lead["custom"]["checkbox-9"] == "синий, зелёный"
    assert (posted["contact"]["name"], posted["custom"]["cf7_form_id"], posted["custom"]["cf7_page_id"]) == (
        "Пётр",
        "42",
        "7",
    )
    assert not any(key.startswith("_wpcf7") or key == "file-1" for key in posted["custom"])


async def test_bitrix24_onCrmLeadAdd_is_read_back_and_taken_in_once(hub):
    """Bitrix24's outbound event carries only the lead's ID (b24restdocs on-crm-lead-add.md):
    the hub reads the lead back with crm.lead.get through the configured inbound webhook."""
    client = phone()
    lead_in_bitrix = {
        "result": {
            "ID": "1000983",
            "TITLE": "Заявка",
            "NAME": "Глеб",
            "OPPORTUNITY": "12500.00",
            "CURRENCY_ID": "RUB",
            "PHONE": [{"ID": "1", "VALUE_TYPE": "WORK", "VALUE": client, "TYPE_ID": "PHONE"}],
        }
    }
    hub.bitrix24.script("/rest/1/hook-code/crm.lead.get.json", Answer(200, lead_in_bitrix), Answer(200, lead_in_bitrix))
    event = {
        "event": "ONCRMLEADADD",
        "event_handler_id": "707",
        "data[FIELDS][ID]": "1000983",
        "ts": str(int(time.time())),
        "auth[domain]": "some-domain.bitrix24.com",
        "auth[member_id]": "a223c6b3710f85df22e9377d6c4f7553",
        "auth[application_token]": SECRET,
    }
    url = f"/v1/intake/{hub.source('b24ev')}"
    async with hub.client() as http:
        taken = await http.post(url, data=event)
        again = await http.post(url, data=event)  # Bitrix24 delivers again: the same submission
        forged = await http.post(url, data={**event, "auth[application_token]": "guess"})
        update = await http.post(url, data={**event, "event": "ONCRMLEADUPDATE"})
        lead = (await http.get(f"/v1/leads/{taken.json()['lead_id']}")).json()
    assert taken.status_code == 202, taken.text
    assert again.json() == {"lead_id": taken.json()["lead_id"], "status": "repeated"}
    assert (forged.status_code, update.status_code) == (401, 200)
    assert (lead["contact"]["phone"], lead["contact"]["name"], lead["custom"]["opportunity"]) == (
        client,
        "Глеб",
        "12500.00",
    )
    assert len(hub.bitrix24.to("/rest/1/hook-code/crm.lead.get.json?id=1000983")) == 2


async def test_leads_published_to_kafka_go_through_the_same_pipeline(hub):
    """crm.inbound.leads: a valid lead is taken in and assigned; the same ce_id again and the same
    submission_id under a new ce_id are one lead; an invalid one is dead-lettered with the reason
    and the partition moves on to the next."""
    source, client, other = hub.source("site"), phone(), phone()
    key = "inbound-key"  # one key: one partition, so order is kept across the three events
    first = await publish(hub.kafka, LeadSubmitted(source_id=source, lead={"name": "Kafka", "phone": client}), key)
    await publish(
        hub.kafka, LeadSubmitted(source_id=source, lead={"name": "Kafka", "phone": client}), key, event_id=first
    )
    bad = await publish(hub.kafka, LeadSubmitted(source_id=source, lead={"name": "X", "email": "not-an-email"}), key)
    unknown = await publish(hub.kafka, LeadSubmitted(source_id="nowhere", lead={"phone": other}), key)
    own = {"name": "Sub", "phone": other, "submission_id": f"sys-{client}"}
    await publish(hub.kafka, LeadSubmitted(source_id=source, lead=own), key)
    await publish(hub.kafka, LeadSubmitted(source_id=source, lead=own), key)  # a new ce_id, the same submission
    last = phone()  # after everything else in the partition: once it is in, all before it were handled
    await publish(hub.kafka, LeadSubmitted(source_id=source, lead={"name": "Last", "phone": last}), key)
    async with hub.client() as http:

        async def all_handled():
            items = (await http.get("/v1/leads", params={"source": source, "limit": 500})).json()["items"]
            return any(lead["contact"]["phone"] == last for lead in items) and items

        await eventually(all_handled, timeout=30)
        items = await all_handled()
    mine = [lead for lead in items if lead["contact"]["phone"] in (client, other)]
    assert sorted(lead["contact"]["phone"] for lead in mine) == sorted([client, other])  # one lead each
    assert all(lead["manager_id"] in hub.managers for lead in mine)
    dead = await read_topic(
        hub.kafka, "crm.inbound.leads.dlq", until=lambda rs: {bad, unknown} <= {headers_of(r)["ce_id"] for r in rs}
    )
    reasons = {headers_of(r)["ce_id"]: headers_of(r)["dlq_error"] for r in dead}
    assert "email" in reasons[bad]
    assert "source_id" in reasons[unknown]


async def test_the_service_declares_the_index_its_outbox_relay_reads_at_start(hub, mongo_client):
    """The relay's safety scan for pending events is answered by a partial index on real MongoDB
    and on the local server alike; without it, it reads every lead under the collection's lock."""
    indexes = await mongo_client[f"{hub.database}_leads"].leads.index_information()
    assert indexes[PENDING_INDEX]["partialFilterExpression"] == PENDING
    # and the queries the listings do not answer have theirs on real MongoDB (a head's leads,
    # by department, newest first; one manager's by status; one source's)
    keys = [index["key"] for index in indexes.values()]
    assert [("department_id", 1), ("created_at", -1)] in keys
    assert [("manager_id", 1), ("status", 1)] in keys
    assert [("source_id", 1), ("created_at", -1)] in keys
