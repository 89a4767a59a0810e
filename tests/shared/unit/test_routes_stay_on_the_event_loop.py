"""Every route and every dependency it declares is a coroutine: FastAPI runs a plain function
on its thread pool, a thread hop per request (under load the request then waits for the
interpreter lock twice). Built in-process: nothing is started."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from support.routes import BUILDERS, api_routes

NOWHERE = {"kafka_bootstrap_servers": "127.0.0.1:9", "mongodb_url": "mongodb://127.0.0.1:9/", "environment": "test"}


def _on_the_loop(call: Any) -> bool:
    """A coroutine function, or an object (a route's access policy) whose `__call__` is one."""
    target = call if inspect.isroutine(call) or inspect.isclass(call) else type(call).__call__
    return inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target)


@pytest.mark.parametrize("service", sorted(BUILDERS))
def test_no_route_or_dependency_runs_on_the_thread_pool(service):
    routes = api_routes(BUILDERS[service](NOWHERE).routes)
    assert routes
    on_threads = []
    for route in routes:
        stack = [route.dependant]
        while stack:
            dependant = stack.pop()
            if dependant.call is not None and not _on_the_loop(dependant.call):
                on_threads.append(
                    f"{sorted(route.methods)} {route.path}: {getattr(dependant.call, '__qualname__', dependant.call)}"
                )
            stack.extend(dependant.dependencies)
    assert not on_threads, on_threads
