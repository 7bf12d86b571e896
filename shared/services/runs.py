"""Run use cases behind the API: start, cancel, read, list, and per-sample outputs."""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from typing import Any

from shared.domain.auth import Principal
from shared.domain.base import parse
from shared.domain.candidates import Platform
from shared.domain.clock import Clock
from shared.domain.errors import Conflict, InvalidInput, NotFound, TransientFailure
from shared.domain.leaderboards import DatasetType, EvalType, JudgeProvider
from shared.domain.paging import ListQuery, Page
from shared.domain.pairwise import baseline_for
from shared.domain.runs import (
    ACTIVE_STATUSES,
    Progress,
    RunCreate,
    RunPublic,
    RunStatus,
    SampleQuery,
    SampleResult,
    exact_options_problem,
)
from shared.domain.scoring import choose_auto_judge
from shared.repositories.base import Doc
from shared.repositories.leaderboards import LeaderboardRepository
from shared.repositories.reviews import ReviewRepository
from shared.repositories.runs import RunRepository
from shared.services.ids import check_replay, fingerprint, resource_id
from shared.services.reviews import agreement
from shared.services.run_events import log_run_state
from shared.tasks.queue import QUEUE_CONTROL, TaskQueue, task_name

RECENT_RUNS = 5


def _check_scoring_options(lb: Doc) -> None:
    """Exact scoring reads eval_metadata with ExactOptions' rules, which are stricter than what
    older leaderboards were saved with (a pattern RE2 cannot run, an infinite tolerance): such a
    run could never be scored, so it is refused with the reason, before anything is written."""
    if lb["eval_type"] != EvalType.EXACT:
        return
    problem = exact_options_problem(lb.get("eval_metadata"))
    if problem is not None:
        raise Conflict(f"This leaderboard cannot be scored until it is updated: {problem}")


def start_run(
    *,
    leaderboards: LeaderboardRepository,
    runs: RunRepository,
    queue: TaskQueue,
    clock: Clock,
    principal: Principal,
    leaderboard_id: str,
    body: Mapping[str, Any],
    idempotency_key: str | None = None,
    openrouter_key_encrypted: str | None = None,
) -> tuple[RunPublic, bool]:
    """Start a run. ``openrouter_key_encrypted`` is the workspace's OpenRouter key as stored:
    OpenRouter candidates without a token of their own, and an OpenRouter judge, call with it
    (else with the deployment's OPENROUTER_API_KEY); the run keeps the key it started with."""
    spec = parse(RunCreate, body)
    ws = principal.workspace_id
    lb = leaderboards.require(ws, leaderboard_id)
    if lb["dataset_type"] == DatasetType.PUSH and not leaderboards.has_events(ws, leaderboard_id):
        raise Conflict(
            "This PUSH leaderboard has no data yet: push events to "
            f"/api/leaderboards/{leaderboard_id}/events before running it"
        )
    _check_scoring_options(lb)
    candidates = {c["id"]: c for c in leaderboards.candidates(ws, leaderboard_id)}
    if not candidates:
        raise Conflict("The leaderboard has no candidate models: add one before running it")
    model_ids = spec.model_ids or list(candidates)
    unknown = [m for m in model_ids if m not in candidates]
    if unknown:
        raise InvalidInput.field(
            "model_ids", f"not candidate models of this leaderboard: {unknown}"
        )
    endpoints = {
        m: _with_key(_endpoint_snapshot(leaderboards, ws, candidates[m]), openrouter_key_encrypted)
        for m in model_ids
    }
    judge = _judge_for(lb, endpoints)
    if judge is not None and openrouter_key_encrypted:
        judge["token_encrypted"] = openrouter_key_encrypted
    pairwise = _pairwise_for(lb, model_ids)
    run_id = resource_id("run", ws, idempotency_key and f"{leaderboard_id}:{idempotency_key}")
    record: Doc = {
        "id": run_id,
        "workspace_id": ws,
        "leaderboard_id": leaderboard_id,
        "status": RunStatus.QUEUED.value,
        "run_source": spec.run_source.value,
        "model_ids": model_ids,
        "models": {m: {"name": candidates[m]["name"]} for m in model_ids},
        # A snapshot: editing the leaderboard or its models mid-run does not change this run.
        "endpoints": endpoints,
        "eval_type": lb["eval_type"],
        "eval_metadata": lb.get("eval_metadata"),
        "judge": judge,
        "pairwise": pairwise,
        "prompts": {
            "system_prompt": lb.get("system_prompt"),
            "model_prompt": lb.get("model_prompt"),
        },
        "dataset": {
            # "version": the prepare step consolidates what is pending and reads the current
            # dataset version; "file": it fetches dataset_url.
            "type": _dataset_source(lb),
            "url": lb.get("dataset_url"),
            "metadata": lb.get("dataset_metadata"),
            "schedule": lb.get("schedule"),
        },
        "chosen_model_strategy": lb.get("chosen_model_strategy"),
        # What a ranking_winner promotion compares against (and must still be chosen then).
        "chosen_at_start": lb.get("chosen_leaderboard_model_id"),
        "use_cache": spec.use_cache,
        "plan": None,
        "created_at": clock(),
        "request_fingerprint": fingerprint(body),
    }

    def check(_lb: Doc, active: Doc | None) -> None:
        if active is not None and not spec.allow_concurrent:
            raise Conflict(
                f"Run {active['id']} of this leaderboard is still {active['status']}: wait for it, "
                "cancel it, or pass allow_concurrent: true"
            )

    run, created = runs.start(ws, leaderboard_id, run_id, record, check)
    if not created:
        check_replay(run, record["request_fingerprint"])
    else:
        log_run_state(run, "queued", run_source=spec.run_source.value, models=len(model_ids))
    # Enqueued on replays too: a crash between the write and this enqueue is mended by the
    # client's retry, and the deterministic name makes a second enqueue a no-op.
    try:
        queue.enqueue(
            queue=QUEUE_CONTROL,
            name=task_name("prepare", ws, leaderboard_id, run_id),
            path="/tasks/prepare",
            payload={"workspace_id": ws, "leaderboard_id": leaderboard_id, "run_id": run_id},
        )
    except Exception as exc:
        failed = {
            "status": RunStatus.FAILED.value,
            "reason": "could not enqueue the run",
            "finished_at": clock(),
        }
        if runs.transition(
            ws, leaderboard_id, run_id, allowed_from=[RunStatus.QUEUED], fields=failed
        ):
            log_run_state(run, "failed", reason=failed["reason"])
        raise TransientFailure("Could not enqueue the run; try again", retry_after=5) from exc
    return run_public(run, runs), created


