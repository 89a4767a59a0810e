"""Documents in one action, against the deals and notifier processes, real Kafka, MongoDB-wire and
a real SMTP server: an invoice rendered to PDF on the deal's data (read back with pdftotext:
figures, number, amount in words), numbered without gaps or duplicates under concurrent requests,
a restart and a request that died holding a number; a broken template refused whole; the document
e-mailed to the client with the PDF attached, once per address, and a sent proposal counted."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from crmhub.schemas.team import Department
from support.fakes import SmtpSink
from support.kafka import eventually
from support.team import manager, publish_team
from support.tokens import admin_headers

pytestmark = pytest.mark.integration
DEFAULT_TEMPLATES = Path(__file__).resolve().parents[3] / "services" / "deals" / "deals" / "config" / "documents"


def pdf_text(content: bytes, tmp_path: Path) -> str:
    path = tmp_path / f"{hashlib.sha256(content).hexdigest()[:12]}.pdf"
    path.write_bytes(content)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout
    return " ".join(text.replace("\u00a0", " ").replace("\u202f", " ").split())


@pytest.fixture
async def team(infra, unique) -> dict[str, str]:
    names = {"sales": f"sales-{unique}", "anna": f"anna-{unique}"}
    department = Department(id=names["sales"], name="Sales", region="Moscow", timezone="Europe/Moscow")
    await publish_team(infra.kafka, [department], [manager(names["anna"], names["sales"], name="Анна Смирнова")])
    return names


async def open_deal(http: httpx.AsyncClient, team: dict[str, str], email: str = "client@example.com") -> str:
    body = {
        "title": "Кухня Петровых",
        "manager_id": team["anna"],
        "client": {"name": "Пётр Петров", "email": email},
        "products": [
            {"name": "Кухонный гарнитур «Орех»", "quantity": "1", "price": "148000.50"},
            {"name": "Монтаж", "quantity": "2", "price": "1000"},
        ],
    }
    for _ in range(100):  # the manager reaches the deals service through crm.team
        answer = await http.post("/v1/deals", json=body)
        if answer.status_code == 201:
            deal_id = answer.json()["id"]
            fields = {"buyer_name": "ООО «Петровы и партнёры»", "buyer_inn": "7712345678", "buyer_kpp": "771201001"}
            assert (await http.patch(f"/v1/deals/{deal_id}", json={"fields": fields})).status_code == 200
            return str(deal_id)
        await asyncio.sleep(0.2)
    raise AssertionError(answer.text)


async def test_an_invoice_is_a_pdf_with_the_figures_its_number_and_the_amount_in_words(
    infra, run_service, team, tmp_path
):
    deals = run_service("deals")
    async with httpx.AsyncClient(base_url=deals.address, timeout=30, headers=admin_headers()) as http:
        templates = (await http.get("/v1/templates")).json()["items"]
        assert {t["id"] for t in templates} >= {"invoice", "proposal", "delivery_act"}
        deal_id = await open_deal(http, team)
        made = await http.post(
            f"/v1/deals/{deal_id}/documents", json={"template_id": "invoice"}, headers={"Idempotency-Key": "inv-1"}
        )
        assert made.status_code == 201, made.text
        invoice = made.json()
        assert (invoice["number"], invoice["amount"], invoice["kind"]) == ("1", "150000.50", "invoice")
        again = await http.post(
            f"/v1/deals/{deal_id}/documents", json={"template_id": "invoice"}, headers={"Idempotency-Key": "inv-1"}
        )
        assert again.status_code == 200
        assert again.json()["document_id"] == invoice["document_id"]
        content = (await http.get(invoice["file_url"])).content
        assert content.startswith(b"%PDF")
        assert hashlib.sha256(content).hexdigest() == invoice["sha256"]
        text = pdf_text(content, tmp_path)
        assert "Счёт на оплату № 1 от" in text
        assert "ООО «Петровы и партнёры», ИНН 7712345678, КПП 771201001" in text
        assert "Кухонный гарнитур «Орех»" in text
        assert "148 000,50" in text
        assert "Всего к оплате: 150 000,50" in text
        assert "В том числе НДС (20%): 25 000,08" in text
        assert "Сто пятьдесят тысяч рублей 50 копеек" in text
        assert "БИК 044525225" in text or "044525225" in text
        # the invoice is on the deal: the deal went to invoicing with its "call about payment" task
        deal = (await http.get(f"/v1/deals/{deal_id}")).json()
        recorded = [a for a in deal["activities"] if a["kind"] == "invoice_issued"]
        assert len(recorded) == 1
        assert recorded[0]["details"]["number"] == "1"


async def test_numbers_have_no_gaps_or_duplicates_across_concurrency_restarts_and_a_request_that_died(
    infra, run_service, team, mongo_client, unique
):
    deals = run_service("deals")
    async with httpx.AsyncClient(base_url=deals.address, timeout=60, headers=admin_headers()) as http:
        deal_ids = [await open_deal(http, team) for _ in range(3)]
        answers = await asyncio.gather(
            *(http.post(f"/v1/deals/{deal_ids[n % 3]}/documents", json={"template_id": "invoice"}) for n in range(12))
        )
        assert [a.status_code for a in answers] == [201] * 12
        assert sorted(int(a.json()["number"]) for a in answers) == list(range(1, 13))
        # a request that took number 13 and died before storing its document
        db = mongo_client[f"t_deals_{unique}"]
        year = datetime.now(UTC).astimezone().year
        await db["document_numbers"].update_one(
            {"_id": f"invoice:{year}"},
            {
                "$set": {"last": 13},
                "$push": {
                    "pending": {"n": 13, "document_id": "doc-died", "at": datetime.now(UTC) - timedelta(minutes=5)}
                },
            },
        )
    deals.stop()
    deals = run_service("deals")
    async with httpx.AsyncClient(base_url=deals.address, timeout=60, headers=admin_headers()) as http:
        after = await http.post(f"/v1/deals/{deal_ids[0]}/documents", json={"template_id": "invoice"})
        assert after.json()["number"] == "13"  # the dead request's number, not a gap
        following = await http.post(f"/v1/deals/{deal_ids[0]}/documents", json={"template_id": "invoice"})
        assert following.json()["number"] == "14"
        act = await http.post(f"/v1/deals/{deal_ids[0]}/documents", json={"template_id": "delivery_act"})
        assert act.json()["number"] == "А-1"  # each numbered template has its own sequence
        proposal = await http.post(f"/v1/deals/{deal_ids[0]}/documents", json={"template_id": "proposal"})
        assert proposal.json()["number"] is None


async def test_a_template_that_fails_on_the_deal_is_refused_whole(
    infra, run_service, team, tmp_path, mongo_client, unique
):
    folder = tmp_path / "documents"
    shutil.copytree(DEFAULT_TEMPLATES, folder)
    catalogue = json.loads((folder / "templates.json").read_text())
    catalogue["templates"].append(
        {"id": "contract", "title": "Договор", "kind": "other", "file": "contract.html", "numbered": True}
    )
    (folder / "templates.json").write_text(json.dumps(catalogue, ensure_ascii=False))
    (folder / "contract.html").write_text("<p>Договор с {{ buyer.passport.number }}</p>")
    deals = run_service("deals", DEALS_DOCUMENTS_DIR=str(folder))
    async with httpx.AsyncClient(base_url=deals.address, timeout=30, headers=admin_headers()) as http:
        assert "contract" in {t["id"] for t in (await http.get("/v1/templates")).json()["items"]}
        deal_id = await open_deal(http, team)
        refused = await http.post(f"/v1/deals/{deal_id}/documents", json={"template_id": "contract"})
        assert refused.status_code == 422
        assert refused.json()["field"] == "template_id"
        assert "contract" in refused.json()["message"]
        assert "passport" in refused.json()["message"]
        unknown = await http.post(f"/v1/deals/{deal_id}/documents", json={"template_id": "nope"})
        assert (unknown.status_code, unknown.json()["field"]) == (422, "template_id")
        hostile = await http.post(f"/v1/deals/{deal_id}/documents", json={"template_id": "../etc/passwd"})
        assert hostile.status_code == 422
        db = mongo_client[f"t_deals_{unique}"]
        assert await db["documents"].count_documents({}) == 0
        assert await db["document_numbers"].find_one({"_id": {"$regex": "^contract"}}) is None  # no number taken
    deals.stop()


async def test_sent_to_the_client_once_with_the_pdf_attached(infra, run_service, team, tmp_path):
    smtp = SmtpSink().start()
    try:
        deals = run_service("deals")
        run_service(
            "notifier",
            NOTIFIER_SMTP_HOST="127.0.0.1",
            NOTIFIER_SMTP_PORT=str(smtp.port),
            NOTIFIER_ATTACHMENT_ORIGINS=f"{deals.address}/",
            NOTIFIER_DEFAULT_CHANNELS="email",
        )
        async with httpx.AsyncClient(base_url=deals.address, timeout=30, headers=admin_headers()) as http:
            deal_id = await open_deal(http, team, email=f"petrov-{team['anna']}@example.com")
            proposal = (await http.post(f"/v1/deals/{deal_id}/documents", json={"template_id": "proposal"})).json()
            sent = await http.post(
                f"/v1/documents/{proposal['document_id']}/send", json={"message": "Ждём вашего решения."}
            )
            assert sent.status_code == 202, sent.text
            assert [s["address"] for s in sent.json()["sent"]] == [f"petrov-{team['anna']}@example.com"]
            again = await http.post(f"/v1/documents/{proposal['document_id']}/send", json={})
            assert again.status_code == 200
            assert len(again.json()["sent"]) == 1
            bad = await http.post(f"/v1/documents/{proposal['document_id']}/send", json={"to": "not-an-address"})
            assert (bad.status_code, bad.json()["field"]) == (422, "to")

            def arrived() -> list[Any]:
                return smtp.to(f"petrov-{team['anna']}@example.com")

            await eventually(arrived, timeout=40)
            (mail,) = arrived()
            assert "Коммерческое предложение" in str(mail["Subject"])
            attachments = list(mail.iter_attachments())
            assert len(attachments) == 1
            content = attachments[0].get_content()
            assert hashlib.sha256(content).hexdigest() == proposal["sha256"]
            assert attachments[0].get_filename() == proposal["file_name"]
            text = pdf_text(content, tmp_path)
            assert "Кухня Петровых" in text
            assert "№" not in text.split("Коммерческое предложение", 1)[1][:5]  # a proposal has no number
            body = mail.get_body(("plain",)).get_content()
            assert "Ждём вашего решения." in body
            deal = (await http.get(f"/v1/deals/{deal_id}")).json()
            assert [a["kind"] for a in deal["activities"]].count("proposal_sent") == 1
            # the signed link works without a token, a forged one does not
            link = sent.json()["file_url"]
            assert (await httpx.AsyncClient(base_url=deals.address).get(link)).status_code == 401
            forged = f"/v1/documents/{proposal['document_id']}/download?expires=9999999999&signature={'0' * 64}"
            assert (await httpx.AsyncClient(base_url=deals.address).get(forged)).status_code == 403
            # a marker: an invoice sent after them to another address; once it has arrived, a
            # second copy of the proposal would have too
            invoice = (await http.post(f"/v1/deals/{deal_id}/documents", json={"template_id": "invoice"})).json()
            marker = f"accounting-{team['anna']}@example.com"
            await http.post(f"/v1/documents/{invoice['document_id']}/send", json={"to": marker})
            await eventually(lambda: smtp.to(marker), timeout=40)
        assert len(smtp.to(f"petrov-{team['anna']}@example.com")) == 1
    finally:
        smtp.stop()
