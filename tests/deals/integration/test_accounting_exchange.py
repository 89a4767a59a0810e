"""The 1C exchange driven the way 1C:Предприятие drives it (CommerceML 2, `type=sale`), and the JSON
payment webhook, against the deals process, Kafka and MongoDB-wire.

The sequence and the documents follow the protocol as 1C-Bitrix documents it for 1C:Управление
торговлей, Бухгалтерия and УНФ ("Обмен заказами с 1С", dev.1c-bitrix.ru): `checkauth` with HTTP
Basic answers "success", the cookie's name and value; `init` answers `zip=` and `file_limit=`;
`query` gives the site's orders as a `КоммерческаяИнформация` of `Документ`s with `ХозОперация`
"Заказ товара"; `success` confirms them; `file` posts 1C's documents back, a payment being the
requisites "Номер оплаты по 1С" / "Дата оплаты по 1С" (the documents below are written from that
description and the CommerceML 2 schema, commerceml.ru)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from xml.etree import ElementTree

import httpx
import pytest

from crmhub.intake import sign_timestamped
from crmhub.schemas.team import Department
from support.kafka import eventually
from support.team import manager, publish_team
from support.tokens import admin_headers

pytestmark = pytest.mark.integration
LOGIN, PASSWORD = "1c-exchange", "1c-exchange-password"
BOOKS_KEY = "accounting-key-0123456789"
PATH = "/v1/accounting/1c/exchange"


def returned(order_id: str, amount: str, *, paid_on: str, payment: str, encoding: str = "UTF-8") -> bytes:
    """A document 1C sends back for an order it took: its number and date in 1C, and the payment."""
    xml = f"""<?xml version="1.0" encoding="{encoding}"?>
<КоммерческаяИнформация ВерсияСхемы="2.08" ДатаФормирования="2026-11-27T12:00:00">
  <Документ>
    <Ид>{order_id}</Ид>
    <Номер>{order_id}</Номер>
    <Дата>2026-11-27</Дата>
    <ХозОперация>Заказ товара</ХозОперация>
    <Роль>Продавец</Роль>
    <Валюта>руб</Валюта>
    <Курс>1</Курс>
    <Сумма>{amount}</Сумма>
    <ЗначенияРеквизитов>
      <ЗначениеРеквизита><Наименование>Номер по 1С</Наименование><Значение>УТ-000123</Значение></ЗначениеРеквизита>
      <ЗначениеРеквизита><Наименование>Дата по 1С</Наименование><Значение>2026-11-27T10:15:00</Значение></ЗначениеРеквизита>
      <ЗначениеРеквизита><Наименование>Проведен</Наименование><Значение>true</Значение></ЗначениеРеквизита>
      <ЗначениеРеквизита><Наименование>Номер оплаты по 1С</Наименование><Значение>{payment}</Значение></ЗначениеРеквизита>
      <ЗначениеРеквизита><Наименование>Дата оплаты по 1С</Наименование><Значение>{paid_on}</Значение></ЗначениеРеквизита>
      <ЗначениеРеквизита><Наименование>ПометкаУдаления</Наименование><Значение>false</Значение></ЗначениеРеквизита>
    </ЗначенияРеквизитов>
  </Документ>
