"""The scheduler tick: start runs whose cron is due, and mend runs whose tasks went missing.

Cloud Scheduler calls it every minute (terraform/scheduler.tf); ``make dev`` ticks locally.
Runs it starts are ordinary runs (``run_source: schedule``) with an idempotency key made of the
firing time, so a tick delivered twice starts one run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.domain.auth import Principal, Scope
from shared.domain.clock import Clock
from shared.domain.errors import PodiumError
from shared.domain.leaderboards import LeaderboardStatus
from shared.domain.plans import entitlements
from shared.domain.runs import RunSource, RunStatus
from shared.domain.schedule import Schedule, next_cron_time
from shared.repositories.base import Doc
from shared.repositories.leaderboards import LeaderboardRepository
from shared.repositories.runs import RunRepository
from shared.repositories.schedules import ScheduleRepository
from shared.repositories.workspaces import WorkspaceRepository
from shared.services import runs as run_service
from shared.tasks.queue import QUEUE_CONTROL, TaskQueue, task_name

log = logging.getLogger("podium.scheduler")

BATCH = 200
# A run still queued this long lost its prepare task; one running this long without finishing
# may have lost others. Re-enqueueing is safe (deterministic names, idempotent steps), so the
# thresholds only bound how much work a tick does.
QUEUED_STALL = timedelta(minutes=10)
RUNNING_STALL = timedelta(hours=1)


@dataclass
class TickReport:
    started: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    healed: list[str] = field(default_factory=list)


def tick(
    *,
    schedules: ScheduleRepository,
    leaderboards: LeaderboardRepository,
    workspaces: WorkspaceRepository,
    runs: RunRepository,
    queue: TaskQueue,
    clock: Clock,
) -> TickReport:
    report = TickReport()
    now = clock()
    for lb in schedules.due_leaderboards(now, BATCH):
        _fire(lb, now, report, schedules=schedules, leaderboards=leaderboards,
              workspaces=workspaces, runs=runs, queue=queue, clock=clock)  # fmt: skip
    for status, age in ((RunStatus.QUEUED, QUEUED_STALL), (RunStatus.RUNNING, RUNNING_STALL)):
        for run in schedules.stalled_runs(status.value, now - age, BATCH):

            def due(current: Doc, status: str = status.value, age: timedelta = age) -> bool:
                healed = current.get("healed_at")
                return current.get("status") == status and (healed is None or now - healed >= age)

            if schedules.mark_healed(run, now, due):
                queue.enqueue(
                    queue=QUEUE_CONTROL,
                    # A new name per healing: the original name may still be reserved.
                    name=task_name("heal", run["id"], now.isoformat()),
                    path="/tasks/prepare",
                    payload={k: run[k] for k in ("workspace_id", "leaderboard_id")}
                    | {"run_id": run["id"]},
                )
                report.healed.append(run["id"])
    return report


def _fire(
    lb: Doc,
    now: datetime,
    report: TickReport,
    *,
    schedules: ScheduleRepository,
    leaderboards: LeaderboardRepository,
    workspaces: WorkspaceRepository,
    runs: RunRepository,
    queue: TaskQueue,
    clock: Clock,
) -> None:
    ws, lb_id, due = lb["workspace_id"], lb["id"], lb["next_scheduled_at"]
    schedule = Schedule.model_validate(lb["schedule"]) if lb.get("schedule") else None
    next_due = next_cron_time(schedule, max(now, due)) if schedule else None
    if not schedules.claim_firing(ws, lb_id, due, next_due):
        return  # another tick took this firing
    workspace = workspaces.get(ws) or {}
    plan = str(workspace.get("plan", "free"))
    reason = None
    if lb.get("status") != LeaderboardStatus.ACTIVE:
        reason = f"leaderboard is {lb.get('status')}"
    elif not entitlements(plan).schedules:
        reason = f"the '{plan}' plan does not include schedules"
    if reason is None:
        principal = Principal(ws, plan, frozenset({Scope.LEADERBOARDS_RUN.value}), "scheduler")
        try:
            run, _ = run_service.start_run(
                leaderboards=leaderboards, runs=runs, queue=queue, clock=clock,
                principal=principal, leaderboard_id=lb_id,
                body={"run_source": RunSource.SCHEDULE.value},
                idempotency_key=f"cron:{due.isoformat()}",
            )  # fmt: skip
            report.started.append(run.id)
            return
        except PodiumError as exc:
            reason = exc.detail
    log.info("scheduled run of %s skipped: %s", lb_id, reason)
    report.skipped.append({"leaderboard_id": lb_id, "reason": str(reason)})
