"""The composition root: builds clients once per instance, lazily (the python-docs-samples
lazy-globals habit), and hands collaborators to services. Tests build their own Container with
other settings instead of patching module globals (cosmicpython's bootstrap)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import timedelta
from functools import cached_property
from typing import Any

import httpx
from google.cloud import firestore

from shared.config import Settings, get_settings
from shared.domain.auth import Principal
from shared.domain.clock import Clock, utcnow
from shared.http.api import Call, Reply, Route
from shared.identity import FirebaseIdentity
from shared.providers.budget import CallBudget
from shared.providers.chat import ChatProvider
from shared.providers.clients import ModelHttp
from shared.providers.factory import Endpoint, ProviderFactory
from shared.providers.hf_datasets import DatasetFile, fetch_jsonl
from shared.providers.openrouter_catalog import OpenRouterCatalog
from shared.providers.url_safety import OutboundGuard, check_outbound_url
from shared.repositories.events import EventRepository
from shared.repositories.leaderboards import LeaderboardRepository
from shared.repositories.public import PublicRepository
from shared.repositories.reviews import ReviewRepository
from shared.repositories.runs import RunRepository
from shared.repositories.schedules import ScheduleRepository
from shared.repositories.workspaces import (
    MembershipRepository,
    TokenRepository,
    WorkspaceRepository,
)
from shared.secrets import SecretBox
from shared.services import access, accounts, consolidation
from shared.services.pipeline import Pipeline, PipelineConfig
from shared.tasks.cloud import CloudTasksQueue
from shared.tasks.queue import TaskQueue


class Container:
    def __init__(
        self,
        settings: Settings | None = None,
        *,
        clock: Clock = utcnow,
        queue: TaskQueue | None = None,
    ) -> None:
        self.settings = settings or get_settings()
        self.clock = clock
        # Fail at start-up, not mid-request, when a deployment lacks its keys.
        self.secrets = SecretBox(self.settings.secret_keys())
        self._queue = queue

    @cached_property
    def db(self) -> firestore.Client:
        return firestore.Client(project=self.settings.google_cloud_project)

    @cached_property
    def workspaces(self) -> WorkspaceRepository:
        return WorkspaceRepository(self.db)

    @cached_property
    def memberships(self) -> MembershipRepository:
        return MembershipRepository(self.db)

    @cached_property
    def identity(self) -> FirebaseIdentity:
        """Firebase Auth: ID tokens of the deployment's project (the Auth emulator when
        FIREBASE_AUTH_EMULATOR_HOST is set)."""
        return FirebaseIdentity(self.settings.google_cloud_project)

    @cached_property
    def tokens(self) -> TokenRepository:
        return TokenRepository(self.db)

    @cached_property
    def leaderboards(self) -> LeaderboardRepository:
        return LeaderboardRepository(self.db)

    @cached_property
    def public(self) -> PublicRepository:
        return PublicRepository(self.db)

    @cached_property
    def runs(self) -> RunRepository:
        return RunRepository(self.db)

    @cached_property
    def events(self) -> EventRepository:
        return EventRepository(self.db)

    @cached_property
    def reviews(self) -> ReviewRepository:
        return ReviewRepository(self.db)

    @cached_property
    def schedules(self) -> ScheduleRepository:
        return ScheduleRepository(self.db)

    @cached_property
    def queue(self) -> TaskQueue:
        """Cloud Tasks in production. Locally the process that serves the workers owns a
        LocalDispatcher and passes it in (``infra/dev.py``, ``tests/conftest.py``)."""
        if self._queue is not None:
            return self._queue
        s = self.settings
        if s.tasks_mode != "cloud" or not s.tasks_invoker_sa:
            raise RuntimeError(
                "No task queue: set TASKS_MODE=cloud with TASKS_INVOKER_SA and WORKERS_URL, "
                "or run the local stack (make dev), which dispatches tasks itself"
            )
        from google.cloud import tasks_v2

        return CloudTasksQueue(
            client=tasks_v2.CloudTasksClient(),
            project=s.google_cloud_project,
            location=s.tasks_location,
            target_base_url=s.workers_url,
            invoker_service_account=s.tasks_invoker_sa,
            dispatch_deadline_seconds=s.task_dispatch_deadline_seconds,
        )

    @cached_property
    def http(self) -> httpx.Client:
        """One pooled client for this instance's outbound calls other than model calls
        (datasets, the model catalog). trust_env is off: a proxy variable in the environment
        must not silently reroute traffic."""
        return _client(max_connections=16)

    @cached_property
    def model_http(self) -> ModelHttp:
        """Model calls: httpcore pools, one per calling thread (shared/providers/clients.py);
        the call budget's threads bound how many there are."""
        return ModelHttp(connections_per_thread=4)

    @cached_property
    def call_budget(self) -> CallBudget:
        return CallBudget(self.settings.provider_concurrency)

    @cached_property
    def providers(self) -> ProviderFactory:
        s = self.settings
        return ProviderFactory(
            client=self.model_http,
            openrouter_base_url=s.openrouter_base_url,
            openrouter_api_key=s.openrouter_api_key.get_secret_value()
            if s.openrouter_api_key
            else None,
            timeout=s.provider_timeout_seconds,
            max_retries=s.provider_max_retries,
            max_retry_wait=s.provider_max_retry_wait_seconds,
            allow_private=s.podium_allow_private_endpoints,
        )

    @cached_property
    def catalog(self) -> OpenRouterCatalog:
        s = self.settings
        return OpenRouterCatalog(
            client=self.http,
            base_url=s.openrouter_base_url,
            deployment_api_key=s.openrouter_api_key.get_secret_value()
            if s.openrouter_api_key
            else None,
            timeout=s.provider_timeout_seconds,
            ttl_seconds=s.openrouter_catalog_ttl_seconds,
        )

    def openrouter_key(self, workspace_id: str) -> str | None:
        """The workspace's OpenRouter key (settings > integrations), decrypted, if it has one."""
        stored = accounts.openrouter_key_encrypted(
            workspaces=self.workspaces, workspace_id=workspace_id
        )
        return self.secrets.decrypt(stored) if stored else None

    def providers_for(self, workspace_id: str) -> Callable[[Endpoint], ChatProvider]:
        """The providers, with the workspace's OpenRouter key for OpenRouter endpoints that
        bring no token of their own (before the deployment's OPENROUTER_API_KEY)."""
        key = self.openrouter_key(workspace_id)

        def provider(endpoint: Endpoint) -> ChatProvider:
            if key and endpoint.platform == "OpenRouter" and not endpoint.token:
                endpoint = replace(endpoint, token=key)
            return self.providers(endpoint)

        return provider

    def fetch_dataset(
        self, workspace_id: str, url: str, metadata: dict[str, Any] | None
    ) -> DatasetFile:
        meta = metadata or {}
        token = access.hf_token_for(
            workspaces=self.workspaces, secrets=self.secrets, workspace_id=workspace_id
        )
        if token is None and self.settings.hf_token is not None:
            token = self.settings.hf_token.get_secret_value()
        return fetch_jsonl(
            client=self.http,
            url=url,
            token=token,
            max_rows=self.settings.dataset_max_rows,
            max_bytes=self.settings.dataset_max_bytes,
            max_row_bytes=self.settings.dataset_max_row_bytes,
            input_field=meta.get("input_field"),
            expected_field=meta.get("expected_field"),
            url_guard=OutboundGuard(allow_private=self.settings.podium_allow_private_endpoints),
        )

    def push_dataset(self, workspace_id: str, leaderboard_id: str) -> DatasetFile:
        """A PUSH leaderboard's rows for a run: what is pending is consolidated first."""
        return consolidation.push_dataset_file(
            events=self.events,
            leaderboards=self.leaderboards,
            clock=self.clock,
            chunk_size=self.settings.run_chunk_size,
            ws=workspace_id,
            lb_id=leaderboard_id,
        )

    @cached_property
    def pipeline(self) -> Pipeline:
        s = self.settings
        return Pipeline(
            runs=self.runs,
            queue=self.queue,
            providers=self.providers,
            fetch_dataset=self.fetch_dataset,
            push_dataset=self.push_dataset,
            reviews=self.reviews,
            secrets=self.secrets,
            clock=self.clock,
            budget=self.call_budget,
            config=PipelineConfig(
                chunk_size=s.run_chunk_size,
                output_max_chars=s.output_max_chars,
                cache_ttl=timedelta(hours=s.response_cache_ttl_hours),
                lease=timedelta(seconds=s.run_lease_seconds),
            ),
        )

    @property
    def validation_context(self) -> dict[str, Any]:
        return {"hf_endpoint": self.settings.hf_endpoint}

    def authenticate(self, headers: Mapping[str, str]) -> Principal:
        return access.authenticate(
            tokens=self.tokens,
            workspaces=self.workspaces,
            memberships=self.memberships,
            identity=self.identity,
            clock=self.clock,
            authorization=headers.get("Authorization"),
            workspace_header=headers.get("X-Workspace-Id"),
            touch_interval=timedelta(seconds=self.settings.token_touch_interval_seconds),
        )

    def check_url(self, url: str) -> None:
        check_outbound_url(url, allow_private=self.settings.podium_allow_private_endpoints)


def _client(*, max_connections: int) -> httpx.Client:
    return httpx.Client(
        trust_env=False,
        follow_redirects=False,
        limits=httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        ),
    )


_lock = threading.Lock()
_container: Container | None = None


def container() -> Container:
    global _container
    if _container is None:
        with _lock:
            if _container is None:
                _container = Container()
    return _container


def set_container(c: Container | None) -> None:
    """For tests and the local stack: replace (or reset) the instance-wide container."""
    global _container
    _container = c


def healthz(call: Call) -> Reply:
    # Ready means Firestore answers: one cheap read of a document that need not exist. The
    # first call also builds the container, so settings it rejects fail this probe too.
    container().db.collection("_health").document("ping").get(timeout=5)
    return Reply({"status": "ok"})


# In every function's ROUTES, without a scope: Cloud Run's start-up probe (terraform/
# functions.tf) and uptime checks carry no token.
HEALTH_ROUTE = Route("GET", "/healthz", healthz, "Readiness: answers 200 once Firestore answers")
