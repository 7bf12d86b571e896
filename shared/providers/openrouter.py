"""OpenRouter: the OpenAI-compatible provider with OpenRouter's base URL, auth and attribution."""

from __future__ import annotations

import time
from collections.abc import Callable

from shared.providers.auth import Auth
from shared.providers.chat import OpenAICompatibleProvider
from shared.providers.clients import ModelHttp
from shared.providers.url_safety import UrlGuard

DEFAULT_OPENROUTER_BASE_URL = "https://openrouter.ai/api/v1"


class OpenRouterProvider(OpenAICompatibleProvider):
    """A call to one OpenRouter model (``model`` is its id, e.g. ``openai/gpt-oss-120b``).

    The key is the candidate model's own token when it has one, else the deployment's
    ``OPENROUTER_API_KEY``. ``app_url``/``app_title`` become OpenRouter's app-attribution
    headers: ``HTTP-Referer`` identifies the app, ``X-OpenRouter-Title`` names it (``X-Title``
    is its older, still-accepted spelling, sent too).

    No URL guard by default: the base URL is deployment configuration, not user input, and a
    DNS lookup before every call on the busiest path would buy nothing.
    """

    def __init__(
        self,
        *,
        client: ModelHttp,
        model: str,
        token: str | None = None,
        deployment_api_key: str | None = None,
        base_url: str = DEFAULT_OPENROUTER_BASE_URL,
        app_url: str | None = None,
        app_title: str | None = "Podium",
        timeout: float,
        max_retries: int,
        sleep: Callable[[float], None] = time.sleep,
        max_retry_wait: float = 30.0,
        url_guard: UrlGuard | None = None,
    ) -> None:
        if not model.strip():
            raise ValueError("An OpenRouter model id is required (e.g. 'openai/gpt-oss-120b')")
        attribution: dict[str, str] = {}
        if app_url:
            attribution["HTTP-Referer"] = app_url
        if app_title:
            attribution["X-OpenRouter-Title"] = app_title
            attribution["X-Title"] = app_title
        super().__init__(
            client=client,
            base_url=base_url,
            model=model.strip(),
            auth=Auth("bearer", token or deployment_api_key),
            timeout=timeout,
            max_retries=max_retries,
            extra_headers=attribution,
            sleep=sleep,
            max_retry_wait=max_retry_wait,
            url_guard=url_guard,
        )
