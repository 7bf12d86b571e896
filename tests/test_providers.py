"""The chat providers against the OpenAI-compatible stand-in, over real loopback HTTP."""

from __future__ import annotations

import email.utils
import json
import socket
import time
from typing import Any

import httpcore
import pytest

from shared.providers.auth import Auth
from shared.providers.chat import (
    ChatRequest,
    Completion,
    OpenAICompatibleProvider,
    chat_completions_url,
)
from shared.providers.clients import ModelHttp
from shared.providers.errors import ProviderError, parse_retry_after
from shared.providers.openrouter import OpenRouterProvider
from shared.providers.url_safety import OutboundGuard
from tests.standins import (
    UNKNOWN_INPUT_ANSWER,
    WRONG_ANSWER,
    Failures,
    OpenAIStandin,
    StandinModel,
    answers_correctly,
    count_tokens,
    expected_cost,
)
from tests.standins._http import StandinResponse

DATASET = {f"Q{i}": f"answer-{i}" for i in range(1, 41)}
LOOPBACK_OK = OutboundGuard(allow_private=True)


class RecordingSleep:
    """Stands in for time.sleep: remembers the delays asked for, waits for none."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def standin():
    with OpenAIStandin(
        [StandinModel("acme/perfect"), StandinModel("acme/coin", accuracy=0.5)],
        dataset=DATASET,
        default_model="acme/perfect",
    ) as server:
        yield server


@pytest.fixture
def client():
    http = ModelHttp()
    yield http
    http.close()


@pytest.fixture
def sleep():
    return RecordingSleep()


def make(
    standin: OpenAIStandin, client: ModelHttp, sleep: RecordingSleep, **overrides: Any
) -> OpenAICompatibleProvider:
    options: dict[str, Any] = {
        "client": client,
        "base_url": standin.base_url,
        "model": "acme/perfect",
        "auth": Auth("bearer", "sk-test"),
        "timeout": 5.0,
        "max_retries": 3,
        "sleep": sleep,
        "url_guard": LOOPBACK_OK,
        **overrides,
    }
    return OpenAICompatibleProvider(**options)


def ask(question: str = "Q1", **params: Any) -> ChatRequest:
    return ChatRequest(
        messages=[
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": f"Question: {question}"},
        ],
        **params,
    )


# --- auth ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("auth", "header", "value"),
    [
        (Auth("bearer", "tok"), "authorization", "Bearer tok"),
        (Auth("x-api-key", "tok"), "x-api-key", "tok"),
        (Auth("x-dr.gero-api-key", "tok"), "x-dr.gero-api-key", "tok"),
        (Auth("authorization", "Basic dTpw"), "authorization", "Basic dTpw"),
        (Auth("custom-header", "tok", header_name="X-Team-Key"), "x-team-key", "tok"),
    ],
)
def test_each_auth_type_sends_its_header(standin, client, sleep, auth, header, value):
    make(standin, client, sleep, auth=auth).complete(ask())

    headers = standin.requests[-1].headers
    assert headers[header] == value
    others = {"authorization", "x-api-key", "x-dr.gero-api-key", "x-team-key"} - {header}
    assert not others & headers.keys()


@pytest.mark.parametrize("auth_type", ["bearer", "x-api-key", "authorization", "custom-header"])
def test_no_token_sends_no_auth_header(standin, client, sleep, auth_type):
    auth = Auth(auth_type, None, header_name="X-Team-Key")
    make(standin, client, sleep, auth=auth).complete(ask())

    headers = standin.requests[-1].headers
    assert not {"authorization", "x-api-key", "x-team-key"} & headers.keys()


def test_auth_rejects_unknown_type_and_custom_header_without_name():
    with pytest.raises(ValueError, match="Unknown auth_type"):
        Auth("basic", "tok")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="header name"):
        Auth("custom-header", "tok")


def test_auth_repr_hides_the_token():
    assert "s3cret" not in repr(Auth("bearer", "s3cret"))


# --- endpoint and body -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "endpoint"),
    [
        ("https://api.example.com/v1", "https://api.example.com/v1/chat/completions"),
        ("https://api.example.com/v1/", "https://api.example.com/v1/chat/completions"),
        ("https://api.example.com", "https://api.example.com/chat/completions"),
        (
            "https://api.example.com/v1/chat/completions",
            "https://api.example.com/v1/chat/completions",
        ),
        (
            "https://api.example.com/x/chat/completions/",
            "https://api.example.com/x/chat/completions",
        ),
        (
            "https://api.example.com/openai?api-version=2024-10-21",
            "https://api.example.com/openai/chat/completions?api-version=2024-10-21",
        ),
    ],
)
def test_chat_completions_suffix(base, endpoint):
    assert chat_completions_url(base) == endpoint


def test_full_endpoint_url_is_used_as_is(standin, client, sleep):
    provider = make(standin, client, sleep, base_url=f"{standin.url}/v1/chat/completions")
    provider.complete(ask())

    assert standin.requests[-1].path == "/v1/chat/completions"


def test_body_carries_model_messages_and_only_the_set_params(standin, client, sleep):
    request = ask(temperature=0.0, max_tokens=64)
    make(standin, client, sleep).complete(request)

    body = standin.requests[-1].json()
    assert body == {
        "model": "acme/perfect",
        "messages": request.messages,
        "temperature": 0.0,
        "max_tokens": 64,
    }


def test_response_format_is_sent_as_given(standin, client, sleep):
    from shared.domain.scoring import JUDGE_RESPONSE_FORMAT

    make(standin, client, sleep).complete(ask(response_format=JUDGE_RESPONSE_FORMAT))

    assert standin.requests[-1].json()["response_format"] == JUDGE_RESPONSE_FORMAT


def test_model_is_omitted_when_none(standin, client, sleep):
    completion = make(standin, client, sleep, model=None).complete(ask(top_p=0.9))

    body = standin.requests[-1].json()
    assert "model" not in body
    assert body["top_p"] == 0.9
    assert completion.provider_model == "acme/perfect"  # the endpoint's default answered


# --- parsing ---------------------------------------------------------------------------------


def test_completion_text_usage_and_cost(standin, client, sleep):
    request = ask("Q7")
    completion = make(standin, client, sleep).complete(request)

    prompt_tokens = sum(count_tokens(m["content"]) for m in request.messages)
    model = standin.models["acme/perfect"]
    assert completion == Completion(
        text="answer-7",
        tokens_in=prompt_tokens,
        tokens_out=1,
        cost_usd=expected_cost(model, prompt_tokens, 1),
        latency_ms=completion.latency_ms,
        provider_model="acme/perfect",
        finish_reason="stop",
    )
    assert completion.latency_ms >= 0


def test_scores_are_computable_from_the_standin(standin, client, sleep):
    provider = make(standin, client, sleep, model="acme/coin")
    coin = standin.models["acme/coin"]

    texts = {q: provider.complete(ask(q)).text for q in DATASET}

    for question, text in texts.items():
        assert text == (DATASET[question] if answers_correctly(coin, question) else WRONG_ANSWER)
    correct = sum(texts[q] == DATASET[q] for q in DATASET)
    assert correct == sum(answers_correctly(coin, q) for q in DATASET)
    assert 0 < correct < len(DATASET)  # the hash really splits this dataset


def test_longest_registered_input_wins(standin, client, sleep):
    assert make(standin, client, sleep).complete(ask("Q17")).text == "answer-17"
    assert make(standin, client, sleep).complete(ask("Q99")).text == UNKNOWN_INPUT_ANSWER


def test_missing_usage_gives_none_and_null_content_gives_empty_text(standin, client, sleep):
    standin.intercept = lambda request: StandinResponse.json(
        200, {"choices": [{"message": {"role": "assistant", "content": None}}]}
    )
    completion = make(standin, client, sleep).complete(ask())

    assert (completion.text, completion.tokens_in, completion.cost_usd) == ("", None, None)
    assert completion.finish_reason is None


def test_content_parts_are_joined(standin, client, sleep):
    parts = [{"type": "text", "text": "answer"}, {"type": "text", "text": "-1"}]
    standin.intercept = lambda request: StandinResponse.json(
        200, {"choices": [{"message": {"content": parts}, "finish_reason": "stop"}]}
    )
    assert make(standin, client, sleep).complete(ask()).text == "answer-1"


@pytest.mark.parametrize(
    "body",
    [b"<html>gateway</html>", b"[1, 2]", b'{"choices": []}', b'{"choices": [{"text": "x"}]}'],
)
def test_malformed_success_body_is_permanent(standin, client, sleep, body):
    standin.intercept = lambda request: StandinResponse(200, body)

    with pytest.raises(ProviderError) as caught:
        make(standin, client, sleep).complete(ask())

    assert caught.value.transient is False
    assert "Unexpected response" in caught.value.detail
    assert sleep.calls == []


def test_error_in_a_200_body_is_classified_by_its_code(standin, client, sleep):
    standin.intercept = lambda request: StandinResponse.json(
        200, {"error": {"code": 502, "message": "provider died mid-answer"}}
    )
    with pytest.raises(ProviderError) as caught:
        make(standin, client, sleep, max_retries=1).complete(ask())

    assert caught.value.transient is True
    assert caught.value.status == 502
    assert "provider died mid-answer" in caught.value.detail
    assert len(sleep.calls) == 1


def test_oversized_body_is_refused(standin, client, sleep):
    standin.intercept = lambda request: StandinResponse(200, b"x" * 5000)

    with pytest.raises(ProviderError, match="exceeds 1000 bytes") as caught:
        make(standin, client, sleep, max_response_bytes=1000).complete(ask())
    assert caught.value.transient is False


def test_an_oversized_error_body_keeps_its_status_classification(standin, client, sleep):
    standin.intercept = lambda request: StandinResponse(503, b"busy " * 1000)

    with pytest.raises(ProviderError) as caught:
        make(standin, client, sleep, max_retries=0, max_response_bytes=1000).complete(ask())
    assert (caught.value.status, caught.value.transient) == (503, True)


def test_a_body_compressed_although_no_compression_was_asked_for_is_decoded(standin, client, sleep):
    """We ask for ``identity``; a gateway that gzips anyway is still understood, and the
    byte cap applies to what the body expands to, not to its compressed size."""
    import gzip

    payload = {"choices": [{"message": {"content": "answer-1"}, "finish_reason": "stop"}]}
    body = json.dumps(payload).encode()
    standin.intercept = lambda request: StandinResponse(
        200, gzip.compress(body), headers={"Content-Encoding": "gzip"}
    )
    assert make(standin, client, sleep).complete(ask()).text == "answer-1"
    assert standin.requests[-1].headers["accept-encoding"] == "identity"

    bomb = gzip.compress(b"x" * 10_000_000)  # ~10 KB that expands to 10 MB
    standin.intercept = lambda request: StandinResponse(
        200, bomb, headers={"Content-Encoding": "gzip"}
    )
    with pytest.raises(ProviderError, match="exceeds 1000 bytes"):
        make(standin, client, sleep, max_response_bytes=1000).complete(ask())

    standin.intercept = lambda request: StandinResponse(
        200, b"not brotli", headers={"Content-Encoding": "br"}
    )
    with pytest.raises(ProviderError, match="unsupported encoding") as caught:
        make(standin, client, sleep).complete(ask())
    assert caught.value.transient is False


def test_a_token_that_is_not_ascii_fails_the_call_without_sending_it(standin, client, sleep):
    provider = make(standin, client, sleep, auth=Auth("bearer", "sk-\u2013pasted"))
    with pytest.raises(ProviderError, match="not ASCII") as caught:
        provider.complete(ask())
    assert caught.value.transient is False
    assert standin.requests == []


def test_a_parameter_that_is_not_json_fails_the_call_without_sending_it(standin, client, sleep):
    with pytest.raises(ProviderError, match="could not be sent") as caught:
        make(standin, client, sleep).complete(ask(temperature=float("nan")))
    assert caught.value.transient is False
    assert standin.requests == []


def test_redirects_are_not_followed(standin, client, sleep):
    standin.intercept = lambda request: StandinResponse(
        307, headers={"Location": "http://169.254.169.254/"}
    )
    with pytest.raises(ProviderError, match="redirected") as caught:
        make(standin, client, sleep).complete(ask())

    assert (caught.value.status, caught.value.transient) == (307, False)
    assert len(standin.requests) == 1


# --- retries ---------------------------------------------------------------------------------


def test_429_is_retried_after_the_servers_retry_after(standin, client, sleep):
    standin.add_model(StandinModel("acme/busy", failures=Failures("rate_limit", 2, retry_after=3)))

    completion = make(standin, client, sleep, model="acme/busy").complete(ask("Q2"))

    assert completion.text == "answer-2"
    assert sleep.calls == [3.0, 3.0]
    assert standin.attempts("acme/busy", "Q2") == 3


def test_retry_after_as_an_http_date_in_the_past_means_now(standin, client, sleep):
    past = email.utils.formatdate(time.time() - 60, usegmt=True)
    standin.add_model(StandinModel("acme/busy", failures=Failures("rate_limit", 1, past)))

    make(standin, client, sleep, model="acme/busy").complete(ask())

    assert sleep.calls == [0.0]


def test_a_wait_beyond_the_cap_goes_to_the_queue_instead_of_sleeping(standin, client, sleep):
    later = email.utils.formatdate(time.time() + 3600, usegmt=True)
    standin.add_model(StandinModel("acme/busy", failures=Failures("rate_limit", 5, later)))

    with pytest.raises(ProviderError) as caught:
        make(standin, client, sleep, model="acme/busy", max_retry_wait=30).complete(ask())

    assert caught.value.transient is True
    assert caught.value.status == 429
    assert (caught.value.retry_after or 0) > 3000
    assert sleep.calls == []
    assert len(standin.requests) == 1


def test_502_is_retried_with_growing_jittered_backoff(standin, client, sleep):
    standin.add_model(StandinModel("acme/flaky", failures=Failures("bad_gateway", 2)))

    provider = make(standin, client, sleep, model="acme/flaky", backoff_base=0.5)
    assert provider.complete(ask("Q3")).text == "answer-3"

    assert len(sleep.calls) == 2
    assert 0.25 <= sleep.calls[0] <= 0.5
    assert 0.5 <= sleep.calls[1] <= 1.0


def test_backoff_never_exceeds_the_cap(standin, client, sleep):
    standin.add_model(StandinModel("acme/down", failures=Failures("bad_gateway", 100)))

    provider = make(
        standin, client, sleep, model="acme/down", max_retries=8, backoff_base=1, max_retry_wait=2
    )
    with pytest.raises(ProviderError):
        provider.complete(ask())

    assert len(sleep.calls) == 8
    assert max(sleep.calls) <= 2


def test_permanent_400_raises_at_once(standin, client, sleep):
    standin.add_model(StandinModel("acme/picky", failures=Failures("permanent")))

    with pytest.raises(ProviderError) as caught:
        make(standin, client, sleep, model="acme/picky").complete(ask())

    assert (caught.value.transient, caught.value.status) == (False, 400)
    assert "refuses this request" in caught.value.detail
    assert sleep.calls == []
    assert len(standin.requests) == 1


def test_unknown_model_is_permanent(standin, client, sleep):
    with pytest.raises(ProviderError, match="not a valid model ID") as caught:
        make(standin, client, sleep, model="acme/nope").complete(ask())
    assert caught.value.transient is False


def test_retries_exhausted_raise_transient_with_retry_after(standin, client, sleep):
    standin.add_model(StandinModel("acme/busy", failures=Failures("rate_limit", 10, 2)))

    with pytest.raises(ProviderError) as caught:
        make(standin, client, sleep, model="acme/busy", max_retries=2).complete(ask("Q4"))

    error = caught.value
    assert (error.transient, error.status, error.retry_after) == (True, 429, 2.0)
    assert sleep.calls == [2.0, 2.0]
    assert standin.attempts("acme/busy", "Q4") == 3


def test_timeout_is_transient(standin, client, sleep):
    standin.add_model(StandinModel("acme/slow", failures=Failures("timeout", 1)))

    with pytest.raises(ProviderError) as caught:
        make(standin, client, sleep, model="acme/slow", timeout=0.5, max_retries=0).complete(ask())

    assert caught.value.transient is True
    assert caught.value.status is None
    assert "timed out" in caught.value.detail


def test_timeout_then_success(standin, client, sleep):
    standin.add_model(StandinModel("acme/slow", failures=Failures("timeout", 1)))

    completion = make(standin, client, sleep, model="acme/slow", timeout=0.5).complete(ask("Q5"))

    assert completion.text == "answer-5"
    assert len(sleep.calls) == 1


def test_connection_refused_is_transient(client, sleep):
    with OpenAIStandin() as gone:
        base_url = gone.base_url  # a port nothing listens on once the server stops
    provider = OpenAICompatibleProvider(
        client=client,
        base_url=base_url,
        model="m",
        auth=Auth(),
        timeout=2,
        max_retries=0,
        url_guard=LOOPBACK_OK,
    )
    with pytest.raises(ProviderError) as caught:
        provider.complete(ask())
    assert (caught.value.transient, caught.value.status) == (True, None)


@pytest.mark.parametrize(
    ("headers", "transient"),
    [({"Retry-After": "1"}, True), ({}, False)],
)
def test_402_is_transient_only_with_retry_after(standin, client, sleep, headers, transient):
    standin.intercept = lambda request: StandinResponse.json(
        402, {"error": {"code": 402, "message": "Insufficient credits"}}, headers
    )
    with pytest.raises(ProviderError) as caught:
        make(standin, client, sleep, max_retries=0).complete(ask())
    assert caught.value.transient is transient
    assert "Insufficient credits" in caught.value.detail


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("5", 5.0),
        (" 1.5 ", 1.5),
        ("-1", None),
        ("soon", None),
        ("", None),
        (None, None),
        ("Wed, 21 Oct 2015 07:28:10 GMT", 10.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
    ],
)
def test_parse_retry_after(value, seconds):
    now = email.utils.parsedate_to_datetime("Wed, 21 Oct 2015 07:28:00 GMT").timestamp()
    assert parse_retry_after(value, now=now) == seconds


# --- outbound URL guard ----------------------------------------------------------------------


def test_default_guard_refuses_loopback_before_any_request(standin, client):
    provider = OpenAICompatibleProvider(
        client=client,
        base_url=standin.base_url,
        model="acme/perfect",
        auth=Auth(),
        timeout=2,
        max_retries=3,
    )
    with pytest.raises(ProviderError, match="loopback") as caught:
        provider.complete(ask())
    assert caught.value.transient is False
    assert standin.requests == []


def test_guard_refuses_a_name_that_resolves_to_a_private_address(client, sleep):
    def rebound(host, port):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", port))]

    provider = OpenAICompatibleProvider(
        client=client,
        base_url="https://models.example.com/v1",
        model="m",
        auth=Auth(),
        timeout=2,
        max_retries=3,
        sleep=sleep,
        url_guard=OutboundGuard(allow_private=False, resolver=rebound),
    )
    with pytest.raises(ProviderError, match=r"resolves to 10\.0\.0\.5") as caught:
        provider.complete(ask())
    assert caught.value.transient is False
    assert sleep.calls == []


def test_a_name_that_does_not_resolve_is_transient(client, sleep):
    def nxdomain(host, port):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    provider = OpenAICompatibleProvider(
        client=client,
        base_url="https://models.example.com/v1",
        model="m",
        auth=Auth(),
        timeout=2,
        max_retries=0,
        url_guard=OutboundGuard(resolver=nxdomain),
    )
    with pytest.raises(ProviderError, match="Could not resolve") as caught:
        provider.complete(ask())
    assert caught.value.transient is True


# --- OpenRouter ------------------------------------------------------------------------------


@pytest.fixture
def openrouter():
    with OpenAIStandin(
        [StandinModel("openai/gpt-oss-120b")], dataset=DATASET, api_key="sk-or-deploy"
    ) as server:
        yield server


def test_openrouter_uses_the_deployment_key_and_attribution_headers(openrouter, client, sleep):
    provider = OpenRouterProvider(
        client=client,
        model="openai/gpt-oss-120b",
        deployment_api_key="sk-or-deploy",
        base_url=openrouter.openrouter_base_url,
        app_url="https://podium.example",
        app_title="Podium",
        timeout=5,
        max_retries=0,
        sleep=sleep,
    )
    completion = provider.complete(ask("Q9"))

    request = openrouter.requests[-1]
    assert request.path == "/api/v1/chat/completions"
    assert request.json()["model"] == "openai/gpt-oss-120b"
    assert request.headers["authorization"] == "Bearer sk-or-deploy"
    assert request.headers["http-referer"] == "https://podium.example"
    assert request.headers["x-openrouter-title"] == "Podium"
    assert request.headers["x-title"] == "Podium"
    assert completion.text == "answer-9"
    assert (completion.cost_usd or 0) > 0


def test_openrouter_prefers_the_models_own_token(openrouter, client):
    provider = OpenRouterProvider(
        client=client,
        model="openai/gpt-oss-120b",
        token="sk-or-model",
        deployment_api_key="sk-or-deploy",
        base_url=openrouter.openrouter_base_url,
        timeout=5,
        max_retries=0,
    )
    with pytest.raises(ProviderError) as caught:  # the stand-in only knows the deployment key
        provider.complete(ask())

    assert openrouter.requests[-1].headers["authorization"] == "Bearer sk-or-model"
    assert (caught.value.status, caught.value.transient) == (401, False)


def test_openrouter_needs_a_model_id(client):
    with pytest.raises(ValueError, match="model id"):
        OpenRouterProvider(client=client, model=" ", timeout=5, max_retries=0)


# --- the stand-in as judge -------------------------------------------------------------------


def judge_request(question: str, answer: str) -> ChatRequest:
    prompt = f"Question: {question}\nReference: {DATASET.get(question, '')}\nAnswer: {answer}"
    return ChatRequest(messages=[{"role": "user", "content": prompt}])


def test_default_judge_scores_the_expected_answer_ten(standin, client, sleep):
    standin.add_model(StandinModel("acme/judge", judge=True))
    judge = make(standin, client, sleep, model="acme/judge")

    right = json.loads(judge.complete(judge_request("Q6", "answer-6")).text)
    wrong = json.loads(judge.complete(judge_request("Q6", WRONG_ANSWER)).text)

    assert right == {"score": 10, "reason": "ok"}
    assert wrong["score"] == 0


def test_default_judge_reads_the_real_judge_prompt(standin, client, sleep):
    from shared.domain.scoring import build_judge_messages

    standin.add_model(StandinModel("acme/judge", judge=True))
    judge = make(standin, client, sleep, model="acme/judge")

    def verdict(answer: str) -> int:
        messages = build_judge_messages(
            input="Question: Q12", answer=answer, reference=DATASET["Q12"], rubric=None
        )
        return int(json.loads(judge.complete(ChatRequest(messages=messages)).text)["score"])

    assert verdict("answer-12") == 10
    assert verdict(WRONG_ANSWER) == 0


def test_judge_behaviour_is_pluggable(standin, client, sleep):
    seen = []

    def judge_fn(messages):
        seen.append(messages)
        return '{"score": 7}'

    standin.judge_fn = judge_fn
    standin.add_model(StandinModel("acme/judge", judge=True))

    text = make(standin, client, sleep, model="acme/judge").complete(judge_request("Q1", "x")).text

    assert text == '{"score": 7}'
    assert seen[0][0]["content"].startswith("Question: Q1")


def test_latency_counts_from_when_the_request_is_sent_not_the_wait_for_a_connection(sleep):
    """Three calls through a pool of one connection to a model that takes 0.4 s: the last
    waits about 0.8 s for the connection, but its latency is the model's, not the wait."""
    from concurrent.futures import ThreadPoolExecutor

    with (
        OpenAIStandin([StandinModel("acme/slow", latency_ms=400)], dataset=DATASET) as server,
        httpcore.ConnectionPool(max_connections=1) as one_connection,
    ):
        # Every thread shares one pool of one connection, so the calls queue for it.
        pool_of_one = ModelHttp(pool=lambda: one_connection)
        provider = make(server, pool_of_one, sleep, model="acme/slow")
        started = time.perf_counter()

        def call(q: str) -> tuple[float, float]:
            completion = provider.complete(ask(q))
            return completion.latency_ms, (time.perf_counter() - started) * 1000

        with ThreadPoolExecutor(3) as threads:
            outcomes = list(threads.map(call, ["Q1", "Q2", "Q3"]))
    walls = sorted(w for _, w in outcomes)
    assert walls[-1] >= 1150  # the last one waited for the two before it
    # Each latency is one model call (0.4 s and loopback), never the queueing.
    assert all(380 <= latency < 1000 for latency, _ in outcomes), outcomes
