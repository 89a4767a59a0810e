"""REST for the team directory under /v1/team: create, change, deactivate, list and read
departments and managers. Routes translate HTTP to the domain and back, nothing more."""

# No `from __future__ import annotations` here: FastAPI reads the models from the annotations of
# routes built inside a function, which must be real classes, not strings.

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from crmhub.schemas.team import (
    ENTITY_ID_PATTERN,
    Absence,
    Department,
    Email,
    EntityId,
    Language,
    Manager,
    Name,
    NotificationPreferences,
    Phone,
    Region,
    TelegramChatId,
    TimeZoneName,
    WorkingHours,
)
from crmhub.web import ApiError, require_json_body
from motivation.adapters.team_store import AlreadyExists, DirectoryStore, VersionConflict
from motivation.domain.team import create, revise

Forbid = ConfigDict(extra="forbid")


class DepartmentCreate(Department):
    model_config = Forbid


class DepartmentUpdate(BaseModel):
    model_config = Forbid
    name: Name | None = None
    region: Region | None = None
    timezone: TimeZoneName | None = None
    seasonal: bool | None = None
    head_manager_id: EntityId | None = None
    active: bool | None = None


class DepartmentOut(Department):
    version: int


class ManagerCreate(Manager):
    model_config = Forbid


class ManagerUpdate(BaseModel):
    model_config = Forbid
    name: Name | None = None
    department_id: EntityId | None = None
    region: Region | None = None
    email: Email | None = None
    phone: Phone | None = None
    telegram_chat_id: TelegramChatId | None = None
    language: Language | None = None
    working_hours: WorkingHours | None = None
    absences: Annotated[list[Absence], Field(max_length=100)] | None = None
    active: bool | None = None
    capacity: Annotated[int, Field(ge=0, le=10_000)] | None = None
    base_salary: Annotated[Decimal, Field(ge=0, le=Decimal("1e9"), decimal_places=2)] | None = None
    notifications: NotificationPreferences | None = None


class ManagerOut(Manager):
    version: int


Out = TypeVar("Out", DepartmentOut, ManagerOut)


class Page(BaseModel, Generic[Out]):
    items: list[Out]
    total: int
    limit: int
    offset: int


EntryPath = Annotated[str, Path(pattern=ENTITY_ID_PATTERN, description="Directory id: letters, digits, '.', '_', '-'")]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]
RefCheck = Callable[[Any], Awaitable[None]]


def _source(request: Request) -> str:
    return f"/crm/{request.app.state.service_name}"


def _now() -> datetime:
    return datetime.now(UTC)