</КоммерческаяИнформация>"""
    return xml.encode("cp1251" if encoding == "windows-1251" else "utf-8")


@pytest.fixture
async def started(infra, run_service, unique):
    sales, production, anna = f"sales-{unique}", f"prod-{unique}", f"anna-{unique}"
    await publish_team(
        infra.kafka,
        [
            Department(id=sales, name="Sales", region="Moscow", timezone="Europe/Moscow"),
            Department(id=production, name="Production", region="Moscow", timezone="Europe/Moscow"),
        ],
        [manager(anna, sales), manager(f"pavel-{unique}", production)],
    )
    deals = run_service(
        "deals",
        DEALS_ONEC_LOGIN=LOGIN,
        DEALS_ONEC_PASSWORD=PASSWORD,
        DEALS_ONEC_ENCODING="windows-1251",
        DEALS_ACCOUNTING_KEYS=json.dumps({"buh": BOOKS_KEY}),
        DEALS_PRODUCTION_DEPARTMENT_ID=production,
        DEALS_LANGUAGE="en",
    )
    async with httpx.AsyncClient(base_url=deals.address, timeout=30, headers=admin_headers()) as http:
        yield deals, http, anna


async def deal_at_invoice(http: httpx.AsyncClient, anna: str) -> dict[str, Any]:
    """A deal taken through the pipeline to invoicing: its invoice made in the hub."""
    body = {
        "title": "Шкаф-купе Ивановых",
        "manager_id": anna,
        "client": {"name": "Иван Иванов", "email": "ivanov@example.com", "phone": "+79161234567"},
        "products": [{"name": "Шкаф-купе «Дуб»", "quantity": "1", "price": "95000"}],
    }
    for _ in range(100):
        opened = await http.post("/v1/deals", json=body)
        if opened.status_code == 201:
            break
        await asyncio.sleep(0.2)
    deal_id = opened.json()["id"]
    await http.post(f"/v1/deals/{deal_id}/activities", json={"kind": "measurement_accepted"})
    await http.post(f"/v1/deals/{deal_id}/move", json={"to": "proposal"})
    await http.post(f"/v1/deals/{deal_id}/activities", json={"kind": "proposal_saved"})
    invoice = await http.post(f"/v1/deals/{deal_id}/documents", json={"template_id": "invoice"})
    assert invoice.status_code == 201, invoice.text
    deal = (await http.get(f"/v1/deals/{deal_id}")).json()
    assert deal["stage"] == "invoice"
    assert [t["rule_id"] for t in deal["open_tasks"]] == ["call_about_payment"]
    return {"id": deal_id, "invoice": invoice.json()}


def orders_in(content: bytes) -> list[ElementTree.Element]:
    root = ElementTree.fromstring(content)  # noqa: S314 - the hub's own answer
    assert root.tag == "КоммерческаяИнформация"
    return root.findall("Документ")


async def test_1c_takes_the_order_and_its_payment_moves_the_deal_to_production(started):
    deals, http, anna = started
    deal = await deal_at_invoice(http, anna)
    exchange = httpx.AsyncClient(base_url=deals.address, timeout=30)
    refused = await exchange.get(PATH, params={"type": "sale", "mode": "checkauth"}, auth=(LOGIN, "wrong"))
    assert refused.status_code == 401
    assert refused.text.startswith("failure")
    assert (await exchange.get(PATH, params={"type": "sale", "mode": "query"})).status_code == 401
    auth = await exchange.get(PATH, params={"type": "sale", "mode": "checkauth"}, auth=(LOGIN, PASSWORD))
    success, cookie, value = auth.text.split("\n")[:3]
    assert success == "success"
    exchange.cookies.set(cookie, value)
    init = await exchange.get(PATH, params={"type": "sale", "mode": "init"})
    assert init.text.split("\n")[:2] == ["zip=no", "file_limit=262144"]

    async def queued() -> list[ElementTree.Element]:
        answer = await exchange.get(PATH, params={"type": "sale", "mode": "query"})
        assert answer.headers["content-type"] == "application/xml; charset=windows-1251"
        assert answer.content.startswith(b'<?xml version="1.0" encoding="windows-1251"?>')
        return [d for d in orders_in(answer.content) if d.findtext("Ид") == deal["id"]]

    await eventually(queued, timeout=30)
    (order,) = await queued()
    assert order.findtext("ХозОперация") == "Заказ товара"
    assert order.findtext("Сумма") == "95000.00"
    assert order.findtext("Контрагенты/Контрагент/Наименование") == "Иван Иванов"
    assert order.findtext("Товары/Товар/Наименование") == "Шкаф-купе «Дуб»"
    assert order.findtext("Товары/Товар/Количество") == "1"
    requisites = {
        r.findtext("Наименование"): r.findtext("Значение")
        for r in order.findall("ЗначенияРеквизитов/ЗначениеРеквизита")
    }
    assert requisites["Номер счёта"] == deal["invoice"]["number"]
    assert (await exchange.get(PATH, params={"type": "sale", "mode": "success"})).text.strip() == "success"
    assert await queued() == []  # confirmed: not given again
    # 1C sends the order back, paid (windows-1251, as 1C:Бухгалтерия sends it) - twice
    paid = returned(deal["id"], "95000.00", paid_on="2026-11-27", payment="ПП-77", encoding="windows-1251")
    for _ in range(2):
        answer = await exchange.post(
            PATH, params={"type": "sale", "mode": "file", "filename": "orders.xml"}, content=paid
        )
        assert answer.status_code == 200, answer.text
        assert answer.text.startswith("success")
    after = (await http.get(f"/v1/deals/{deal['id']}")).json()
    assert after["stage"] == "production"
    assert after["open_tasks"] == []  # the "call about payment" task was cancelled
    payments = [a for a in after["activities"] if a["kind"] == "payment_received"]
    assert len(payments) == 1
    assert payments[0]["amount"] == "95000.00"
    assert payments[0]["details"]["onec_number"] == "УТ-000123"
    assert (after["fields"]["onec_number"], after["fields"]["onec_date"]) == ("УТ-000123", "2026-11-27T10:15:00")
    # a payment for an order the hub does not know is parked and reported, not lost
    stray = returned("deal-unknown1", "1000.00", paid_on="2026-11-27", payment="ПП-78")
    answer = await exchange.post(PATH, params={"type": "sale", "mode": "file"}, content=stray)
    assert json.loads(answer.text.split("\n")[1])["parked"] == 1
    parked = (await http.get("/v1/accounting/parked")).json()["items"]
    assert [(p["order"], p["amount"]) for p in parked] == [("deal-unknown1", "1000.00")]
    # an unpaid order (1C writes the empty date as "T") changes nothing
    unpaid = returned(deal["id"], "95000.00", paid_on="T", payment="")
    assert (
        json.loads(
            (await exchange.post(PATH, params={"type": "sale", "mode": "file"}, content=unpaid)).text.split("\n")[1]
        )["unpaid"]
        == 1
    )


BOMB = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<КоммерческаяИнформация><Документ><Номер>&lol3;</Номер></Документ></КоммерческаяИнформация>""".encode()
EXTERNAL = """<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<КоммерческаяИнформация><Документ><Номер>&secret;</Номер></Документ></КоммерческаяИнформация>""".encode()


