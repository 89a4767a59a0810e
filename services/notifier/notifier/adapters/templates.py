"""Message texts: Jinja2 templates per event and language (Russian by default, English too).
Loaded from files (the shipped ones, or NOTIFIER_TEMPLATES_DIR). A template file's first line is
the subject, the rest the body. Undefined values are errors:
a broken template must fail loudly, not send a half-empty message."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError, pass_context
from jinja2.runtime import Context

from notifier.domain.delivery import BrokenTemplate, Message

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


@pass_context
def _localtime(context: Context, value: Any) -> str:
    """A time as the recipient reads it: in their department's zone, `dd.mm.yyyy HH:MM`."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment.astimezone(ZoneInfo(context.get("_timezone", "UTC"))).strftime("%d.%m.%Y %H:%M")


class Templates:
    def __init__(self, directory: Path = TEMPLATES) -> None:
        # plain text messages, not HTML: nothing to escape
        self.env = Environment(loader=FileSystemLoader(directory), undefined=StrictUndefined, autoescape=False)  # noqa: S701
        self.env.filters["localtime"] = _localtime

    def render(self, template: str, language: str, context: dict[str, Any], *, timezone: str = "UTC") -> Message:
        name = f"{language}/{template}.txt"
        try:
            try:
                loaded = self.env.get_template(name)
            except TemplateError:  # no translation yet: Russian, the default language
                loaded = self.env.get_template(f"ru/{template}.txt")
            rendered = loaded.render(**context, _timezone=timezone).strip()
        except (TemplateError, ValueError, TypeError) as exc:
            raise BrokenTemplate(f"template {name} cannot render: {exc}") from exc
        subject, _, text = rendered.partition("\n")
        return Message(subject=subject.strip(), text=text.strip())
