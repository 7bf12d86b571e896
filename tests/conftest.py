"""Test harness: a real Firestore emulator and every function behind the real gateway.

Each xdist worker starts its own emulator on a free port (isolation without cleanup between
workers) and its own gateway on a free port; tests talk to it over loopback HTTP. Tests get
fresh workspaces, so tenancy keeps them apart without wiping the database between tests.
An emulator that cannot start fails the run: a skipped suite would hide a broken set-up.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from infra.emulator import FirestoreEmulator
from infra.processes import free_port

PROJECT = "demo-podium-test"


# Reserved at import: parametrized tests build dataset URLs from it at collection time.
HF_ENDPOINT = f"http://127.0.0.1:{free_port()}"
DATASET_URL = f"{HF_ENDPOINT}/datasets/acme/support-evals/resolve/main/eval.jsonl"
# Fast, small settings for the pipeline under test (production defaults are in shared/config.py).
TEST_SETTINGS = {
    "GOOGLE_CLOUD_PROJECT": PROJECT,
    "PODIUM_ALLOW_PRIVATE_ENDPOINTS": "true",
    "HF_ENDPOINT": HF_ENDPOINT,
    "RUN_CHUNK_SIZE": "5",
    "PROVIDER_CONCURRENCY": "8",
    "PROVIDER_TIMEOUT_SECONDS": "2",
    "PROVIDER_MAX_RETRIES": "1",
    "PROVIDER_MAX_RETRY_WAIT_SECONDS": "0.2",
    "TASK_MAX_ATTEMPTS": "4",
    # Tests change the stand-in's catalog between calls; its cache is tested on its own.
    "OPENROUTER_CATALOG_TTL_SECONDS": "0",
}


@pytest.fixture(scope="session")
def emulator() -> Iterator[FirestoreEmulator]:
    emu = FirestoreEmulator(f"127.0.0.1:{free_port()}", PROJECT)
    emu.start()
    os.environ["FIRESTORE_EMULATOR_HOST"] = emu.host_port
    os.environ.update(TEST_SETTINGS)
    os.environ.pop("PODIUM_SECRET_KEYS", None)
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture(scope="session")
def auth_emulator(emulator: FirestoreEmulator) -> Iterator[Any]:
    """The Firebase Auth emulator, this worker's own; FIREBASE_AUTH_EMULATOR_HOST points at it
    (firebase-admin reads it), as under make dev."""
    from infra.auth_emulator import AuthEmulator

    emu = AuthEmulator(f"127.0.0.1:{free_port()}", PROJECT)
    emu.start()
    os.environ["FIREBASE_AUTH_EMULATOR_HOST"] = emu.host_port
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture(scope="session")
def hf() -> Iterator[Any]:
    """The Hugging Face stand-in, at HF_ENDPOINT."""
    from tests.standins.hf_server import HFStandin

    server = HFStandin().start(port=int(HF_ENDPOINT.rsplit(":", 1)[1]))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def llm() -> Iterator[Any]:
    """The OpenAI-compatible stand-in; OPENROUTER_BASE_URL points at it."""
    from tests.standins.openai_server import OpenAIStandin

    server = OpenAIStandin().start()
    os.environ["OPENROUTER_BASE_URL"] = server.openrouter_base_url
    yield server
    server.stop()


@pytest.fixture(scope="session")
def smollm2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real model: llama.cpp's server with SmolLM2-135M-Instruct (installed by `make test`),
    four slots, its log in the test's temporary folder."""
    from infra.model_servers import SMOLLM2_135M, ModelServer

    with ModelServer(SMOLLM2_135M, slots=4, log_dir=tmp_path_factory.mktemp("llama")) as server:
        yield server


@dataclass
class Stack:
    container: Any
    base_url: str
    dispatcher: Any


@pytest.fixture(scope="session")
def stack(emulator: FirestoreEmulator, auth_emulator: Any, hf: Any, llm: Any) -> Iterator[Stack]:
    """Every function behind the real gateway on a free port, with a local task dispatcher
    delivering to it over HTTP, as under make dev."""
    from infra.gateway import serve
    from shared import bootstrap
    from shared.config import Settings
    from shared.tasks.limits import DEFAULT_QUEUE_LIMITS, QueueLimits
    from shared.tasks.local import LocalDispatcher

    settings = Settings()
    server = serve("127.0.0.1", 0)
    base_url = f"http://127.0.0.1:{server.port}"
    # Quick backoffs so retry scenarios finish fast; attempts as the settings say.
    limits = {
        name: QueueLimits(
            max_concurrent=limit.max_concurrent,
            max_per_second=100.0,
            max_attempts=settings.task_max_attempts,
            min_backoff=0.05,
            max_backoff=0.5,
        )
        for name, limit in DEFAULT_QUEUE_LIMITS.items()
    }
    dispatcher = LocalDispatcher(base_url=base_url, queues=limits)
    container = bootstrap.Container(settings, queue=dispatcher)
    bootstrap.set_container(container)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    dispatcher.start()
    try:
        yield Stack(container, base_url, dispatcher)
    finally:
        dispatcher.stop(timeout=10)
        server.shutdown()
        server.server_close()
        bootstrap.set_container(None)


@pytest.fixture(scope="session")
def container(stack: Stack) -> Any:
    return stack.container


@pytest.fixture(scope="session")
def base_url(stack: Stack) -> str:
    return stack.base_url


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
    "dataset_url": DATASET_URL,
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
