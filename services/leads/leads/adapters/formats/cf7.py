"""`cf7`: Contact Form 7 (WordPress) submissions.

Two ways a CF7 form reaches the hub:
- a CF7-to-webhook plugin (e.g. "CF7 to Webhook", wordpress.org/plugins/cf7-to-zapier) posts the
  form's fields as a JSON object keyed by the form-tag names; checkboxes come as lists;
- the form itself posted here (its own submission: URL-encoded or multipart/form-data), with
  CF7's hidden `_wpcf7`, `_wpcf7_version`, `_wpcf7_locale`, `_wpcf7_unit_tag`,
  `_wpcf7_container_post` fields.
The default CF7 form's tag names (contactform7.com/tag-syntax: `your-name`, `your-email`,
`your-subject`, `your-message`), `tel-*` / `email-*` / `acceptance-*` tags and the usual Russian
and English names map onto the canonical lead; the rest become custom fields. The form's id
(`_wpcf7`) and page (`_wpcf7_container_post`) are kept; uploaded files are not taken in.
"""

from __future__ import annotations

import re
from email.parser import BytesParser
from email.policy import HTTP
from typing import TYPE_CHECKING, Any

from crmhub.intake import IntakeError, Received, form_fields, invalid, json_object, require_media_type
from leads.adapters.formats.common import Parsed, canonical_from_flat

if TYPE_CHECKING:
    from leads.adapters.sources import Source

MAX_PARTS = 100
# CF7 tag names by type: `tel-123`, `email-456`, `acceptance-789` (its generator's defaults)
_TAG_TYPES = (
    (re.compile(r"^(your-)?tel(-\d+)?$"), "phone"),
    (re.compile(r"^email-\d+$"), "email"),
    (re.compile(r"^acceptance(-\d+)?$"), "consent"),
    (re.compile(r"^(textarea|your-message)(-\d+)?$"), "message"),
    (re.compile(r"^(text|your-name)(-\d+)?$"), "name"),
)


def _multipart(received: Received) -> dict[str, str]:
    head = f"Content-Type: {received.headers.get('content-type', '')}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + received.body)
    if not message.is_multipart():
        raise IntakeError(400, "malformed_form", "multipart/form-data body without parts")
    fields: dict[str, str] = {}
    for part in list(message.iter_parts())[:MAX_PARTS]:
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or part.get_filename():
            continue  # an uploaded file: not taken in
        payload = part.get_payload(decode=True)
        try:
            text = payload.decode(part.get_content_charset() or "utf-8") if isinstance(payload, bytes) else ""
        except (UnicodeDecodeError, LookupError):
            raise invalid(f"{name[:64]}: not UTF-8 text", field=name[:64]) from None
        fields[name] = f"{fields[name]}, {text}" if name in fields else text
    return fields


def _flat(value: Any) -> str | None:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value if isinstance(v, str | int | float) and not isinstance(v, bool))
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def parse(source: Source, received: Received) -> Parsed:
    require_media_type(received, "application/json", "application/x-www-form-urlencoded", "multipart/form-data")
    if received.media_type == "application/json":
        raw: dict[str, Any] = json_object(received.body)
    elif received.media_type == "multipart/form-data":
        raw = _multipart(received)
    else:
        raw = form_fields(received.body)
    flat = {k: v for k, v in ((k, _flat(v)) for k, v in raw.items()) if v is not None}
    honeypot = flat.pop(source.honeypot_field, None) if source.honeypot_field else None
    form_id, page = flat.get("_wpcf7"), flat.get("_wpcf7_container_post")
    flat = {k: v for k, v in flat.items() if not k.startswith("_wpcf7") and not k.startswith("g-recaptcha")}
    typed = dict(source.field_map)
    for key in flat:
        for pattern, canonical in _TAG_TYPES:
            if key.lower() not in typed and pattern.match(key.lower()):
                typed[key.lower()] = canonical
                break
    fields = canonical_from_flat(flat, field_map=typed)
    extra = {k: v for k, v in (("cf7_form_id", form_id), ("cf7_page_id", page)) if v}
    if extra:
        fields["custom"] = {**fields.get("custom", {}), **extra}
    return Parsed(fields=fields, honeypot=honeypot)
