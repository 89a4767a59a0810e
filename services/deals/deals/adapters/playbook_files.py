"""The pipelines and the rule set, from JSON files: the ones shipped with the service
(`deals/config/`) unless DEALS_PIPELINES_FILE / DEALS_RULES_FILE name others. A file that does
not parse, a pipeline that is inconsistent or a rule that names an unknown stage, event or
offset stops the service at start with a message naming the culprit (docs/deals.md)."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from deals.domain.deal import Playbook
from deals.domain.pipeline import Process
from deals.domain.rules import RuleError, load_rules

CONFIG = Path(__file__).resolve().parent.parent / "config"
DEFAULT_PIPELINES = CONFIG / "pipelines.json"
DEFAULT_RULES = CONFIG / "rules.json"


class PlaybookError(ValueError):
    """The pipelines or rules cannot be used; the service refuses to start."""


def _read(path: Path, what: str) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PlaybookError(f"{what} file {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise PlaybookError(f"{what} file {path} is not JSON: {exc}") from None


def load_playbook(pipelines_file: str | None = None, rules_file: str | None = None) -> Playbook:
    pipelines_path = Path(pipelines_file) if pipelines_file else DEFAULT_PIPELINES
    rules_path = Path(rules_file) if rules_file else DEFAULT_RULES
    try:
        process = Process.model_validate(_read(pipelines_path, "pipelines"))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(file)"
        raise PlaybookError(f"pipelines file {pipelines_path}: {where}: {first['msg']}") from None
    try:
        rules = load_rules(_read(rules_path, "rules"), process)
    except RuleError as exc:
        raise PlaybookError(f"rules file {rules_path}: {exc}") from None
    return Playbook(process, tuple(rules))
