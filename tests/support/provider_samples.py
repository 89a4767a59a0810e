"""Provider payloads shaped as each provider's public documentation shows them (the source is
named at each), for the format tests and the format fuzzers."""

from __future__ import annotations

# Mango Office, "API Виртуальной АТС" (mango-office.ru/support/api), the events/summary notification ("Уведомление о завершении вызова"):
# create_time, forward_time, talk_time, end_time are unix times, 0 when the stage never happened.
MANGO_SUMMARY = {
    "entry_id": "MTA1NzU5Mzo1MDI6NjI1ODM4MzQ=",
    "call_direction": 1,
    "from": {"number": "79165554433"},
    "to": {"number": "74951110000"},
    "line_number": "74951110000",
    "create_time": 1764158400,
    "forward_time": 0,
    "talk_time": 0,
    "end_time": 1764158460,
    "entry_result": 1,
    "disconnect_reason": 1110,
}


# Bitrix24 REST, telephony.externalcall.register: "Метод возвращает CALL_ID"; the request names
# the user by USER_ID or USER_PHONE_INNER.
BITRIX_REGISTER = {
    "USER_ID": "17",
    "PHONE_NUMBER": "+79165554433",
    "CALL_START_DATE": "2026-11-26T12:00:00+03:00",
    "CRM_CREATE": 1,
    "SHOW": 0,
    "TYPE": 2,
    "LINE_NUMBER": "74952220000",
}


# docs.asterisk.org, "Asterisk Standard CDR Fields"; FreePBX's dialplan contexts
# (from-internal for phones, from-trunk / from-pstn for trunks) and its `did` CDR column.
ASTERISK_OUTBOUND_BUSY = {
    "calldate": "2026-11-26 12:10:00",
    "clid": '"Anna" <101>',
    "src": "101",
    "dst": "89165554433",
    "dcontext": "from-internal",
    "channel": "PJSIP/101-00000011",
    "dstchannel": "PJSIP/mts-trunk-00000012",
    "lastapp": "Dial",
    "duration": "5",
    "billsec": "0",
    "disposition": "BUSY",
    "uniqueid": "1764159000.17",
    "linkedid": "1764159000.17",
}


# developer.signalwire.com/freeswitch "mod_json_cdr" (encode-values: URL-encoded values) and
# "CDR" (the sample XML CDR): variables and callflow/caller_profile, epochs in seconds.
FS_VARIABLES = {
    "direction": "inbound",
    "uuid": "80183ec8-d424-11e3-8fb2-65b6c3cdac7d",
    "call_uuid": "80183ec8-d424-11e3-8fb2-65b6c3cdac7d",
    "caller_id_number": "%2B79165554433",
    "destination_number": "74951110000",
    "dialed_user": "101",
    "start_epoch": "1764158400",
    "answer_epoch": "1764158408",
    "end_epoch": "1764158468",
    "duration": "68",
    "billsec": "60",
    "hangup_cause": "NORMAL_CLEARING",
}
FS_JSON = {
    "core-uuid": "4b6c4c5e-d41f-11e3-8f7e-65b6c3cdac7d",
    "switchname": "pbx",
    "channel_data": {"state": "CS_REPORTING", "direction": "inbound"},
    "variables": FS_VARIABLES,
    "callflow": [
        {
            "profile_index": "1",
            "caller_profile": {
                "caller_id_number": "%2B79165554433",
                "destination_number": "74951110000",
                "context": "public",
                "uuid": "80183ec8-d424-11e3-8fb2-65b6c3cdac7d",
            },
            "times": {"created_time": "1764158400000000", "answered_time": "1764158408000000"},
        }
    ],
}


