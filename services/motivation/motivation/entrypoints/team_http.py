"""REST for the team directory under /v1/team: create, change, deactivate, list and read
departments and managers. Routes translate HTTP to the use cases (motivation.service_layer.team)
and back, nothing more."""

# No `from __future__ import annotations` here: FastAPI reads the models from the annotations of
# routes built inside a function, which must be real classes, not strings.

from typing import Annotated, Any, Generic, TypeVar

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from crmhub.access import EVERYONE, CallerDep, Policy
from crmhub.aggregate import NotFound
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
    WorkCalendarConfig,
    WorkingHours,
)
from crmhub.web import ApiError, from_app_state, require_json_body
from motivation.adapters.team_store import AlreadyExists
from motivation.service_layer import team as use_cases
from motivation.service_layer.team import DEPARTMENTS, MANAGERS, InvalidReference, Kind, Team

Forbid = ConfigDict(extra="forbid")


class DepartmentCreate(Department):
    model_config = Forbid


class DepartmentUpdate(BaseModel):
    model_config = Forbid
    name: Name | None = None
    region: Region | None = None
    timezone: TimeZoneName | None = None
    calendar: WorkCalendarConfig | None = None
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


TeamDep = Annotated[Team, Depends(from_app_state("team", Team))]


async def _answer(action: Any, out_model: Any) -> Any:
    try:
        state, version = await action
    except NotFound as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    except AlreadyExists as exc:
        raise ApiError(409, "conflict", str(exc), field=exc.field) from None
    except InvalidReference as exc:
        raise ApiError(422, "validation_failed", str(exc), field=exc.field) from None
    return out_model.model_validate({**state.model_dump(), "version": version})


def directory_routes(
    router: APIRouter,
    *,
    plural: str,
    kind: Kind[Any],
    state_model: Any,
    create_model: Any,
    update_model: Any,
    out_model: Any,
    list_filters: Any,
) -> None:
    """Create / get / list / update / deactivate / activate routes for one kind of entry."""
    singular = kind.singular
    read, write = [Depends(Policy(*EVERYONE))], [Depends(Policy("admin"))]

    @router.post(
        f"/{plural}", status_code=201, response_model=out_model, dependencies=write, summary=f"Add a {singular}"
    )
    async def add(team: TeamDep, caller: CallerDep, body: create_model) -> Any:
        return await _answer(
            use_cases.add(team, kind, state_model.model_validate(body.model_dump()), caller), out_model
        )

    @router.get(f"/{plural}/{{entry_id}}", response_model=out_model, dependencies=read, summary=f"Read one {singular}")
    async def get(team: TeamDep, entry_id: EntryPath) -> Any:
        return await _answer(use_cases.get(team, kind, entry_id), out_model)

    @router.get(f"/{plural}", response_model=Page[out_model], dependencies=read, summary=f"List {plural}")
    async def list_entries(
        team: TeamDep, filters: Annotated[dict[str, Any], Depends(list_filters)], limit: Limit = 100, offset: Offset = 0
    ) -> Any:
        entries, total = await kind.store(team).list(filters=filters, limit=limit, offset=offset)
        items = [out_model.model_validate({**s.model_dump(), "version": v}) for s, v in entries]
        return {"items": items, "total": total, "limit": limit, "offset": offset}

    @router.patch(
        f"/{plural}/{{entry_id}}",
        response_model=out_model,
        dependencies=write,
        summary=f"Change fields of a {singular}",
    )
    async def update(team: TeamDep, caller: CallerDep, entry_id: EntryPath, body: update_model) -> Any:
        return await _answer(
            use_cases.change(team, kind, entry_id, body.model_dump(exclude_unset=True), caller), out_model
        )

    @router.post(
        f"/{plural}/{{entry_id}}/deactivate",
        response_model=out_model,
        dependencies=write,
        summary=f"Deactivate a {singular}",
    )
    async def deactivate(team: TeamDep, caller: CallerDep, entry_id: EntryPath) -> Any:
        return await _answer(use_cases.change(team, kind, entry_id, {"active": False}, caller), out_model)

    @router.post(
        f"/{plural}/{{entry_id}}/activate",
        response_model=out_model,
        dependencies=write,
        summary=f"Activate a {singular} again",
    )
    async def activate(team: TeamDep, caller: CallerDep, entry_id: EntryPath) -> Any:
        return await _answer(use_cases.change(team, kind, entry_id, {"active": True}, caller), out_model)


async def _department_filters(
    active: bool | None = None, region: Annotated[str | None, Query(max_length=100)] = None
) -> dict[str, Any]:
    return {"active": active, "region": region}


async def _manager_filters(
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
        kind=DEPARTMENTS,
        state_model=Department,
        create_model=DepartmentCreate,
        update_model=DepartmentUpdate,
        out_model=DepartmentOut,
        list_filters=_department_filters,
    )
    directory_routes(
        router,
        plural="managers",
        kind=MANAGERS,
        state_model=Manager,
        create_model=ManagerCreate,
        update_model=ManagerUpdate,
        out_model=ManagerOut,
        list_filters=_manager_filters,
    )
    return router
