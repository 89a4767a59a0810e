"""`tilda`: Tilda's form webhook.

Tilda posts the form's fields under the names the site owner gave them (Name, Phone, Email,
Textarea ...), plus `tranid` (its id of this submission), `formid`, and, when enabled, the
`utm_*` fields and `COOKIES`. It is URL-encoded by default and JSON when so configured. When a
webhook is connected it first sends `test=test`, which must answer 200 and create nothing.
Tilda waits only 5 seconds and retries, so `tranid` is what makes retries harmless.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crmhub.intake import Received, form_fields, json_object, require_media_type
from leads.adapters.formats.common import Parsed, canonical_from_flat

if TYPE_CHECKING:
    from leads.adapters.sources import Source


def parse(source: Source, received: Received) -> Parsed:
    require_media_type(received, "application/x-www-form-urlencoded", "application/json")
    flat: dict[str, Any] = (
        json_object(received.body) if received.media_type == "application/json" else form_fields(received.body)
    )
    if flat.get("test") == "test" and len(flat) <= 2:
        return Parsed(probe=True)
    honeypot = flat.pop(source.honeypot_field, None) if source.honeypot_field else None
    tranid = str(flat.pop("tranid", "") or "") or None
    formid = flat.pop("formid", None)
    fields = canonical_from_flat(
        {k: v for k, v in flat.items() if isinstance(v, str)}, field_map=source.field_map, drop=("cookies",)
    )
    if formid:
        fields.setdefault("custom", {})["tilda_formid"] = str(formid)
    return Parsed(fields=fields, submission_key=f"tilda:{tranid}" if tranid else None, honeypot=honeypot)
