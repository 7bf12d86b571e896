"""Public categories and agent profiles: who may create and change them, and how they read.

Reads are bounded: the category list is one document, a board one document, a profile its
document plus the boards it is on, an agent list one page.
"""

from __future__ import annotations

from typing import Any

from shared.domain.auth import Principal
from shared.domain.base import parse
from shared.domain.clock import Clock
from shared.domain.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from shared.domain.public import (
    BADGE_LABELS,
    MAX_CATEGORIES,
    AgentCreate,
    AgentList,
    AgentListItem,
    AgentPublic,
    AgentQuery,
    AgentUpdate,
    BadgeCreate,
    BoardPublic,
    BoardQuery,
    CategoryCreate,
    CategoryList,
    CategoryPublic,
    CategoryQuery,
    CategoryResult,
    CategorySummary,
    CategoryUpdate,
    slugify,
)
from shared.domain.public_board import (
    MAX_VERIFIED_BYTES,
    MAX_VERIFIED_ENTRIES,
    ranked,
    update_where,
)
from shared.repositories.base import Doc
from shared.repositories.public import PublicRepository
from shared.services.ids import derived_id, fingerprint, resource_id

SUMMARY_FIELDS = ("id", "slug", "name", "description", "display_order", "is_active", "entry_count")


def _summary(category: Doc) -> Doc:
    return {k: category.get(k) for k in SUMMARY_FIELDS}


def _check_pins(category: Doc) -> None:
    url, sha = category.get("benchmark_dataset_url"), category.get("benchmark_dataset_sha256")
    if (url is None) != (sha is None):
        missing = "benchmark_dataset_sha256" if sha is None else "benchmark_dataset_url"
        raise InvalidInput.field(
            missing, "a pinned benchmark dataset needs both its URL and its content's sha256"
        )


# --- categories ---------------------------------------------------------------------------
def create_category(
    *, public: PublicRepository, clock: Clock, principal: Principal, body: Any
) -> CategoryPublic:
    req = parse(CategoryCreate, body)
    record = req.model_dump() | {"entry_count": 0, "created_at": clock(), "updated_at": None}
    _check_pins(record)
    if public.count_categories() >= MAX_CATEGORIES:
        raise Conflict(f"There are {MAX_CATEGORIES} categories already; retire one to add one")
    board = {"entries": [], "verified_entries": [], "total_entries": 0, "last_updated": None}
    return CategoryPublic.model_validate(public.create_category(record, _summary, board))


def update_category(
    *, public: PublicRepository, clock: Clock, slug: str, body: Any
) -> CategoryPublic:
    req = parse(CategoryUpdate, body)
    changes = {k: getattr(req, k) for k in req.model_fields_set}
    for name in ("name", "display_order", "is_active", "description", "scoring_criteria"):
        if name in changes and changes[name] is None:
            raise InvalidInput.field(name, "cannot be null")
    pins = ("benchmark_dataset_url", "benchmark_dataset_sha256")

    def mutate(current: Doc) -> Doc:
        updated = {**current, **changes, "updated_at": clock()}
        moved = any(updated.get(p) != current.get(p) for p in pins)
        if moved and int(current.get("entry_count") or 0) > 0:
            raise Conflict(
                f"Category '{slug}' has published results: its benchmark dataset cannot change"
            )
        _check_pins(updated)
        return updated

    return CategoryPublic.model_validate(public.update_category(slug, mutate, _summary))


def list_categories(*, public: PublicRepository, query: CategoryQuery) -> CategoryList:
    items = [CategorySummary.model_validate(c) for c in public.catalog().values() if "id" in c]
    if query.active_only:
        items = [c for c in items if c.is_active]
    items.sort(key=lambda c: (c.display_order, c.id))
    return CategoryList(items=items, total=len(items))


def get_category(*, public: PublicRepository, slug: str) -> CategoryPublic:
    category = public.category(slug)
    if category is None:
        raise NotFound(f"Category '{slug}' not found")
    return CategoryPublic.model_validate(category)


def get_board(*, public: PublicRepository, query: BoardQuery) -> BoardPublic:
    """One document read, whatever the number of entries."""
    board = public.board_page(query.category, verified=query.verified_only)
    if board is None:
        raise NotFound(f"Category '{query.category}' not found")
    if query.verified_only:
        # Ranked among verified results only.
        entries = [{**e, "rank": i + 1} for i, e in enumerate(board.get("verified_top") or [])]
        total = int(board.get("verified_total") or 0)
    else:
        entries, total = board.get("top") or [], int(board.get("total_entries") or 0)
    return BoardPublic.model_validate(
        {
            "category": board["category"],
            "entries": entries[: query.limit],
            "total_entries": total,
            "last_updated": board.get("last_updated"),
        }
    )


# --- agents -------------------------------------------------------------------------------
def _keys(record: Doc) -> Doc:
    """Lower-cased copies the list's filters and order use."""
    org = record.get("organization")
    return {
        "name_key": str(record["name"]).casefold(),
        "organization_key": org.casefold() if org else None,
    }


def create_agent(
    *,
    public: PublicRepository,
    clock: Clock,
    principal: Principal,
    body: Any,
    idempotency_key: str | None,
) -> tuple[AgentPublic, bool]:
    req = parse(AgentCreate, body)
    now = clock()
    record = req.model_dump() | {
        "slug": slugify(req.name),
        "workspace_id": principal.workspace_id,
        "badges": [],
        "is_verified": False,
        "categories": {},
        "created_at": now,
        "updated_at": now,
    }
    record |= _keys(record)
    idempotency = None
    if idempotency_key is not None:
        resource_id("agent", principal.workspace_id, idempotency_key)  # checks the key's length
        key = derived_id("agent", principal.workspace_id, idempotency_key)
        idempotency = (key, fingerprint(req.model_dump()))
    agent, created = public.create_agent(record, idempotency)
    if not created and idempotency and agent.get("request_fingerprint") != idempotency[1]:
        raise InvalidInput.field(
            ("header", "Idempotency-Key"),
            "this key was already used with a different request body",
        )
    return _profile(agent, {}), created


