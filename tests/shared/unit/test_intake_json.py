"""Hostile JSON on the raw-body intakes: nesting deep enough to exhaust Python's recursion, or
merely deeper than any sender's payload, is a clear 400, never a 500."""

from __future__ import annotations

import pytest

from crmhub.intake import MAX_JSON_DEPTH, IntakeError, json_object, json_value


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 500, 10_000, 100_000])
def test_a_body_nested_too_deep_is_refused_with_400(depth):
    body = '{"a":' * depth + "1" + "}" * depth
    with pytest.raises(IntakeError) as refused:
        json_value(body)
    assert refused.value.status == 400
    assert f"deeper than {MAX_JSON_DEPTH} levels" in str(refused.value)
    with pytest.raises(IntakeError):
        json_value("[" * depth + "]" * depth)


def test_ordinary_nesting_and_malformed_bodies():
    assert json_object('{"custom": {"a": [1, {"b": 2}]}}') == {"custom": {"a": [1, {"b": 2}]}}
    assert json_value("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH) is not None
    with pytest.raises(IntakeError, match="not valid JSON"):
        json_value("{nope")
