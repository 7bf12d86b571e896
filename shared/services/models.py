"""Candidate models on a leaderboard, and models registered once in a workspace."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from shared.domain.auth import Principal
from shared.domain.base import parse
from shared.domain.candidates import (
    CandidateCreate,
    CandidatePublic,
    EndpointSpec,
    Platform,
    RegisteredModelCreate,
    RegisteredModelPublic,
    token_hint,
)
from shared.domain.clock import Clock
from shared.domain.errors import InvalidInput, NotFound
from shared.domain.paging import ListQuery, Page
from shared.domain.plans import require_model_slot
from shared.domain.views import candidate_public, registered_public
from shared.repositories.base import Doc, DuplicateId
from shared.repositories.leaderboards import LeaderboardRepository
from shared.secrets import SecretBox
from shared.services.ids import check_replay, fingerprint, resource_id

# Raises ValueError when an endpoint URL may not be called (see shared/providers/url_safety).
UrlCheck = Callable[[str], None]


def add_candidate(
    *,
    leaderboards: LeaderboardRepository,
    secrets: SecretBox,
    clock: Clock,
    check_url: UrlCheck,
    principal: Principal,
    leaderboard_id: str,
    body: Mapping[str, Any],
    idempotency_key: str | None = None,
    extra: Doc | None = None,
) -> tuple[CandidatePublic, bool]:
    """Add a candidate. ``extra``: fields the service that adds it records beside it (auto-
    select's catalog identity), never from the request body."""
    spec = parse(CandidateCreate, dict(body) if isinstance(body, Mapping) else body)
    ws = principal.workspace_id
    # Existence first: another workspace's leaderboard must look exactly like a missing one.
    leaderboards.require(ws, leaderboard_id)
    registered_id = spec.model_id if spec.platform == Platform.DRGERO else None
    if registered_id is not None and leaderboards.get_registered(ws, registered_id) is None:
        raise InvalidInput.field(
            "model_id", f"no registered model {registered_id!r} in this workspace (GET /api/models)"
        )
    _check_endpoint(spec, check_url)
    lm_id = resource_id("lm", ws, idempotency_key and f"{leaderboard_id}:{idempotency_key}")
    record = {
        **_endpoint_record(spec, secrets),
        "id": lm_id,
        "workspace_id": ws,
        "leaderboard_id": leaderboard_id,
        "model_id": spec.model_id,
        "created_at": clock(),
        "request_fingerprint": fingerprint(_without_token(body)),
        **(extra or {}),
    }

    def check(lb: Doc) -> None:
        require_model_slot(principal.plan, int(lb.get("model_count", 0)))

    doc, created = leaderboards.add_candidate(
        ws, leaderboard_id, lm_id, record, check=check, registered_model_id=registered_id
    )
    if not created:
        check_replay(doc, record["request_fingerprint"])
    return candidate_public(doc), created


def list_candidates(
    *,
    leaderboards: LeaderboardRepository,
    principal: Principal,
    leaderboard_id: str,
    query: ListQuery,
) -> Page[CandidatePublic]:
    ws = principal.workspace_id
    leaderboards.require(ws, leaderboard_id)
    docs, total = leaderboards.page_candidates(
        ws, leaderboard_id, limit=query.limit, offset=query.offset
    )
    return Page(
        items=[candidate_public(d) for d in docs],
        total=total,
        limit=query.limit,
        offset=query.offset,
    )


def remove_candidate(
    *,
    leaderboards: LeaderboardRepository,
    clock: Clock,
    principal: Principal,
    leaderboard_id: str,
    leaderboard_model_id: str,
) -> None:
    leaderboards.remove_candidate(
        principal.workspace_id, leaderboard_id, leaderboard_model_id, clock()
    )


def register_model(
    *,
    leaderboards: LeaderboardRepository,
    secrets: SecretBox,
    clock: Clock,
    check_url: UrlCheck,
    principal: Principal,
    body: Mapping[str, Any],
    idempotency_key: str | None = None,
) -> tuple[RegisteredModelPublic, bool]:
    spec = parse(RegisteredModelCreate, dict(body) if isinstance(body, Mapping) else body)
    _check_endpoint(spec, check_url)
    ws = principal.workspace_id
    model_id = resource_id("mdl", ws, idempotency_key)
    record = {
        **_endpoint_record(spec, secrets),
        "id": model_id,
        "workspace_id": ws,
        "usage_count": 0,
        "created_at": clock(),
        "request_fingerprint": fingerprint(_without_token(body)),
    }
    try:
        leaderboards.create_registered(ws, model_id, record)
    except DuplicateId:
        stored = leaderboards.get_registered(ws, model_id) or {}
        check_replay(stored, record["request_fingerprint"])
        return registered_public(stored), False
    return registered_public(record), True


def list_registered(
    *, leaderboards: LeaderboardRepository, principal: Principal, query: ListQuery
) -> Page[RegisteredModelPublic]:
    docs, total = leaderboards.page_registered(
        principal.workspace_id, limit=query.limit, offset=query.offset
    )
    return Page(
        items=[registered_public(d) for d in docs],
        total=total,
        limit=query.limit,
        offset=query.offset,
    )


def get_registered(
    *, leaderboards: LeaderboardRepository, principal: Principal, model_id: str
) -> RegisteredModelPublic:
    doc = leaderboards.get_registered(principal.workspace_id, model_id)
    if doc is None:
        raise NotFound("Model not found")
    return registered_public(doc)


def delete_registered(
    *, leaderboards: LeaderboardRepository, principal: Principal, model_id: str
) -> None:
    leaderboards.delete_registered(principal.workspace_id, model_id)


def _check_endpoint(spec: EndpointSpec, check_url: UrlCheck) -> None:
    if spec.platform in (Platform.CUSTOM, Platform.HUGGINGFACE) and spec.model_url:
        try:
            check_url(spec.model_url)
        except ValueError as exc:
            raise InvalidInput.field("model_url", str(exc)) from exc


def _endpoint_record(spec: EndpointSpec, secrets: SecretBox) -> Doc:
    token = spec.token.get_secret_value() if spec.token is not None else None
    return {
        "name": spec.name,
        "platform": spec.platform.value,
        "model_url": spec.model_url,
        "auth_type": spec.auth_type.value,
        "auth_header_name": spec.auth_header_name,
        "parameters": spec.parameters.model_dump(exclude_none=True) if spec.parameters else None,
        "token_encrypted": secrets.encrypt(token) if token else None,
        "token_hint": token_hint(token),
    }


def _without_token(body: Mapping[str, Any]) -> dict[str, Any]:
    # The replay fingerprint is stored; a hash of a weak token must not be among what is stored.
    return {k: v for k, v in body.items() if k != "token"} if isinstance(body, Mapping) else {}
