"""Pydantic schemas of every hub event. Importing this package registers all event types."""

from crmhub.schemas import calls, inbound, leads, notifications, team

__all__ = ["calls", "inbound", "leads", "notifications", "team"]
