"""Pydantic schemas of every hub event. Importing this package registers all event types."""

from crmhub.schemas import team

__all__ = ["team"]
