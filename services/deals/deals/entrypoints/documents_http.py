"""HTTP of documents: the templates, a document made from one on a deal (PDF), its file, and
sending it to the client. Routes translate and hand on; `deals.service_layer.documents` decides."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from crmhub.access import CallerDep, Policy, Public
from crmhub.aggregate import NotFound
from crmhub.auth import Principal
from crmhub.web import ApiError, from_app_state, require_json_body
from deals.adapters.document_templates import TemplateBroken
from deals.domain.documents import TEMPLATE_ID
from deals.service_layer import documents
from deals.service_layer.documents import DocumentRefused, Documents

Reader = Annotated[Principal, Depends(Policy("admin", "head", "manager", scopes=("deals:read",)))]
Actor = Annotated[Principal, Depends(Policy("admin", "head", "manager", scopes=("deals:write",)))]
SIGNED_LINK = Public("a signed, expiring link: the signature is the proof (the notifier attaches the file)")
DealIdPath = Annotated[str, Path(pattern=r"^deal-[a-z0-9]{1,40}$")]
DocumentIdPath = Annotated[str, Path(pattern=r"^doc-[a-f0-9]{24}$")]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]


class NewDocument(BaseModel):
    model_config = ConfigDict(extra="forbid")
    template_id: str = Field(pattern=TEMPLATE_ID)


class SendDocument(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: str | None = Field(default=None, max_length=320, description="default: the deal's contact e-mail")
    message: str | None = Field(default=None, max_length=4000)


class DocumentView(BaseModel):
    document_id: str
    deal_id: str
    template_id: str
    kind: str
    title: str
    number: str | None
    date: str
    file_name: str
    media_type: str
    sha256: str
    size: int
    amount: str | None
    currency: str
    created_by: str
    created_at: datetime
    sent: list[dict[str, Any]]
    file_url: str

    @classmethod
    def of(cls, doc: dict[str, Any]) -> DocumentView:
        sent = [{k: v for k, v in s.items() if k != "event_id"} for s in doc.get("sent") or []]
        return cls.model_validate({**doc, "sent": sent, "file_url": f"/v1/documents/{doc['_id']}/file"})


DocumentsDep = Annotated[Documents, Depends(from_app_state("documents", Documents))]


async def _answer(action: Any) -> Any:
    try:
        return await action
    except NotFound as exc:
        raise ApiError(404, "not_found", f"not found: {exc}") from None
    except DocumentRefused as exc:
        raise ApiError(422, "validation_failed", str(exc), field=exc.field) from None
    except TemplateBroken as exc:
        raise ApiError(422, "template_failed", str(exc), field="template_id") from None


def _pdf(doc: dict[str, Any], content: bytes) -> Response:
    return Response(
        content,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="{doc["document_id"]}.pdf"',
            "X-Content-SHA256": doc["sha256"],
        },
    )


def documents_router() -> APIRouter:
    router = APIRouter(tags=["documents"], dependencies=[Depends(require_json_body)])

    @router.get("/v1/templates", summary="The document templates (invoice, proposal, delivery act, ops' own)")
    async def list_templates(deps: DocumentsDep, principal: Reader) -> dict[str, Any]:
        return {"items": [t.model_dump(exclude={"file"}) for t in deps.templates.catalogue.templates]}

    @router.post(
        "/v1/deals/{deal_id}/documents",
        summary="Render a template on the deal's data to PDF, number it, store it with the deal",
        response_model=DocumentView,
        status_code=201,
    )
    async def create_document(
        deps: DocumentsDep,
        principal: Actor,
        caller: CallerDep,
        deal_id: DealIdPath,
        body: NewDocument,
        response: Response,
        idempotency_key: IdempotencyKey = None,
    ) -> DocumentView:
        doc, created = await _answer(documents.create(deps, caller, deal_id, body.template_id, idempotency_key))
        response.status_code = 201 if created else 200
        return DocumentView.of(doc)

    @router.get("/v1/documents/{document_id}", summary="A document's details", response_model=DocumentView)
    async def get_document(
        deps: DocumentsDep, principal: Reader, caller: CallerDep, document_id: DocumentIdPath
    ) -> DocumentView:
        return DocumentView.of(await _answer(documents.get(deps, caller, document_id)))

    @router.get("/v1/documents/{document_id}/file", summary="The document's PDF", response_class=Response)
    async def get_file(
        deps: DocumentsDep, principal: Reader, caller: CallerDep, document_id: DocumentIdPath
    ) -> Response:
        doc = await _answer(documents.get(deps, caller, document_id))
        content = await deps.store.file(document_id)
        if content is None:
            raise ApiError(404, "not_found", f"the file of {document_id} is missing")
        return _pdf(doc, content)

    @router.get(
        "/v1/documents/{document_id}/download",
        dependencies=[Depends(SIGNED_LINK)],
        summary="The document's PDF through a signed, expiring link (what e-mails attach)",
        response_class=Response,
    )
    async def download(
        deps: DocumentsDep,
        document_id: DocumentIdPath,
        expires: Annotated[int, Query(ge=0, le=10**11)],
        signature: Annotated[str, Query(pattern=r"^[a-f0-9]{64}$")],
    ) -> Response:
        if not documents.link_is_valid(deps, document_id, expires, signature):
            raise ApiError(403, "forbidden", "the link is not valid or has expired")
        doc = await deps.store.get(document_id)
        content = await deps.store.file(document_id)
        if doc is None or content is None:
            raise ApiError(404, "not_found", f"no document {document_id}")
        return _pdf(doc, content)

    @router.post(
        "/v1/documents/{document_id}/send",
        summary="E-mail the document to the client (once per address; the second time says it was sent)",
        response_model=DocumentView,
        status_code=202,
    )
    async def send_document(
        deps: DocumentsDep,
        principal: Actor,
        caller: CallerDep,
        document_id: DocumentIdPath,
        body: SendDocument,
        response: Response,
    ) -> DocumentView:
        doc, sent = await _answer(documents.send(deps, caller, document_id, body.to, body.message))
        response.status_code = 202 if sent else 200
        return DocumentView.of(doc)

    return router
