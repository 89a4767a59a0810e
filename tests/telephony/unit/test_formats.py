"""Each telephony format from its provider's documented fields and signature scheme."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest

from crmhub.intake import IntakeError, Received
from support.telephony import FORM, mango_request, request, run, zadarma_request
from telephony.adapters.formats import twilio, zadarma
from telephony.domain.call import merge

CDR = {
    "calldate": "2026-11-26 12:00:00",
    "answer": "2026-11-26 12:00:07",
    "end": "2026-11-26 12:03:07",
    "clid": '"Client" <89165554433>',
    "src": "89165554433",
    "dst": "74951110000",
    "dcontext": "from-trunk",
    "channel": "SIP/trunk-00000001",
    "dstchannel": "SIP/101-00000002",
    "duration": "187",
    "billsec": "180",
    "disposition": "ANSWERED",
    "uniqueid": "1700000000.1",
    "linkedid": "1700000000.1",
    "recordingfile": "2026/11/26/in-1700000000.1.wav",
}


def test_asterisk_cdr_local_times_take_the_providers_zone():
    parsed = run(
        "asterisk", request(json.dumps(CDR), headers={"x-api-key": "s3cret-value-123"}), timezone="Asia/Novosibirsk"
    )
    call = merge(parsed.facts)
    assert call.started_at == datetime(2026, 11, 26, 5, 0, tzinfo=UTC)  # 12:00 in Novosibirsk (UTC+7)
    assert call.answered_at == datetime(2026, 11, 26, 5, 0, 7, tzinfo=UTC)
    assert (call.direction, call.outcome, call.talk_seconds, call.extension) == ("inbound", "answered", 180.0, "101")
    assert call.recording_url == "2026/11/26/in-1700000000.1.wav"


def test_asterisk_legs_of_one_call_merge_by_linkedid():
    busy_leg = {
        **CDR,
        "uniqueid": "1700000000.2",
        "dstchannel": "SIP/102-00000003",
        "disposition": "NO ANSWER",
        "billsec": "0",
        "answer": "",
    }
    parsed = run("asterisk", request(json.dumps([busy_leg, CDR]), headers={"x-api-key": "s3cret-value-123"}))
    call = merge(parsed.facts)
    assert call.outcome == "answered"
    assert set(call.redirects) == {"101", "102"}


def test_asterisk_outbound_from_an_extension():
    cdr = {
        **CDR,
        "src": "101",
        "dst": "89165554433",
        "channel": "SIP/101-0000",
        "dstchannel": "SIP/trunk-0001",
        "disposition": "NO ANSWER",
        "billsec": "0",
    }
    call = merge(run("asterisk", request(json.dumps(cdr), headers={"x-api-key": "s3cret-value-123"})).facts)
    assert (call.direction, call.outcome, call.extension) == ("outbound", "missed", "101")


def test_asterisk_needs_its_key_and_a_real_disposition():
    with pytest.raises(IntakeError) as error:
        run("asterisk", request(json.dumps(CDR), headers={"x-api-key": "wrong"}))
    assert error.value.status == 401
    with pytest.raises(IntakeError, match="disposition"):
        run("asterisk", request(json.dumps({**CDR, "disposition": "MAYBE"}), headers={"x-api-key": "s3cret-value-123"}))


def test_zadarma_notifications_with_their_signatures():
    base = {
        "pbx_call_id": "in_123",
        "caller_id": "+79165554433",
        "called_did": "74951110000",
        "call_start": "2026-11-26 12:00:00",
    }
    start = run(
        "zadarma", zadarma_request({"event": "NOTIFY_START", **base}, ("caller_id", "called_did", "call_start"))
    )
    answer = run(
        "zadarma",
        zadarma_request(
            {"event": "NOTIFY_ANSWER", **base, "destination": "101"}, ("caller_id", "destination", "call_start")
        ),
    )
    end_fields = {
        "event": "NOTIFY_END",
        **base,
        "internal": "101",
        "duration": "95",
        "disposition": "answered",
        "status_code": "16",
        "is_recorded": "1",
    }
    end = run("zadarma", zadarma_request(end_fields, ("caller_id", "called_did", "call_start")))
    call = merge(start.facts + answer.facts + end.facts)
    assert (call.direction, call.outcome, call.extension, call.line) == ("inbound", "answered", "101", "74951110000")
    assert call.talk_seconds == 95.0


def test_zadarma_unanswered_incoming_is_missed_and_forged_signatures_are_refused():
    fields = {
        "event": "NOTIFY_END",
        "pbx_call_id": "in_9",
        "caller_id": "+79165554433",
        "called_did": "74951110000",
        "call_start": "2026-11-26 12:00:00",
        "duration": "20",
        "disposition": "cancel",
    }
    call = merge(run("zadarma", zadarma_request(fields, ("caller_id", "called_did", "call_start"))).facts)
    assert call.outcome == "missed"
    forged = request(urlencode(fields), FORM, headers={"signature": zadarma.sign("guess", "x")})
    with pytest.raises(IntakeError) as error:
        run("zadarma", forged)
    assert error.value.status == 401


def test_zadarma_url_check_echoes_zd_echo():
    parsed = run("zadarma", request(b"", "", query={"zd_echo": "a1b2c3"}, method="GET"))
    assert parsed.reply == ("a1b2c3", "text/plain")


def test_mango_call_states_out_of_order_and_the_summary():
    appeared = {
        "entry_id": "MTIz",
        "call_id": "c1",
        "timestamp": 1764158400,
        "seq": 1,
        "call_state": "Appeared",
        "location": "abonent",
        "from": {"number": "79165554433"},
        "to": {"extension": "101", "number": "74951110000", "line_number": "74951110000"},
    }
    connected = {**appeared, "seq": 2, "timestamp": 1764158405, "call_state": "Connected"}
    summary = {
        "entry_id": "MTIz",
        "call_direction": 1,
        "from": {"number": "79165554433"},
        "to": {"extension": "101", "number": "74951110000"},
        "line_number": "74951110000",
        "create_time": 1764158400,
        "forward_time": 1764158401,
        "talk_time": 1764158405,
        "end_time": 1764158500,
        "entry_result": 1,
        "disconnect_reason": 1110,
    }
    facts = []
    for payload, kind in ((summary, "summary"), (connected, "call"), (appeared, "call")):
        facts += run("mango", mango_request(payload, kind), key="mango-key").facts
    call = merge(facts)
    assert (call.direction, call.outcome, call.extension) == ("inbound", "answered", "101")
    assert call.ring_seconds == 5.0
    assert call.ended_at == datetime.fromtimestamp(1764158500, UTC)


def test_mango_sign_must_cover_key_json_and_salt():
    received = mango_request({"entry_id": "x", "call_state": "Appeared", "timestamp": 1}, "call")
    with pytest.raises(IntakeError) as error:
        run("mango", received, key="other-key")
    assert error.value.status == 401


def _twilio(params: dict[str, str], url: str = "https://hub.example/v1/telephony/p/events") -> Received:
    return request(
        urlencode(params),
        FORM,
        headers={"x-twilio-signature": twilio.signature("s3cret-value-123", url, params)},
        url=url,
    )


def test_twilio_status_callbacks_signed_over_url_and_sorted_params():
    common = {
        "CallSid": "CA123",
        "AccountSid": "AC1",
        "From": "+79165554433",
        "To": "+74951110000",
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
    }
    ringing = run(
        "twilio",
        _twilio(
            {**common, "CallStatus": "ringing", "SequenceNumber": "0", "Timestamp": "Thu, 26 Nov 2026 12:00:00 +0000"}
        ),
    )
    done = run(
        "twilio",
        _twilio(
            {
                **common,
                "CallStatus": "no-answer",
                "SequenceNumber": "2",
                "Timestamp": "Thu, 26 Nov 2026 12:00:30 +0000",
                "CallDuration": "0",
            }
        ),
    )
    call = merge(ringing.facts + done.facts)
    assert (call.direction, call.outcome) == ("inbound", "missed")
    assert call.ring_seconds == 30.0


def test_twilio_checks_the_public_url_it_was_given():
    params = {"CallSid": "CA1", "CallStatus": "completed", "CallDuration": "10", "From": "+1", "To": "+2"}
    received = _twilio(params, url="https://public.example/hook")
    run("twilio", received, public_url="https://public.example/hook")
    with pytest.raises(IntakeError):
        run("twilio", received, public_url="https://other.example/hook")


def test_bitrix24_register_and_finish():
    register = {
        "CALL_ID": "externalCall.abc",
        "USER_PHONE_INNER": "102",
        "PHONE_NUMBER": "+79165554433",
        "TYPE": "2",
        "CALL_START_DATE": "2026-11-26T12:00:00+03:00",
        "LINE_NUMBER": "74952220000",
        "CRM_CREATE": "1",
    }
    finish = {
        "CALL_ID": "externalCall.abc",
        "USER_PHONE_INNER": "102",
        "DURATION": "0",
        "STATUS_CODE": "304",
        "CALL_END_DATE": "2026-11-26T12:00:40+03:00",
    }
    key = {"x-api-key": "s3cret-value-123"}
    call = merge(
        run("bitrix24", request(json.dumps(register), headers=key)).facts
        + run("bitrix24", request(json.dumps(finish), headers=key)).facts
    )
    assert (call.direction, call.caller, call.outcome, call.line, call.extension) == (
        "inbound",
        "+79165554433",
        "missed",
        "74952220000",
        "102",
    )
    with pytest.raises(IntakeError, match="STATUS_CODE"):
        run("bitrix24", request(json.dumps({**finish, "STATUS_CODE": "999"}), headers=key))


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b'{"call_id": "x"', 400),
        (b'{"call_id": "x", "event": "ended", "at": "2026-11-26T12:00:00Z"}', 422),
        (b'{"call_id": "x", "event": "started", "at": "yesterday"}', 422),
        (b'{"call_id": {"$gt": ""}, "event": "started", "at": "2026-11-26T12:00:00Z"}', 422),
        (b'{"call_id": "x", "event": "started", "at": "2026-11-26T12:00:00"}', 422),
        (b'{"call_id": "x", "event": "started", "at": "2026-11-26T12:00:00Z", "evil": 1}', 422),
    ],
)
def test_canonical_json_refuses_what_it_cannot_use(body, status):
    with pytest.raises(IntakeError) as error:
        run("json", request(body, headers={"x-api-key": "s3cret-value-123"}))
    assert error.value.status == status
