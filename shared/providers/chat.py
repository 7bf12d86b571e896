"""Chat completions over the OpenAI wire format, which OpenRouter and most custom endpoints speak.

One small class over an injected HTTP client (the inspect_ai habit): the composition root owns
it (``clients.ModelHttp``: pools, TLS) and tests point the provider at a local stand-in. The
provider's own job is the wire format and deciding which failures deserve another attempt.

Retries here are short and bounded: enough to ride out a 429 or a flapping gateway without
giving up a Cloud Tasks attempt, never long enough to hold a worker. When they run out, the
transient ``ProviderError`` goes up so the worker answers 503 and the queue retries later.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpcore
import httpx

from shared.providers.auth import Auth
from shared.providers.clients import (
    TRANSPORT_ERRORS,
    ModelHttp,
    Reply,
    UnreadableBody,
    encode_headers,
    json_body,
    parse_url,
)
from shared.providers.errors import (
    ProviderError,
    error_from_transport,
    is_transient_status,
    parse_retry_after,
)
from shared.providers.url_safety import OutboundGuard, UrlGuard

_SUFFIX = "/chat/completions"
# A custom endpoint is someone else's server; a runaway body must not exhaust a worker's memory.
DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class ChatRequest:
    messages: list[dict[str, str]]
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    # OpenAI's structured outputs (``{"type": "json_schema", ...}``); the judge sends its
    # verdict's schema.
    response_format: dict[str, Any] | None = None

    def params(self) -> dict[str, Any]:
        """Only the parameters that were set: an omitted one means "the model's default"."""
        values = {
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "top_p": self.top_p,
            "response_format": self.response_format,
        }
        return {k: v for k, v in values.items() if v is not None}


@dataclass(frozen=True)
class Completion:
    text: str
    tokens_in: int | None
    tokens_out: int | None
    # OpenRouter reports the charge in usage.cost (credits, i.e. USD); other endpoints do not.
    cost_usd: float | None
    latency_ms: float
    # The model that actually answered, as the endpoint reports it (OpenRouter may route).
    provider_model: str | None
    finish_reason: str | None


class ChatProvider(Protocol):
    # The URL calls go to: its host names the call budget they draw on (budget.py).
    endpoint: str

    def complete(self, request: ChatRequest) -> Completion: ...


def chat_completions_url(base_url: str) -> str:
    """``base_url`` + ``/chat/completions``, unless it already names that endpoint."""
    url = httpx.URL(base_url.strip())
    path = url.path.rstrip("/")
    if not path.endswith(_SUFFIX):
        path += _SUFFIX
    return str(url.copy_with(path=path))


# User-supplied endpoints get the strict policy unless the caller passes the deployment's.
_STRICT_GUARD = OutboundGuard(allow_private=False)


class OpenAICompatibleProvider:
    def __init__(
        self,
        *,
        client: ModelHttp,
        base_url: str,
        model: str | None,
        auth: Auth,
        timeout: float,
        max_retries: int,
        extra_headers: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_retry_wait: float = 30.0,
        backoff_base: float = 0.5,
        url_guard: UrlGuard | None = _STRICT_GUARD,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self.endpoint = chat_completions_url(base_url)
        # Error messages name the endpoint without its query, which may carry a key.
        self._shown = str(httpx.URL(self.endpoint).copy_with(query=None))
        self.model = model
        self._client = client
        self._url = parse_url(self.endpoint)
        headers = {
            **(extra_headers or {}),
            **auth.headers(),
            "Content-Type": "application/json",
            "Accept": "application/json",
            # Answers are small; asking for no compression spares decoding them.
            "Accept-Encoding": "identity",
            "User-Agent": f"podium httpcore/{httpcore.__version__}",
        }
        # Encoded once; a token that is not ASCII fails every call the same way, so it is
        # kept as that call's error rather than raised from here.
        self._headers: list[tuple[bytes, bytes]] | ProviderError
        try:
            self._headers = encode_headers(headers)
        except UnicodeEncodeError:
            self._headers = ProviderError(
                f"POST {self._shown} could not be sent: a header value (the token or a custom "
                "header) has characters that are not ASCII",
                transient=False,
            )
        self._timeout = timeout
        self._max_retries = max_retries
        self._sleep = sleep
        self._max_retry_wait = max_retry_wait
        self._backoff_base = backoff_base
        self._url_guard = url_guard
        self._max_response_bytes = max_response_bytes

    def complete(self, request: ChatRequest) -> Completion:
        body: dict[str, Any] = {"messages": request.messages, **request.params()}
        if self.model is not None:
            body = {"model": self.model, **body}
        attempt = 0
        while True:
            try:
                return self._attempt(body)
            except ProviderError as error:
                if not error.transient or attempt >= self._max_retries:
                    raise
                delay = self._retry_delay(error, attempt)
                if delay is None:
                    raise
                self._sleep(delay)
                attempt += 1

    def _retry_delay(self, error: ProviderError, attempt: int) -> float | None:
        """How long to wait before the next attempt; ``None`` means "stop retrying here".

        A server-named wait beyond our cap is handed to the queue (via ``retry_after``) rather
        than slept through: a worker idling for minutes helps nobody.
        """
        if error.retry_after is not None:
            return error.retry_after if error.retry_after <= self._max_retry_wait else None
        backoff = min(self._max_retry_wait, self._backoff_base * 2.0**attempt)
        # Jitter spreads the retries of many concurrent workers hit by the same outage.
        return backoff * (0.5 + random.random() / 2)

    def _attempt(self, body: dict[str, Any]) -> Completion:
        self._check_url()
        if isinstance(self._headers, ProviderError):
            raise self._headers
        try:
            content = json_body(body)
        except ValueError as exc:  # NaN or infinity among the parameters: not JSON
            raise ProviderError(
                f"POST {self._shown} could not be sent: {exc}", transient=False
            ) from None
        started = time.perf_counter()
        sent: list[float] = []

        def trace(event: str, _info: dict[str, Any]) -> None:
            # httpcore's trace hook: the moment the request's headers go out, after any wait
            # for a pooled connection and any connect. The model's latency starts there.
            if not sent and event.endswith("send_request_headers.started"):
                sent.append(time.perf_counter())

        try:
            # A redirect is not followed (the reply's status says so below): a redirected POST
            # could lead anywhere the URL check never saw.
            reply = self._client.post(
                self._url,
                body=content,
                headers=self._headers,
                timeout=self._timeout,
                max_bytes=self._max_response_bytes,
                trace=trace,
            )
        except TRANSPORT_ERRORS as exc:
            raise error_from_transport(exc, what=f"POST {self._shown}") from exc
        except UnreadableBody as exc:
            raise self._malformed(str(exc)) from None
        latency_ms = (time.perf_counter() - (sent[0] if sent else started)) * 1000.0
        success = 200 <= reply.status < 300
        if reply.cut and success:  # an error body only feeds the message; its status decides
            raise ProviderError(
                f"Response from {self._shown} exceeds {self._max_response_bytes} bytes",
                transient=False,
                status=reply.status,
            )
        if not success:
            raise self._status_error(reply)
        return self._parse(reply.body, latency_ms)

    def _check_url(self) -> None:
        if self._url_guard is None:
            return
        try:
            self._url_guard(self.endpoint)
        except ValueError as exc:
            raise ProviderError(str(exc), transient=False) from None
        except OSError as exc:  # the name did not resolve: like a connection failure
            raise ProviderError(f"Could not resolve {self._shown}: {exc}", transient=True) from exc

    def _status_error(self, reply: Reply) -> ProviderError:
        status, raw = reply.status, reply.body
        if 300 <= status < 400:
            where = reply.headers.get("location", "elsewhere")
            return ProviderError(
                f"HTTP {status} from {self._shown}: redirected to {where}; "
                "configure the final endpoint URL",
                transient=False,
                status=status,
            )
        retry_after = parse_retry_after(reply.headers.get("retry-after"))
        return ProviderError(
            f"HTTP {status} from {self._shown}: {_error_message(raw)}",
            transient=is_transient_status(status, has_retry_after=retry_after is not None),
            status=status,
            retry_after=retry_after,
        )

    def _parse(self, raw: bytes, latency_ms: float) -> Completion:
        try:
            payload = json.loads(raw)
        except ValueError:
            raise self._malformed("the body is not JSON") from None
        if not isinstance(payload, dict):
            raise self._malformed("the body is not a JSON object")
        choices = payload.get("choices")
        first = choices[0] if isinstance(choices, list) and choices else None
        # OpenRouter answers 200 when a model fails after it started, with the error in the body.
        embedded = payload.get("error") or (first.get("error") if isinstance(first, dict) else None)
        if embedded:
            raise self._embedded_error(embedded)
        if not isinstance(first, dict) or not isinstance(first.get("message"), dict):
            raise self._malformed("no choices[0].message")
        text = _content_text(first["message"].get("content"))
        if text is None:
            raise self._malformed("choices[0].message.content is neither text nor text parts")
        usage = payload.get("usage")
        if not isinstance(usage, dict):
            usage = {}
        return Completion(
            text=text,
            tokens_in=_as_int(usage.get("prompt_tokens")),
            tokens_out=_as_int(usage.get("completion_tokens")),
            cost_usd=_as_float(usage.get("cost")),
            latency_ms=latency_ms,
            provider_model=_as_str(payload.get("model")),
            finish_reason=_as_str(first.get("finish_reason")),
        )

    def _malformed(self, why: str) -> ProviderError:
        return ProviderError(f"Unexpected response from {self._shown}: {why}", transient=False)

    def _embedded_error(self, error: Any) -> ProviderError:
        code = error.get("code") if isinstance(error, dict) else None
        message = error.get("message") if isinstance(error, dict) else error
        status = code if isinstance(code, int) and not isinstance(code, bool) else None
        return ProviderError(
            f"Error from {self._shown}: {message}",
            transient=status is not None and is_transient_status(status),
            status=status,
        )


def _error_message(raw: bytes) -> str:
    """The upstream's own words: OpenRouter's ``{"error": {"message"}}`` or the body's start."""
    try:
        payload = json.loads(raw)
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
        if isinstance(error, str):
            return error
        if isinstance(payload.get("detail"), str):
            return str(payload["detail"])
    text = raw.decode("utf-8", "replace").strip()
    return text[:300] or "(empty body)"


def _content_text(content: Any) -> str | None:
    if content is None:  # a refusal or an empty answer: a scored answer, not an error
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: [{"type": "text", "text": "..."}]
        parts = [p.get("text") for p in content if isinstance(p, dict)]
        return "".join(p for p in parts if isinstance(p, str))
    return None


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _as_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
