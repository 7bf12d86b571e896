"""Auto-select: add candidate models to a leaderboard from OpenRouter's catalog, filtered and
ordered as ``shared/domain/catalog.py`` documents. A signed-in person's action: it spends the
workspace's OpenRouter integration, so API tokens are refused."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Protocol

from shared.domain.auth import Principal
from shared.domain.base import parse
from shared.domain.candidates import Platform
from shared.domain.catalog import (
    MAX_LATENCY_LOOKUPS,
    ORDER,
    AutoSelected,
    AutoSelectRequest,
    AutoSelectResult,
    CatalogModel,
    History,
    Latency,
    cost_ok,
    identity,
    latency_ok,
    parse_model,
    placing,
    rank,
    reason_for,
    round_robin,
)
from shared.domain.clock import Clock
from shared.domain.errors import EntitlementRequired, PermissionDenied
from shared.domain.plans import entitlements
from shared.domain.runs import RunStatus
from shared.repositories.leaderboards import LeaderboardRepository
from shared.repositories.runs import RunRepository
from shared.secrets import SecretBox
from shared.services import models as model_service

# How far back the workspace's history reaches: its most recent leaderboards, and the last few
# runs of each (a bounded number of reads per request).
HISTORY_LEADERBOARDS = 50
HISTORY_RUNS = 5


class Catalog(Protocol):
    def models(self, api_key: str | None) -> list[dict[str, Any]]: ...
    def endpoints(self, api_key: str | None, model_id: str) -> list[dict[str, Any]]: ...


def auto_select(
    *,
    leaderboards: LeaderboardRepository,
    runs: RunRepository,
    catalog: Catalog,
    secrets: SecretBox,
    clock: Clock,
    check_url: model_service.UrlCheck,
    principal: Principal,
    leaderboard_id: str,
    body: object,
    api_key: str | None,
) -> AutoSelectResult:
    if not principal.is_session:
        raise PermissionDenied(
            "Auto-select needs a signed-in session (a Firebase ID token): it uses the "
            "workspace's OpenRouter integration, which API tokens do not"
        )
    spec = parse(AutoSelectRequest, body)
    ws = principal.workspace_id
    leaderboards.require(ws, leaderboard_id)
    present = leaderboards.candidates(ws, leaderboard_id)
    limit = entitlements(principal.plan).max_models_per_leaderboard
    if len(present) + spec.number_of_models > limit:
        raise EntitlementRequired(
            "max_models_per_leaderboard",
            principal.plan,
            f"The '{principal.plan}' plan allows {limit} candidate models per leaderboard and "
            f"this one has {len(present)}: ask for at most {max(0, limit - len(present))}",
        )
    on_board = {c.get("model_url") for c in present if c.get("platform") == Platform.OPENROUTER}

    catalog_models = [parse_model(raw) for raw in catalog.models(api_key)]
    excluded = dict.fromkeys(
        ["not_text", "already_on_leaderboard", "open_source", "cost", "latency"], 0
    )
    survivors: list[CatalogModel] = []
    for m in catalog_models:
        if not m.text_output:
            excluded["not_text"] += 1
        elif m.id in on_board:
            excluded["already_on_leaderboard"] += 1
        elif spec.only_open_source and not m.hugging_face_id:
            excluded["open_source"] += 1
        elif spec.limit_cost and not cost_ok(spec, m):
            excluded["cost"] += 1
        else:
            survivors.append(m)

    history = _history(leaderboards, runs, ws)
    picks: list[tuple[CatalogModel, Latency | None]] = []
    lookups = 0
    for m in round_robin(rank(survivors, history)):
        if len(picks) == spec.number_of_models:
            break
        latency = None
        if spec.limit_latency:
            if lookups == MAX_LATENCY_LOOKUPS:
                break
            lookups += 1
            latency = latency_ok(spec, catalog.endpoints(api_key, m.id))
            if latency is None:
                excluded["latency"] += 1
                continue
        picks.append((m, latency))

    added = []
    for m, latency in picks:
        candidate, _ = model_service.add_candidate(
            leaderboards=leaderboards,
            secrets=secrets,
            clock=clock,
            check_url=check_url,
            principal=principal,
            leaderboard_id=leaderboard_id,
            body={"name": m.name[:200], "platform": Platform.OPENROUTER.value, "model_url": m.id},
            extra={"catalog": identity(m), "added_by": "auto-select"},
        )
        added.append(
            AutoSelected(
                leaderboard_model_id=candidate.id,
                model_url=m.id,
                name=candidate.name,
                reason=reason_for(m, history, latency),
                input_price_per_m_tokens=m.price_in,
                output_price_per_m_tokens=m.price_out,
                latency_p95_seconds=latency.p95_seconds if latency else None,
                latency_p99_seconds=latency.p99_seconds if latency else None,
            )
        )
    return AutoSelectResult(
        added=added,
        requested=spec.number_of_models,
        catalog_models=len(catalog_models),
        excluded=excluded,
        latency_lookups=lookups,
        order=ORDER,
    )


def _history(
    leaderboards: LeaderboardRepository, runs: RunRepository, ws: str
) -> dict[str, History]:
    """Each OpenRouter model's placings in this workspace's recent completed runs."""
    found: dict[str, History] = defaultdict(History)
    boards, _ = leaderboards.page(ws, limit=HISTORY_LEADERBOARDS, offset=0)
    for lb in boards:
        for run in runs.recent(ws, lb["id"], HISTORY_RUNS):
            results = run.get("results") or []
            if run.get("status") != RunStatus.COMPLETED or not results:
                continue
            for r in results:
                endpoint = (run.get("endpoints") or {}).get(r.get("leaderboard_model_id")) or {}
                if endpoint.get("platform") == Platform.OPENROUTER and endpoint.get("model_url"):
                    found[endpoint["model_url"]].placings.append(
                        placing(int(r["rank"]), len(results))
                    )
    return dict(found)


def record_identities(
    *,
    leaderboards: LeaderboardRepository,
    catalog: Catalog,
    api_key: str | None,
    ws: str,
    leaderboard_id: str,
    endpoints: dict[str, Any],
) -> int:
    """After a run: record the catalog snapshot behind each of its OpenRouter candidates, so
    the model_version trigger compares against what was last evaluated. Returns how many
    changed. The caller treats failures as best effort (a run's result never depends on it)."""
    urls = {
        lm_id: e.get("model_url")
        for lm_id, e in endpoints.items()
        if e.get("platform") == Platform.OPENROUTER
    }
    if not urls:
        return 0
    by_id = {m.id: m for m in (parse_model(raw) for raw in catalog.models(api_key))}
    current = {c["id"]: c for c in leaderboards.candidates(ws, leaderboard_id)}
    recorded = 0
    for lm_id, url in urls.items():
        m = by_id.get(str(url))
        if m is not None and lm_id in current and current[lm_id].get("catalog") != identity(m):
            leaderboards.update_candidate(ws, leaderboard_id, lm_id, {"catalog": identity(m)})
            recorded += 1
    return recorded
