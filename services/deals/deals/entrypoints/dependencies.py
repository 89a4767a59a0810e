"""FastAPI dependencies of the deals routes, as `Annotated` aliases."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, Any, TypeVar

from fastapi import Depends

from crmhub.aggregate import NotFound
from crmhub.web import ApiError, ExpectedVersion, from_app_state
from deals.domain.deal import DealRefused
from deals.domain.pipeline import InvalidMove
from deals.domain.tasks import NoSuchTask, TaskConflict
from deals.service_layer.context import Deals
from deals.service_layer.deals import StaleVersion

T = TypeVar("T")


DealsDep = Annotated[Deals, Depends(from_app_state("deals", Deals))]


async def answer(action: Awaitable[T]) -> T:
    """Run a use case; its refusals become the API's errors."""
    try:
        return await action
    except (NotFound, NoSuchTask) as exc:
        raise ApiError(404, "not_found", f"not found: {exc}") from None
    except InvalidMove as exc:
        raise ApiError(
            409, "invalid_move", str(exc), extra={"current_stage": exc.current, "allowed": exc.allowed}
        ) from None
    except StaleVersion as exc:
        raise ApiError(409, "stale_version", str(exc)) from None
    except TaskConflict as exc:
        raise ApiError(409, "conflict", str(exc)) from None
    except DealRefused as exc:
        raise ApiError(422, "validation_failed", str(exc), field=exc.field) from None
    except PermissionError as exc:
        raise ApiError(403, "forbidden", str(exc)) from None
    except ValueError as exc:
        raise ApiError(422, "validation_failed", str(exc), field="manager_id") from None


__all__ = ["DealsDep", "ExpectedVersion", "answer", "etag"]


def etag(version: int | None) -> dict[str, Any]:
    return {"ETag": f'"{version or 1}"'}
