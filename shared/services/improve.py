"""improve-dataset: a new version that is cleaner than the last, and labelled where it can be.

The request answers 202 and enqueues ``/tasks/improve`` under a name made of the request's
id (its Idempotency-Key when given), so a retried request is one task; the task itself is
once-only too (``consolidate(request_id=...)``). The version it makes:

- takes in what is pending (PUSH), or re-reads the file (GET: the version is then what runs
  of that leaderboard read, until its file URL changes);
- drops rows that cannot be used (empty input, input over ``MAX_INPUT_CHARS``) and
  duplicates by normalised input (the first one stays, taking a later twin's reference answer
  if it had none);
- with ``dataset_auto_labels``, asks the label model (``dataset_metadata.label_model``, else
  the leaderboard's judge model, else the automatic judge) for a reference answer for each row
  without one, and marks it ``expected_auto``;
- records what it changed (``changes``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from shared.domain.auth import Principal
from shared.domain.clock import Clock
from shared.domain.errors import Conflict, TransientFailure
from shared.domain.events import ImproveAccepted, normalise_input
from shared.domain.leaderboards import DatasetType, JudgeProvider
from shared.domain.scoring import choose_auto_judge
from shared.domain.text import clean_text
from shared.providers.budget import CallBudget, provider_key
from shared.providers.chat import ChatProvider, ChatRequest
from shared.providers.errors import ProviderError
from shared.providers.factory import Endpoint
from shared.providers.hf_datasets import DatasetFile
from shared.repositories.base import Doc
from shared.repositories.events import EventRepository
from shared.repositories.leaderboards import LeaderboardRepository
from shared.services.consolidation import REASON_IMPROVE, Consolidated, consolidate
from shared.tasks.queue import QUEUE_CONTROL, TaskQueue, task_name

MAX_INPUT_CHARS = 20_000
LABEL_MAX_CHARS = 8_000
LABEL_SYSTEM_PROMPT = (
    "You write reference answers for an evaluation dataset. Answer the request below "
    "correctly and concisely, with the answer only."
)

FetchDataset = Callable[[str, str, dict[str, Any] | None], DatasetFile]
ProviderFor = Callable[[Endpoint], ChatProvider]


def request_improvement(
    *,
    leaderboards: LeaderboardRepository,
    queue: TaskQueue,
    principal: Principal,
    leaderboard_id: str,
    idempotency_key: str | None = None,
) -> ImproveAccepted:
    ws = principal.workspace_id
    lb = leaderboards.require(ws, leaderboard_id)
    if lb.get("dataset_type") == DatasetType.PUSH and not leaderboards.has_events(
        ws, leaderboard_id
    ):
        raise Conflict("This PUSH leaderboard has no events yet: there is nothing to improve")
    request_id = (
        "imp_" + task_name("improve-request", ws, leaderboard_id, idempotency_key)[:24]
        if idempotency_key
        else "imp_" + uuid.uuid4().hex[:24]
    )
    queue.enqueue(
        queue=QUEUE_CONTROL,
        name=task_name("improve", ws, leaderboard_id, request_id),
        path="/tasks/improve",
        payload={"workspace_id": ws, "leaderboard_id": leaderboard_id, "request_id": request_id},
    )
    return ImproveAccepted(leaderboard_id=leaderboard_id, status="queued", task=request_id)


def improve(
    *,
    events: EventRepository,
    leaderboards: LeaderboardRepository,
    clock: Clock,
    chunk_size: int,
    providers: ProviderFor,
    fetch_dataset: FetchDataset,
    budget: CallBudget,
    ws: str,
    lb_id: str,
    request_id: str,
) -> Consolidated:
    lb = leaderboards.require(ws, lb_id)
    file_rows: list[Doc] | None = None
    if lb.get("dataset_type") != DatasetType.PUSH:
        data = fetch_dataset(ws, str(lb["dataset_url"]), lb.get("dataset_metadata"))
        file_rows = [
            {"input": s.input, "expected": s.expected, "line": s.line} for s in data.samples
        ]
    label_model = _label_model(lb)

    def transform(rows: list[Doc]) -> tuple[list[Doc], dict[str, int]]:
        source = file_rows if file_rows is not None else rows
        kept, changes = clean_rows(source)
        if label_model is not None:
            changes["labelled"] = _label(kept, providers, label_model, budget)
        return kept, changes

    return consolidate(
        events=events,
        leaderboards=leaderboards,
        clock=clock,
        chunk_size=chunk_size,
        ws=ws,
        lb_id=lb_id,
        reason=REASON_IMPROVE,
        transform=transform,
        request_id=request_id,
    )


def clean_rows(rows: list[Doc]) -> tuple[list[Doc], dict[str, int]]:
    """Unusable rows and duplicates out; the first of twins stays, and takes the reference
    answer of a later twin if it had none."""
    kept: dict[str, Doc] = {}
    unusable = duplicates = 0
    for row in rows:
        text = str(row.get("input") or "")
        if not text.strip() or len(text) > MAX_INPUT_CHARS:
            unusable += 1
            continue
        key = normalise_input(text)
        if key in kept:
            duplicates += 1
            if kept[key].get("expected") is None and row.get("expected") is not None:
                kept[key] = {**kept[key], "expected": row["expected"], "expected_auto": False}
            continue
        kept[key] = dict(row)
    return list(kept.values()), {"dropped_duplicates": duplicates, "dropped_unusable": unusable}


def _label_model(lb: Doc) -> str | None:
    if not lb.get("dataset_auto_labels"):
        return None
    named = (lb.get("dataset_metadata") or {}).get("label_model")
    if isinstance(named, str) and named.strip():
        return named.strip()
    return str(lb.get("judge_model") or choose_auto_judge([]))


def _label(rows: list[Doc], providers: ProviderFor, model: str, budget: CallBudget) -> int:
    """Give rows without ``expected`` one from ``model``; returns how many got one. A
    transient failure is retried by the task (labels are not half-applied: the version is
    written only when every call has answered or failed for good)."""
    todo = [r for r in rows if r.get("expected") is None]
    if not todo:
        return 0
    provider = providers(Endpoint(platform=JudgeProvider.OPENROUTER.value, model_url=model))

    def ask(row: Doc) -> str | None:
        messages = [
            {"role": "system", "content": LABEL_SYSTEM_PROMPT},
            {"role": "user", "content": str(row["input"])},
        ]
        try:
            text = provider.complete(ChatRequest(messages=messages)).text
        except ProviderError as exc:
            if exc.transient:
                raise TransientFailure(f"label model: {exc.detail}", exc.retry_after) from exc
            return None
        label = clean_text(text.strip())[:LABEL_MAX_CHARS]
        return label or None

    # Within the provider's budget, beside whatever runs this instance is serving.
    labels = budget.map(provider_key(provider.endpoint), ask, todo)
    labelled = 0
    for row, label in zip(todo, labels, strict=True):
        if label is not None:
            row["expected"] = label
            row["expected_auto"] = True
            labelled += 1
    return labelled
