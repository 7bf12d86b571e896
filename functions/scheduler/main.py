"""The scheduler tick (``POST /tasks/tick``), called every minute by Cloud Scheduler with an
OIDC token (terraform/scheduler.tf); only that identity may invoke this function."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta

import flask
import functions_framework

from shared import bootstrap
from shared.boot import boot
from shared.http.api import Api, Call, Reply, Route
from shared.services import scheduling

boot("scheduler")  # settings checked, logs set up: a bad deployment stops here


def tick(call: Call) -> Reply:
    c = bootstrap.container()
    report = scheduling.tick(
        schedules=c.schedules,
        leaderboards=c.leaderboards,
        workspaces=c.workspaces,
        runs=c.runs,
        events=c.events,
        queue=c.queue,
        clock=c.clock,
        fail_run=c.pipeline.fail,
        catalog=c.catalog,
        openrouter_key=c.openrouter_key,
        policy=scheduling.StallPolicy(
            stall=timedelta(seconds=c.settings.run_stall_seconds),
            max_resumes=c.settings.run_max_resumes,
        ),
    )
    return Reply(asdict(report))


ROUTES: list[Route] = [
    Route(
        "POST",
        "/tasks/tick",
        tick,
        "Start due scheduled and new-data runs; consolidate PUSH data; re-enqueue stalled work",
    ),
    bootstrap.HEALTH_ROUTE,  # Cloud Run's start-up probe
]

api = Api(title="scheduler", routes=ROUTES, authenticate=lambda: bootstrap.container().authenticate)


@functions_framework.http
def scheduler(request: flask.Request) -> flask.Response:
    return api(request)