# The canonical shapes and a few more samples the format fuzzers start from (the documented
# samples above, and these shaped as each provider's docs show them).
CANONICAL_CALL = {
    "call_id": "fz-1",
    "event": "ended",
    "at": "2026-11-26T12:00:00Z",
    "outcome": "missed",
    "extension": "101",
    "direction": "inbound",
    "caller": "+79165554433",
    "talk_seconds": 3,
    "seq": 2,
}
ZADARMA_END = {
    "event": "NOTIFY_END",
    "pbx_call_id": "in_fz",
    "caller_id": "+79165554433",
    "called_did": "74951110000",
    "call_start": "2026-11-26 12:00:00",
    "duration": "20",
    "disposition": "answered",
    "internal": "101",
    "is_recorded": "1",
    "call_id_with_rec": "in_fz.rec",
}
TWILIO_DONE = {
    "CallSid": "CAfz",
    "CallStatus": "completed",
    "CallDuration": "61",
    "From": "+79165554433",
    "To": "+74951110000",
    "Direction": "inbound",
    "SequenceNumber": "3",
    "Timestamp": "Thu, 26 Nov 2026 12:01:01 +0000",
}

CANONICAL_LEAD = {
    "name": "Ольга",
    "phone": "+79161234567",
    "email": "olga@example.org",
    "message": "Перезвоните",
    "product": "Кухня",
    "region": "Москва",
    "page_url": "https://shop.example/kitchen",
    "utm": {"source": "yandex", "medium": "cpc", "campaign": "kitchen"},
    "consent": True,
    "custom": {"budget": "300000", "rooms": 3},
    "submission_id": "site-1",
}
TILDA_FORM = {
    "Name": "Ира",
    "Phone": "+79161234567",
    "Email": "ira@example.org",
    "tranid": "8800:555",
    "formid": "f1",
    "utm_source": "vk",
    "COOKIES": "_ym_uid=1",
}
BITRIX_LEAD = {
    "fields": {
        "TITLE": "Заявка",
        "NAME": "Глеб",
        "LAST_NAME": "Титов",
        "OPPORTUNITY": 12500,
        "CURRENCY_ID": "RUB",
        "PHONE": [{"VALUE": "555888", "VALUE_TYPE": "WORK"}, {"VALUE": "+79001234567", "VALUE_TYPE": "MOBILE"}],
        "EMAIL": [{"VALUE": "gleb@example.com", "VALUE_TYPE": "WORK"}],
        "WEB": [{"VALUE": "www.mysite.com", "VALUE_TYPE": "WORK"}],
        "ORIGIN_ID": "b24-1",
    },
    "params": {"REGISTER_SONET_EVENT": "Y"},
}
TYPEFORM_RESPONSE = {
    "event_id": "LtWXD3crgy",
    "event_type": "form_response",
    "form_response": {
        "form_id": "lT4Z3j",
        "token": "tok-1",
        "submitted_at": "2026-11-26T12:00:00Z",
        "hidden": {"utm_source": "google"},
        "definition": {
            "fields": [{"id": "a1", "title": "Your name?", "type": "short_text", "ref": "01FKQZ2EAS5XW8A0BJ3SYG2PDE"}]
        },
        "answers": [
            {"type": "text", "text": "Laura", "field": {"id": "a1", "type": "short_text"}},
            {
                "type": "phone_number",
                "phone_number": "+79161234567",
                "field": {"id": "a2", "type": "phone_number", "ref": "p"},
            },
        ],
    },
}
AMO_UNSORTED = {
    "source_uid": "amo-1",
    "source_name": "site",
    "created_at": 1764158400,
    "metadata": {"form_id": "1", "form_name": "Заказ", "form_page": "https://shop.example", "phone": 79161234567},
    "_embedded": {
        "leads": [{"name": "Диван", "price": 53000}],
        "contacts": [
            {
                "name": "Анна",
                "custom_fields_values": [
                    {"field_code": "PHONE", "values": [{"value": "+79160000001", "enum_code": "WORK"}]}
                ],
            }
        ],
    },
}
CF7_PLUGIN = {
    "your-name": "Ольга",
    "your-email": "olga@example.org",
    "tel-214": "+79161234567",
    "your-subject": "Диван",
    "your-message": "Перезвоните",
    "checkbox-9": ["синий", "зелёный"],
    "acceptance-1": "1",
    "_wpcf7": "42",
}
# Bitrix24's ONEXTERNALCALLSTART as a form (b24restdocs on-external-call-start.md), without its auth
BITRIX_CALL_START = {
    "event": "ONEXTERNALCALLSTART",
    "data[PHONE_NUMBER]": "+79165554433",
    "data[USER_ID]": "17",
    "data[CALL_ID]": "externalCall.fz",
    "ts": "1764158400",
}