def cancel_run(
    *, runs: RunRepository, clock: Clock, principal: Principal, leaderboard_id: str, run_id: str
) -> RunPublic:
    ws = principal.workspace_id
    # transition() raises NotFound for a missing run; None means it had already ended.
    updated = runs.transition(
        ws,
        leaderboard_id,
        run_id,
        allowed_from=ACTIVE_STATUSES,
        fields={"status": RunStatus.CANCELLED.value, "finished_at": clock(), "reason": "cancelled"},
    )
    if updated is None:
        current = _get(runs, ws, leaderboard_id, run_id)
        raise Conflict(f"Run {run_id} is already {current['status']}")
    log_run_state(updated, "cancelled")
    return run_public(updated, runs)


def get_run(
    *,
    runs: RunRepository,
    principal: Principal,
    leaderboard_id: str,
    run_id: str,
    reviews: ReviewRepository | None = None,
) -> RunPublic:
    doc = _get(runs, principal.workspace_id, leaderboard_id, run_id)
    public = run_public(doc, runs)
    audit_rate = (doc.get("eval_metadata") or {}).get("human_audit_rate")
    if reviews is not None and audit_rate:
        public.judge_agreement = agreement(
            reviews, principal.workspace_id, leaderboard_id, run_id=run_id
        )
    return public


def list_runs(
    *,
    leaderboards: LeaderboardRepository,
    runs: RunRepository,
    principal: Principal,
    leaderboard_id: str,
    query: ListQuery,
) -> Page[RunPublic]:
    ws = principal.workspace_id
    leaderboards.require(ws, leaderboard_id)
    docs, total = runs.page(ws, leaderboard_id, limit=query.limit, offset=query.offset)
    return Page(
        items=[run_public(d, runs) for d in docs],
        total=total,
        limit=query.limit,
        offset=query.offset,
    )


def recent_runs(runs: RunRepository, ws: str, leaderboard_id: str) -> list[dict[str, Any]]:
    """The leaderboard detail's ``recent_runs``: a summary each, the winner named."""
    out = []
    for doc in runs.recent(ws, leaderboard_id, RECENT_RUNS):
        results = doc.get("results") or []
        top = next((r for r in results if r.get("rank") == 1), None)
        winner = top and {k: top[k] for k in ("leaderboard_model_id", "name", "score")}
        out.append(
            {
                "id": doc["id"],
                "status": doc["status"],
                "run_source": doc.get("run_source"),
                "created_at": doc["created_at"],
                "finished_at": doc.get("finished_at"),
                "winner": winner,
            }
        )
    return out


def list_samples(
    *,
    runs: RunRepository,
    principal: Principal,
    leaderboard_id: str,
    run_id: str,
    query: SampleQuery,
) -> Page[SampleResult]:
    """One model's per-sample outputs and scores, in dataset order."""
    ws = principal.workspace_id
    run = _get(runs, ws, leaderboard_id, run_id)
    if query.model_id not in run["model_ids"]:
        raise InvalidInput.field("model_id", f"{query.model_id!r} is not a model of this run")
    plan = run.get("plan") or {}
    total = int(plan.get("samples", 0))
    items: list[SampleResult] = []
    if plan and query.offset < total:
        # Chunks are cut by bytes too, so their sizes vary: find them by their first index.
        starts = plan.get("chunk_starts") or list(range(0, total, int(plan.get("chunk_size", 1))))
        last_index = min(total, query.offset + query.limit) - 1
        first = bisect.bisect_right(starts, query.offset) - 1
        last = bisect.bisect_right(starts, last_index) - 1
        cells = {
            c["chunk"]: c for c in runs.cells(ws, leaderboard_id, run_id, model_id=query.model_id)
        }
        version = run["dataset_version"]["id"]
        for chunk in range(first, last + 1):
            inputs = {s["index"]: s for s in runs.get_chunk(ws, leaderboard_id, version, chunk)}
            done = {s["index"]: s for s in (cells.get(chunk) or {}).get("samples", [])}
            for index in sorted(inputs):
                if query.offset <= index < query.offset + query.limit:
                    items.append(_sample_result(inputs[index], done.get(index)))
    return Page(items=items, total=total, limit=query.limit, offset=query.offset)


