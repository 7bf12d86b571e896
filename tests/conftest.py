"""Test harness: a real Firestore emulator and every function behind the real gateway.

Each xdist worker starts its own emulator on a free port (isolation without cleanup between
workers) and its own gateway on a free port; tests talk to it over loopback HTTP. Tests get
fresh workspaces, so tenancy keeps them apart without wiping the database between tests.
An emulator that cannot start fails the run: a skipped suite would hide a broken set-up.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from infra.emulator import FirestoreEmulator

PROJECT = "demo-podium-test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def emulator() -> Iterator[FirestoreEmulator]:
    emu = FirestoreEmulator(f"127.0.0.1:{free_port()}", PROJECT)
    emu.start()
    os.environ["FIRESTORE_EMULATOR_HOST"] = emu.host_port
    os.environ["GOOGLE_CLOUD_PROJECT"] = PROJECT
    os.environ["PODIUM_ALLOW_PRIVATE_ENDPOINTS"] = "true"
    os.environ.pop("PODIUM_SECRET_KEYS", None)
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture(scope="session")
def container(emulator: FirestoreEmulator) -> Iterator[Any]:
    from shared import bootstrap
    from shared.config import Settings

    c = bootstrap.Container(Settings())
    bootstrap.set_container(c)
    yield c
    bootstrap.set_container(None)


@pytest.fixture(scope="session")
def base_url(container: Any) -> Iterator[str]:
    from infra.gateway import serve

    server = serve("127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Workspace:
    id: str
    token: str
    plan: str
    http: httpx.Client
    container: Any

    def client(self, token: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=str(self.http.base_url), headers=headers, timeout=30)

    def token_with(self, *scopes: str) -> str:
        from shared.services import access

        token, _ = access.mint_token(
            tokens=self.container.tokens,
            workspaces=self.container.workspaces,
            clock=self.container.clock,
            workspace_id=self.id,
            scopes=frozenset(scopes),
        )
        return token


@pytest.fixture
def make_workspace(container: Any, base_url: str) -> Iterator[Callable[..., Workspace]]:
    from shared.domain.auth import ALL_SCOPES
    from shared.services import access

    clients: list[httpx.Client] = []

    def make(plan: str = "pro", name: str = "Test") -> Workspace:
        ws = access.create_workspace(
            workspaces=container.workspaces, clock=container.clock, name=name, plan=plan
        )
        token, _ = access.mint_token(
            tokens=container.tokens,
            workspaces=container.workspaces,
            clock=container.clock,
            workspace_id=str(ws["id"]),
            scopes=ALL_SCOPES,
        )
        http = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        clients.append(http)
        return Workspace(str(ws["id"]), token, plan, http, container)

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def ws(make_workspace: Callable[..., Workspace]) -> Workspace:
    """A pro workspace with an all-scopes token."""
    return make_workspace("pro")


@pytest.fixture
def free_ws(make_workspace: Callable[..., Workspace]) -> Workspace:
    return make_workspace("free")


GET_LEADERBOARD: dict[str, Any] = {
    "name": "Support QA",
    "system_prompt": "Answer the support question clearly.\n\nQuestion:\n{input}",
    "dataset_type": "GET",
    "dataset_url": "https://huggingface.co/datasets/acme/support-evals/resolve/main/eval.jsonl",
    "eval_type": "judge",
    "judge_provider": "OpenRouter",
    "judge_model": "openai/gpt-5.2",
}

PUSH_LEADERBOARD: dict[str, Any] = {
    "name": "Production Support Feedback",
    "system_prompt": "Answer the user request.\n\nInput:\n{input}",
    "dataset_type": "PUSH",
    "eval_type": "judge",
    "judge_provider": "OpenRouter",
    "judge_model": "openai/gpt-5.2",
    "auto_limit_size": True,
    "max_samples_to_gather": 1000,
    "daily_event_limit": 5000,
    "monthly_event_limit": 50000,
    "consolidate_every_events": 500,
    "consolidate_every_hours": 24,
    "dedupe": True,
}


def create_leaderboard(ws: Workspace, **overrides: Any) -> dict[str, Any]:
    resp = ws.http.post("/api/leaderboards", json={**GET_LEADERBOARD, **overrides})
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


def detail_of(resp: httpx.Response) -> str:
    body = resp.json()
    assert set(body) >= {"detail"}, body
    return str(body["detail"])
