"""What responses show: stored documents turned into the spec's public shapes.

Stored documents carry internals (workspace ids, encrypted tokens, request fingerprints); these
functions are the one place that decides what leaves the API.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from shared.domain.base import ResponseModel, Timestamp
from shared.domain.candidates import CandidatePublic, RegisteredModelPublic
from shared.domain.leaderboards import (
    Challenge,
    DatasetType,
    DatasetView,
    EvalType,
    EvaluationView,
    JudgeConfig,
    LeaderboardPublic,
    PushSettings,
)
from shared.domain.runs import RunStatus

Doc = dict[str, Any]


class RunWinner(ResponseModel):
    leaderboard_model_id: str
    name: str
    score: float | None


class RunSummary(ResponseModel):
    """A run as the leaderboard detail lists it; the run itself is GET .../runs/{run_id}."""

    id: str
    status: RunStatus
    run_source: str | None
    created_at: Timestamp
    finished_at: Timestamp | None
    winner: RunWinner | None


class LeaderboardDetail(LeaderboardPublic):
    challenge: Challenge
    models: list[CandidatePublic]
    recent_runs: list[RunSummary]
    judge_agreement: dict[str, Any] | None = Field(
        default=None,
        description="With human_audit_rate: the judge against people over every audited "
        "answer of this leaderboard reviewed so far",
    )


class Deleted(ResponseModel):
    """What a DELETE answers."""

    deleted: bool
    id: str


def leaderboard_public(doc: Doc) -> LeaderboardPublic:
    return LeaderboardPublic.model_validate(_leaderboard_fields(doc))


def leaderboard_detail(
    doc: Doc, *, models: list[CandidatePublic], recent_runs: list[dict[str, Any]]
) -> LeaderboardDetail:
    return LeaderboardDetail.model_validate(
        {
            **_leaderboard_fields(doc),
            "challenge": challenge(doc),
            "models": models,
            "recent_runs": recent_runs,
        }
    )


def challenge(doc: Doc) -> Challenge:
    push = (
        PushSettings.model_validate({k: doc[k] for k in PushSettings.model_fields if k in doc})
        if doc.get("dataset_type") == DatasetType.PUSH
        else None
    )
    judge = None
    if doc.get("eval_type") == EvalType.JUDGE:
        judge = JudgeConfig(
            provider=doc.get("judge_provider"),
            model=doc.get("judge_model"),
            auto=doc.get("judge_provider") is None and doc.get("judge_model") is None,
        )
    return Challenge(
        name=doc["name"],
        description=doc.get("description"),
        system_prompt=doc.get("system_prompt"),
        model_prompt=doc.get("model_prompt"),
        dataset=DatasetView(
            type=doc["dataset_type"],
            url=doc.get("dataset_url"),
            metadata=doc.get("dataset_metadata"),
            auto_labels=bool(doc.get("dataset_auto_labels")),
            push=push,
        ),
        evaluation=EvaluationView(
            type=doc["eval_type"], metadata=doc.get("eval_metadata"), judge=judge
        ),
        constraints=doc.get("constraints"),
        category=doc.get("category"),
    )


def candidate_public(doc: Doc) -> CandidatePublic:
    return CandidatePublic.model_validate(_endpoint_fields(doc))


def registered_public(doc: Doc) -> RegisteredModelPublic:
    return RegisteredModelPublic.model_validate(_endpoint_fields(doc))


def _leaderboard_fields(doc: Doc) -> Doc:
    return {
        **doc,
        "judge_auto_decide": doc.get("judge_provider") is None and doc.get("judge_model") is None,
    }


def _endpoint_fields(doc: Doc) -> Doc:
    # The token itself never leaves; ``token_hint`` was computed when it was stored.
    return {**doc, "token": doc.get("token_hint")}


__all__ = [
    "Deleted",
    "LeaderboardDetail",
    "RunSummary",
    "candidate_public",
    "challenge",
    "leaderboard_detail",
    "leaderboard_public",
    "registered_public",
]