def run_public(doc: Doc, runs: RunRepository) -> RunPublic:
    plan = doc.get("plan") or {}
    total = int(plan.get("samples", 0)) * len(doc["model_ids"])
    cells_total = int(plan.get("cells_total", 0))
    if doc["status"] in (RunStatus.COMPLETED, RunStatus.AWAITING_REVIEW):
        # Known without a query: listing finished runs costs no aggregations.
        cells_done, samples_done = cells_total, total
    elif plan:
        ws, lb_id = doc["workspace_id"], doc["leaderboard_id"]
        cells_done, samples_done = runs.progress(ws, lb_id, doc["id"])
    else:
        cells_done, samples_done = 0, 0
    progress = Progress(
        done=samples_done, total=total, cells_done=cells_done, cells_total=cells_total
    )
    return RunPublic.model_validate({**doc, "progress": progress})


def _sample_result(sample: Doc, result: Doc | None) -> SampleResult:
    result = result or {}
    return SampleResult(
        index=sample["index"],
        input=sample["input"],
        expected=sample.get("expected"),
        output=result.get("output"),
        error=result.get("error"),
        score=result.get("score"),
        judge_reason=result.get("judge_reason"),
        judge_error=result.get("judge_error"),
        latency_ms=result.get("latency_ms"),
        tokens_in=result.get("tokens_in"),
        tokens_out=result.get("tokens_out"),
        cost_usd=result.get("cost_usd"),
        cached=bool(result.get("cached")),
    )


def _endpoint_snapshot(leaderboards: LeaderboardRepository, ws: str, candidate: Doc) -> Doc:
    source = candidate
    if candidate["platform"] == Platform.DRGERO:
        registered = leaderboards.get_registered(ws, candidate["model_id"])
        if registered is None:
            raise Conflict(f"Candidate {candidate['id']} refers to a registered model that is gone")
        source = registered
    return {
        k: source.get(k)
        for k in (
            "platform",
            "model_url",
            "token_encrypted",
            "auth_type",
            "auth_header_name",
            "parameters",
        )
    }


def _pairwise_for(lb: Doc, model_ids: list[str]) -> Doc | None:
    meta = lb.get("eval_metadata") or {}
    if lb["eval_type"] != EvalType.JUDGE or meta.get("judge_mode") != "pairwise":
        return None
    named = meta.get("baseline_model_id")
    if named is not None and named not in model_ids:
        raise InvalidInput.field(
            "model_ids",
            f"the pairwise baseline {named!r} (eval_metadata.baseline_model_id) is not among "
            "this run's models",
        )
    if len(model_ids) < 2:
        raise Conflict("A pairwise run compares candidates with a baseline: it needs two models")
    return {
        "baseline": baseline_for(model_ids, meta, lb.get("chosen_leaderboard_model_id")),
    }


def _with_key(snapshot: Doc, key_encrypted: str | None) -> Doc:
    own = snapshot.get("token_encrypted")
    if key_encrypted and snapshot["platform"] == Platform.OPENROUTER and not own:
        return {**snapshot, "token_encrypted": key_encrypted}
    return snapshot


def _dataset_source(lb: Doc) -> str:
    """Where the prepare step reads rows: PUSH leaderboards, and GET ones whose file has an
    improved version (improve-dataset), read their current version; others fetch the file."""
    state = lb.get("dataset_state") or {}
    if lb["dataset_type"] == DatasetType.PUSH or (
        state.get("current") and state.get("url") and state.get("url") == lb.get("dataset_url")
    ):
        return "version"
    return "file"


def _judge_for(lb: Doc, endpoints: dict[str, Doc]) -> Doc | None:
    if lb["eval_type"] != EvalType.JUDGE:
        return None
    if lb.get("judge_model"):
        return {"provider": lb["judge_provider"], "model": lb["judge_model"], "auto": False}
    # Auto: a strong judge from outside the candidates' families (self-preference bias).
    families = [e["model_url"] for e in endpoints.values() if e["platform"] == Platform.OPENROUTER]
    return {
        "provider": JudgeProvider.OPENROUTER.value,
        "model": choose_auto_judge(families),
        "auto": True,
    }


def _get(runs: RunRepository, ws: str, lb_id: str, run_id: str) -> Doc:
    doc = runs.get(ws, lb_id, run_id)
    if doc is None:
        raise NotFound("Run not found")
    return doc
