"""An OpenAI-compatible chat completions server standing in for OpenRouter and custom endpoints.

Answers ``POST <anything>/chat/completions`` (so ``/v1/...`` for a custom endpoint and
``/api/v1/...`` for ``OPENROUTER_BASE_URL=http://127.0.0.1:PORT/api/v1``) in OpenRouter's
format: ``choices[0].message.content``, ``usage`` with ``prompt_tokens``,
``completion_tokens`` and ``cost``, errors as ``{"error": {"code", "message"}}``.

Scores are predictable, so a test can compute exactly what a run should produce:

* the test registers a dataset, ``input -> expected answer``; a prompt "contains" an input when
  the input's text appears in a message, not glued to letters or digits ("Q9" is not in "Q99"),
  and the longest such input wins;
* a model answers the expected text iff ``answers_correctly(model, input)``, i.e. a hash of
  (model name, input) falls under its ``accuracy``; otherwise it answers ``WRONG_ANSWER``;
* token counts are whitespace-separated words (``count_tokens``) and the cost is
  ``prompt_tokens * price_in + completion_tokens * price_out``;
* failure patterns count attempts per (model, input), so a retry of the same sample can succeed.

A model with ``judge=True`` answers with ``judge_fn(messages)`` instead. The default judge gives
``{"score": 10, ...}`` when the judged answer is the expected one for the embedded input and 0
otherwise; it recognizes a wrong answer by ``WRONG_ANSWER`` appearing in the prompt, which is
why that constant is distinctive rather than the word "wrong" (a rubric may well say "wrong").
"""

from __future__ import annotations

import hashlib
import itertools
import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from tests.standins._http import StandinRequest, StandinResponse, StandinServer

WRONG_ANSWER = "stand-in-wrong-answer"
UNKNOWN_INPUT_ANSWER = "stand-in-unknown-input"

FailureKind = Literal["rate_limit", "bad_gateway", "permanent", "timeout"]
JudgeFn = Callable[[list[dict[str, Any]]], str]


@dataclass(frozen=True)
class Failures:
    """How a model misbehaves, deterministically.

    ``rate_limit`` answers 429 (with ``Retry-After: retry_after`` unless it is ``None``; a str
    is sent as is, e.g. an HTTP date), ``bad_gateway`` 502, ``timeout`` waits ``hang_seconds``
    before answering, each on the first ``attempts`` attempts per (model, input). ``permanent``
    answers 400 on every attempt. ``inputs`` limits the pattern to those inputs.
    """

    kind: FailureKind
    attempts: int = 1
    retry_after: float | str | None = 1
    inputs: frozenset[str] | None = None
    hang_seconds: float = 30.0

    def applies(self, input_text: str | None, attempt: int) -> bool:
        if self.inputs is not None and input_text not in self.inputs:
            return False
        return self.kind == "permanent" or attempt <= self.attempts


@dataclass(frozen=True)
class StandinModel:
    name: str
    accuracy: float = 1.0
    latency_ms: float = 0.0
    failures: Failures | None = None
    judge: bool = False
    price_in: float = 0.000001  # USD per prompt token
    price_out: float = 0.000002  # USD per completion token


