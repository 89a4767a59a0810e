"""Telephony formats against the providers' own documentation: each sample below is shaped as
the named page documents it (values changed to ours), and the behaviour asserted is what an
integrator pointing that provider at the hub would see."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest

from crmhub.intake import IntakeError
from support.provider_samples import ASTERISK_OUTBOUND_BUSY, BITRIX_REGISTER, FS_JSON, FS_VARIABLES, MANGO_SUMMARY
from support.telephony import FORM, mango_request, provider, request, run, zadarma_request
from telephony.adapters.formats import bitrix24, twilio
from telephony.domain.call import merge
from telephony.service_layer.calls import record_maker

KEY = {"x-api-key": "s3cret-value-123"}


def test_mango_a_call_that_only_reached_the_voice_menu_is_missed_not_answered():
    call = merge(run("mango", mango_request(MANGO_SUMMARY, "summary"), key="mango-key").facts)
    assert (call.outcome, call.answered_at, call.talk_seconds) == ("missed", None, None)


def test_mango_a_numeric_extension_still_names_the_manager():
    summary = {**MANGO_SUMMARY, "to": {"extension": 101, "number": "74951110000"}}
    summary |= {"forward_time": 1764158401, "talk_time": 1764158410}
    config = provider("mango", key="mango-key")
    call = merge(run("mango", mango_request(summary, "summary"), key="mango-key").facts)
    record = record_maker(config, "c1", "http://hub")(call)
    assert (record.outcome, record.manager_id, record.ring_seconds, record.talk_seconds) == ("answered", "anna", 10, 50)


def test_mango_connected_in_the_voice_menu_is_not_an_answer():
    # the events/call notification: `location` is ivr, queue or abonent
    connected = {
        "entry_id": "MTIz",
        "call_id": "c1",
        "timestamp": 1764158405,
        "seq": 2,
        "call_state": "Connected",
        "location": "ivr",
        "from": {"number": "79165554433"},
        "to": {"number": "74951110000", "line_number": "74951110000"},
    }
    assert run("mango", mango_request(connected, "call"), key="mango-key").facts == []


def test_mango_dtmf_and_other_notifications_are_acknowledged_and_recordings_kept_by_id():
    # events/dtmf and events/recording as the API documents them
    dtmf = {"seq": 1, "dtmf": "1", "timestamp": 1764158405, "call_id": "c1", "entry_id": "MTIz", "location": "ivr"}
    assert run("mango", mango_request(dtmf, "dtmf"), key="mango-key").facts == []
    recording = {
        "entry_id": "MTIz",
        "call_id": "c1",
        "extension": "101",
        "recording_id": "MToxMDA1NzU5MzoxNDM0ODEyMzg3OjA=",
        "recording_state": "Completed",
        "seq": 3,
        "timestamp": 1764158500,
    }
    (fact,) = run("mango", mango_request(recording, "recording"), key="mango-key").facts
    assert (fact.kind, fact.recording_id, fact.recording_url) == ("recording", recording["recording_id"], None)
    started = {**recording, "recording_state": "Started"}
    assert run("mango", mango_request(started, "recording"), key="mango-key").facts == []


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"entry_id": "x", "call_state": "Appeared", "timestamp": 1764158400, "seq": "first"}, "seq"),
        ({"entry_id": "x", "call_state": "Appeared", "timestamp": 1764158400, "seq": 1e300}, "seq"),
        ({"entry_id": "x", "call_state": "Appeared", "timestamp": 1764158400, "to": 5}, "to"),
        ({"entry_id": ["x"], "call_state": "Appeared", "timestamp": 1764158400}, "entry_id"),
        ({**MANGO_SUMMARY, "talk_time": "soon"}, "talk_time"),
    ],
)
def test_mango_wrongly_typed_values_are_422_naming_the_field(payload, field):
    kind = "summary" if "entry_result" in payload else "call"
    with pytest.raises(IntakeError) as error:
        run("mango", mango_request(payload, kind), key="mango-key")
    assert (error.value.status, error.value.field) == (422, field)


def test_bitrix24_register_without_call_id_is_answered_with_one_and_the_same_one_again():
    first = run("bitrix24", request(json.dumps(BITRIX_REGISTER), headers=KEY))
    again = run("bitrix24", request(json.dumps(BITRIX_REGISTER), headers=KEY))
    assert first.result is not None
    assert first.result["result"]["CALL_ID"].startswith("externalCall.")
    assert first.result == again.result
    assert [f.fact_id for f in first.facts] == [f.fact_id for f in again.facts]
    external = run("bitrix24", request(json.dumps({**BITRIX_REGISTER, "EXTERNAL_CALL_ID": "pbx-77"}), headers=KEY))
    assert external.result is not None
    assert external.result["result"]["CALL_ID"] == "pbx-77"


def test_bitrix24_user_id_names_the_manager_and_a_finish_redelivered_changes_nothing():
    config = provider("bitrix24", users={"17": "boris"})
    call_id = run("bitrix24", request(json.dumps(BITRIX_REGISTER), headers=KEY)).result["result"]["CALL_ID"]  # type: ignore[index]
    # telephony.externalcall.finish: CALL_ID, USER_ID, DURATION, STATUS_CODE — no end time
    finish = {"CALL_ID": call_id, "USER_ID": 17, "DURATION": 95, "STATUS_CODE": 200, "ADD_TO_CHAT": 1}
    register = run("bitrix24", request(json.dumps(BITRIX_REGISTER), headers=KEY)).facts
    once = bitrix24.parse(config, request(json.dumps(finish), headers=KEY)).facts
    twice = bitrix24.parse(config, request(json.dumps(finish), headers=KEY)).facts
    assert {f.fact_id for f in once} == {f.fact_id for f in twice}
    record = record_maker(config, "c1", "http://hub")(merge(register + once + twice))
    assert (record.outcome, record.manager_id, record.talk_seconds) == ("answered", "boris", 95)


def test_bitrix24_form_encoded_connectors_and_absurd_durations():
    form = request(urlencode({**BITRIX_REGISTER, "TYPE": "1"}), FORM, headers=KEY)
    (fact,) = run("bitrix24", form).facts
    assert (fact.direction, fact.callee) == ("outbound", "+79165554433")
    with pytest.raises(IntakeError) as error:
        run("bitrix24", request(json.dumps({"CALL_ID": "x", "STATUS_CODE": "200", "DURATION": 1e12}), headers=KEY))
    assert error.value.field == "DURATION"


def _moscow(moment: datetime) -> str:
    return moment.astimezone(ZoneInfo("Europe/Moscow")).strftime("%Y-%m-%d %H:%M:%S")


def test_zadarma_answer_is_stamped_on_arrival_so_the_ring_time_is_real():
    # zadarma.com/en/support/api/#api_webhooks; github.com/zadarma/user-api-v1 lib/Webhook/NotifyAnswer.php:
    # caller_id, destination, call_start, pbx_call_id, internal — no answer time
    start = _moscow(datetime.now(UTC) - timedelta(seconds=20))
    base = {"pbx_call_id": "in_5f1", "caller_id": "+79165554433", "called_did": "74951110000", "call_start": start}
    signed = ("caller_id", "called_did", "call_start")
    begun = run("zadarma", zadarma_request({"event": "NOTIFY_START", **base}, signed))
    answer_fields = {"event": "NOTIFY_ANSWER", **base, "destination": "101", "internal": "101"}
    answered = run("zadarma", zadarma_request(answer_fields, ("caller_id", "destination", "call_start")))
    again = run("zadarma", zadarma_request(answer_fields, ("caller_id", "destination", "call_start")))
    assert answered.facts[0].fact_id == again.facts[0].fact_id  # a redelivery is the same answer
    call = merge(begun.facts + answered.facts)
    assert call.ring_seconds is not None
    assert call.ring_seconds >= 19


def test_zadarma_recording_is_kept_by_its_id_not_taken_for_a_url():
    # lib/Webhook/NotifyRecord.php: call_id_with_rec, pbx_call_id; signed pbx_call_id + call_id_with_rec
    fields = {"event": "NOTIFY_RECORD", "pbx_call_id": "in_5f1", "call_id_with_rec": "1764158400.1234"}
    (fact,) = run("zadarma", zadarma_request(fields, ("pbx_call_id", "call_id_with_rec"))).facts
    assert (fact.recording_id, fact.recording_url) == ("1764158400.1234", None)
    call = merge([fact])
    record = record_maker(provider("zadarma"), "c9", "https://hub.example")(call)
    assert record.recording_url == "https://hub.example/v1/calls/c9/recording"


@pytest.mark.parametrize("duration", ["nan", "inf", "-5", "1e12", "ten"])
def test_zadarma_durations_outside_reason_are_422(duration):
    fields = {
        "event": "NOTIFY_END",
        "pbx_call_id": "in_9",
        "caller_id": "+79165554433",
        "called_did": "74951110000",
        "call_start": "2026-11-26 12:00:00",
        "duration": duration,
        "disposition": "answered",
    }
    with pytest.raises(IntakeError) as error:
        run("zadarma", zadarma_request(fields, ("caller_id", "called_did", "call_start")))
    assert (error.value.status, error.value.field) == (422, "duration")


def test_twilio_status_callback_sent_with_get():
    # twilio.com/docs/voice/api/call-resource#statuscallbackmethod (GET allowed);
    # twilio.com/docs/usage/webhooks/webhooks-security: a GET is signed over the full URL
    params = {
        "CallSid": "CA42",
        "CallStatus": "completed",
        "CallDuration": "61",
        "From": "+79165554433",
        "To": "+74951110000",
        "Direction": "inbound",
        "Timestamp": "Thu, 26 Nov 2026 12:01:01 +0000",
    }
    url = "https://hub.example/v1/telephony/p/events?" + urlencode(params)
    received = request(
        b"",
        "",
        method="GET",
        url=url,
        query=params,
        headers={"x-twilio-signature": twilio.signature("s3cret-value-123", url, {})},
    )
    call = merge(run("twilio", received).facts)
    assert (call.outcome, call.talk_seconds) == ("answered", 61)
    forged = request(b"", "", method="GET", url=url, query=params, headers={"x-twilio-signature": "x"})
    with pytest.raises(IntakeError):
        run("twilio", forged)


def test_twilio_non_numeric_duration_is_422():
    params = {"CallSid": "CA1", "CallStatus": "completed", "CallDuration": "a minute"}
    received = request(
        urlencode(params),
        FORM,
        headers={
            "x-twilio-signature": twilio.signature(
                "s3cret-value-123", "https://hub.example/v1/telephony/p/events", params
            )
        },
    )
    with pytest.raises(IntakeError) as error:
        run("twilio", received)
    assert error.value.field == "CallDuration"


def test_asterisk_without_an_extension_map_reads_the_dialplan():
    call = merge(run("asterisk", request(json.dumps(ASTERISK_OUTBOUND_BUSY), headers=KEY), extensions={}).facts)
    assert (call.direction, call.outcome, call.caller, call.callee, call.extension) == (
        "outbound",
        "busy",
        "101",
        "89165554433",
        "101",
    )
    by_channel = {**ASTERISK_OUTBOUND_BUSY, "dcontext": "macro-dialout-trunk"}
    call = merge(run("asterisk", request(json.dumps(by_channel), headers=KEY), extensions={}).facts)
    assert call.direction == "outbound"


def test_asterisk_inbound_line_is_the_did():
    inbound = {
        "calldate": "2026-11-26 12:00:00",
        "src": "89165554433",
        "dst": "101",
        "did": "74951110000",
        "dcontext": "ext-local",
        "channel": "PJSIP/mts-trunk-00000001",
        "dstchannel": "PJSIP/101-00000002",
        "duration": "40",
        "billsec": "0",
        "disposition": "NO ANSWER",
        "uniqueid": "1764158400.1",
    }
    call = merge(run("asterisk", request(json.dumps(inbound), headers=KEY), extensions={}).facts)
    assert (call.direction, call.outcome, call.line, call.extension) == ("inbound", "missed", "74951110000", "101")


@pytest.mark.parametrize(
    ("change", "field"),
    [({"duration": "9" * 30}, "duration"), ({"billsec": "NaN"}, "billsec"), ({"src": {"$gt": ""}}, "src")],
)
def test_asterisk_wrongly_typed_values_are_422(change, field):
    with pytest.raises(IntakeError) as error:
        run("asterisk", request(json.dumps({**ASTERISK_OUTBOUND_BUSY, **change}), headers=KEY))
    assert (error.value.status, error.value.field) == (422, field)


def test_asterisk_numeric_dstchannel_is_no_500():
    cdr = {**ASTERISK_OUTBOUND_BUSY, "dstchannel": 12}
    assert run("asterisk", request(json.dumps(cdr), headers=KEY)).facts


def _basic(key: str, secret: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()}


def test_freeswitch_json_cdr_with_basic_credentials():
    received = request(json.dumps(FS_JSON), headers=_basic("fs", "s3cret-value-123"))
    call = merge(run("freeswitch", received, key="fs").facts)
    assert (call.direction, call.caller, call.line, call.outcome, call.extension) == (
        "inbound",
        "+79165554433",
        "74951110000",
        "answered",
        "101",
    )
    assert (call.ring_seconds, call.talk_seconds) == (8, 60)
    with pytest.raises(IntakeError) as error:
        run("freeswitch", request(json.dumps(FS_JSON), headers=_basic("fs", "guess")), key="fs")
    assert error.value.status == 401


def test_freeswitch_xml_cdr_form_posted_as_mod_xml_cdr_does():
    variables = "".join(
        f"<{k}>{v}</{k}>"
        for k, v in {**FS_VARIABLES, "answer_epoch": "0", "billsec": "0", "hangup_cause": "NO_ANSWER"}.items()
    )
    xml = (
        '<?xml version="1.0"?><cdr core-uuid="4b6c4c5e"><channel_data><direction>inbound</direction></channel_data>'
        f"<variables>{variables}</variables><callflow><caller_profile><caller_id_number>%2B79165554433"
        "</caller_id_number><destination_number>74951110000</destination_number><context>public</context>"
        "</caller_profile></callflow></cdr>"
    )
    received = request(urlencode({"cdr": xml}), FORM, headers=KEY)
    call = merge(run("freeswitch", received).facts)
    assert (call.direction, call.outcome, call.answered_at) == ("inbound", "missed", None)


def test_freeswitch_outbound_from_a_registered_phone_busy():
    variables = {
        **FS_VARIABLES,
        "caller_id_number": "101",
        "destination_number": "89165554433",
        "answer_epoch": "0",
        "billsec": "0",
        "hangup_cause": "USER_BUSY",
        "dialed_user": "",
    }
    cdr = {
        "variables": variables,
        "callflow": [
            {"caller_profile": {"caller_id_number": "101", "destination_number": "89165554433", "context": "default"}}
        ],
    }
    call = merge(run("freeswitch", request(json.dumps(cdr), headers=KEY), extensions={}).facts)
    assert (call.direction, call.outcome, call.extension) == ("outbound", "busy", "101")


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ("<cdr><variables><uuid>x</uuid>", 400),
        ('<!DOCTYPE x [<!ENTITY a "aaaa">]><cdr><variables><uuid>&a;</uuid></variables></cdr>', 400),
        (json.dumps({"variables": {**FS_VARIABLES, "billsec": "1e309"}}), 422),
        (json.dumps({"variables": "none"}), 422),
        ("not a cdr", 400),
    ],
)
def test_freeswitch_malformed_or_hostile_cdrs_are_4xx(body, status):
    with pytest.raises(IntakeError) as error:
        run("freeswitch", request(body, "application/json" if body.startswith("{") else "text/xml", headers=KEY))
    assert error.value.status == status


def test_bitrix24_onexternalcallstart_as_bitrix24_sends_it():
    # b24restdocs api-reference/telephony/events/on-external-call-start.md, form-encoded as Bitrix24 posts events
    event = {
        "event": "ONEXTERNALCALLSTART",
        "event_handler_id": "1055",
        "data[PHONE_NUMBER]": "+79165554433",
        "data[PHONE_NUMBER_INTERNATIONAL]": "+79165554433",
        "data[EXTENSION]": "",
        "data[USER_ID]": "17",
        "data[CALL_LIST_ID]": "0",
        "data[LINE_NUMBER]": "7",
        "data[IS_MOBILE]": "0",
        "data[CALL_ID]": "externalCall.89350264e026dace3f2b14d1f438257c.1773236989",
        "data[CRM_ENTITY_TYPE]": "CONTACT",
        "data[CRM_ENTITY_ID]": "797",
        "ts": "1764158400",
        "auth[domain]": "some-domain.bitrix24.com",
        "auth[member_id]": "a223c6b9410f85df78e9377d6c4f7213",
        "auth[application_token]": "s3cret-value-123",
    }
    config = provider("bitrix24", users={"17": "boris"})
    received = request(urlencode(event), FORM)
    bitrix24.verify(config, received)
    record = record_maker(config, "c1", "http://hub")(merge(bitrix24.parse(config, received).facts))
    assert (record.direction, record.callee, record.manager_id) == ("outbound", "+79165554433", "boris")
    forged = request(urlencode({**event, "auth[application_token]": "guess"}), FORM)
    with pytest.raises(IntakeError):
        bitrix24.verify(config, forged)
    other = request(urlencode({**event, "event": "ONEXTERNALCALLBACKSTART"}), FORM)
    assert bitrix24.parse(config, other).facts == []
