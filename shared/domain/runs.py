"""Evaluation runs: the request, the states, the plan, and the shapes a run is reported in.

A run evaluates every chosen candidate on every sample of one pinned dataset version. Work is
split into cells, one per (model, chunk of samples): the unit of one inference task, one judge
task and one Firestore document. Nothing per-sample is ever written to the run document.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from pydantic import Field, ValidationError, field_validator

from shared.domain.base import RequestModel, ResponseModel, Timestamp
from shared.domain.leaderboards import INPUT_PLACEHOLDER
from shared.domain.schedule import DatasetMode, LimitAlgorithm
from shared.domain.scoring import ExactOptions
from shared.domain.storable import DocumentId

# Rows a LIMIT with ``auto: true`` keeps when no row count is given.
AUTO_LIMIT_ROWS = 1000

# Firestore refuses a document over 1 MiB. A dataset chunk and a cell hold many samples, so
# both are cut by bytes as well as by rows, with room left for field names and the document's
# own name (what these budgets measure is the JSON of the values, a close upper bound).
CHUNK_MAX_BYTES = 768 * 1024
# A cell's answers (their shares, below) with the per-sample overhead; the summary (17 bytes a
# sample) and the cell's own fields stay within the remaining 128 KiB.
CELL_MAX_BYTES = 896 * 1024
# What one sample's record in a cell holds besides the answer: the judge's reason or its error
# (one or the other, cut to REASON_MAX_BYTES / ERROR_MAX_BYTES), numbers and flags. A call's
# own error takes the answer's place (a sample with an error has no output).
ERROR_MAX_BYTES = 1000
REASON_MAX_BYTES = 1000
SAMPLE_OVERHEAD_BYTES = max(ERROR_MAX_BYTES, REASON_MAX_BYTES) + 500
# The smallest answer budget a sample may get; settings that would go below it are refused at
# start (shared/config.py), so every chunk fits its cell.
MIN_OUTPUT_BYTES = 1000


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    # A human run whose answers are all in: it waits for people's reviews (or a cancel).
    AWAITING_REVIEW = "awaiting_review"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE_STATUSES = frozenset({RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.AWAITING_REVIEW})


class RunSource(StrEnum):
    MANUAL = "manual"
    API = "api"
    SCHEDULE = "schedule"
    NEW_DATA = "new_data"
    MODEL_VERSION = "model_version"


class CellState(StrEnum):
    PARTIAL = "partial"  # some samples answered; a retry finishes the rest
    ANSWERED = "answered"  # every sample answered (or errored); judging pending
    SCORED = "scored"  # final


class RunCreate(RequestModel):
    """Body of POST /api/leaderboards/{id}/run (every field optional)."""

    model_config = RequestModel.model_config | {
        "json_schema_extra": {"examples": [{"run_source": "api"}]}
    }
    model_ids: list[DocumentId] | None = Field(default=None, max_length=100)
    run_source: RunSource = RunSource.MANUAL
    # A second run while one is active is refused (409) unless this is set.
    allow_concurrent: bool = False
    # Serve identical calls from the response cache (and fill it); false forces fresh calls.
    use_cache: bool = True

    @field_validator("model_ids")
    @classmethod
    def _distinct(cls, v: list[str] | None) -> list[str] | None:
        if v is not None:
            if not v:
                raise ValueError("give at least one id, or omit model_ids for every candidate")
            if len(set(v)) != len(v):
                raise ValueError("model ids must be distinct")
        return v


def render_messages(
    *, system_prompt: str | None, model_prompt: str | None, input_text: str
) -> list[dict[str, str]]:
    """The chat messages for one sample. ``{input}`` is replaced literally (not str.format), so
    prompts may contain other braces. With both prompts, ``system_prompt`` is the system message
    and ``model_prompt`` the user message; with one, it is the user message."""

    def fill(template: str) -> str:
        return template.replace(INPUT_PLACEHOLDER, input_text)

    if model_prompt and system_prompt:
        return [
            {"role": "system", "content": fill(system_prompt)},
            {"role": "user", "content": fill(model_prompt)},
        ]
    return [{"role": "user", "content": fill(model_prompt or system_prompt or "")}]


# Candidate parameters that shape how a call is made, not what the model answers.
CALL_OPTIONS = frozenset({"timeout_seconds"})


def cache_key(
    *, provider: str, endpoint: str | None, model: str | None, parameters: dict[str, Any] | None,
    messages: list[dict[str, str]],
) -> str:  # fmt: skip
    """Everything that decides a model's answer, and nothing else (not the run, not the token)."""
    material = {
        "provider": provider,
        "endpoint": endpoint,
        "model": model,
        "parameters": {k: v for k, v in (parameters or {}).items() if k not in CALL_OPTIONS},
        "messages": messages,
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def chunk_cache_id(material: Any) -> str:
    """The response-cache document of one chunk's calls: ``material`` names them all (the
    call's identity and the chunk's inputs, or the calls' keys), so the same chunk of the same
    calls finds it again in any run. Entries inside are still matched by each call's own
    ``cache_key``."""
    digest = hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()
    return f"chunk-{digest}"


def infer_cache_material(
    *, provider: str, endpoint: str | None, model: str | None,
    parameters: dict[str, Any] | None, prompts: dict[str, Any], inputs: str,
) -> dict[str, Any]:  # fmt: skip
    """What names an inference chunk's cache document: what ``cache_key`` takes, with the
    prompt templates and the chunk's ``inputs_digest`` in place of every sample's messages (so
    it is one hash per chunk, cheap enough to look a whole run up before fanning out)."""
    return {
        "provider": provider,
        "endpoint": endpoint,
        "model": model,
        "parameters": {k: v for k, v in (parameters or {}).items() if k not in CALL_OPTIONS},
        "prompts": {k: prompts.get(k) for k in ("system_prompt", "model_prompt")},
        "inputs": inputs,
    }


def inputs_digest(samples: Sequence[dict[str, Any]]) -> str:
    """A chunk's inputs, in order, as one hash (kept on the chunk when a version is pinned)."""
    material = "\x00".join(str(s["input"]) for s in samples)
    return hashlib.sha256(material.encode()).hexdigest()


def select_rows(rows: Sequence[Any], *, schedule: dict[str, Any] | None, seed: str) -> list[Any]:
    """Apply the schedule's dataset limit (``mode: LIMIT``) to the rows read from the file.

    RANDOM_N is seeded by the dataset version, so re-running the same data picks the same rows
    and runs stay comparable.
    """
    dataset = (schedule or {}).get("dataset") or {}
    limit = dataset.get("limit") or {}
    if dataset.get("mode") != DatasetMode.LIMIT or not limit:
        return list(rows)
    n = limit.get("rows") or AUTO_LIMIT_ROWS
    algorithm = limit.get("algorithm", LimitAlgorithm.LAST_N)
    if len(rows) <= n:
        return list(rows)
    if algorithm == LimitAlgorithm.FIRST_N:
        return list(rows[:n])
    if algorithm == LimitAlgorithm.RANDOM_N:
        picked = sorted(random.Random(seed).sample(range(len(rows)), n))
        return [rows[i] for i in picked]
    return list(rows[-n:])


def selection_record(schedule: dict[str, Any] | None, seed: str) -> dict[str, Any]:
    """What ``select_rows`` did, as a run records it: the algorithm, the row count and the
    seed RANDOM_N drew with (re-running with them picks the same rows)."""
    dataset = (schedule or {}).get("dataset") or {}
    limit = dataset.get("limit") or {}
    if dataset.get("mode") != DatasetMode.LIMIT or not limit:
        return {"mode": DatasetMode.ALL.value}
    return {
        "mode": DatasetMode.LIMIT.value,
        "algorithm": limit.get("algorithm", LimitAlgorithm.LAST_N),
        "rows": limit.get("rows") or AUTO_LIMIT_ROWS,
        "seed": seed,
    }


def exact_options(eval_metadata: dict[str, Any] | None) -> ExactOptions:
    """A run's exact-match options from its ``eval_metadata`` snapshot (other keys, such as a
    rubric, are not exact-match options)."""
    return ExactOptions.model_validate(
        {k: v for k, v in (eval_metadata or {}).items() if k in ExactOptions.model_fields}
    )


def exact_options_problem(eval_metadata: dict[str, Any] | None) -> str | None:
    """Why these options cannot be used (stored before today's validation, or edited in the
    database: an infinite tolerance, a pattern the regex engine refuses), naming each field as
    ``eval_metadata.<field>``; None when they can."""
    try:
        exact_options(eval_metadata)
    except ValidationError as exc:
        return "; ".join(
            f"eval_metadata.{'.'.join(str(p) for p in e['loc'])}: "
            + e["msg"].removeprefix("Value error, ")
            for e in exc.errors()
        )
    return None


def row_bytes(row: dict[str, Any]) -> int:
    return len(json.dumps(row, ensure_ascii=False).encode("utf-8", "surrogatepass"))


def plan_chunks(
    rows: Sequence[dict[str, Any]], *, max_rows: int, max_bytes: int = CHUNK_MAX_BYTES
) -> list[list[dict[str, Any]]]:
    """Cut ``rows`` in order into chunks of at most ``max_rows`` rows and ``max_bytes`` bytes.

    A single row larger than ``max_bytes`` cannot be stored at all; the dataset reader refuses
    such rows first (``dataset_max_row_bytes`` is far below the budget), so this only raises on
    a bug.
    """
    chunks: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    size = 0
    for row in rows:
        n = row_bytes(row)
        if n > max_bytes:
            raise ValueError(f"a row of {n} bytes cannot fit a chunk of {max_bytes} bytes")
        if current and (len(current) >= max_rows or size + n > max_bytes):
            chunks.append(current)
            current, size = [], 0
        current.append(row)
        size += n
    if current or not chunks:
        chunks.append(current)
    return chunks


def chunk_starts(chunks: Sequence[Sequence[Any]]) -> list[int]:
    """The sample index each chunk starts at (chunks are no longer all the same size)."""
    starts, at = [], 0
    for chunk in chunks:
        starts.append(at)
        at += len(chunk)
    return starts


def output_budget(samples_in_cell: int, output_max_chars: int) -> int:
    """Bytes one answer may take so that a cell of ``samples_in_cell`` samples fits its
    document: an even share of the cell budget, and never more than ``output_max_chars``
    characters could take."""
    share = CELL_MAX_BYTES // max(1, samples_in_cell) - SAMPLE_OVERHEAD_BYTES
    return min(max(MIN_OUTPUT_BYTES, share), output_max_chars * 4)


def cell_id(leaderboard_model_id: str, chunk: int) -> str:
    return f"{leaderboard_model_id}__{chunk:05d}"


# --- responses ------------------------------------------------------------------------------
class Progress(ResponseModel):
    done: int = Field(description="samples scored, across models")
    total: int = Field(description="models x samples")
    cells_done: int
    cells_total: int


class LatencyMs(ResponseModel):
    p50: float | None
    p90: float | None
    p99: float | None


class ModelResult(ResponseModel):
    leaderboard_model_id: str
    name: str
    score: float | None = Field(description="mean over scored samples, 0 to 1")
    score_std: float | None
    n: int = Field(description="scored samples")
    ci_low: float | None
    ci_high: float | None
    rank: int = Field(description="1 + the number of models that beat it (see rank_rule)")
    rank_rule: str | None = Field(
        default=None,
        description="paired_holm: two-sided paired t-tests, unscored counted as wrong, Holm's "
        "correction over all pairs at 5%",
    )
    ci_method: str | None = Field(
        default=None, description="how ci_low/ci_high were made: wilson, t or wilson_bound"
    )
    score_all: float | None = Field(
        default=None, description="mean over every sample, errored and unscored counted as 0"
    )
    n_all: int | None = Field(default=None, description="every sample")
    ci_low_all: float | None = None
    ci_high_all: float | None = None
    success_rate: float = Field(description="share of samples the model answered without error")
    errors: int
    unscored: int = Field(
        description="answered samples that got no score (e.g. a judge reply that did not parse)"
    )
    latency_ms: LatencyMs
    tokens_in: int
    tokens_out: int
    cost_usd: float | None
    cache_hits: int


class DatasetVersionView(ResponseModel):
    id: str
    url: str | None
    revision: str | None
    content_sha256: str | None
    rows: int
    rows_used: int
    bad_rows: int
    bad_row_examples: list[dict[str, Any]]
    truncated: bool
    selection: dict[str, Any] | None = Field(
        default=None, description="the schedule's dataset limit as applied, with its seed"
    )


class JudgeView(ResponseModel):
    provider: str
    model: str
    auto: bool


class Promotion(ResponseModel):
    strategy: str
    previous: str | None
    chosen: str | None
    promoted: bool
    reason: str
    margin: float | None = None
    min_paired_n: int | None = None
    alpha: float | None = None
    correction: str | None = None
    comparisons: list[dict[str, Any]] = Field(
        default_factory=list,
        description="per challenger: this run's and the pooled paired difference to the "
        "chosen model with 95% intervals, p-values, the Holm level, and why",
    )


class ReviewView(ResponseModel):
    """A human run's review: how many blind items, how many people per item, the seed their
    order was shuffled with; once finalized, the reviewers' agreement."""

    seed: str
    items: int
    reviews_per_item: int
    reviewed: int | None = None
    agreement: dict[str, Any] | None = Field(
        default=None,
        description="Krippendorff's alpha (interval) between reviewers, with more than one per "
        "item",
    )


class RunPublic(ResponseModel):
    id: str
    leaderboard_id: str
    status: RunStatus
    run_source: str
    model_ids: list[str]
    eval_type: str
    judge: JudgeView | None = None
    use_cache: bool
    progress: Progress
    dataset_version: DatasetVersionView | None = None
    reason: str | None = None
    results: list[ModelResult] = Field(default_factory=list)
    cache_hits: int = 0
    promotion: Promotion | None = None
    review: ReviewView | None = None
    pairwise: dict[str, Any] | None = Field(
        default=None, description="Pairwise judging: the baseline every candidate met"
    )
    judge_agreement: dict[str, Any] | None = Field(
        default=None,
        description="With human_audit_rate: how the judge agrees with people on the audited "
        "answers they reviewed so far (n, correlation and its CI, mean absolute difference, "
        "pass/fail agreement at the midpoint and its CI)",
    )
    judge_consistency: dict[str, Any] | None = Field(
        default=None,
        description="Pairwise judging: pairs judged in both orders, and how often the verdict "
        "changed with the order (counted as a tie)",
    )
    created_at: Timestamp
    started_at: Timestamp | None = None
    finished_at: Timestamp | None = None


class SampleResult(ResponseModel):
    index: int
    input: str
    expected: str | None
    output: str | None
    error: str | None
    score: float | None
    judge_reason: str | None = None
    # Why a judged sample has no score: the judge call failed, or its reply was off the format.
    judge_error: str | None = None
    latency_ms: float | None
    tokens_in: int | None
    tokens_out: int | None
    cost_usd: float | None
    cached: bool


class SampleQuery(RequestModel):
    model_id: DocumentId = Field(min_length=1)
    limit: int = Field(default=50, ge=1, le=100)
    offset: int = Field(default=0, ge=0, le=1_000_000)
