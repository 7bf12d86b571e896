"""The scheduler tick: start runs whose cron, new_data or model_version trigger is due, ask PUSH
leaderboards to consolidate by hours, and resume runs whose tasks went missing.

Cloud Scheduler calls it every minute (terraform/scheduler.tf); ``make dev`` ticks locally.
Runs it starts are ordinary runs (``run_source: schedule`` or ``new_data``) with an idempotency
key made of the firing time, and each firing is claimed in a transaction that advances its
timer (``next_scheduled_at``, ``data_check_at``, ``version_check_at``, ``push_due_at``), so a
tick delivered twice starts one run and enqueues one consolidation.

A run is stalled when nothing has happened to it for ``stall``: no cell written (tasks renew
their cells' leases while they work, so a slow model is not a stall), and not started or
resumed either. Its age does not matter. A stalled run is resumed: a new generation of tasks,
named by the resumption's number, redoes only what is not done (``Pipeline.prepare``); one tick
of several running at once wins each resumption. A run that is still stalled after
``max_resumes`` resumptions with no progress between them is failed with a reason: every run
ends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.domain.auth import Principal, Scope
from shared.domain.catalog import changed, identity, newer_siblings, parse_model
from shared.domain.clock import Clock
from shared.domain.errors import PodiumError
from shared.domain.leaderboards import LeaderboardStatus
from shared.domain.plans import entitlements
from shared.domain.runs import RunSource, RunStatus
from shared.domain.schedule import Cadence, Schedule, next_cron_time
from shared.repositories.base import Doc
from shared.repositories.events import EventRepository
from shared.repositories.leaderboards import LeaderboardRepository
from shared.repositories.runs import RunRepository
from shared.repositories.schedules import ScheduleRepository
from shared.repositories.workspaces import WorkspaceRepository
from shared.services import runs as run_service
from shared.services.auto_select import Catalog
from shared.services.consolidation import REASON_HOURS, enqueue_consolidation
from shared.services.pipeline import TaskRef
from shared.services.run_events import log_run_state
from shared.tasks.queue import QUEUE_CONTROL, TaskQueue

log = logging.getLogger("podium.scheduler")

BATCH = 200

FailRun = Callable[[TaskRef, str], bool]


@dataclass(frozen=True)
class StallPolicy:
    stall: timedelta = timedelta(minutes=5)
    max_resumes: int = 3


@dataclass
class TickReport:
    started: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    healed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    consolidations: list[str] = field(default_factory=list)  # leaderboards asked to consolidate


def tick(
    *,
    schedules: ScheduleRepository,
    leaderboards: LeaderboardRepository,
    workspaces: WorkspaceRepository,
    runs: RunRepository,
    events: EventRepository,
    queue: TaskQueue,
    clock: Clock,
    fail_run: FailRun,
    policy: StallPolicy | None = None,
    catalog: Catalog | None = None,
    openrouter_key: Callable[[str], str | None] = lambda ws: None,
) -> TickReport:
    """``catalog`` and ``openrouter_key`` (the workspace's key, decrypted) serve the
    model_version trigger; without a catalog its checks are skipped with a reason."""
    policy = policy or StallPolicy()
    report = TickReport()
    now = clock()
    for lb in schedules.due_leaderboards(now, BATCH):
        _fire(lb, now, report, schedules=schedules, leaderboards=leaderboards,
              workspaces=workspaces, runs=runs, queue=queue, clock=clock)  # fmt: skip
    for lb in schedules.timers_due("push_due_at", now, BATCH):
        _consolidate_by_hours(lb, now, report, schedules=schedules, events=events, queue=queue)
    for lb in schedules.timers_due("data_check_at", now, BATCH):
        _check_new_data(lb, now, report, schedules=schedules, leaderboards=leaderboards,
                        workspaces=workspaces, runs=runs, events=events, queue=queue,
                        clock=clock)  # fmt: skip
    for lb in schedules.timers_due("version_check_at", now, BATCH):
        _check_model_version(lb, now, report, schedules=schedules, leaderboards=leaderboards,
                             workspaces=workspaces, runs=runs, queue=queue, clock=clock,
                             catalog=catalog, openrouter_key=openrouter_key)  # fmt: skip
    for status in (RunStatus.QUEUED, RunStatus.RUNNING):
        # Only runs older than the stall window can be stalled; the rest are young.
        for run in schedules.stalled_runs(status.value, now - policy.stall, BATCH):
            _resume_if_stalled(run, now, policy, report, schedules=schedules, runs=runs,
                               queue=queue, fail_run=fail_run)  # fmt: skip
    return report


def _resume_if_stalled(
    run: Doc,
    now: datetime,
    policy: StallPolicy,
    report: TickReport,
    *,
    schedules: ScheduleRepository,
    runs: RunRepository,
    queue: TaskQueue,
    fail_run: FailRun,
) -> None:
    ws, lb_id, run_id = run["workspace_id"], run["leaderboard_id"], run["id"]
    # A queued run has no cells yet: only a running one is worth the query.
    last_write = (
        runs.last_cell_write(ws, lb_id, run_id) if run["status"] == RunStatus.RUNNING else None
    )
    progress_at = max(
        t for t in (run.get("created_at"), run.get("started_at"), last_write) if t is not None
    )
    healed_at = run.get("healed_at")
    quiet_since = max(progress_at, healed_at) if healed_at else progress_at
    if now - quiet_since < policy.stall:
        return
    previous = run.get("progress_at_resume")
    idle_resumes = int(run.get("idle_resumes") or 0) if previous == progress_at else 0
    ref = TaskRef(ws, lb_id, run_id, resume=int(run.get("resumes") or 0) + 1)
    if idle_resumes >= policy.max_resumes:
        minutes = (now - progress_at).total_seconds() / 60
        if fail_run(
            ref,
            f"Stalled: no progress for {minutes:.0f} minutes, through {idle_resumes} "
            "resumptions; its tasks keep getting lost or cannot finish",
        ):
            report.failed.append(run_id)
        return

    def still(current: Doc) -> bool:  # nobody resumed it or moved it on since we looked
        return current.get("status") == run["status"] and current.get("healed_at") == healed_at

    fields = {
        "healed_at": now,
        "resumes": ref.resume,
        "idle_resumes": idle_resumes + 1,
        "progress_at_resume": progress_at,
    }
    if schedules.mark_healed(run, fields, still):
        queue.enqueue(
            queue=QUEUE_CONTROL,
            name=ref.name("prepare"),
            path="/tasks/prepare",
            payload=ref.payload(),
        )
        log_run_state(run, "resumed", resumption=ref.resume, idle_resumes=idle_resumes + 1)
        report.healed.append(run_id)


CADENCE = {
    Cadence.HOURLY: timedelta(hours=1),
    Cadence.DAILY: timedelta(days=1),
    Cadence.WEEKLY: timedelta(weeks=1),
    Cadence.MONTHLY: timedelta(days=30),
}


def _consolidate_by_hours(
    lb: Doc,
    now: datetime,
    report: TickReport,
    *,
    schedules: ScheduleRepository,
    events: EventRepository,
    queue: TaskQueue,
) -> None:
    """Every consolidate_every_hours, when anything is pending, a consolidation task (named
    by the due time, so a tick delivered twice enqueues one)."""
    ws, lb_id, due = lb["workspace_id"], lb["id"], lb["push_due_at"]
    hours = int(lb.get("consolidate_every_hours") or 24)
    if lb.get("dataset_type") != "PUSH":
        schedules.claim_firing(ws, lb_id, due, None, timer="push_due_at")
        return
    if not schedules.claim_firing(ws, lb_id, due, now + timedelta(hours=hours),
                                  timer="push_due_at"):  # fmt: skip
        return
    if events.pending_count(ws, lb_id) > 0:
        enqueue_consolidation(queue, ws, lb_id, reason=REASON_HOURS, generation=due.isoformat())
        report.consolidations.append(lb_id)


def _check_new_data(
    lb: Doc,
    now: datetime,
    report: TickReport,
    *,
    schedules: ScheduleRepository,
    leaderboards: LeaderboardRepository,
    workspaces: WorkspaceRepository,
    runs: RunRepository,
    events: EventRepository,
    queue: TaskQueue,
    clock: Clock,
) -> None:
    """The new_data trigger: once per check_cadence, a run when at least every_new_events
    events arrived since the last run. The check is claimed in a transaction and the run's
    idempotency key is the check's due time, so a tick delivered twice starts one run."""
    ws, lb_id, due = lb["workspace_id"], lb["id"], lb["data_check_at"]
    schedule = Schedule.model_validate(lb["schedule"]) if lb.get("schedule") else None
    trigger = schedule.triggers.new_data if schedule else None
    enabled = trigger is not None and trigger.enabled
    nxt = now + CADENCE[trigger.check_cadence] if trigger is not None and enabled else None
    if not schedules.claim_firing(ws, lb_id, due, nxt, timer="data_check_at") or not enabled:
        return
    assert trigger is not None
    last = runs.recent(ws, lb_id, 1)
    since = last[0]["created_at"] if last else None
    arrived = events.count_since(ws, lb_id, since)
    if arrived < trigger.every_new_events:
        return
    _start(lb, report, leaderboards=leaderboards, workspaces=workspaces, runs=runs, queue=queue,
           clock=clock, source=RunSource.NEW_DATA, key=f"new_data:{due.isoformat()}")  # fmt: skip


def _check_model_version(
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
    catalog: Catalog | None,
    openrouter_key: Callable[[str], str | None],
) -> None:
    """The model_version trigger: once per cadence, read the catalog; when the snapshot behind
    any OpenRouter candidate moved (its ``canonical_slug``), start one run and record the new
    snapshots. Newer siblings in the catalog are kept on the leaderboard as suggestions.

    The check is claimed in a transaction (one tick acts), and the run's idempotency key is the
    check's due time, so a duplicate delivery or a retry after a crash starts the same run. The
    new snapshots are recorded after the run started: a crash in between repeats the start
    (a replay of the same run), never loses it."""
    ws, lb_id, due = lb["workspace_id"], lb["id"], lb["version_check_at"]
    schedule = Schedule.model_validate(lb["schedule"]) if lb.get("schedule") else None
    trigger = schedule.triggers.model_version if schedule else None
    enabled = trigger is not None and trigger.enabled
    nxt = now + CADENCE[trigger.cadence] if trigger is not None and enabled else None
    if not schedules.claim_firing(ws, lb_id, due, nxt, timer="version_check_at") or not enabled:
        return
    candidates = [
        c for c in leaderboards.candidates(ws, lb_id) if c.get("platform") == "OpenRouter"
    ]
    if not candidates:
        return
    if catalog is None:
        report.skipped.append({"leaderboard_id": lb_id, "reason": "no model catalog"})
        return
    try:
        models = [parse_model(m) for m in catalog.models(openrouter_key(ws))]
    except PodiumError as exc:
        log.warning("model_version check of %s skipped: %s", lb_id, exc.detail)
        report.skipped.append({"leaderboard_id": lb_id, "reason": exc.detail})
        return
    by_id = {m.id: m for m in models}
    moved = [
        c
        for c in candidates
        if c["model_url"] in by_id and changed(c.get("catalog"), by_id[c["model_url"]])
    ]
    schedules.set_fields(ws, lb_id, {"model_suggestions": newer_siblings(candidates, models)})
    if moved:
        _start(lb, report, leaderboards=leaderboards, workspaces=workspaces, runs=runs,
               queue=queue, clock=clock, source=RunSource.MODEL_VERSION,
               key=f"model_version:{due.isoformat()}")  # fmt: skip
    for c in candidates:
        current = by_id.get(c["model_url"])
        if current is not None and c.get("catalog") != identity(current):
            leaderboards.update_candidate(ws, lb_id, c["id"], {"catalog": identity(current)})


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
    _start(lb, report, leaderboards=leaderboards, workspaces=workspaces, runs=runs, queue=queue,
           clock=clock, source=RunSource.SCHEDULE, key=f"cron:{due.isoformat()}")  # fmt: skip


def _start(
    lb: Doc,
    report: TickReport,
    *,
    leaderboards: LeaderboardRepository,
    workspaces: WorkspaceRepository,
    runs: RunRepository,
    queue: TaskQueue,
    clock: Clock,
    source: RunSource,
    key: str,
) -> None:
    """Start a triggered run, or record why it was skipped."""
    ws, lb_id = lb["workspace_id"], lb["id"]
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
                body={"run_source": source.value}, idempotency_key=key,
                openrouter_key_encrypted=(workspace.get("openrouter") or {}).get("key_encrypted"),
            )  # fmt: skip
            report.started.append(run.id)
            return
        except PodiumError as exc:
            reason = exc.detail
    log.info("%s run of %s skipped: %s", source.value, lb_id, reason)
    report.skipped.append({"leaderboard_id": lb_id, "reason": str(reason)})