def unit_hash(model_name: str, input_text: str) -> float:
    """A stable number in [0, 1) for (model, input)."""
    digest = hashlib.sha256(f"{model_name}\x00{input_text}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def answers_correctly(model: StandinModel, input_text: str) -> bool:
    return unit_hash(model.name, input_text) < model.accuracy


def count_tokens(text: str) -> int:
    return len(text.split())


def expected_cost(model: StandinModel, prompt_tokens: int, completion_tokens: int) -> float:
    return round(prompt_tokens * model.price_in + completion_tokens * model.price_out, 12)


class OpenAIStandin(StandinServer):
    def __init__(
        self,
        models: Iterable[StandinModel] = (),
        *,
        dataset: Mapping[str, str] | None = None,
        judge_fn: JudgeFn | None = None,
        api_key: str | None = None,
        default_model: str | None = None,
    ) -> None:
        """``api_key`` set: requests without ``Authorization: Bearer <api_key>`` get 401, as on
        OpenRouter. ``default_model`` answers requests that name no model (custom endpoints)."""
        super().__init__()
        self.models: dict[str, StandinModel] = {m.name: m for m in models}
        self.dataset: dict[str, str] = Dataset(dataset or {})
        self.judge_fn: JudgeFn = judge_fn or self.default_judge
        self.api_key = api_key
        self.default_model = default_model
        # Called first with every request; a response it returns is sent instead of the normal
        # one (malformed bodies, odd statuses: whatever a test needs that models cannot express).
        self.intercept: Callable[[StandinRequest], StandinResponse | None] | None = None
        self._attempts: Counter[tuple[str, str]] = Counter()
        self._ids = itertools.count(1)
        # OpenRouter's catalog: GET /models lists ``catalog`` (entries in its documented
        # format), GET /models/{author}/{slug}/endpoints answers ``catalog_endpoints[id]``;
        # every request is counted by path, with the key it carried.
        self.catalog: list[dict[str, Any]] = []
        self.catalog_endpoints: dict[str, list[dict[str, Any]]] = {}
        self.catalog_requests: list[tuple[str, str | None]] = []

    # --- for tests ---------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """A custom endpoint's base URL (the provider appends ``/chat/completions``)."""
        return f"{self.url}/v1"

    @property
    def openrouter_base_url(self) -> str:
        return f"{self.url}/api/v1"

    def add_model(self, model: StandinModel) -> None:
        self.models[model.name] = model

    def attempts(self, model_name: str, input_text: str) -> int:
        with self._lock:
            return self._attempts[(model_name, input_text)]

    def answer_for(self, model_name: str, input_text: str) -> str:
        """What a (non-judge) model answers for an input, failures aside."""
        if input_text not in self.dataset:
            return UNKNOWN_INPUT_ANSWER
        if answers_correctly(self.models[model_name], input_text):
            return self.dataset[input_text]
        return WRONG_ANSWER

    def find_input(self, text: str) -> str | None:
        """The longest input ``text`` contains whole. Looked up from each of the prompt's
        pieces by the inputs that start with that piece, one dictionary probe per length they
        come in: the time does not grow with the dataset (a benchmark's stand-in must not slow
        down as datasets grow), nor with the length of its inputs."""
        data = self.dataset if isinstance(self.dataset, Dataset) else Dataset(self.dataset)
        found: str | None = None
        cuts = _cuts(text)
        for i in range(len(cuts) - 1):
            by_length = data.starting_with.get(text[cuts[i] : cuts[i + 1]])
            if not by_length:
                continue
            for pieces, keys in by_length.items():
                j = i + pieces
                if j < len(cuts):
                    candidate = text[cuts[i] : cuts[j]]
                    longer = found is None or len(candidate) > len(found)
                    if longer and candidate in keys and candidate in data:
                        found = candidate
        return found

    def default_judge(self, messages: list[dict[str, Any]]) -> str:
        text = _prompt_text(messages)
        input_text = self.find_input(text)
        if input_text is None:
            verdict = {"score": 0, "reason": "unknown input"}
        elif WRONG_ANSWER not in text and self.dataset[input_text] in text:
            verdict = {"score": 10, "reason": "ok"}
        else:
            verdict = {"score": 0, "reason": "does not match the expected answer"}
        return json.dumps(verdict)

    # --- the wire ----------------------------------------------------------------------------
    def _record(self, request: StandinRequest) -> None:
        # ``requests`` holds the model calls; catalog reads are in ``catalog_requests``.
        if request.method != "GET":
            super()._record(request)

    def _catalog(self, request: StandinRequest) -> StandinResponse:
        authorization = request.headers.get("authorization")
        if self.api_key is not None and authorization != f"Bearer {self.api_key}":
            return _error(401, "No auth credentials found")
        return _catalog_answer(self, request)

    def handle(self, request: StandinRequest) -> StandinResponse:
        if self.intercept is not None:
            override = self.intercept(request)
            if override is not None:
                return override
        if request.method == "GET" and "/models" in request.path:
            return self._catalog(request)
        if request.method != "POST" or not request.path.endswith("/chat/completions"):
            return _error(404, f"No route for {request.method} {request.path}")
        authorization = request.headers.get("authorization")
        if self.api_key is not None and authorization != f"Bearer {self.api_key}":
            return _error(401, "No auth credentials found")
        try:
            body = request.json()
        except ValueError:
            return _error(400, "Request body is not JSON")
        if not isinstance(body, dict):
            return _error(400, "Request body must be a JSON object")
        model = self.models.get(body.get("model") or self.default_model or "")
        if model is None:
            return _error(400, f"{body.get('model')} is not a valid model ID")
        messages = body.get("messages")
        if not isinstance(messages, list) or not all(
            isinstance(m, dict) and isinstance(m.get("content"), str) for m in messages
        ):
            return _error(400, "messages must be a list of {role, content} objects")

        text = _prompt_text(messages)
        input_text = self.find_input(text)
        with self._lock:
            key = (model.name, input_text if input_text is not None else text)
            self._attempts[key] += 1
            attempt = self._attempts[key]

        failures = model.failures
        if failures is not None and failures.applies(input_text, attempt):
            if failures.kind == "rate_limit":
                headers = {}
                if failures.retry_after is not None:
                    headers["Retry-After"] = str(failures.retry_after)
                return _error(429, "Rate limit exceeded", headers)
            if failures.kind == "bad_gateway":
                return _error(502, f"{model.name} is down")
            if failures.kind == "permanent":
                return _error(400, f"{model.name} refuses this request")
            self.wait(failures.hang_seconds)  # "timeout": outlast the client, then give up
            return _error(504, "Upstream timed out")

        self.wait(model.latency_ms / 1000)
        if model.judge:
            answer = self.judge_fn(messages)
        elif input_text is None:
            answer = UNKNOWN_INPUT_ANSWER
        else:
            answer = self.answer_for(model.name, input_text)
        prompt_tokens = count_tokens(text)
        completion_tokens = count_tokens(answer)
        return StandinResponse.json(
            200,
            {
                "id": f"gen-standin-{next(self._ids)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model.name,
                "provider": "Standin",
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "native_finish_reason": "stop",
                        "message": {"role": "assistant", "content": answer},
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                    "cost": expected_cost(model, prompt_tokens, completion_tokens),
                },
            },
        )