def update_agent(
    *, public: PublicRepository, clock: Clock, principal: Principal, agent_id: int, body: Any
) -> AgentPublic:
    req = parse(AgentUpdate, body)
    changes = {k: getattr(req, k) for k in req.model_fields_set}
    if "name" in changes and changes["name"] is None:
        raise InvalidInput.field("name", "cannot be null")
    if "description" in changes and changes["description"] is None:
        changes["description"] = ""

    def change(current: Doc) -> Doc:
        # Checked inside the transaction: a refusal writes nothing.
        if current.get("workspace_id") != principal.workspace_id:
            raise PermissionDenied(f"Only the profile owner can update agent {agent_id}")
        updated = {**current, **changes, "updated_at": clock()}
        if "name" in changes:
            updated["slug"] = slugify(updated["name"])
        return updated | _keys(updated)

    shown = {
        "agent_name": "name",
        "agent_avatar_url": "avatar_url",
        "organization": "organization",
    }

    def board(b: Doc, _agent: Doc) -> Doc | None:
        fields = {k: changes[v] for k, v in shown.items() if v in changes}
        if not fields:
            return None
        match = {"agent_id": agent_id}
        return {
            **b,
            # Re-cut: a longer name or link must not push the board past its byte budget.
            "entries": ranked(update_where(b.get("entries") or [], match, fields)),
            "verified_entries": ranked(
                update_where(b.get("verified_entries") or [], match, fields),
                cap=MAX_VERIFIED_ENTRIES,
                size=MAX_VERIFIED_BYTES,
            ),
        }

    agent = public.update_agent(agent_id, change, board)
    return _profile(agent, public.boards(sorted(agent.get("categories", {}))))


def get_agent(*, public: PublicRepository, agent_id: int) -> AgentPublic:
    agent = public.agent(agent_id)
    if agent is None:
        raise NotFound(f"Agent {agent_id} not found")
    return _profile(agent, public.boards(sorted(agent.get("categories", {}))))


def _ranks(agent_id: int, boards: dict[str, Doc]) -> dict[str, int]:
    out = {}
    for slug, board in boards.items():
        for e in board.get("entries") or []:
            if int(e["agent_id"]) == agent_id:
                out[slug] = int(e["rank"])
    return out


def _profile(agent: Doc, boards: dict[str, Doc]) -> AgentPublic:
    ranks = _ranks(int(agent["id"]), boards)
    names = {s: str(b.get("category", {}).get("name", s)) for s, b in boards.items()}
    results = [
        CategoryResult(
            category_slug=slug,
            category_name=names.get(slug, str(c.get("category_name", slug))),
            rank=ranks.get(slug),
            score=c.get("score"),
            total_runs=int(c.get("total_runs") or 0),
        )
        for slug, c in (agent.get("categories") or {}).items()
    ]
    results.sort(key=lambda r: (r.rank is None, r.rank or 0, r.category_slug))
    return AgentPublic.model_validate(
        agent
        | {
            "verification_badges": agent.get("badges") or [],
            "results_by_category": results,
        }
    )


def list_agents(*, public: PublicRepository, query: AgentQuery) -> AgentList:
    docs, total = public.agents_page(
        name_prefix=query.query.casefold() if query.query else None,
        organization=query.organization.casefold() if query.organization else None,
        verified_only=query.verified_only,
        limit=query.limit,
        offset=query.offset,
    )
    boards = public.boards(sorted({s for d in docs for s in d.get("categories", {})}))
    items = []
    for d in docs:
        ranks = _ranks(int(d["id"]), {s: b for s, b in boards.items() if s in d["categories"]})
        top = min(ranks.items(), key=lambda kv: (kv[1], kv[0])) if ranks else None
        items.append(
            AgentListItem.model_validate(
                d | {"top_category": top[0] if top else None, "top_rank": top[1] if top else None}
            )
        )
    return AgentList(items=items, total=total, limit=query.limit, offset=query.offset)


def add_badge(*, public: PublicRepository, clock: Clock, body: Any) -> AgentPublic:
    """A badge of a type is held once: adding it again changes its label, not its date."""
    req = parse(BadgeCreate, body)
    label = req.label or BADGE_LABELS[req.badge_type]

    def change(agent: Doc) -> Doc:
        badges = [dict(b) for b in agent.get("badges") or []]
        held = next((b for b in badges if b["type"] == req.badge_type.value), None)
        if held is not None:
            held["label"] = label
        else:
            badges.append({"type": req.badge_type.value, "label": label, "issued_at": clock()})
        return {**agent, "badges": badges, "is_verified": True, "updated_at": clock()}

    def board(b: Doc, updated: Doc) -> Doc:
        match = {"agent_id": req.agent_id}
        fields = {"agent_badges": [x["type"] for x in updated["badges"]]}
        return {
            **b,
            # Re-cut: a longer name or link must not push the board past its byte budget.
            "entries": ranked(update_where(b.get("entries") or [], match, fields)),
            "verified_entries": ranked(
                update_where(b.get("verified_entries") or [], match, fields),
                cap=MAX_VERIFIED_ENTRIES,
                size=MAX_VERIFIED_BYTES,
            ),
        }

    agent = public.update_agent(req.agent_id, change, board)
    return _profile(agent, public.boards(sorted(agent.get("categories", {}))))
