"""Helpers for the public leaderboard's tests: admin tokens, categories, agents, runs to
publish, and a count of the Firestore reads a request makes."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import httpx

P = "/api/public/leaderboard"


def admin_client(container: Any, base_url: str) -> httpx.Client:
    from shared.services import access

    token, _ = access.mint_admin_token(tokens=container.tokens, clock=container.clock, name="t")
    return httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def new_slug(prefix: str = "cat") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def create_category(admin: httpx.Client, **fields: Any) -> dict[str, Any]:
    body = {"slug": new_slug(), "name": "Coding Tasks", "description": "Code benchmarks"} | fields
    resp = admin.post(f"{P}/categories", json=body)
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def create_agent(http: httpx.Client, **fields: Any) -> dict[str, Any]:
    body = {"name": f"Agent {uuid.uuid4().hex[:6]}", "organization": "Acme"} | fields
    resp = http.post(f"{P}/agents", json=body)
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def stored_run(
    container: Any,
    workspace_id: str,
    *,
    status: str = "completed",
    results: list[dict[str, Any]] | None = None,
    sha: str = "0" * 64,
    url: str = "https://huggingface.co/datasets/acme/x/resolve/main/eval.jsonl",
) -> str:
    """A run document as the pipeline leaves it, written straight to the emulator, for the
    states a real run reaches only slowly or by chance (running, several models, other data)."""
    run_id = f"run_{uuid.uuid4().hex[:20]}"
    lb_id = f"lb_{uuid.uuid4().hex[:20]}"
    record = {
        "id": run_id,
        "workspace_id": workspace_id,
        "leaderboard_id": lb_id,
        "status": status,
        "model_ids": [r["leaderboard_model_id"] for r in results or []],
        "results": results if results is not None else [result_row("lm_a", 0.8)],
        "dataset_version": {"id": "v1", "url": url, "content_sha256": sha},
        "created_at": datetime.now(UTC),
    }
    (
        container.db.collection("workspaces")
        .document(workspace_id)
        .collection("leaderboards")
        .document(lb_id)
        .collection("runs")
        .document(run_id)
        .set(record)
    )
    return run_id


def result_row(lm: str, score: float, *, n: int = 100, half_width: float = 0.05) -> dict[str, Any]:
    return {
        "leaderboard_model_id": lm,
        "name": lm,
        "score": score,
        "score_std": 0.02,
        "n": n,
        "ci_low": max(0.0, score - half_width),
        "ci_high": min(1.0, score + half_width),
        "rank": 1,
        "success_rate": 0.97,
        "errors": 3,
        "unscored": 0,
    }


def publish(http: httpx.Client, run_id: str, slug: str, agent_id: int, **kw: Any) -> httpx.Response:
    body = {"suite_execution_id": run_id, "category_slug": slug, "agent_profile_id": agent_id}
    return http.post(f"{P}/publish", json=body | kw)


class ReadCounter:
    """Counts the documents Firestore returns to this process (gets, queries, aggregations),
    by wrapping the client's RPC stubs: what Firestore bills as reads."""

    def __init__(self) -> None:
        self.reads = 0
        self.calls = 0
        self._lock = threading.Lock()

    def add(self, docs: int) -> None:
        with self._lock:
            self.calls += 1
            self.reads += docs


@contextmanager
def counting_reads(db: Any) -> Iterator[ReadCounter]:
    api = db._firestore_api
    counter = ReadCounter()
    names = ("batch_get_documents", "run_query", "run_aggregation_query")
    originals = {n: getattr(api, n) for n in names}

    def wrap(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            responses = list(fn(*args, **kwargs))
            found = sum(
                1
                for r in responses
                if (name == "batch_get_documents" and r.found and r.found.name)
                or (name == "run_query" and r.document and r.document.name)
                or name == "run_aggregation_query"
            )
            # A get of a missing document is billed as one read too.
            missing = sum(1 for r in responses if name == "batch_get_documents" and r.missing)
            counter.add(found + missing)
            return iter(responses)

        return call

    for n, fn in originals.items():
        setattr(api, n, wrap(n, fn))
    try:
        yield counter
    finally:
        for n in names:
            delattr(api, n)
