"""From an endpoint description (a candidate, a registered model, a judge) to a provider.

Built once per instance by the composition root, with the model-call HTTP client and the
deployment's settings; services only ever call it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from shared.providers.auth import Auth, AuthType
from shared.providers.chat import ChatProvider, OpenAICompatibleProvider
from shared.providers.clients import ModelHttp
from shared.providers.openrouter import OpenRouterProvider
from shared.providers.url_safety import OutboundGuard


@dataclass(frozen=True)
class Endpoint:
    platform: str  # OpenRouter, HuggingFace or Custom (Dr.Gero is resolved before this)
    model_url: str
    token: str | None = field(default=None, repr=False)
    auth_type: str = "bearer"
    auth_header_name: str | None = None
    parameters: dict[str, Any] | None = None

    @property
    def model(self) -> str | None:
        """The ``model`` sent in the request: the OpenRouter id, or for an OpenAI-compatible
        endpoint the ``parameters.model`` a multi-model server (vLLM) needs, else none."""
        if self.platform == "OpenRouter":
            return self.model_url
        return (self.parameters or {}).get("model")


@dataclass
class ProviderFactory:
    client: ModelHttp
    openrouter_base_url: str
    openrouter_api_key: str | None
    timeout: float
    max_retries: int
    max_retry_wait: float
    allow_private: bool

    def __call__(self, endpoint: Endpoint) -> ChatProvider:
        timeout = float((endpoint.parameters or {}).get("timeout_seconds") or self.timeout)
        auth = Auth(
            auth_type=cast(AuthType, endpoint.auth_type),
            token=endpoint.token,
            header_name=endpoint.auth_header_name,
        )
        if endpoint.platform == "OpenRouter":
            return OpenRouterProvider(
                client=self.client,
                model=endpoint.model_url,
                token=endpoint.token,
                deployment_api_key=self.openrouter_api_key,
                base_url=self.openrouter_base_url,
                timeout=timeout,
                max_retries=self.max_retries,
                max_retry_wait=self.max_retry_wait,
            )
        return OpenAICompatibleProvider(
            client=self.client,
            base_url=endpoint.model_url,
            model=endpoint.model,
            auth=auth,
            timeout=timeout,
            max_retries=self.max_retries,
            max_retry_wait=self.max_retry_wait,
            # User-given URLs are checked again right before each call (DNS may have changed).
            url_guard=OutboundGuard(allow_private=self.allow_private),
        )
