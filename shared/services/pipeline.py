"""The run pipeline, one step per Cloud Tasks handler: prepare → infer → judge → finalize.

Every step is idempotent under duplicate delivery, because Cloud Tasks delivers at least once,
twice at the same time, and out of order:

- ``infer`` and ``judge`` claim their cell's lease in the state they expect (missing or
  ``partial`` for infer, ``answered`` for judge) before calling any model, renew it while they
  work, and save only while they still hold it. A cell past that state means the work is done:
  the step only re-enqueues what follows (under the same deterministic task names, a no-op when
  already done). A live lease held by another delivery means a duplicate is at work: this one
  asks to be retried later (503) and, on its last attempt, acknowledges;
- state changes of the run go through ``RunRepository.transition``, which only moves a run out
  of the states it is allowed to leave.

Transient provider failures raise ``TransientFailure`` (the worker answers 503 with
Retry-After, so the queue retries with backoff) after saving what did succeed; on the task's
last attempt they are recorded as errors instead. Anything else that cannot succeed fails the
run with a reason (``functions/workers/main.py``), so a run always ends. A run whose tasks were
lost is resumed by the scheduler tick (``resume`` > 0 names a new generation of tasks).

Documents stay under Firestore's 1 MiB: dataset chunks are cut by bytes as well as rows, an
answer keeps at most its share of the cell (``output_budget``), and text is cleaned of what
Firestore refuses (``clean_text``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from shared.domain.clock import Clock
from shared.domain.errors import TransientFailure
from shared.domain.leaderboards import ChosenModelStrategy, EvalType
from shared.domain.pairwise import (
    PAIRWISE_PARAMETERS,
    build_pairwise_messages,
    combine,
    parse_pairwise_verdict,
)
from shared.domain.promotion import Decision
from shared.domain.promotion import decide as decide_promotion
from shared.domain.promotion import settings_from as promotion_settings
from shared.domain.results import cell_summary, model_result
from shared.domain.results import combine as combine_parts
from shared.domain.reviews import (
    audited,
    human_score,
    item_id,
    order_key,
    review_seed,
    reviewers_agreement,
    reviews_needed,
)
from shared.domain.runs import (
    CELL_MAX_BYTES,
    ERROR_MAX_BYTES,
    REASON_MAX_BYTES,
    CellState,
    RunStatus,
    cache_key,
    cell_id,
    chunk_cache_id,
    chunk_starts,
    exact_options,
    exact_options_problem,
    infer_cache_material,
    inputs_digest,
    output_budget,
    plan_chunks,
    render_messages,
    select_rows,
    selection_record,
)
from shared.domain.scoring import (
    JUDGE_PARAMETERS,
    ExactOptions,
    build_judge_messages,
    exact_score,
    parse_judge_verdict,
)
from shared.domain.statistics import summarize
from shared.domain.text import clean_text, truncate_utf8
from shared.providers.budget import CallBudget, provider_key
from shared.providers.chat import ChatProvider, ChatRequest, Completion
from shared.providers.errors import DatasetError, ProviderError
from shared.providers.factory import Endpoint
from shared.providers.hf_datasets import DatasetFile
from shared.repositories.base import Doc
from shared.repositories.reviews import ReviewRepository
from shared.repositories.runs import CacheWrite, Claim, RunRepository
from shared.secrets import SecretBox
from shared.services.run_events import log_run_state
from shared.tasks.queue import (
    QUEUE_CONTROL,
    QUEUE_INFERENCE_CUSTOM,
    QUEUE_INFERENCE_HUGGINGFACE,
    QUEUE_INFERENCE_OPENROUTER,
    QUEUE_JUDGE,
    TaskQueue,
    task_name,
)

log = logging.getLogger("podium.pipeline")

# workspace id, url, dataset_metadata -> the file's usable rows, pinned
FetchDataset = Callable[[str, str, dict[str, Any] | None], DatasetFile]
# workspace id, leaderboard id -> a PUSH leaderboard's rows, consolidated first
PushDataset = Callable[[str, str], DatasetFile]
ProviderFor = Callable[[Endpoint], ChatProvider]

QUEUE_FOR_PLATFORM = {
    "OpenRouter": QUEUE_INFERENCE_OPENROUTER,
    "HuggingFace": QUEUE_INFERENCE_HUGGINGFACE,
    "Custom": QUEUE_INFERENCE_CUSTOM,
}
ENQUEUE_CONCURRENCY = 16
# How long a duplicate delivery waits, at most, before asking about a busy cell again.
BUSY_RETRY_SECONDS = 30.0


@dataclass(frozen=True)
class PipelineConfig:
    chunk_size: int
    output_max_chars: int
    cache_ttl: timedelta
    # How long a cell's lease lasts without renewal (renewed every third of it).
    lease: timedelta = timedelta(seconds=60)


@dataclass(frozen=True)
class TaskRef:
    workspace_id: str
    leaderboard_id: str
    run_id: str
    leaderboard_model_id: str | None = None
    chunk: int | None = None
    # 0 for the run's own tasks; n for those of its n-th resumption by the scheduler tick,
    # whose names differ so that names reserved by lost or spent tasks do not block them.
    resume: int = 0
    # Set by prepare on an infer task whose chunk it found no cache document for: the task
    # need not look again (a read a task on a cold run). Not part of the task's name.
    cache_absent: bool = False

    def payload(self, **extra: Any) -> dict[str, Any]:
        base: dict[str, Any] = {
            "workspace_id": self.workspace_id,
            "leaderboard_id": self.leaderboard_id,
            "run_id": self.run_id,
        }
        if self.resume:
            base["resume"] = self.resume
        return base | extra

    def name(self, step: str, *parts: str) -> str:
        """The deterministic task name of ``step`` for this run (and generation)."""
        generation = (f"resume-{self.resume}",) if self.resume else ()
        return task_name(
            step, self.workspace_id, self.leaderboard_id, self.run_id, *parts, *generation
        )


@dataclass(frozen=True)
class _Calls:
    """One chunk's calls to one endpoint: messages and cache keys by sample index, and the
    response-cache document they share."""

    endpoint: Endpoint
    messages: dict[int, list[dict[str, str]]]
    keys: dict[int, str]
    cache_id: str


@dataclass
class _Call:
    """The outcome of one model call for one sample."""

    index: int
    completion: Completion | None = None
    error: ProviderError | None = None
    cached: Doc | None = None


@dataclass
class Pipeline:
    runs: RunRepository
    queue: TaskQueue
    providers: ProviderFor
    fetch_dataset: FetchDataset
    secrets: SecretBox
    clock: Clock
    config: PipelineConfig
    # Model calls in flight per provider, shared with every other task of this instance.
    budget: CallBudget
    push_dataset: PushDataset | None = None
    reviews: ReviewRepository | None = None

    # --- prepare: pin the dataset, plan the cells, fan out ---------------------------------
    def prepare(self, ref: TaskRef, *, final_attempt: bool) -> None:
        run = self.runs.get(ref.workspace_id, ref.leaderboard_id, ref.run_id)
        if run is None:
            return
        if run["status"] == RunStatus.QUEUED:
            problem = (
                exact_options_problem(run.get("eval_metadata"))
                if run["eval_type"] == EvalType.EXACT
                else None
            )
            if problem is not None:
                self.fail(ref, f"The run cannot be scored: {problem}")
                return
            run = self._pin_dataset(ref, run, final_attempt=final_attempt)
            if run is None:
                return
            log_run_state(run, "running", samples=run["plan"]["samples"])
        if run["status"] != RunStatus.RUNNING:
            return
        # Also on a duplicate delivery: re-enqueueing under the same names mends a crash that
        # happened between the state change above and the end of this loop.
        self._fan_out(ref, run)

    def _fan_out(self, ref: TaskRef, run: Doc) -> None:
        """Enqueue every cell's next step. A resumption skips what is done, and enqueues
        judging or finalizing where that is what a cell or the run waits for."""
        chunks = run["plan"]["chunks"]
        states = (
            self.runs.cell_states(ref.workspace_id, ref.leaderboard_id, ref.run_id)
            if ref.resume
            else {}
        )
        human = run["eval_type"] == EvalType.HUMAN
        finished = {CellState.SCORED.value} | ({CellState.ANSWERED.value} if human else set())
        cells = [(m, c) for m in run["model_ids"] for c in range(chunks)]
        # Cells the response cache answers in full are written here, without a task each.
        served, absent = self._from_cache(ref, run, [job for job in cells if job not in states])
        states = {**states, **served}
        jobs = [job for job in cells if states.get(job) not in finished]
        if (ref.resume or served) and not jobs:
            if human:
                self._enqueue_review(ref)
            else:
                self._enqueue_finalize(ref)
            return

        def enqueue(job: tuple[str, int]) -> bool:
            model_id, chunk = job
            cell_ref = ref.payload(leaderboard_model_id=model_id, chunk=chunk)
            if states.get(job) == CellState.ANSWERED:
                return self.queue.enqueue(
                    queue=QUEUE_JUDGE,
                    name=ref.name("judge", model_id, str(chunk)),
                    path="/tasks/judge",
                    payload=cell_ref,
                )
            platform = run["endpoints"][model_id]["platform"]
            return self.queue.enqueue(
                queue=QUEUE_FOR_PLATFORM.get(platform, QUEUE_INFERENCE_CUSTOM),
                name=ref.name("infer", model_id, str(chunk)),
                path="/tasks/infer",
                payload=cell_ref | ({"cache_absent": True} if job in absent else {}),
            )

        with ThreadPoolExecutor(ENQUEUE_CONCURRENCY) as pool:
            list(pool.map(enqueue, jobs))

    def _from_cache(
        self, ref: TaskRef, run: Doc, jobs: list[tuple[str, int]]
    ) -> tuple[dict[tuple[str, int], str], set[tuple[str, int]]]:
        """Write the cells whose every call the response cache answers (and, for a judged
        run, whose every verdict it holds too), in a few commits, counted in the run's
        progress; returns their states, and the cells whose chunk has no cache document at
        all. One cache read per cell, and the chunk of a cell only when its document is
        there: a run of what was asked before costs a write per cell."""
        if not run["use_cache"] or not jobs or run.get("pairwise"):
            return {}, set()
        ws, lb = ref.workspace_id, ref.leaderboard_id
        version = run["dataset_version"]["id"]
        digests = self.runs.chunk_digests(ws, lb, version)
        endpoints = {
            m: self._endpoint(run["endpoints"][m], with_token=False) for m in {m for m, _ in jobs}
        }
        ids = {job: self._infer_cache_id(run, endpoints[job[0]], digests[job[1]]) for job in jobs}
        now = self.clock()
        docs = self.runs.cached(ws, ids.values(), now)
        found = [job for job in jobs if ids[job] in docs]
        absent = {job for job in jobs if ids[job] not in docs}
        if not found:
            return {}, absent
        chunks = {c: self.runs.get_chunk(ws, lb, version, c) for c in {c for _, c in found}}
        made: dict[str, Doc] = {}
        judged: dict[tuple[str, int], tuple[Sequence[Doc], dict[int, Doc]]] = {}
        for model_id, chunk in found:
            samples = chunks[chunk]
            work = self._infer_calls(run, model_id, samples, with_token=False)
            entries = docs[ids[(model_id, chunk)]]
            if any(k not in entries for k in work.keys.values()):
                continue
            budget = output_budget(len(samples), self.config.output_max_chars)
            results = {
                i: self._answer_record(_Call(i, cached=entries[k]), budget)
                for i, k in work.keys.items()
            }
            state = self._score_answers(
                run, results, {s["index"]: s.get("expected") for s in samples}
            )
            made[cell_id(model_id, chunk)] = self._cell_doc(model_id, chunk, state, results)
            if run["eval_type"] == EvalType.JUDGE:
                judged[(model_id, chunk)] = (samples, results)
        # A judged cell is scored from the cache too if it holds every verdict (all the
        # cells' verdict documents in one read); otherwise it stays answered, and its judge
        # task asks for what the cache does not hold.
        for (model_id, chunk), results in self._verdicts_cached(run, judged).items():
            made[cell_id(model_id, chunk)] = self._cell_doc(
                model_id, chunk, CellState.SCORED, results
            )
        if not made:
            return {}, absent
        self.runs.create_cells(ws, lb, ref.run_id, made)
        return {(c["leaderboard_model_id"], c["chunk"]): c["state"] for c in made.values()}, absent

    def _verdicts_cached(
        self, run: Doc, cells: dict[tuple[str, int], tuple[Sequence[Doc], dict[int, Doc]]]
    ) -> dict[tuple[str, int], dict[int, Doc]]:
        """The cells of ``cells`` ((model, chunk) -> samples and answered results) whose
        every verdict the cache holds, with the verdicts applied to their results; one read
        for all of their verdict documents."""
        if not cells:
            return {}
        works = {
            cid: self._judge_calls(run, samples, results, with_token=False)
            for cid, (samples, results) in cells.items()
        }
        docs = self.runs.cached(
            run["workspace_id"], [w.cache_id for w in works.values()], self.clock()
        )
        scored: dict[tuple[str, int], dict[int, Doc]] = {}
        for job, work in works.items():
            entries = docs.get(work.cache_id, {})
            if any(k not in entries for k in work.keys.values()):
                continue
            _, results = cells[job]
            for i, k in work.keys.items():
                _apply_verdict(results[i], entries[k]["output"])
            scored[job] = results
        return scored

    def _pin_dataset(self, ref: TaskRef, run: Doc, *, final_attempt: bool) -> Doc | None:
        source = run["dataset"]
        try:
            if source.get("type") == "version" and self.push_dataset is not None:
                data = self.push_dataset(ref.workspace_id, ref.leaderboard_id)
            else:
                data = self.fetch_dataset(ref.workspace_id, source["url"], source.get("metadata"))
        except DatasetError as exc:
            if exc.transient and not final_attempt:
                raise TransientFailure(
                    f"Dataset temporarily unavailable: {exc.detail}", exc.retry_after
                ) from exc
            self.fail(ref, f"Dataset unusable: {exc.detail}")
            return None
        rows = [
            {"index": i, "input": s.input, "expected": s.expected, "line": s.line}
            for i, s in enumerate(
                select_rows(data.samples, schedule=source.get("schedule"), seed=data.content_sha256)
            )
        ]
        size = self.config.chunk_size
        limit = ((source.get("schedule") or {}).get("dataset")) or {}
        # Cut by rows and by bytes, so no chunk (or the cell of its answers) outgrows 1 MiB.
        chunks = plan_chunks(rows, max_rows=size)
        version_id = (
            "dsv_"
            + hashlib.sha256(
                json.dumps([data.content_sha256, limit, size, "bytes-v1"], sort_keys=True).encode()
            ).hexdigest()[:20]
        )
        version = {
            "id": version_id,
            "url": source["url"],
            "revision": data.revision,
            "content_sha256": data.content_sha256,
            "etag": data.etag,
            "rows": len(data.samples),
            "rows_used": len(rows),
            "bad_rows": data.bad_rows,
            "bad_row_examples": [
                {"line": b.line, "reason": b.reason} for b in data.bad_row_examples
            ],
            "truncated": data.truncated,
            "chunk_size": size,
            "created_at": self.clock(),
        }
        if self.runs.get_version(ref.workspace_id, ref.leaderboard_id, version_id) is None:
            self.runs.put_version(ref.workspace_id, ref.leaderboard_id, version_id, version, chunks)
        plan = {
            "chunks": len(chunks),
            "chunk_size": size,
            "chunk_starts": chunk_starts(chunks),
            "samples": len(rows),
            "cells_total": len(chunks) * len(run["model_ids"]),
        }
        return self.runs.transition(
            ref.workspace_id,
            ref.leaderboard_id,
            ref.run_id,
            allowed_from=[RunStatus.QUEUED],
            fields={
                "status": RunStatus.RUNNING.value,
                "started_at": self.clock(),
                "plan": plan,
                "dataset_version": {
                    k: v
                    for k, v in version.items()
                    if k not in ("created_at", "etag", "chunk_size")
                }
                # What was taken from which version, and the seed, so a run can be reproduced.
                | {"selection": selection_record(source.get("schedule"), data.content_sha256)},
            },
        )

    # --- infer: every sample of one chunk, for one model -----------------------------------
    def infer(self, ref: TaskRef, *, final_attempt: bool) -> None:
        run = self._running(ref)
        if run is None:
            return
        model_id, chunk = str(ref.leaderboard_model_id), int(ref.chunk or 0)
        cid = cell_id(model_id, chunk)
        owner = uuid.uuid4().hex
        claim = self._claim(ref, cid, owner, states=(None, CellState.PARTIAL.value))
        if not self._may_work(ref, run, claim, final_attempt=final_attempt):
            return
        with self._leased(ref, cid, owner):
            samples = self.runs.get_chunk(
                ref.workspace_id, ref.leaderboard_id, run["dataset_version"]["id"], chunk
            )
            done = {s["index"]: s for s in (claim.cell or {}).get("samples", [])}
            work = self._infer_calls(run, model_id, samples)
            pending = {i: m for i, m in work.messages.items() if i not in done}
            calls = self._call_all(
                run, work.endpoint, pending, work.keys, work.cache_id, look=not ref.cache_absent
            )
            budget = output_budget(len(samples), self.config.output_max_chars)
            results = dict(done)
            transient: list[_Call] = []
            for call in calls:
                if call.error is not None and call.error.transient and not final_attempt:
                    transient.append(call)
                else:
                    results[call.index] = self._answer_record(call, budget)
            # The records as the cell keeps them (cut to its budget), so a run served from
            # the cache writes the very cell this one does. Saved with the cell, in its commit.
            cache = self._cache_write(
                run,
                work.cache_id,
                {
                    work.keys[c.index]: _cache_entry(results[c.index])
                    for c in calls
                    if c.completion is not None
                },
            )
            expected = {s["index"]: s.get("expected") for s in samples}
            if transient:
                self._save_cell(ref, model_id, chunk, CellState.PARTIAL, results, owner, cache)
                raise TransientFailure(
                    f"{len(transient)} of {len(samples)} samples hit transient provider failures",
                    max((c.error.retry_after or 0 for c in transient if c.error), default=0)
                    or None,
                )
            state = self._score_answers(run, results, expected)
            cell = self._save_cell(ref, model_id, chunk, state, results, owner, cache)
        if cell is not None:
            self._after_cell(ref, run, cell)

    def _infer_calls(
        self, run: Doc, model_id: str, samples: Sequence[Doc], *, with_token: bool = True
    ) -> _Calls:
        """Every sample's messages and cache key for ``model_id``, and the chunk's cache
        document."""
        endpoint = self._endpoint(run["endpoints"][model_id], with_token=with_token)
        prompts = run["prompts"]
        messages = {
            s["index"]: render_messages(
                system_prompt=prompts.get("system_prompt"),
                model_prompt=prompts.get("model_prompt"),
                input_text=s["input"],
            )
            for s in samples
        }
        keys = {
            i: cache_key(
                provider=endpoint.platform,
                endpoint=endpoint.model_url,
                model=endpoint.model,
                parameters=endpoint.parameters,
                messages=m,
            )
            for i, m in messages.items()
        }
        return _Calls(
            endpoint, messages, keys, self._infer_cache_id(run, endpoint, inputs_digest(samples))
        )

    @staticmethod
    def _infer_cache_id(run: Doc, endpoint: Endpoint, digest: str) -> str:
        return chunk_cache_id(
            infer_cache_material(
                provider=endpoint.platform,
                endpoint=endpoint.model_url,
                model=endpoint.model,
                parameters=endpoint.parameters,
                prompts=run["prompts"],
                inputs=digest,
            )
        )

    def _score_answers(
        self, run: Doc, results: dict[int, Doc], expected: dict[int, str | None]
    ) -> CellState:
        """Score an exact run's answers in place (the cell is then scored); other runs'
        answers wait for their judge or for people."""
        if run["eval_type"] != EvalType.EXACT:
            return CellState.ANSWERED
        options = exact_options(run.get("eval_metadata"))
        for index, record in results.items():
            record["score"] = _exact(record, expected.get(index), options)
        return CellState.SCORED

    # --- judge: score one answered cell with the judge model -------------------------------
    def judge(self, ref: TaskRef, *, final_attempt: bool) -> None:
        run = self._running(ref)
        if run is None:
            return
        if run.get("pairwise"):
            self._judge_pairwise(ref, run, str(run["pairwise"]["baseline"]), final_attempt)
            return
        model_id, chunk = str(ref.leaderboard_model_id), int(ref.chunk or 0)
        cid = cell_id(model_id, chunk)
        owner = uuid.uuid4().hex
        claim = self._claim(ref, cid, owner, states=(CellState.ANSWERED.value,))
        if claim.outcome == "done" and (claim.cell or {}).get("state") != CellState.SCORED:
            return  # not answered yet: the infer step enqueues judging when it is
        if not self._may_work(ref, run, claim, final_attempt=final_attempt):
            return
        assert claim.cell is not None
        with self._leased(ref, cid, owner):
            samples = self.runs.get_chunk(
                ref.workspace_id, ref.leaderboard_id, run["dataset_version"]["id"], chunk
            )
            results = {s["index"]: dict(s) for s in claim.cell["samples"]}
            work = self._judge_calls(run, samples, results)
            pending = {i: m for i, m in work.messages.items() if not results[i].get("judged")}
            calls = self._call_all(run, work.endpoint, pending, work.keys, work.cache_id)
            transient = 0
            retry_after: float | None = None
            for call in calls:
                record = results[call.index]
                if call.error is not None:
                    if call.error.transient and not final_attempt:
                        transient += 1
                        retry_after = max(retry_after or 0, call.error.retry_after or 0) or None
                        continue
                    record.update(
                        judged=True,
                        score=None,
                        judge_reason=None,
                        judge_error=_short(call.error.detail, ERROR_MAX_BYTES),
                    )
                    continue
                _apply_verdict(
                    record,
                    call.cached["output"]
                    if call.cached
                    else (call.completion.text if call.completion else ""),
                )
            cache = self._cache_write(run, work.cache_id, self._verdict_entries(calls, work.keys))
            if transient:
                self._save_cell(ref, model_id, chunk, CellState.ANSWERED, results, owner, cache)
                raise TransientFailure(
                    f"{transient} judge calls hit transient failures", retry_after
                )
            cell = self._save_cell(ref, model_id, chunk, CellState.SCORED, results, owner, cache)
        if cell is not None:
            self._after_cell(ref, run, cell)

    def _judge_calls(
        self,
        run: Doc,
        samples: Sequence[Doc],
        results: dict[int, Doc],
        *,
        with_token: bool = True,
    ) -> _Calls:
        """The judge's call for every answer of a cell. The cache document is named by all of
        them, so a retry finds what its first attempt stored, and a run served from the cache
        finds the verdicts before any task is queued."""
        inputs = {s["index"]: s for s in samples}
        judge = run["judge"]
        # The workspace's OpenRouter key, if it has one (not needed for cache keys).
        key = judge.get("token_encrypted") if with_token else None
        endpoint = Endpoint(
            platform=judge["provider"],
            model_url=judge["model"],
            token=self.secrets.decrypt(key) if key else None,
            parameters=JUDGE_PARAMETERS,
        )
        rubric = (run.get("eval_metadata") or {}).get("rubric")
        messages = {
            i: build_judge_messages(
                input=inputs[i]["input"],
                answer=r["output"],
                reference=inputs[i].get("expected"),
                rubric=rubric,
            )
            for i, r in results.items()
            if r.get("output") is not None
        }
        keys = _judge_keys(endpoint, JUDGE_PARAMETERS, messages)
        return _Calls(endpoint, messages, keys, chunk_cache_id(sorted(keys.values())))

    def _judge_pairwise(self, ref: TaskRef, run: Doc, baseline: str, final_attempt: bool) -> None:
        """A candidate's chunk against the baseline's answers to the same samples, each pair
        judged in both orders (``shared/domain/pairwise.py``). It needs the baseline's answers:
        until they are in it does nothing, and the baseline's cell, once judged, enqueues this
        again under a name of its own."""
        model_id, chunk = str(ref.leaderboard_model_id), int(ref.chunk or 0)
        base_cell = None
        if model_id != baseline:
            base_cell = self.runs.get_cell(
                ref.workspace_id, ref.leaderboard_id, ref.run_id, cell_id(baseline, chunk)
            )
            if (base_cell or {}).get("state") not in (CellState.ANSWERED, CellState.SCORED):
                return
        cid = cell_id(model_id, chunk)
        owner = uuid.uuid4().hex
        claim = self._claim(ref, cid, owner, states=(CellState.ANSWERED.value,))
        if claim.outcome == "done" and (claim.cell or {}).get("state") != CellState.SCORED:
            return  # not answered yet: the infer step enqueues judging when it is
        if not self._may_work(ref, run, claim, final_attempt=final_attempt):
            return
        assert claim.cell is not None
        with self._leased(ref, cid, owner):
            results = {s["index"]: dict(s) for s in claim.cell["samples"]}
            if base_cell is None:  # the baseline against itself: a tie wherever it answered
                for r in results.values():
                    r.update(judged=True, score=0.5 if r.get("output") is not None else None)
                transient = 0
            else:
                transient = self._judge_pairs(ref, run, chunk, results, base_cell, final_attempt)
            if transient:
                self._save_cell(ref, model_id, chunk, CellState.ANSWERED, results, owner)
                raise TransientFailure(f"{transient} pairwise judge calls hit transient failures")
            cell = self._save_cell(ref, model_id, chunk, CellState.SCORED, results, owner)
        if cell is None:
            return
        if base_cell is None:
            for other in run["model_ids"]:
                if other != baseline:
                    self.queue.enqueue(
                        queue=QUEUE_JUDGE,
                        name=ref.name("judge", other, str(chunk), "after-baseline"),
                        path="/tasks/judge",
                        payload=ref.payload(leaderboard_model_id=other, chunk=chunk),
                    )
        self._after_cell(ref, run, cell)

    def _judge_pairs(
        self,
        ref: TaskRef,
        run: Doc,
        chunk: int,
        results: dict[int, Doc],
        base_cell: Doc,
        final_attempt: bool,
    ) -> int:
        """Judge each (candidate, baseline) pair twice, A/B and B/A; fill ``results`` and
        return how many pairs hit a transient failure (left for the retry)."""
        samples = {
            s["index"]: s
            for s in self.runs.get_chunk(
                ref.workspace_id, ref.leaderboard_id, run["dataset_version"]["id"], chunk
            )
        }
        base = {s["index"]: s.get("output") for s in base_cell["samples"]}
        judge = run["judge"]
        key = judge.get("token_encrypted")
        endpoint = Endpoint(
            platform=judge["provider"],
            model_url=judge["model"],
            token=self.secrets.decrypt(key) if key else None,
            parameters=PAIRWISE_PARAMETERS,
        )
        messages: dict[int, list[dict[str, str]]] = {}
        for i, r in results.items():
            if r.get("output") is None:
                continue
            theirs = base.get(i)
            if theirs is None:
                if r.get("judged"):
                    continue
                r.update(
                    judged=True,
                    score=None,
                    pair_inconsistent=None,
                    judge_error="the baseline has no answer for this sample",
                )
                continue
            question, reference = samples[i]["input"], samples[i].get("expected")
            messages[2 * i] = build_pairwise_messages(
                input=question, reference=reference, answer_a=r["output"], answer_b=theirs
            )
            messages[2 * i + 1] = build_pairwise_messages(
                input=question, reference=reference, answer_a=theirs, answer_b=r["output"]
            )
        keys = _judge_keys(endpoint, PAIRWISE_PARAMETERS, messages)
        # Pairs already judged (by an earlier attempt) are not asked again.
        pending = {k: m for k, m in messages.items() if not results[k // 2].get("judged")}
        cache_id = chunk_cache_id(sorted(keys.values()))
        calls = {c.index: c for c in self._call_all(run, endpoint, pending, keys, cache_id)}
        transient = 0
        for i in sorted({k // 2 for k in pending}):
            pair = (calls[2 * i], calls[2 * i + 1])
            failed = [c.error for c in pair if c.error is not None]
            if failed:
                if any(e.transient for e in failed) and not final_attempt:
                    transient += 1
                    continue
                results[i].update(
                    judged=True,
                    score=None,
                    pair_inconsistent=None,
                    judge_error=_short(failed[0].detail, ERROR_MAX_BYTES),
                )
                continue
            verdicts = [
                parse_pairwise_verdict(
                    c.cached["output"] if c.cached else (c.completion.text if c.completion else "")
                )
                for c in pair
            ]
            first, second = verdicts
            if first is None or second is None:
                results[i].update(
                    judged=True,
                    score=None,
                    pair_inconsistent=None,
                    judge_error="the judge's reply did not parse as a verdict",
                )
                continue
            score, flipped = combine(first[0], second[0])
            results[i].update(
                judged=True,
                score=score,
                pair_inconsistent=flipped,
                judge_reason=_short(f"{first[1]} / {second[1]}", REASON_MAX_BYTES),
                judge_error=None,
            )
        cache = self._cache_write(run, cache_id, self._verdict_entries(list(calls.values()), keys))
        if cache is not None:
            self.runs.cache_put(ref.workspace_id, cache)
        return transient

    def _audit(self, ref: TaskRef, run: Doc, cell: Doc) -> None:
        """A judged cell's share of answers for people (``human_audit_rate``, drawn with the
        run's seed), blind, in the review queue. The run does not wait for them. Called for
        every delivery that finds the cell scored, so a crash after the save is mended; items
        are created if missing."""
        rate = float((run.get("eval_metadata") or {}).get("human_audit_rate") or 0)
        if (
            rate <= 0
            or run["eval_type"] != EvalType.JUDGE
            or run.get("pairwise")
            or self.reviews is None
        ):
            return
        seed = review_seed(ref.run_id)
        model_id = cell["leaderboard_model_id"]
        chosen = [
            s
            for s in cell["samples"]
            if s.get("score") is not None and audited(seed, model_id, s["index"], rate)
        ]
        if not chosen:
            return
        inputs = {
            s["index"]: s
            for s in self.runs.get_chunk(
                ref.workspace_id, ref.leaderboard_id, run["dataset_version"]["id"], cell["chunk"]
            )
        }
        now = self.clock()
        items = []
        for s in chosen:
            iid = item_id(ref.run_id, model_id, s["index"], audit=True)
            items.append(
                {
                    "id": iid,
                    "run_id": ref.run_id,
                    "leaderboard_model_id": model_id,
                    "index": s["index"],
                    "input": inputs[s["index"]]["input"],
                    "output": s["output"],
                    "expected": inputs[s["index"]].get("expected"),
                    "order_key": order_key(seed, iid),
                    "status": "pending",
                    "reviews": {},
                    "reviews_needed": reviews_needed(run),
                    "audit": True,
                    "judge_score": s["score"],
                    "created_at": now,
                }
            )
        self.reviews.create_missing(ref.workspace_id, ref.leaderboard_id, items)

    # --- review: a human run's answers go to people ---------------------------------------
    def review(self, ref: TaskRef) -> None:
        """Every cell answered: make one blind review item per answer (answers that errored
        have nothing to review and score as wrong), then wait for people. Items are created
        if missing, so a duplicate delivery adds none and keeps the reviews given."""
        run = self._running(ref)
        if run is None or run["eval_type"] != EvalType.HUMAN or self.reviews is None:
            return
        cells = self.runs.cells(ref.workspace_id, ref.leaderboard_id, ref.run_id)
        answered = [c for c in cells if c["state"] == CellState.ANSWERED]
        if len(answered) < run["plan"]["cells_total"]:
            return
        seed = review_seed(ref.run_id)
        needed = reviews_needed(run)
        now = self.clock()
        items = []
        for c in answered:
            chunk = {
                s["index"]: s
                for s in self.runs.get_chunk(
                    ref.workspace_id, ref.leaderboard_id, run["dataset_version"]["id"], c["chunk"]
                )
            }
            for sample in c["samples"]:
                if sample.get("output") is None:
                    continue
                iid = item_id(ref.run_id, c["leaderboard_model_id"], sample["index"])
                items.append(
                    {
                        "id": iid,
                        "run_id": ref.run_id,
                        "leaderboard_model_id": c["leaderboard_model_id"],
                        "index": sample["index"],
                        "input": chunk[sample["index"]]["input"],
                        "output": sample["output"],
                        "expected": chunk[sample["index"]].get("expected"),
                        "order_key": order_key(seed, iid),
                        "status": "pending",
                        "reviews": {},
                        "reviews_needed": needed,
                        "audit": False,
                        "created_at": now,
                    }
                )
        self.reviews.create_missing(ref.workspace_id, ref.leaderboard_id, items)
        moved = self.runs.transition(
            ref.workspace_id,
            ref.leaderboard_id,
            ref.run_id,
            allowed_from=[RunStatus.RUNNING],
            fields={
                "status": RunStatus.AWAITING_REVIEW.value,
                "review": {"seed": seed, "items": len(items), "reviews_per_item": needed},
            },
        )
        if moved is not None:
            log_run_state(moved, "awaiting_review", items=len(items))
        if not items:  # every answer errored: nothing to wait for
            self._enqueue_finalize(ref)

    # --- finalize: aggregate, rank, promote --------------------------------------------------
    def finalize(self, ref: TaskRef) -> None:
        run = self.runs.get(ref.workspace_id, ref.leaderboard_id, ref.run_id)
        human = run is not None and run["eval_type"] == EvalType.HUMAN
        waits_in = RunStatus.AWAITING_REVIEW if human else RunStatus.RUNNING
        if run is None or run["status"] != waits_in:
            return
        done_state = CellState.ANSWERED if human else CellState.SCORED
        # Judged and exact runs read each cell's summary (made when it was scored), not its
        # answers; a human run reads the answers, to score them by their reviews.
        cells = (
            self.runs.cells(ref.workspace_id, ref.leaderboard_id, ref.run_id)
            if human
            else self.runs.cell_summaries(ref.workspace_id, ref.leaderboard_id, ref.run_id)
        )
        if sum(1 for c in cells if c["state"] == done_state) < run["plan"]["cells_total"]:
            return  # early: the last cell to be scored enqueues this again
        extra: Doc = {}
        if human:
            assert self.reviews is not None
            items = self.reviews.for_run(
                ref.workspace_id, ref.leaderboard_id, ref.run_id, audit=False
            )
            if any(it["status"] != "done" for it in items):
                return  # early: the review that completes the last item enqueues this again
            given = {(it["leaderboard_model_id"], it["index"]): it["reviews"] for it in items}
            for c in cells:
                c["summary"] = cell_summary(
                    [
                        {**sample, "score": human_score(
                            given.get((c["leaderboard_model_id"], sample["index"])) or {}
                        )}
                        for sample in c["samples"]
                    ]
                )  # fmt: skip
            extra["review"] = {
                **(run.get("review") or {}),
                "reviewed": len(items),
                "agreement": reviewers_agreement(items),
            }
        parts: dict[str, list[Doc]] = {m: [] for m in run["model_ids"]}
        for c in sorted(cells, key=lambda c: c["chunk"]):
            summary = c.get("summary")
            if summary is None:  # a cell scored before summaries existed: read it whole
                whole = self.runs.get_cell(
                    ref.workspace_id, ref.leaderboard_id, ref.run_id,
                    cell_id(c["leaderboard_model_id"], c["chunk"]),
                ) or {}  # fmt: skip
                summary = cell_summary(whole.get("samples") or [])
            parts[c["leaderboard_model_id"]].append(summary)
        combined = {m: combine_parts(p) for m, p in parts.items()}
        if run.get("pairwise"):
            baseline = run["pairwise"]["baseline"]
            pairs = sum(c["pairs"] for m, c in combined.items() if m != baseline)
            flips = sum(c["inconsistent"] for m, c in combined.items() if m != baseline)
            extra["judge_consistency"] = {
                "pairs": pairs,
                "inconsistent": flips,
                "rate": flips / pairs if pairs else None,
            }
        scores = {m: c["scores"] for m, c in combined.items()}
        summaries = summarize(scores)
        results = [
            model_result(s, run["models"][s.model_id]["name"], combined[s.model_id])
            for s in summaries
        ]
        strategy = run.get("chosen_model_strategy") or ChosenModelStrategy.MANUAL
        previous = run.get("chosen_at_start")
        fresh = {m: c["fresh"] for m, c in combined.items()}
        settings = promotion_settings(run.get("eval_metadata"))
        decided: list[Decision] = []

        # Decided inside the transaction that completes the run: the pooled evidence is read
        # and written there, so a duplicate finalize (which finds the run completed) adds none.
        def promotion_field(lb: Doc) -> Doc:
            decision = decide_promotion(
                strategy=strategy,
                previous=previous,
                scores=scores,
                summaries=summaries,
                fresh=fresh,
                evidence=lb.get("promotion_evidence"),
                settings=settings,
            )
            decided[:] = [decision]
            return {"promotion": decision.report}

        def leaderboard_fields(lb: Doc, _run: Doc) -> Doc:
            fields: Doc = {"last_run_id": ref.run_id, "last_run_at": self.clock()}
            decision = decided[0]
            # Only if nobody changed the choice or the strategy since the run started.
            if (
                lb.get("chosen_model_strategy") == ChosenModelStrategy.RANKING_WINNER
                and lb.get("chosen_leaderboard_model_id") == previous
            ):
                if decision.report["promoted"]:
                    fields["chosen_leaderboard_model_id"] = decision.report["chosen"]
                if decision.evidence is not None:
                    fields["promotion_evidence"] = decision.evidence
            return fields

        done = self.runs.transition(
            ref.workspace_id,
            ref.leaderboard_id,
            ref.run_id,
            allowed_from=[waits_in],
            fields={
                "status": RunStatus.COMPLETED.value,
                "finished_at": self.clock(),
                "results": results,
                "cache_hits": sum(r["cache_hits"] for r in results),
                **extra,
            },
            leaderboard_fields=leaderboard_fields,
            run_fields=promotion_field,
        )
        if done is not None:
            log_run_state(
                done,
                "completed",
                results=[
                    {k: r[k] for k in ("leaderboard_model_id", "score", "n", "rank", "errors")}
                    for r in results
                ],
                promoted=bool(done.get("promotion", {}).get("promoted")),
            )

    # --- ending a run ------------------------------------------------------------------------
    def fail(self, ref: TaskRef, reason: str) -> bool:
        """Fail the run (if it is still queued, running or awaiting review) with ``reason``;
        True if it was."""
        reason = clean_text(reason)[:1000]
        failed = self.runs.transition(
            ref.workspace_id,
            ref.leaderboard_id,
            ref.run_id,
            allowed_from=[RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.AWAITING_REVIEW],
            fields={
                "status": RunStatus.FAILED.value,
                "reason": reason,
                "finished_at": self.clock(),
            },
        )
        if failed is not None:
            log_run_state(failed, "failed", reason=reason)
        return failed is not None

    # --- helpers -----------------------------------------------------------------------------
    def _running(self, ref: TaskRef) -> Doc | None:
        run = self.runs.get(ref.workspace_id, ref.leaderboard_id, ref.run_id)
        # Cancelled, finished or deleted: acknowledge and do nothing (that is how a run stops).
        return run if run is not None and run["status"] == RunStatus.RUNNING else None

    def _claim(
        self, ref: TaskRef, cid: str, owner: str, *, states: tuple[str | None, ...]
    ) -> Claim:
        now = self.clock()
        return self.runs.claim_cell(
            ref.workspace_id,
            ref.leaderboard_id,
            ref.run_id,
            cid,
            states=states,
            owner=owner,
            now=now,
            until=now + self.config.lease,
            placeholder={
                "leaderboard_model_id": ref.leaderboard_model_id,
                "chunk": ref.chunk or 0,
                "state": CellState.PARTIAL.value,
                "n": 0,
                "samples": [],
            },
        )

    def _may_work(self, ref: TaskRef, run: Doc, claim: Claim, *, final_attempt: bool) -> bool:
        """Whether this delivery should do the cell's work; otherwise it has nothing to do
        beyond making sure what follows a finished cell is queued."""
        if claim.outcome == "claimed":
            return True
        if claim.outcome == "done":
            if claim.cell is not None:
                self._after_cell(ref, run, claim.cell)
            return False
        # Another delivery holds a live lease: a duplicate, or the retry of a crashed attempt
        # whose lease has not lapsed yet. Come back when it may have; on the last attempt,
        # leave the cell to its holder (and to the stall check if the holder is dead).
        if final_attempt:
            log.info("task for cell %s acknowledged: another delivery holds it", claim.cell)
            return False
        raise TransientFailure(
            "another delivery of this task is working on the cell",
            retry_after=max(1.0, min(claim.wait, BUSY_RETRY_SECONDS)),
        )

    @contextmanager
    def _leased(self, ref: TaskRef, cid: str, owner: str) -> Iterator[None]:
        """Renew the cell's lease every third of its length while the body runs (the renewal
        is also the run's sign of progress), and release it if the body fails, so a retry
        need not wait for it to lapse. A lease lost meanwhile shows up as a refused save."""
        stop = threading.Event()
        every = self.config.lease.total_seconds() / 3

        def renew() -> None:
            while not stop.wait(every):
                now = self.clock()
                try:
                    if not self.runs.renew_lease(
                        ref.workspace_id, ref.leaderboard_id, ref.run_id, cid,
                        owner=owner, now=now, until=now + self.config.lease,
                    ):  # fmt: skip
                        return
                except Exception:  # a missed renewal only shortens the lease
                    log.warning("could not renew the lease on cell %s", cid, exc_info=True)

        heartbeat = threading.Thread(target=renew, name=f"lease-{cid}", daemon=True)
        heartbeat.start()
        ok = False
        try:
            yield
            ok = True
        finally:
            stop.set()
            heartbeat.join()
            if not ok:
                with suppress(Exception):
                    self.runs.release_lease(
                        ref.workspace_id, ref.leaderboard_id, ref.run_id, cid, owner=owner
                    )

    def _endpoint(self, snapshot: Doc, *, with_token: bool = True) -> Endpoint:
        """The candidate's endpoint; without its token where only its identity is needed
        (cache keys): the token is decrypted by the step that calls the model."""
        token = snapshot.get("token_encrypted") if with_token else None
        return Endpoint(
            platform=snapshot["platform"],
            model_url=snapshot["model_url"],
            token=self.secrets.decrypt(token) if token else None,
            auth_type=snapshot.get("auth_type") or "bearer",
            auth_header_name=snapshot.get("auth_header_name"),
            parameters=snapshot.get("parameters"),
        )

    def _call_all(
        self,
        run: Doc,
        endpoint: Endpoint,
        messages: dict[int, list[dict[str, str]]],
        keys: dict[int, str],
        cache_id: str,
        *,
        look: bool = True,
    ) -> list[_Call]:
        """Answer ``messages`` from the chunk's cache document where it has them (unless told
        not to ``look``: prepare found none), and call the model for the rest."""
        cached = (
            self.runs.cached(run["workspace_id"], [cache_id], self.clock()).get(cache_id, {})
            if run["use_cache"] and messages and look
            else {}
        )
        provider = self.providers(endpoint)
        params = {
            k: v
            for k, v in (endpoint.parameters or {}).items()
            if k in ("temperature", "max_tokens", "top_p", "response_format")
        }

        hits = {i: _Call(i, cached=cached[keys[i]]) for i in messages if keys[i] in cached}

        def call(index: int) -> _Call:
            try:
                return _Call(
                    index,
                    completion=provider.complete(ChatRequest(messages=messages[index], **params)),
                )
            except ProviderError as exc:
                return _Call(index, error=exc)

        # Misses stream through the provider's budget, shared with the instance's other tasks.
        misses = [i for i in sorted(messages) if i not in hits]
        answered = self.budget.map(provider_key(provider.endpoint), call, misses)
        return sorted([*hits.values(), *answered], key=lambda c: c.index)

    def _cache_write(self, run: Doc, cache_id: str, entries: dict[str, Doc]) -> CacheWrite | None:
        """This attempt's fresh answers for the chunk's cache document, if the run caches."""
        if not run["use_cache"] or self.config.cache_ttl <= timedelta(0) or not entries:
            return None
        return CacheWrite(cache_id, entries, self.clock() + self.config.cache_ttl)

    @staticmethod
    def _verdict_entries(calls: Sequence[_Call], keys: dict[int, str]) -> dict[str, Doc]:
        """Judge replies to cache: each whole, and only those within their share of the
        document (a verdict cut short would parse differently on a hit, so a longer one is
        not cached and is asked again)."""
        share = CELL_MAX_BYTES // max(1, len(keys))
        return {
            keys[c.index]: {
                "output": c.completion.text,
                "latency_ms": c.completion.latency_ms,
                "tokens_in": c.completion.tokens_in,
                "tokens_out": c.completion.tokens_out,
                "cost_usd": c.completion.cost_usd,
            }
            for c in calls
            if c.completion is not None and len(c.completion.text.encode()) <= share
        }

    def _answer_record(self, call: _Call, budget_bytes: int) -> Doc:
        if call.error is not None:
            return {
                "index": call.index,
                "output": None,
                "error": _short(call.error.detail, ERROR_MAX_BYTES),
                "cached": False,
            }
        source: Doc = (
            dict(call.cached)
            if call.cached is not None
            else {
                "output": call.completion.text if call.completion else "",
                "latency_ms": call.completion.latency_ms if call.completion else None,
                "tokens_in": call.completion.tokens_in if call.completion else None,
                "tokens_out": call.completion.tokens_out if call.completion else None,
                "cost_usd": call.completion.cost_usd if call.completion else None,
            }
        )
        full = clean_text(source["output"] or "")
        # At most output_max_chars characters, and at most this sample's share of the cell.
        output = truncate_utf8(full[: self.config.output_max_chars], budget_bytes)
        return {
            "index": call.index,
            "output": output,
            # A cached answer may have been cut already, when it was first stored.
            "truncated": len(output) < len(full) or bool(source.get("truncated")),
            "error": None,
            "latency_ms": source.get("latency_ms"),
            "tokens_in": source.get("tokens_in"),
            "tokens_out": source.get("tokens_out"),
            "cost_usd": source.get("cost_usd"),
            "cached": call.cached is not None,
        }

    def _save_cell(
        self,
        ref: TaskRef,
        model_id: str,
        chunk: int,
        state: CellState,
        results: dict[int, Doc],
        owner: str,
        cache: CacheWrite | None = None,
    ) -> Doc | None:
        """Write the cell (releasing the lease) and ``cache`` if the lease is still ours; None
        if not."""
        cell = self._cell_doc(model_id, chunk, state, results)
        saved = self.runs.save_cell(
            ref.workspace_id,
            ref.leaderboard_id,
            ref.run_id,
            cell_id(model_id, chunk),
            cell,
            owner=owner,
            cache=cache,
        )
        if not saved:
            log.warning("cell %s: lease lost before saving; the other holder's result stands",
                        cell_id(model_id, chunk))  # fmt: skip
        return cell if saved else None

    def _cell_doc(
        self, model_id: str, chunk: int, state: CellState, results: dict[int, Doc]
    ) -> Doc:
        cell = {
            "leaderboard_model_id": model_id,
            "chunk": chunk,
            "state": state.value,
            "n": len(results),
            "samples": [results[i] for i in sorted(results)],
            "updated_at": self.clock(),
        }
        if state == CellState.SCORED:
            cell["summary"] = cell_summary([results[i] for i in sorted(results)])
        return cell

    def _after_cell(self, ref: TaskRef, run: Doc, cell: Doc) -> None:
        model_id, chunk = cell["leaderboard_model_id"], cell["chunk"]
        if cell["state"] == CellState.ANSWERED and run["eval_type"] == EvalType.HUMAN:
            answered = self.runs.count_cells(
                ref.workspace_id, ref.leaderboard_id, ref.run_id, CellState.ANSWERED.value
            )
            if answered >= run["plan"]["cells_total"]:
                self._enqueue_review(ref)
            return
        if cell["state"] == CellState.ANSWERED:
            self.queue.enqueue(
                queue=QUEUE_JUDGE,
                name=ref.name("judge", model_id, str(chunk)),
                path="/tasks/judge",
                payload=ref.payload(leaderboard_model_id=model_id, chunk=chunk),
            )
            return
        if cell["state"] != CellState.SCORED:
            return
        self._audit(ref, run, cell)
        # Whoever scores the last cell sees the full count (queries are strongly consistent);
        # two such writers enqueue the same finalize name, and the queue keeps one.
        cells_done, _ = self.runs.progress(ref.workspace_id, ref.leaderboard_id, ref.run_id)
        if cells_done >= run["plan"]["cells_total"]:
            self._enqueue_finalize(ref)

    def _enqueue_review(self, ref: TaskRef) -> None:
        self.queue.enqueue(
            queue=QUEUE_CONTROL,
            name=ref.name("review"),
            path="/tasks/review",
            payload=ref.payload(),
        )

    def _enqueue_finalize(self, ref: TaskRef) -> None:
        self.queue.enqueue(
            queue=QUEUE_CONTROL,
            name=ref.name("finalize"),
            path="/tasks/finalize",
            payload=ref.payload(),
        )


def _short(text: str, max_bytes: int) -> str:
    return truncate_utf8(clean_text(text), max_bytes)


def _exact(record: Doc, expected: str | None, options: ExactOptions) -> float | None:
    if record.get("error") is not None or record.get("output") is None or expected is None:
        return None
    return exact_score(record["output"], expected, options)


def _cache_entry(record: Doc) -> Doc:
    """What the response cache keeps of an answer record: the answer as the cell has it."""
    return {
        k: record.get(k)
        for k in ("output", "truncated", "latency_ms", "tokens_in", "tokens_out", "cost_usd")
    }


def _apply_verdict(record: Doc, text: str) -> None:
    """The judge's reply onto the answer's record; a reply off the rubric's format is
    unscored, never a zero."""
    verdict = parse_judge_verdict(text)
    record.update(
        judged=True,
        score=verdict.score if verdict else None,
        judge_reason=_short(verdict.reason, REASON_MAX_BYTES) if verdict else None,
        judge_error=None if verdict else "the judge's reply did not parse as a verdict",
    )


def _judge_keys(
    endpoint: Endpoint, parameters: dict[str, Any], messages: dict[int, list[dict[str, str]]]
) -> dict[int, str]:
    """Cache keys of judge calls: the judge's model and parameters and the messages (not its
    URL or key, so a workspace's own OpenRouter key shares the cache)."""
    return {
        i: cache_key(
            provider=endpoint.platform,
            endpoint=None,
            model=endpoint.model,
            parameters=parameters,
            messages=m,
        )
        for i, m in messages.items()
    }
