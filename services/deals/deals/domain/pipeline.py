"""Pipelines as data: stages (named in Russian and English), the explicit transitions between
them, and the reasons a deal may be lost. No I/O; `deals.adapters.process_files` loads them.

Every pipeline has exactly one `won` stage and one `lost` stage. `lost` may be entered from
every open stage (with a reason from the list and a comment); other moves must be listed in
`transitions`. Closed stages (won, lost) have no way out.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

StageId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
StageKind = Literal["open", "won", "lost"]


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Names(_Config):
    ru: str = Field(min_length=1, max_length=200)
    en: str = Field(min_length=1, max_length=200)


class InvalidMove(Exception):
    """A move the pipeline does not allow (HTTP 409, naming the current stage and the allowed ones)."""

    def __init__(self, pipeline_id: str, current: str, wanted: str, allowed: list[str]) -> None:
        self.current = current
        self.wanted = wanted
        self.allowed = allowed
        super().__init__(
            f"deal is in stage {current!r} of pipeline {pipeline_id!r}; it cannot move to {wanted!r} "
            f"(allowed: {', '.join(allowed) or 'none, the deal is closed'})"
        )


class Stage(_Config):
    id: StageId
    name: Names
    kind: StageKind = "open"
    description: str | None = Field(default=None, max_length=1000)


class Pipeline(_Config):
    id: StageId
    name: Names
    stages: list[Stage] = Field(min_length=3, max_length=50)
    transitions: dict[str, list[str]]

    @model_validator(mode="after")
    def _consistent(self) -> Pipeline:
        ids = [s.id for s in self.stages]
        if len(set(ids)) != len(ids):
            raise ValueError(f"pipeline {self.id}: stage ids repeat")
        for kind in ("won", "lost"):
            if sum(1 for s in self.stages if s.kind == kind) != 1:
                raise ValueError(f"pipeline {self.id}: needs exactly one {kind!r} stage")
        if self.stages[0].kind != "open":
            raise ValueError(f"pipeline {self.id}: the first stage (where deals start) must be open")
        for source, targets in self.transitions.items():
            for stage in (source, *targets):
                if stage not in ids:
                    raise ValueError(f"pipeline {self.id}: transition names unknown stage {stage!r}")
            if self.stage(source).kind != "open":
                raise ValueError(f"pipeline {self.id}: closed stage {source!r} cannot have transitions")
        return self

    @property
    def first(self) -> Stage:
        return self.stages[0]

    @property
    def lost(self) -> Stage:
        return next(s for s in self.stages if s.kind == "lost")

    @property
    def won(self) -> Stage:
        return next(s for s in self.stages if s.kind == "won")

    def has(self, stage_id: str) -> bool:
        return any(s.id == stage_id for s in self.stages)

    def stage(self, stage_id: str) -> Stage:
        for stage in self.stages:
            if stage.id == stage_id:
                return stage
        raise KeyError(stage_id)

    def allowed_from(self, stage_id: str) -> list[str]:
        if self.stage(stage_id).kind != "open":
            return []
        return [*self.transitions.get(stage_id, []), self.lost.id]

    def check_move(self, current: str, wanted: str) -> Stage:
        allowed = self.allowed_from(current)
        if wanted not in allowed:
            raise InvalidMove(self.id, current, wanted, allowed)
        return self.stage(wanted)

    def order(self, stage_id: str) -> int:
        return next(i for i, s in enumerate(self.stages) if s.id == stage_id)


class LostReason(_Config):
    id: StageId
    name: Names


class Process(_Config):
    """The pipelines of one hub and the list of reasons a deal is lost."""

    pipelines: list[Pipeline] = Field(min_length=1, max_length=50)
    default_pipeline: str
    lost_reasons: list[LostReason] = Field(min_length=1, max_length=100)

    @model_validator(mode="after")
    def _consistent(self) -> Process:
        ids = [p.id for p in self.pipelines]
        if len(set(ids)) != len(ids):
            raise ValueError("pipeline ids repeat")
        if self.default_pipeline not in ids:
            raise ValueError(f"default_pipeline {self.default_pipeline!r} is not one of the pipelines")
        return self

    def pipeline(self, pipeline_id: str) -> Pipeline:
        for pipeline in self.pipelines:
            if pipeline.id == pipeline_id:
                return pipeline
        raise KeyError(pipeline_id)

    def has_pipeline(self, pipeline_id: str) -> bool:
        return any(p.id == pipeline_id for p in self.pipelines)

    def lost_reason_ids(self) -> list[str]:
        return [r.id for r in self.lost_reasons]

    def all_stage_ids(self) -> set[str]:
        return {s.id for p in self.pipelines for s in p.stages}