async def test_hostile_and_broken_files_are_refused_and_change_nothing(started, mongo_client, unique):
    deals, _, _ = started
    exchange = httpx.AsyncClient(base_url=deals.address, timeout=30, auth=(LOGIN, PASSWORD))
    cases = [
        (BOMB, "DTD"),
        (EXTERNAL, "DTD"),
        ("<КоммерческаяИнформация><Документ>".encode(), "well-formed"),
        ("<КоммерческаяИнформация/>".encode("cp1251"), "UTF-8"),  # windows-1251 bytes, nothing declared
        (
            '<?xml version="1.0" encoding="UTF-8"?><КоммерческаяИнформация><Документ><Сумма>много</Сумма></Документ></КоммерческаяИнформация>'.encode(),
            "number",
        ),
        (b'<?xml version="1.0"?><Root/>', "КоммерческаяИнформация"),
        (b"", "empty"),
        (b'<?xml version="1.0" encoding="koi8-unknown"?><a/>', "encoding"),
    ]
    for content, reason in cases:
        answer = await exchange.post(PATH, params={"type": "sale", "mode": "file"}, content=content)
        assert answer.status_code == 400, (reason, answer.text)
        assert answer.text.startswith("failure"), answer.text
        assert reason in answer.text, (reason, answer.text)
    oversized = await exchange.post(
        PATH, params={"type": "sale", "mode": "file"}, content=b"<a>" + b" " * 300_000 + b"</a>"
    )
    assert oversized.status_code == 413
    assert (await exchange.get(PATH, params={"type": "catalog", "mode": "init"})).status_code == 400
    assert (await exchange.get(PATH, params={"type": "sale", "mode": "import"})).status_code == 400
    db = mongo_client[f"t_deals_{unique}"]
    assert await db["accounting_parked"].count_documents({}) == 0


async def test_the_json_payment_webhook(started):
    deals, http, anna = started
    deal = await deal_at_invoice(http, anna)
    payment = json.dumps(
        {"payment_id": "bank-42", "deal_id": deal["id"], "amount": "95000.00", "paid_at": "2026-11-27T09:00:00+03:00"}
    ).encode()
    plain = httpx.AsyncClient(base_url=deals.address, timeout=30)
    headers = {"Content-Type": "application/json"}
    assert (await plain.post("/v1/accounting/buh/payments", content=payment, headers=headers)).status_code == 401
    wrong = await plain.post("/v1/accounting/buh/payments", content=payment, headers={**headers, "X-Api-Key": "nope"})
    assert wrong.status_code == 401
    assert (
        await plain.post("/v1/accounting/other/payments", content=payment, headers={**headers, "X-Api-Key": BOOKS_KEY})
    ).status_code == 404
    signed = {**headers, "X-Signature": sign_timestamped(BOOKS_KEY, int(time.time()), payment)}
    first = await plain.post("/v1/accounting/buh/payments", content=payment, headers=signed)
    assert (first.status_code, first.json()["outcome"]) == (202, "recorded")
    again = await plain.post(
        "/v1/accounting/buh/payments", content=payment, headers={**headers, "X-Api-Key": BOOKS_KEY}
    )
    assert (again.status_code, again.json()["outcome"]) == (200, "duplicate")
    after = (await http.get(f"/v1/deals/{deal['id']}")).json()
    assert after["stage"] == "production"
    assert [a["kind"] for a in after["activities"]].count("payment_received") == 1
    bad = json.dumps({"payment_id": "x", "deal_id": deal["id"], "amount": "-5"}).encode()
    refused = await plain.post("/v1/accounting/buh/payments", content=bad, headers={**headers, "X-Api-Key": BOOKS_KEY})
    assert (refused.status_code, refused.json()["problems"][0]["field"]) == (422, "amount")
    unknown = json.dumps({"payment_id": "bank-43", "deal_id": "deal-nowhere", "amount": "10"}).encode()
    parked = await plain.post(
        "/v1/accounting/buh/payments", content=unknown, headers={**headers, "X-Api-Key": BOOKS_KEY}
    )
    assert (parked.status_code, parked.json()["outcome"]) == (202, "parked")