def _catalog_answer(standin: OpenAIStandin, request: StandinRequest) -> StandinResponse:
    path = request.path.split("/models", 1)[1]
    with standin._lock:
        standin.catalog_requests.append((request.path, request.headers.get("authorization")))
    if path in ("", "/"):
        return StandinResponse.json(200, {"data": standin.catalog})
    if path.endswith("/endpoints"):
        model_id = path[1 : -len("/endpoints")]
        entry = next((m for m in standin.catalog if m["id"] == model_id), None)
        if entry is None:
            return _error(404, f"Model {model_id} not found")
        endpoints = standin.catalog_endpoints.get(model_id, [])
        return StandinResponse.json(
            200,
            {
                "data": {
                    "id": model_id,
                    "name": entry.get("name"),
                    "created": entry.get("created"),
                    "description": entry.get("description", ""),
                    "architecture": entry.get("architecture"),
                    "endpoints": endpoints,
                }
            },
        )
    return _error(404, f"No route for GET {request.path}")


def catalog_entry(
    model_id: str,
    *,
    price_in: float = 0.000001,
    price_out: float = 0.000002,
    created: int = 1_750_000_000,
    hugging_face_id: str | None = None,
    canonical_slug: str | None = None,
    output_modalities: tuple[str, ...] = ("text",),
    context_length: int = 32_768,
) -> dict[str, Any]:
    """One ``GET /models`` entry as OpenRouter documents it (prices are USD per token, as
    strings)."""
    return {
        "id": model_id,
        "canonical_slug": canonical_slug or f"{model_id}-20250601",
        "hugging_face_id": hugging_face_id or "",
        "name": model_id.split("/")[-1].replace("-", " ").title(),
        "created": created,
        "description": "A stand-in model.",
        "context_length": context_length,
        "architecture": {
            "modality": "text->text",
            "input_modalities": ["text"],
            "output_modalities": list(output_modalities),
            "tokenizer": "Other",
            "instruct_type": None,
        },
        "pricing": {"prompt": f"{price_in:.10f}", "completion": f"{price_out:.10f}"},
        "top_provider": {"context_length": context_length, "is_moderated": False},
        "per_request_limits": None,
        "supported_parameters": ["temperature", "max_tokens"],
        "links": {"details": f"/api/v1/models/{model_id}/endpoints"},
    }


