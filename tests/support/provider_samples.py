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
