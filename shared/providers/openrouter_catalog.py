"""OpenRouter's model catalog: ``GET /models`` (every model, its prices, its dated identity) and
``GET /models/{author}/{slug}/endpoints`` (each provider serving it, with latency over the last
30 minutes).

Both are cached briefly per (base URL, key): the catalog changes by the hour, and auto-select
would otherwise fetch a multi-megabyte list on every click. Latency figures are only returned to
authenticated callers, which is why the workspace's key (or the deployment's) is sent.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx

from shared.domain.errors import Refused, TransientFailure

Clock = Callable[[], float]


class OpenRouterCatalog:
    def __init__(
        self,
        *,
        client: httpx.Client,
        base_url: str,
        deployment_api_key: str | None,
        timeout: float,
        ttl_seconds: float = 300.0,
        monotonic: Clock = time.monotonic,
    ) -> None:
        self._client = client
        self._base = base_url.rstrip("/")
        self._deployment_key = deployment_api_key
        self._timeout = timeout
        self._ttl = ttl_seconds
        self._now = monotonic
        self._cache: dict[tuple[str, str], tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def models(self, api_key: str | None) -> list[dict[str, Any]]:
        data = self._get("/models", api_key)
        items = data.get("data") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise TransientFailure("OpenRouter's model list came back without a data list")
        return [m for m in items if isinstance(m, dict) and isinstance(m.get("id"), str)]

    def endpoints(self, api_key: str | None, model_id: str) -> list[dict[str, Any]]:
        """The providers serving ``model_id`` (``author/slug``); empty when it has none."""
        author, _, slug = model_id.partition("/")
        if not author or not slug:
            return []
        quoted = f"{quote(author, safe='')}/{quote(slug, safe='')}"
        data = self._get(f"/models/{quoted}/endpoints", api_key, missing_ok=True)
        inner = data.get("data") if isinstance(data, dict) else None
        found = inner.get("endpoints") if isinstance(inner, dict) else None
        return [e for e in found if isinstance(e, dict)] if isinstance(found, list) else []

    def _get(self, path: str, api_key: str | None, *, missing_ok: bool = False) -> Any:
        key = api_key or self._deployment_key
        cache_key = (path, hashlib.sha256((key or "").encode()).hexdigest())
        with self._lock:
            hit = self._cache.get(cache_key)
            if hit is not None and self._now() - hit[0] < self._ttl:
                return hit[1]
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        try:
            resp = self._client.get(self._base + path, headers=headers, timeout=self._timeout)
        except httpx.HTTPError as exc:
            raise TransientFailure(f"OpenRouter's catalog did not answer: {exc}") from None
        if resp.status_code == 404 and missing_ok:
            body: Any = {}
        elif resp.status_code in (401, 403):
            raise Refused(
                "OpenRouter refused the key: set a valid one in the workspace's settings "
                "(PUT /api/workspaces/{id}/integrations/openrouter)"
            )
        elif resp.status_code != 200:
            raise TransientFailure(
                f"OpenRouter's catalog answered {resp.status_code}", retry_after=5
            )
        else:
            try:
                body = resp.json()
            except ValueError:
                raise TransientFailure("OpenRouter's catalog answered something not JSON") from None
        with self._lock:
            self._cache[cache_key] = (self._now(), body)
        return body
