"""People review answers: the blind queue of a leaderboard, and a reviewer's score.

A human run waits (``awaiting_review``) until every item of it has ``reviews_per_item``
reviews; the review that completes the last one enqueues the run's finalize (named by the run,
so two last reviews at once enqueue one). Audit items of judged runs go to the same queue; the
run has ended already, and their reviews feed ``judge_agreement``.
"""

from __future__ import annotations

from shared.domain.auth import Principal
from shared.domain.base import parse
from shared.domain.clock import Clock
from shared.domain.errors import Conflict, NotFound
from shared.domain.paging import Page
from shared.domain.reviews import (
    ReviewAccepted,
    ReviewItemPublic,
    ReviewQuery,
    ReviewStatus,
    ReviewSubmit,
    human_score,
    judge_agreement,
)
from shared.domain.runs import RunStatus
from shared.repositories.base import Doc
from shared.repositories.leaderboards import LeaderboardRepository
from shared.repositories.reviews import ReviewRepository
from shared.repositories.runs import RunRepository
from shared.tasks.queue import QUEUE_CONTROL, TaskQueue, task_name


def _public(item: Doc, reviewer: str) -> ReviewItemPublic:
    reviews = item.get("reviews") or {}
    mine = reviews.get(reviewer)
    return ReviewItemPublic(
        id=item["id"],
        input=item["input"],
        output=item["output"],
        expected=item.get("expected"),
        status=ReviewStatus(item["status"]),
        reviews=len(reviews),
        reviews_needed=int(item["reviews_needed"]),
        your_score=float(mine["score"]) if mine else None,
        created_at=item["created_at"],
    )


def list_reviews(
    *,
    leaderboards: LeaderboardRepository,
    reviews: ReviewRepository,
    principal: Principal,
    leaderboard_id: str,
    query: object,
) -> Page[ReviewItemPublic]:
    spec = parse(ReviewQuery, query)
    ws = principal.workspace_id
    leaderboards.require(ws, leaderboard_id)
    docs, total = reviews.page(
        ws, leaderboard_id, status=spec.status, limit=spec.limit, offset=spec.offset
    )
    return Page(
        items=[_public(d, principal.actor) for d in docs],
        total=total,
        limit=spec.limit,
        offset=spec.offset,
    )


def submit_review(
    *,
    leaderboards: LeaderboardRepository,
    reviews: ReviewRepository,
    runs: RunRepository,
    queue: TaskQueue,
    clock: Clock,
    principal: Principal,
    leaderboard_id: str,
    item_id: str,
    body: object,
) -> ReviewAccepted:
    spec = parse(ReviewSubmit, body)
    ws = principal.workspace_id
    leaderboards.require(ws, leaderboard_id)
    if not item_id.startswith("rvi_") or len(item_id) > 40:
        raise NotFound(f"Review item {item_id!r} not found")
    item = reviews.get(ws, leaderboard_id, item_id)
    if item is None:
        raise NotFound(f"Review item {item_id!r} not found")
    run = runs.get(ws, leaderboard_id, item["run_id"])
    if not item.get("audit") and (run is None or run["status"] != RunStatus.AWAITING_REVIEW):
        state = run["status"] if run else "gone"
        raise Conflict(f"This item's run is {state}: it takes no more reviews")
    reviewer = principal.actor
    replaced = False

    def change(current: Doc) -> Doc:
        nonlocal replaced
        given = dict(current.get("reviews") or {})
        replaced = reviewer in given
        given[reviewer] = {"score": spec.score, "comment": spec.comment, "at": clock()}
        done = len(given) >= int(current["reviews_needed"])
        return {
            "reviews": given,
            "status": (ReviewStatus.DONE if done else ReviewStatus.PENDING).value,
        }

    written = reviews.review(ws, leaderboard_id, item_id, change)
    last = not written.get("audit") and written["status"] == ReviewStatus.DONE
    if last and reviews.pending_for_run(ws, leaderboard_id, written["run_id"]) == 0:
        enqueue_finalize(queue, ws, leaderboard_id, written["run_id"])
    return ReviewAccepted(
        id=item_id,
        score=spec.score,
        status=ReviewStatus(written["status"]),
        reviews=len(written["reviews"]),
        reviews_needed=int(written["reviews_needed"]),
        replaced=replaced,
    )


def agreement(
    reviews: ReviewRepository, ws: str, lb_id: str, *, run_id: str | None = None
) -> dict[str, object]:
    """``judge_agreement`` over the audited answers people reviewed (a run's, or the whole
    leaderboard's): computed when asked, from the reviews as they stand."""
    pairs = [
        (float(it["judge_score"]), score)
        for it in reviews.audited(ws, lb_id, run_id=run_id)
        if (score := human_score(it.get("reviews") or {})) is not None
    ]
    return judge_agreement(pairs)


def enqueue_finalize(queue: TaskQueue, ws: str, lb_id: str, run_id: str) -> None:
    """The human run's finalize, once every item has its reviews (the same name whoever
    enqueues it: a duplicate is a no-op)."""
    queue.enqueue(
        queue=QUEUE_CONTROL,
        name=task_name("finalize", ws, lb_id, run_id, "reviewed"),
        path="/tasks/finalize",
        payload={"workspace_id": ws, "leaderboard_id": lb_id, "run_id": run_id},
    )
