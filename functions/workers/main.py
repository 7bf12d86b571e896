"""Cloud Tasks handlers: the run pipeline's steps (``shared/services/pipeline.py``).

Only Cloud Tasks reaches this function: in production its invoker IAM admits only the tasks
service account's OIDC token (``terraform/functions.tf``); the load balancer never routes here.

Answers are in Cloud Tasks' language: 2xx acknowledges; 503 with Retry-After asks for a retry
(a transient failure); a 500 (an unexpected error) is retried too. Every run ends: a step that
cannot succeed fails its run with a reason, at once when retrying cannot help (data the store
or the scoring refuses, a missing chunk) and otherwise on the queue's last attempt, and the
task is acknowledged. A payload that does not parse, or a run that is gone, is acknowledged
with 200 and logged, because Cloud Tasks would otherwise retry a 4xx until it gives up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import flask
import functions_framework
from google.api_core import exceptions as gexc
from pydantic import BaseModel, Field

from shared import bootstrap
from shared.boot import boot
from shared.domain.base import parse
from shared.domain.errors import NotFound, PodiumError, TransientFailure
from shared.http.api import Api, Call, Reply, Route
from shared.services import auto_select, consolidation
from shared.services import improve as improve_service
from shared.services.pipeline import Pipeline, TaskRef

boot("workers")  # settings checked, logs set up: a bad deployment stops here

log = logging.getLogger("podium.workers")


class TaskPayload(BaseModel):
    workspace_id: str = Field(min_length=1)
    leaderboard_id: str = Field(min_length=1)
    run_id: str = Field(min_length=1)
    leaderboard_model_id: str | None = None
    chunk: int | None = Field(default=None, ge=0)
    resume: int = Field(default=0, ge=0)
    cache_absent: bool = False


# Errors that the same input will raise again: retrying them only delays the run's end. Data
# the store refuses (a document too large, text it cannot encode) comes back as
# InvalidArgument; values our own code cannot handle as ValueError (pydantic's
# ValidationError and UnicodeError among them), TypeError or KeyError.
PERMANENT_ERRORS: tuple[type[BaseException], ...] = (
    gexc.InvalidArgument,
    ValueError,
    TypeError,
    KeyError,
    RecursionError,
    OverflowError,
)


def _step(call: Call, name: str, step: Callable[[Pipeline, TaskRef, bool], None]) -> Reply:
    c = bootstrap.container()
    retry_count = int(call.header("X-CloudTasks-TaskRetryCount") or 0)
    final_attempt = retry_count + 1 >= c.settings.task_max_attempts
    try:
        ref = TaskRef(**parse(TaskPayload, call.json()).model_dump())
    except PodiumError as exc:
        log.warning("task %s acknowledged without effect: %s", name, exc.detail)
        return Reply({"acknowledged": True, "detail": exc.detail})
    try:
        step(c.pipeline, ref, final_attempt)
    except TransientFailure as exc:
        if not final_attempt:
            raise  # 503 + Retry-After: the queue retries with backoff
        return _give_up(c.pipeline, ref, name, f"still failing on the last attempt: {exc.detail}")
    except NotFound as exc:
        log.warning("task %s acknowledged without effect: %s", name, exc.detail)
        return Reply({"acknowledged": True, "detail": exc.detail})
    except PodiumError as exc:  # a rule of ours that this run breaks: retrying cannot help
        return _give_up(c.pipeline, ref, name, exc.detail)
    except Exception as exc:
        if not (final_attempt or isinstance(exc, PERMANENT_ERRORS)):
            raise  # 500: possibly an outage of a dependency; the queue retries
        log.exception("task %s failed its run", name)
        return _give_up(c.pipeline, ref, name, f"{type(exc).__name__}: {exc}")
    return Reply({"acknowledged": True})


def _give_up(pipeline: Pipeline, ref: TaskRef, step: str, why: str) -> Reply:
    """Fail the run with a reason and acknowledge the task: nothing retries into nothing."""
    reason = f"The {step} step cannot succeed: {why}"
    failed = pipeline.fail(ref, reason)
    return Reply({"acknowledged": True, "run_failed": failed, "detail": reason[:1000]})


def prepare(call: Call) -> Reply:
    return _step(call, "prepare", lambda p, ref, final: p.prepare(ref, final_attempt=final))


def infer(call: Call) -> Reply:
    return _step(call, "infer", lambda p, ref, final: p.infer(ref, final_attempt=final))


def judge(call: Call) -> Reply:
    return _step(call, "judge", lambda p, ref, final: p.judge(ref, final_attempt=final))


def review(call: Call) -> Reply:
    return _step(call, "review", lambda p, ref, _final: p.review(ref))


def finalize(call: Call) -> Reply:
    reply = _step(call, "finalize", lambda p, ref, _final: p.finalize(ref))
    _record_catalog_identities(call)
    return reply


def _record_catalog_identities(call: Call) -> None:
    """Each completed run records the catalog snapshot of its OpenRouter candidates (what the
    model_version trigger compares against). Best effort: the run has ended either way."""
    c = bootstrap.container()
    try:
        p = parse(TaskPayload, call.json())
        run = c.runs.get(p.workspace_id, p.leaderboard_id, p.run_id)
        if run is None or run.get("status") != "completed":
            return
        auto_select.record_identities(
            leaderboards=c.leaderboards,
            catalog=c.catalog,
            api_key=c.openrouter_key(p.workspace_id),
            ws=p.workspace_id,
            leaderboard_id=p.leaderboard_id,
            endpoints=run.get("endpoints") or {},
        )
    except Exception as exc:  # never let bookkeeping fail a finished task
        log.warning("catalog snapshot of run %s not recorded: %s", call.json(), exc)


class DatasetTaskPayload(BaseModel):
    workspace_id: str = Field(min_length=1)
    leaderboard_id: str = Field(min_length=1)
    reason: str = Field(default=consolidation.REASON_EVENTS, max_length=50)
    request_id: str | None = Field(default=None, max_length=100)


def _dataset_step(call: Call, name: str, step: Callable[[DatasetTaskPayload], None]) -> Reply:
    """A dataset task (consolidate, improve): no run to fail, so what cannot succeed is logged
    and acknowledged; transient failures and unexpected errors are retried by the queue until
    its last attempt. Both steps are once-only, so a retry is safe."""
    c = bootstrap.container()
    retry_count = int(call.header("X-CloudTasks-TaskRetryCount") or 0)
    final_attempt = retry_count + 1 >= c.settings.task_max_attempts
    try:
        payload = parse(DatasetTaskPayload, call.json())
    except PodiumError as exc:
        log.warning("task %s acknowledged without effect: %s", name, exc.detail)
        return Reply({"acknowledged": True, "detail": exc.detail})
    try:
        step(payload)
    except TransientFailure:
        if not final_attempt:
            raise
        log.error("task %s still failing on its last attempt", name)
        return Reply({"acknowledged": True, "detail": "gave up on the last attempt"})
    except PodiumError as exc:
        log.warning("task %s acknowledged without effect: %s", name, exc.detail)
        return Reply({"acknowledged": True, "detail": exc.detail})
    except Exception:
        if not final_attempt:
            raise
        log.exception("task %s failed on its last attempt", name)
        return Reply({"acknowledged": True, "detail": "failed on the last attempt"})
    return Reply({"acknowledged": True})


def consolidate(call: Call) -> Reply:
    c = bootstrap.container()

    def step(p: DatasetTaskPayload) -> None:
        consolidation.consolidate(
            events=c.events,
            leaderboards=c.leaderboards,
            clock=c.clock,
            chunk_size=c.settings.run_chunk_size,
            ws=p.workspace_id,
            lb_id=p.leaderboard_id,
            reason=p.reason,
        )

    return _dataset_step(call, "consolidate", step)


def improve(call: Call) -> Reply:
    c = bootstrap.container()

    def step(p: DatasetTaskPayload) -> None:
        improve_service.improve(
            events=c.events,
            leaderboards=c.leaderboards,
            clock=c.clock,
            chunk_size=c.settings.run_chunk_size,
            providers=c.providers_for(p.workspace_id),
            fetch_dataset=c.fetch_dataset,
            budget=c.call_budget,
            ws=p.workspace_id,
            lb_id=p.leaderboard_id,
            request_id=p.request_id or f"task-{p.leaderboard_id}",
        )

    return _dataset_step(call, "improve", step)


ROUTES: list[Route] = [
    Route("POST", "/tasks/prepare", prepare, "Pin the dataset, plan the cells, fan out inference"),
    Route("POST", "/tasks/infer", infer, "Run one model on one chunk of samples"),
    Route("POST", "/tasks/judge", judge, "Score one answered chunk with the judge model"),
    Route(
        "POST", "/tasks/finalize", finalize, "Aggregate, rank and apply the chosen-model strategy"
    ),
    Route(
        "POST",
        "/tasks/consolidate",
        consolidate,
        "Consolidate pending PUSH events into a dataset version",
    ),
    Route("POST", "/tasks/improve", improve, "Build an improved dataset version"),
    Route("POST", "/tasks/review", review, "Open a human run's answers to review"),
    bootstrap.HEALTH_ROUTE,  # Cloud Run's start-up probe
]

api = Api(title="workers", routes=ROUTES, authenticate=lambda: bootstrap.container().authenticate)


@functions_framework.http
def workers(request: flask.Request) -> flask.Response:
    return api(request)
