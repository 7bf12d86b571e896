"""Cloud Tasks handlers: the run pipeline's steps (``shared/services/pipeline.py``).

Only Cloud Tasks reaches this function: in production its invoker IAM admits only the tasks
service account's OIDC token (``terraform/functions.tf``); the load balancer never routes here.

Answers are in Cloud Tasks' language: 2xx acknowledges; 503 with Retry-After asks for a retry
(a transient provider failure); anything that a retry cannot fix (a run that is gone, a payload
that does not parse) is acknowledged with 200 and logged, because Cloud Tasks would otherwise
retry a 4xx until it gives up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import flask
import functions_framework
from pydantic import BaseModel, Field

from shared import bootstrap
from shared.boot import boot
from shared.domain.base import parse
from shared.domain.errors import PodiumError, TransientFailure
from shared.http.api import Api, Call, Reply, Route
from shared.services.pipeline import Pipeline, TaskRef

boot("workers")  # settings checked, logs set up: a bad deployment stops here

log = logging.getLogger("podium.workers")


class TaskPayload(BaseModel):
    workspace_id: str = Field(min_length=1)
    leaderboard_id: str = Field(min_length=1)
    run_id: str = Field(min_length=1)
    leaderboard_model_id: str | None = None
    chunk: int | None = Field(default=None, ge=0)


def _step(call: Call, name: str, step: Callable[[Pipeline, TaskRef, bool], None]) -> Reply:
    c = bootstrap.container()
    retry_count = int(call.header("X-CloudTasks-TaskRetryCount") or 0)
    final_attempt = retry_count + 1 >= c.settings.task_max_attempts
    try:
        ref = TaskRef(**parse(TaskPayload, call.json()).model_dump())
        step(c.pipeline, ref, final_attempt)
    except TransientFailure:
        raise  # 503 + Retry-After: the queue retries with backoff
    except PodiumError as exc:
        log.warning("task %s acknowledged without effect: %s", name, exc.detail)
        return Reply({"acknowledged": True, "detail": exc.detail})
    return Reply({"acknowledged": True})


def prepare(call: Call) -> Reply:
    return _step(call, "prepare", lambda p, ref, final: p.prepare(ref, final_attempt=final))


def infer(call: Call) -> Reply:
    return _step(call, "infer", lambda p, ref, final: p.infer(ref, final_attempt=final))


def judge(call: Call) -> Reply:
    return _step(call, "judge", lambda p, ref, final: p.judge(ref, final_attempt=final))


def finalize(call: Call) -> Reply:
    return _step(call, "finalize", lambda p, ref, _final: p.finalize(ref))


ROUTES: list[Route] = [
    Route("POST", "/tasks/prepare", prepare, "Pin the dataset, plan the cells, fan out inference"),
    Route("POST", "/tasks/infer", infer, "Run one model on one chunk of samples"),
    Route("POST", "/tasks/judge", judge, "Score one answered chunk with the judge model"),
    Route(
        "POST", "/tasks/finalize", finalize, "Aggregate, rank and apply the chosen-model strategy"
    ),
]

api = Api(title="workers", routes=ROUTES, authenticate=lambda: bootstrap.container().authenticate)


@functions_framework.http
def workers(request: flask.Request) -> flask.Response:
    return api(request)