def catalog_endpoint(
    p50: float, p90: float, p99: float, provider: str = "Standin"
) -> dict[str, Any]:
    """One ``/endpoints`` entry; latency percentiles in milliseconds to the first token."""
    return {
        "name": f"{provider}: stand-in",
        "model_name": "stand-in",
        "context_length": 32_768,
        "pricing": {"prompt": "0.000001", "completion": "0.000002"},
        "provider_name": provider,
        "tag": provider.lower(),
        "quantization": "fp16",
        "max_completion_tokens": 4096,
        "max_prompt_tokens": 32_768,
        "supported_parameters": ["temperature", "max_tokens"],
        "status": 0,
        "uptime_last_30m": 99.5,
        "supports_implicit_caching": False,
        "latency_last_30m": {"p50": p50, "p75": (p50 + p90) / 2, "p90": p90, "p99": p99},
        "throughput_last_30m": {"p50": 50.0, "p75": 40.0, "p90": 30.0, "p99": 10.0},
    }


class Dataset(dict[str, str]):
    """input -> expected, with the inputs indexed by their first piece (``_cuts``) and their
    number of pieces, for ``find_input``."""

    def __init__(self, rows: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self.starting_with: dict[str, dict[int, set[str]]] = {}
        self.update(rows or {})

    def __setitem__(self, key: str, value: str) -> None:
        cuts = _cuts(key)
        if len(cuts) > 1:
            first = key[cuts[0] : cuts[1]]
            self.starting_with.setdefault(first, {}).setdefault(len(cuts) - 1, set()).add(key)
        super().__setitem__(key, value)

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value


def _cuts(text: str) -> list[int]:
    """Where ``text``'s pieces start, and its end: a piece is a run of letters and digits or
    one other character. An input contained whole (``_contains_whole``) starts and ends at
    cuts, so these are the only places to look."""
    cuts = [0]
    for i in range(1, len(text)):
        if not (text[i].isalnum() and text[i - 1].isalnum()):
            cuts.append(i)
    if text:
        cuts.append(len(text))
    return cuts


def _contains_whole(text: str, key: str) -> bool:
    """``key`` occurs in ``text`` not glued to letters or digits ("Q9" is not in "Q99")."""
    start = text.find(key)
    while start != -1:
        end = start + len(key)
        before_ok = start == 0 or not (text[start - 1].isalnum() and key[0].isalnum())
        after_ok = end == len(text) or not (text[end].isalnum() and key[-1].isalnum())
        if before_ok and after_ok:
            return True
        start = text.find(key, start + 1)
    return False


def _prompt_text(messages: list[dict[str, Any]]) -> str:
    return "\n".join(str(m.get("content", "")) for m in messages)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> StandinResponse:
    return StandinResponse.json(status, {"error": {"code": status, "message": message}}, headers)
