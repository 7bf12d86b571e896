"""Model endpoints: candidate models on a leaderboard and models registered in a workspace.

Both describe how to reach a chat model (platform, URL, auth); a candidate may instead refer to
a registered ("Dr.Gero") model by id, so a team configures an endpoint once and reuses it.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    ConfigDict,
    Field,
    JsonValue,
    SecretStr,
    field_validator,
    model_validator,
)

from shared.domain.base import (
    RequestModel,
    ResponseModel,
    RuleViolation,
    Timestamp,
    case_insensitive,
)
from shared.domain.redaction import redact_url
from shared.domain.storable import DocumentId


class Platform(StrEnum):
    OPENROUTER = "OpenRouter"
    CUSTOM = "Custom"
    HUGGINGFACE = "HuggingFace"
    DRGERO = "Dr.Gero"


class AuthType(StrEnum):
    BEARER = "bearer"
    X_API_KEY = "x-api-key"
    X_DRGERO_API_KEY = "x-dr.gero-api-key"
    AUTHORIZATION = "authorization"
    CUSTOM_HEADER = "custom-header"


# RFC 9110 token characters; these headers are the transport's, never an auth header.
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")
_RESERVED_HEADERS = frozenset(
    {"host", "content-length", "content-type", "transfer-encoding", "connection", "cookie"}
)
_OPENROUTER_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.:-]+$")


class ModelParameters(RequestModel):
    """Sampling parameters sent with every call (and part of the response-cache key)."""

    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1, le=65_536)
    top_p: float | None = Field(default=None, gt=0, le=1)
    # The ``model`` an OpenAI-compatible endpoint serving several models expects (vLLM);
    # OpenRouter candidates use model_url instead.
    model: str | None = Field(default=None, min_length=1, max_length=200)
    # How long one call may take, instead of the deployment's PROVIDER_TIMEOUT_SECONDS: a model
    # self-hosted on small hardware answers far slower than an API. A call option, not sent to
    # the model and not part of the cache key (it does not change the answer). Bounded well
    # under the task's dispatch deadline, which covers a task's retries of its calls too.
    timeout_seconds: float | None = Field(default=None, gt=0, le=600, allow_inf_nan=False)


def openrouter_model_id(value: str) -> str:
    """An OpenRouter model id (``family/model``); a model page URL is reduced to its id."""
    v = value.strip()
    if v.startswith(("http://", "https://")):
        parts = urlsplit(v)
        if parts.netloc.lower() not in {"openrouter.ai", "www.openrouter.ai"}:
            raise ValueError("for OpenRouter, give the model id such as 'openai/gpt-oss-120b'")
        v = parts.path.strip("/").removeprefix("models/")
    if not _OPENROUTER_ID.match(v):
        raise ValueError(f"{value!r} is not an OpenRouter model id such as 'openai/gpt-oss-120b'")
    return v


def endpoint_url(value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError("must be an http(s) URL of an OpenAI-compatible endpoint")
    if parts.username or parts.password:
        raise ValueError("credentials in the URL are not allowed; use token and auth_type")
    return value.strip()


class EndpointSpec(RequestModel):
    """How to call a model: shared by candidates and registered models."""

    name: str = Field(
        min_length=1,
        max_length=200,
        validation_alias=AliasChoices("name", "model_name", "modelName"),
    )
    platform: Annotated[Platform, case_insensitive(Platform)] = Platform.DRGERO
    model_url: str | None = Field(
        default=None,
        max_length=2048,
        validation_alias=AliasChoices("model_url", "modelUrl", "url"),
    )
    token: SecretStr | None = Field(default=None, max_length=8192)
    auth_type: Annotated[AuthType, case_insensitive(AuthType)] = AuthType.BEARER
    auth_header_name: str | None = None
    parameters: ModelParameters | None = None

    @field_validator("auth_header_name")
    @classmethod
    def _header_name(cls, v: str | None) -> str | None:
        if v is None:
            return None
        if not _HEADER_NAME.match(v):
            raise ValueError(f"{v!r} is not a valid HTTP header name")
        if v.lower() in _RESERVED_HEADERS:
            raise ValueError(f"{v!r} cannot carry a model token")
        return v

    @model_validator(mode="after")
    def _platform_rules(self) -> EndpointSpec:
        if self.platform != Platform.DRGERO:
            if not self.model_url:
                raise RuleViolation(
                    "model_url", f"model_url is required for {self.platform.value} models"
                )
            try:
                if self.platform == Platform.OPENROUTER:
                    self.model_url = openrouter_model_id(self.model_url)
                else:
                    self.model_url = endpoint_url(self.model_url)
            except ValueError as exc:
                raise RuleViolation("model_url", str(exc)) from exc
        if self.auth_type == AuthType.CUSTOM_HEADER and not self.auth_header_name:
            raise RuleViolation(
                "auth_header_name", "auth_header_name is required when auth_type is custom-header"
            )
        if self.auth_type != AuthType.CUSTOM_HEADER and self.auth_header_name:
            raise RuleViolation(
                "auth_header_name", "auth_header_name is only used with auth_type custom-header"
            )
        return self


_OPENROUTER_EXAMPLE: dict[str, JsonValue] = {
    "name": "GPT OSS 120B via OpenRouter",
    "platform": "OpenRouter",
    "model_url": "openai/gpt-oss-120b",
}


class RegisteredModelCreate(EndpointSpec):
    """Body of POST /api/models: a model endpoint registered once in the workspace."""

    model_config = EndpointSpec.model_config | ConfigDict(
        json_schema_extra={"examples": [_OPENROUTER_EXAMPLE]}
    )
    platform: Annotated[Platform, case_insensitive(Platform)] = Platform.OPENROUTER

    @model_validator(mode="after")
    def _not_a_reference(self) -> RegisteredModelCreate:
        if self.platform == Platform.DRGERO:
            raise RuleViolation(
                "platform",
                "a registered model is the endpoint itself: platform must be OpenRouter, "
                "HuggingFace or Custom",
            )
        return self


class CandidateCreate(EndpointSpec):
    """Body of POST /api/leaderboards/{id}/models."""

    model_config = EndpointSpec.model_config | ConfigDict(
        json_schema_extra={"examples": [_OPENROUTER_EXAMPLE]}
    )
    model_id: DocumentId | None = Field(default=None, min_length=1, max_length=100)

    @model_validator(mode="after")
    def _reference_rules(self) -> CandidateCreate:
        if self.platform == Platform.DRGERO:
            if not self.model_id:
                raise RuleViolation(
                    "model_id", "model_id is required for Dr.Gero models (see GET /api/models)"
                )
            if self.model_url:
                raise RuleViolation(
                    "model_url", "model_url is not used for Dr.Gero models; give model_id"
                )
            if self.token is not None:
                raise RuleViolation(
                    "token", "a Dr.Gero model uses its registered token; omit token"
                )
        elif self.model_id:
            raise RuleViolation("model_id", "model_id is only used with platform Dr.Gero")
        return self


def token_hint(token: str | None) -> str | None:
    """What a response shows of a stored secret: that it exists, and for long tokens the last
    four characters so a person can tell two apart."""
    if not token:
        return None
    return "***" + token[-4:] if len(token) >= 16 else "***"


class EndpointPublic(ResponseModel):
    id: str
    name: str
    platform: Platform
    model_url: str | None
    token: str | None
    auth_type: AuthType
    auth_header_name: str | None
    parameters: dict[str, Any] | None
    created_at: Timestamp

    @field_validator("model_url")
    @classmethod
    def _redacted(cls, v: str | None) -> str | None:
        # Credentials in the URL (?api_key=, user:pass@) stay stored for calls, never shown.
        return redact_url(v)


class RegisteredModelPublic(EndpointPublic):
    pass


class CatalogIdentity(ResponseModel):
    """The OpenRouter catalog's identity of the model behind a candidate, as last recorded."""

    id: str
    canonical_slug: str | None = Field(description="The dated snapshot behind the model id")
    created: int | None = None


class CandidatePublic(EndpointPublic):
    leaderboard_id: str
    model_id: str | None
    catalog: CatalogIdentity | None = Field(
        default=None,
        description="OpenRouter candidates: the catalog snapshot recorded when added (by "
        "auto-select) and by each model_version check",
    )
