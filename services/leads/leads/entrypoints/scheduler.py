"""Time-driven work: leads waiting for a shift start, first-response SLA deadlines, and the
periodic re-count of open leads per manager. Every instance runs it; the version check on each
lead makes concurrent runs harmless."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from leads.handlers import LeadHandlers

log = logging.getLogger("leads.scheduler")


async def run_scheduler(handlers: LeadHandlers, *, every_seconds: float, recount_seconds: float, ready: asyncio.Event | None = None) -> None:
    last_recount = float("-inf")
    while True:
        if ready is None or ready.is_set():
            try:
                if time.monotonic() - last_recount > recount_seconds:
                    await handlers.recount_loads()
                    last_recount = time.monotonic()
                await handlers.assign_waiting()
                await handlers.escalate_overdue()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("scheduler round failed; it runs again")
        with contextlib.suppress(TimeoutError):
            await asyncio.sleep(every_seconds)
