"""Publishing what Podium measured privately to the public board, verifying it, and the board's
history.

A published result is copied from the stored run (score, spread, interval, sample count,
success rate), never from the request: a team can choose which run to publish, not what it
scored. The run is found by id among the caller's workspace's runs (read-only; the run
pipeline is not touched).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shared.domain.auth import Principal
from shared.domain.base import parse
from shared.domain.clock import Clock
from shared.domain.errors import InvalidInput, NotFound, PermissionDenied, Refused
from shared.domain.public import (
    HistoryPoint,
    HistoryPublic,
    HistoryQuery,
    MyResults,
    MyResultsQuery,
    PublishRequest,
    PublishResponse,
    ResultPublic,
    Trend,
    as_percent,
)
from shared.domain.public_board import (
    MAX_VERIFIED_BYTES,
    MAX_VERIFIED_ENTRIES,
    is_new_record,
    place,
    rank_of,
    ranked,
    snapshot,
    update_where,
)
from shared.domain.runs import RunStatus
from shared.repositories.base import Doc
from shared.repositories.public import PublicRepository, PublishState, PublishWrites
from shared.services.ids import derived_id


def _day(at: datetime) -> str:
    return at.astimezone(UTC).date().isoformat()


def _entry(result: Doc, agent: Doc) -> Doc:
    """A board entry: the result's figures and the agent's public face."""
    return {
        "agent_id": int(result["agent_id"]),
        "agent_name": agent.get("name", ""),
        "agent_avatar_url": agent.get("avatar_url"),
        "organization": agent.get("organization"),
        "score": result["score"],
        "score_std": result.get("score_std"),
        "ci_low": result.get("ci_low"),
        "ci_high": result.get("ci_high"),
        "total_runs": result["total_runs"],
        "success_rate": result["success_rate"],
        "is_verified": bool(result.get("is_verified")),
        "verification_date": result.get("verification_date"),
        "agent_badges": [b["type"] for b in agent.get("badges") or []],
        "result_id": int(result["id"]),
        "published_at": result["published_at"],
        "last_updated": result.get("verification_date") or result["published_at"],
    }


def _history(slug: str, day: str, entries: list[Doc], now: datetime) -> Doc:
    return {"category": slug, "date": day, "points": snapshot(entries), "updated_at": now}


def _model_result(run: Doc, run_id: str, model_id: str | None) -> Doc:
    results = run.get("results") or []
    if model_id is None:
        if len(results) != 1:
            raise InvalidInput.field(
                "leaderboard_model_id",
                f"required: suite execution {run_id} ranked {len(results)} models",
            )
        return dict(results[0])
    for r in results:
        if r.get("leaderboard_model_id") == model_id:
            return dict(r)
    raise InvalidInput.field(
        "leaderboard_model_id", f"suite execution {run_id} ranked no model {model_id!r}"
    )


def _check_dataset(run: Doc, run_id: str, category: Doc) -> None:
    """A category that pins a benchmark dataset takes only runs on exactly that content:
    that is what makes its results comparable."""
    pinned = category.get("benchmark_dataset_sha256")
    if not pinned:
        return
    version = run.get("dataset_version") or {}
    actual = version.get("content_sha256")
    if actual != pinned:
        raise Refused(
            f"Suite execution {run_id} ran on other data than category "
            f"'{category['slug']}' pins: its dataset's sha256 is {actual or 'unknown'}, "
            f"the category's {category.get('benchmark_suite') or 'benchmark'} is {pinned}"
        )
    url = category.get("benchmark_dataset_url")
    if url and version.get("url") != url:
        raise Refused(
            f"Suite execution {run_id} read its data from {version.get('url')}, not from "
            f"the URL category '{category['slug']}' pins ({url})"
        )


def publish(
    *, public: PublicRepository, clock: Clock, principal: Principal, body: Any
) -> PublishResponse:
    req = parse(PublishRequest, body)
    if not req.opt_in_public:
        raise InvalidInput.field("opt_in_public", "must be true: a published result is public")
    run_id, slug = req.suite_execution_id, req.category_slug
    category = public.category(slug)
    if category is None:
        raise NotFound(f"Category '{slug}' not found")
    if not category.get("is_active", True):
        raise Refused(f"Category '{slug}' is retired and takes no new results")
    run = public.find_run(run_id)
    # Another workspace's run reads exactly as a missing one.
    if run is None or run.get("workspace_id") != principal.workspace_id:
        raise NotFound(f"Suite execution {run_id} not found")
    if run.get("status") != RunStatus.COMPLETED:
        raise Refused(f"Suite execution {run_id} has not completed")
    model = _model_result(run, run_id, req.leaderboard_model_id)
    if model.get("score") is None or not model.get("n"):
        raise Refused(
            f"Suite execution {run_id} scored no sample of model {model['leaderboard_model_id']}"
        )
    _check_dataset(run, run_id, category)
    agent = public.agent(req.agent_profile_id)
    if agent is None:
        raise NotFound(f"Agent {req.agent_profile_id} not found")
    if agent.get("workspace_id") != principal.workspace_id:
        raise PermissionDenied(
            f"Agent {req.agent_profile_id} belongs to another workspace; publish as your own"
        )
    model_id = str(model["leaderboard_model_id"])
    now = clock()
    day = _day(now)
    version = run.get("dataset_version") or {}

    def build(state: PublishState) -> PublishWrites:
        if state.agent.get("workspace_id") != principal.workspace_id:
            raise PermissionDenied(f"Agent {req.agent_profile_id} belongs to another workspace")
        entries = state.board.get("entries") or []
        result: Doc = {
            "id": state.result_id,
            "workspace_id": principal.workspace_id,
            "suite_execution_id": run_id,
            "leaderboard_id": run.get("leaderboard_id"),
            "leaderboard_model_id": model_id,
            "agent_id": req.agent_profile_id,
            "category_slug": slug,
            "score": as_percent(model["score"]),
            "score_std": as_percent(model.get("score_std")),
            "ci_low": as_percent(model.get("ci_low")),
            "ci_high": as_percent(model.get("ci_high")),
            "total_runs": int(model["n"]),
            "success_rate": float(model.get("success_rate") or 0.0),
            "dataset_url": version.get("url"),
            "dataset_sha256": version.get("content_sha256"),
            "notes": req.notes,
            "is_verified": False,
            "verification_date": None,
            "published_at": now,
        }
        result["rank"] = rank_of(entries, result)
        result["is_new_record"] = is_new_record(entries, result)
        new_entries, _ = place(entries, _entry(result, state.agent))
        categories = dict(state.agent.get("categories") or {})
        best = categories.get(slug)
        total = int(state.board.get("total_entries") or 0) + (0 if best else 1)
        if best is None or float(best["score"]) < float(result["score"]):
            categories[slug] = {
                "category_name": state.board.get("category", {}).get("name", slug),
                "score": result["score"],
                "total_runs": result["total_runs"],
                "result_id": result["id"],
            }
        board = {
            **state.board,
            "entries": new_entries,
            "total_entries": total,
            "last_updated": now,
        }
        return PublishWrites(
            result=result,
            board=board,
            agent_fields={"categories": categories, "updated_at": now},
            category_entry_count=total,
            history=_history(slug, day, new_entries, now),
        )

    key = derived_id("pub", run_id, model_id)
    stored = public.publish(
        key=key, category_slug=slug, agent_id=req.agent_profile_id, day=day, build=build
    )
    return PublishResponse.model_validate(stored)


def verify_result(*, public: PublicRepository, clock: Clock, result_id: int) -> ResultPublic:
    """Mark a result verified (reproduced). Once: verifying again changes nothing."""
    now = clock()
    day = _day(now)

    def change(
        result: Doc, board: Doc, agent: Doc, history: Doc | None
    ) -> tuple[Doc, Doc, Doc] | None:
        if result.get("is_verified"):
            return None
        verified = {**result, "is_verified": True, "verification_date": now}
        fields = {"is_verified": True, "verification_date": now, "last_updated": now}
        entries = ranked(update_where(board.get("entries") or [], {"result_id": result_id}, fields))
        verified_entries, _ = place(
            board.get("verified_entries") or [],
            _entry(verified, agent),
            cap=MAX_VERIFIED_ENTRIES,
            size=MAX_VERIFIED_BYTES,
        )
        new_board = {
            **board,
            "entries": entries,
            "verified_entries": verified_entries,
            "last_updated": now,
        }
        return verified, new_board, _history(result["category_slug"], day, entries, now)

    return ResultPublic.model_validate(public.verify_result(result_id, day=day, change=change))


def my_results(
    *, public: PublicRepository, principal: Principal, query: MyResultsQuery
) -> MyResults:
    docs, total = public.results_page(
        principal.workspace_id, limit=query.limit, offset=query.offset
    )
    return MyResults(
        items=[ResultPublic.model_validate(d) for d in docs],
        total=total,
        limit=query.limit,
        offset=query.offset,
    )


def history(
    *, public: PublicRepository, clock: Clock, slug: str, query: HistoryQuery
) -> HistoryPublic:
    """Per-agent score and rank by day: ``agent_ids``, or the board's top ``limit`` agents.
    At most ``days`` + 2 document reads."""
    board = public.board_page(slug, verified=False)
    if board is None:
        raise NotFound(f"Category '{slug}' not found")
    today = datetime.combine(clock().astimezone(UTC).date(), datetime.min.time(), tzinfo=UTC)
    start = today - timedelta(days=query.days)
    days = [(start + timedelta(days=i)).date().isoformat() for i in range(query.days + 1)]
    if query.agent_ids:
        wanted = [str(a) for a in dict.fromkeys(query.agent_ids)]
    else:
        wanted = [str(e["agent_id"]) for e in (board.get("top") or [])[: query.limit]]
    names = {str(e["agent_id"]): e["agent_name"] for e in board.get("top") or []}
    points: dict[str, list[HistoryPoint]] = {a: [] for a in wanted}
    for doc in public.history(slug, days):
        for agent, p in (doc.get("points") or {}).items():
            if agent in points:
                points[agent].append(
                    HistoryPoint(date=doc["date"], score=p["score"], rank=p["rank"])
                )
                names[agent] = names.get(agent) or p.get("agent_name", "")
    trends = [
        Trend(agent_id=int(a), agent_name=names.get(a, ""), data_points=points[a])
        for a in wanted
        if points[a]
    ]
    return HistoryPublic(category=slug, period_start=start, period_end=today, trends=trends)
