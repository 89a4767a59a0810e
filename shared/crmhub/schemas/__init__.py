"""Pydantic schemas of every hub event. Importing this package registers all event types."""

from crmhub.schemas import calls, leads, notifications, team

__all__ = ["calls", "leads", "notifications", "team"]
