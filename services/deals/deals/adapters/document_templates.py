"""Document templates are data: a folder with `templates.json` (the catalogue), the HTML
templates (Jinja2 with a print stylesheet) and `seller.json` (the company's requisites). The
default folder is `deals/config/documents`; DEALS_DOCUMENTS_DIR names ops' own. A template is
rendered strictly (a missing field is an error, never a blank) and turned into PDF by WeasyPrint."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import weasyprint
from babel.dates import format_date
from babel.numbers import format_decimal
from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError, select_autoescape
from pydantic import ValidationError

from deals.domain.documents import DocumentTemplate, TemplateCatalogue

logging.getLogger("weasyprint").setLevel(logging.WARNING)  # its progress is not the service's news
logging.getLogger("fontTools").setLevel(logging.WARNING)
DEFAULT_DIR = Path(__file__).resolve().parent.parent / "config" / "documents"


class TemplateBroken(Exception):
    """The template cannot be rendered on this deal's data (HTTP 422 naming the template)."""


def _money(value: Any) -> str:
    return str(format_decimal(Decimal(str(value)), format="#,##0.00", locale="ru_RU"))


def _quantity(value: Any) -> str:
    return str(format_decimal(Decimal(str(value)), format="#,##0.###", locale="ru_RU"))


def _date_ru(value: date) -> str:
    return str(format_date(value, "d MMMM y", locale="ru"))


@dataclass
class DocumentTemplates:
    folder: Path
    catalogue: TemplateCatalogue
    seller: dict[str, Any]
    environment: Environment

    @classmethod
    def load(cls, folder: Path | None = None) -> DocumentTemplates:
        folder = (folder or DEFAULT_DIR).resolve()
        try:
            catalogue = TemplateCatalogue.model_validate(json.loads((folder / "templates.json").read_text("utf-8")))
            seller = json.loads((folder / "seller.json").read_text("utf-8"))
        except (OSError, ValueError, ValidationError) as exc:
            raise RuntimeError(f"document templates in {folder} cannot be used: {exc}") from exc
        missing = [t.file for t in catalogue.templates if not (folder / t.file).is_file()]
        if missing:
            raise RuntimeError(f"document templates in {folder}: missing {', '.join(missing)}")
        environment = Environment(
            loader=FileSystemLoader(folder),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        environment.filters.update(money=_money, quantity=_quantity, date_ru=_date_ru)
        return cls(folder, catalogue, seller, environment)

    def template(self, template_id: str) -> DocumentTemplate | None:
        return self.catalogue.by_id(template_id)

    def html(self, template: DocumentTemplate, context: dict[str, Any]) -> str:
        try:
            return self.environment.get_template(template.file).render(**context)
        except TemplateError as exc:
            raise TemplateBroken(f"template {template.id!r} cannot be rendered on this deal: {exc}") from None

    def pdf(self, html: str) -> bytes:
        """The PDF of a rendered template (fonts from the system; nothing is fetched)."""
        document = weasyprint.HTML(string=html, base_url=str(self.folder), url_fetcher=_no_fetching)
        return bytes(document.write_pdf())


def _no_fetching(url: str, *args: Any, **kwargs: Any) -> Any:
    raise ValueError(f"documents load nothing from outside: {url}")
