"""Pipelines and rule sets as data: what the shipped ones allow, and every way a bad file is
refused at start with a message naming the culprit."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from deals.adapters.playbook_files import DEFAULT_PIPELINES, DEFAULT_RULES, PlaybookError, load_playbook
from deals.domain.pipeline import InvalidMove, Process
from deals.domain.rules import RuleError, load_rules, parse_offset

PIPELINES: dict[str, Any] = json.loads(DEFAULT_PIPELINES.read_text())
RULES: dict[str, Any] = json.loads(DEFAULT_RULES.read_text())
PROCESS = Process.model_validate(PIPELINES)


def test_the_shipped_process_is_the_seeds_client_service_in_order():
    pipeline = PROCESS.pipeline(PROCESS.default_pipeline)
    assert [s.id for s in pipeline.stages] == [
        "measurement",
        "design",
        "proposal",
        "decision",
        "invoice",
        "payment",
        "production",
        "delivered",
        "review",
        "won",
        "lost",
    ]
    assert pipeline.stage("measurement").name.ru == "Замеры"
    assert {p.id for p in PROCESS.pipelines} == {"client_service", "repeat_client", "claim"}


def test_lost_is_allowed_from_every_open_stage_and_closed_stages_allow_nothing():
    for pipeline in PROCESS.pipelines:
        for stage in pipeline.stages:
            allowed = pipeline.allowed_from(stage.id)
            if stage.kind == "open":
                assert pipeline.lost.id in allowed
            else:
                assert allowed == []


def test_an_invalid_move_names_the_current_stage_and_the_allowed_ones():
    pipeline = PROCESS.pipeline("client_service")
    with pytest.raises(InvalidMove) as refused:
        pipeline.check_move("measurement", "invoice")
    assert refused.value.current == "measurement"
    assert refused.value.allowed == ["design", "lost"]
    assert "cannot move to 'invoice'" in str(refused.value)
    with pytest.raises(InvalidMove, match="none, the deal is closed"):
        pipeline.check_move("won", "lost")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda p: p["pipelines"][0]["stages"].append(copy.deepcopy(p["pipelines"][0]["stages"][0])),
            "stage ids repeat",
        ),
        (lambda p: p["pipelines"][0]["stages"].pop(-2), "exactly one 'won' stage"),
        (lambda p: p["pipelines"][0]["transitions"].update(design=["moon"]), "unknown stage 'moon'"),
        (lambda p: p["pipelines"][0]["transitions"].update(won=["lost"]), "closed stage 'won'"),
        (lambda p: p.update(default_pipeline="nope"), "default_pipeline 'nope'"),
    ],
)
def test_an_inconsistent_pipeline_file_is_refused(tmp_path: Path, change, message):
    broken = copy.deepcopy(PIPELINES)
    change(broken)
    path = tmp_path / "pipelines.json"
    path.write_text(json.dumps(broken))
    with pytest.raises(PlaybookError, match=message):
        load_playbook(str(path))


def _rule(**fields: Any) -> dict[str, Any]:
    return {
        "id": "the_rule",
        "description": "a test rule",
        "on": "invoice_issued",
        "actions": [{"task": {"title": {"ru": "x", "en": "x"}}}],
        **fields,
    }


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (_rule(on="invoice_paid"), "rule the_rule: on: unknown event 'invoice_paid'"),
        (_rule(on="stage_entered:moon"), "rule the_rule: on: unknown stage 'moon'"),
        (_rule(active_in=["moon"]), "rule the_rule: active_in: unknown stage 'moon'"),
        (_rule(when={"stage": ["moon"]}), "rule the_rule: when.stage: unknown stage 'moon'"),
        (_rule(when={"pipeline": ["nope"]}), "rule the_rule: when.pipeline: unknown pipeline 'nope'"),
        (_rule(until=["paid"]), "rule the_rule: until: unknown activity 'paid'"),
        (_rule(after={"after": "2 days"}), "rule the_rule: after: Value error, offset '2 days'"),
        (
            _rule(actions=[{"task": {"title": {"ru": "x", "en": "x"}, "due": {"after": "-1d"}}}]),
            "rule the_rule: actions.0.task.due",
        ),
        (_rule(actions=[{"move_to": "production"}]), "move_to 'production' needs when.stage"),
        (
            _rule(when={"stage": ["measurement"]}, actions=[{"move_to": "production"}]),
            "pipeline client_service does not allow measurement -> production",
        ),
        (_rule(actions=[{"move_to": "moon", "notify": None}], when={"stage": ["invoice"]}), "unknown stage 'moon'"),
        (_rule(actions=[]), "rule the_rule: actions"),
        (_rule(actions=[{"task": {"title": {"ru": "x", "en": "x"}}, "move_to": "design"}]), "exactly one of"),
        (_rule(when={"sentiment": ["negative"]}), "sentiment applies to a feedback trigger only"),
        (_rule(actions=[{"notify": {"to": ["ceo"], "alert": "x"}}]), "rule the_rule: actions.0.notify.to.0"),
        (_rule(surprise=True), "rule the_rule: surprise"),
        (_rule(id="Bad Id"), "rule Bad Id: id"),
    ],
)
def test_a_bad_rule_is_refused_naming_the_rule_and_the_problem(rule, message):
    with pytest.raises(RuleError) as refused:
        load_rules({"rules": [rule]}, PROCESS)
    assert message in str(refused.value)


def test_repeated_rule_ids_and_a_malformed_rules_file_are_refused(tmp_path: Path):
    with pytest.raises(RuleError, match="rule ids repeat: the_rule"):
        load_rules({"rules": [_rule(), _rule()]}, PROCESS)
    with pytest.raises(RuleError, match=r'a rule set is \{"rules"'):
        load_rules([_rule()], PROCESS)
    path = tmp_path / "rules.json"
    path.write_text("{not json")
    with pytest.raises(PlaybookError, match=f"rules file {path} is not JSON"):
        load_playbook(None, str(path))
    with pytest.raises(PlaybookError, match="No such file"):
        load_playbook(None, str(tmp_path / "missing.json"))


def test_the_shipped_rule_set_loads_and_disabled_rules_are_left_out():
    rules = load_rules(RULES, PROCESS)
    assert [r.id for r in rules] == [r["id"] for r in RULES["rules"]]
    disabled = copy.deepcopy(RULES)
    disabled["rules"][0]["enabled"] = False
    assert len(load_rules(disabled, PROCESS)) == len(rules) - 1


@pytest.mark.parametrize(("text", "seconds"), [("45s", 45), ("30m", 1800), ("8h", 28800), ("2d", 172800), ("0m", 0)])
def test_offsets_are_a_number_and_a_unit(text, seconds):
    assert parse_offset(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["2", "d", "1.5h", "2 d", "-1d", "1w", "100000d"])
def test_anything_else_is_not_an_offset(text):
    with pytest.raises(ValueError, match="not <number>"):
        parse_offset(text)