def directory_routes(
    router: APIRouter,
    *,
    plural: str,
    singular: str,
    store: Callable[[Request], DirectoryStore[Any]],
    state_model: Any,
    create_model: Any,
    update_model: Any,
    out_model: Any,
    check_references: Callable[[Request, Any], Awaitable[None]],
    list_filters: Callable[..., dict[str, Any]],
) -> None:
    """Create / get / list / update / deactivate / activate routes for one kind of entry."""

    def out(state: Any, version: int) -> Any:
        return out_model.model_validate({**state.model_dump(), "version": version})

    async def load(request: Request, entry_id: str) -> tuple[Any, int]:
        found = await store(request).get(entry_id)
        if found is None:
            raise ApiError(404, "not_found", f"no {singular} with id {entry_id!r}")
        return found

    async def change(request: Request, entry_id: str, changes: dict[str, Any]) -> Any:
        for _ in range(5):  # optimistic concurrency: reload and decide again on a concurrent change
            current, version = await load(request, entry_id)
            try:
                revision = revise(current, version, changes, source=_source(request), now=_now())
            except ValidationError as exc:
                fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors())
                raise ApiError(422, "validation_failed", f"invalid field(s): {fields}: {exc.errors()[0]['msg']}") from None
            if revision is None:
                return out(current, version)
            await check_references(request, revision.state)
            try:
                await store(request).save(revision, expected_version=version)
            except VersionConflict:
                continue
            except AlreadyExists as exc:
                raise ApiError(409, "conflict", str(exc), field=exc.field) from None
            return out(revision.state, revision.version)
        raise ApiError(409, "conflict", f"{singular} {entry_id!r} is being changed concurrently; retry")

    @router.post(f"/{plural}", status_code=201, response_model=out_model, summary=f"Add a {singular}")
    async def add(request: Request, body: create_model) -> Any:
        state = state_model.model_validate(body.model_dump())
        revision = create(state, source=_source(request), now=_now())
        await check_references(request, revision.state)
        try:
            await store(request).add(revision)
        except AlreadyExists as exc:
            raise ApiError(409, "conflict", str(exc), field=exc.field) from None
        return out(revision.state, revision.version)

    @router.get(f"/{plural}/{{entry_id}}", response_model=out_model, summary=f"Read one {singular}")
    async def get(request: Request, entry_id: EntryPath) -> Any:
        return out(*await load(request, entry_id))

    @router.get(f"/{plural}", response_model=Page[out_model], summary=f"List {plural}")
    async def list_entries(request: Request, filters: Annotated[dict[str, Any], Depends(list_filters)], limit: Limit = 100, offset: Offset = 0) -> Any:
        entries, total = await store(request).list(filters=filters, limit=limit, offset=offset)
        return {"items": [out(s, v) for s, v in entries], "total": total, "limit": limit, "offset": offset}

    @router.patch(f"/{plural}/{{entry_id}}", response_model=out_model, summary=f"Change fields of a {singular}")
    async def update(request: Request, entry_id: EntryPath, body: update_model) -> Any:
        return await change(request, entry_id, body.model_dump(exclude_unset=True))

    @router.post(f"/{plural}/{{entry_id}}/deactivate", response_model=out_model, summary=f"Deactivate a {singular}")
    async def deactivate(request: Request, entry_id: EntryPath) -> Any:
        return await change(request, entry_id, {"active": False})

    @router.post(f"/{plural}/{{entry_id}}/activate", response_model=out_model, summary=f"Activate a {singular} again")
    async def activate(request: Request, entry_id: EntryPath) -> Any:
        return await change(request, entry_id, {"active": True})


def _departments(request: Request) -> DirectoryStore[Department]:
    store: DirectoryStore[Department] = request.app.state.departments
    return store


def _managers(request: Request) -> DirectoryStore[Manager]:
    store: DirectoryStore[Manager] = request.app.state.managers
    return store


async def _check_department_refs(request: Request, department: Department) -> None:
    if department.head_manager_id is not None and await _managers(request).get(department.head_manager_id) is None:
        raise ApiError(422, "validation_failed", f"head_manager_id: no manager with id {department.head_manager_id!r}", field="head_manager_id")


async def _check_manager_refs(request: Request, manager: Manager) -> None:
    if await _departments(request).get(manager.department_id) is None:
        raise ApiError(422, "validation_failed", f"department_id: no department with id {manager.department_id!r}", field="department_id")


def _department_filters(active: bool | None = None, region: Annotated[str | None, Query(max_length=100)] = None) -> dict[str, Any]:
    return {"active": active, "region": region}


def _manager_filters(
    active: bool | None = None,
    department_id: Annotated[str | None, Query(pattern=ENTITY_ID_PATTERN)] = None,
    region: Annotated[str | None, Query(max_length=100)] = None,
) -> dict[str, Any]:
    return {"active": active, "department_id": department_id, "region": region}


def team_router() -> APIRouter:
    router = APIRouter(prefix="/v1/team", tags=["team directory"], dependencies=[Depends(require_json_body)])
    directory_routes(
        router,
        plural="departments",
        singular="department",
        store=_departments,
        state_model=Department,
        create_model=DepartmentCreate,
        update_model=DepartmentUpdate,
        out_model=DepartmentOut,
        check_references=_check_department_refs,
        list_filters=_department_filters,
    )
    directory_routes(
        router,
        plural="managers",
        singular="manager",
        store=_managers,
        state_model=Manager,
        create_model=ManagerCreate,
        update_model=ManagerUpdate,
        out_model=ManagerOut,
        check_references=_check_manager_refs,
        list_filters=_manager_filters,
    )
    return router
