"""The composition root: builds clients once per instance, lazily (the python-docs-samples
lazy-globals habit), and hands collaborators to services. Tests build their own Container with
other settings instead of patching module globals (cosmicpython's bootstrap)."""

from __future__ import annotations

import threading
from datetime import timedelta
from functools import cached_property
from typing import Any

from google.cloud import firestore

from shared.config import Settings, get_settings
from shared.domain.auth import Principal
from shared.domain.clock import Clock, utcnow
from shared.providers.url_safety import check_outbound_url
from shared.repositories.leaderboards import LeaderboardRepository
from shared.repositories.workspaces import TokenRepository, WorkspaceRepository
from shared.secrets import SecretBox
from shared.services import access


class Container:
    def __init__(self, settings: Settings | None = None, *, clock: Clock = utcnow) -> None:
        self.settings = settings or get_settings()
        self.clock = clock
        # Fail at start-up, not mid-request, when a deployment lacks its keys.
        self.secrets = SecretBox(self.settings.secret_keys())

    @cached_property
    def db(self) -> firestore.Client:
        return firestore.Client(project=self.settings.google_cloud_project)

    @cached_property
    def workspaces(self) -> WorkspaceRepository:
        return WorkspaceRepository(self.db)

    @cached_property
    def tokens(self) -> TokenRepository:
        return TokenRepository(self.db)

    @cached_property
    def leaderboards(self) -> LeaderboardRepository:
        return LeaderboardRepository(self.db)

    @property
    def validation_context(self) -> dict[str, Any]:
        return {"hf_endpoint": self.settings.hf_endpoint}

    def authenticate(self, authorization: str | None) -> Principal:
        return access.authenticate(
            tokens=self.tokens,
            workspaces=self.workspaces,
            clock=self.clock,
            authorization=authorization,
            touch_interval=timedelta(seconds=self.settings.token_touch_interval_seconds),
        )

    def check_url(self, url: str) -> None:
        check_outbound_url(url, allow_private=self.settings.podium_allow_private_endpoints)


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
