"""Credentials inside a model URL are kept for calls and never shown (audit, issue 6).

Over real HTTP: every response that shows a ``model_url`` masks secret query values, while a
run still calls the endpoint with the full stored URL.
"""

from __future__ import annotations

import json

import pytest

from shared.domain.redaction import redact_url
from tests.conftest import create_leaderboard
from tests.test_runs import PROMPT, make_dataset, model, run_to_end


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("openai/gpt-oss-120b", "openai/gpt-oss-120b"),
        ("https://h.example/v1", "https://h.example/v1"),
        (
            "https://h.example/v1?api_key=sk-1&api-version=2024-02-01",
            "https://h.example/v1?api_key=***&api-version=2024-02-01",
        ),
        (
            "https://h.example/v1?token=a&key=b&secret=c&signature=d&password=e"
            "&access_token=f&auth=g&q=keep%20me",
            "https://h.example/v1?token=***&key=***&secret=***&signature=***&password=***"
            "&access_token=***&auth=***&q=keep%20me",
        ),
        ("https://h.example/v1?apiKey=1&X-Amz-Signature=2&code=3", None),
        ("https://user:pass@h.example:8443/v1", "https://***@h.example:8443/v1"),
        ("https://tok@h.example/v1?x=1#frag", "https://***@h.example/v1?x=1#frag"),
    ],
)
def test_redact_url(url, shown):
    out = redact_url(url)
    if shown is None:
        assert out is not None and "=1" not in out and "=2" not in out and "=3" not in out
    else:
        assert out == shown


SECRET_QUERY = "api_key=sk-query-0123456789&api-version=2024-02-01"


def test_model_urls_are_redacted_in_responses_and_called_in_full(ws, stack, hf, llm):
    url, _ = make_dataset(hf, llm, 2)
    lb = create_leaderboard(ws, dataset_url=url, system_prompt=PROMPT, eval_type="exact")
    custom, registered = model(llm, 1.0), model(llm, 1.0)
    secret_url = f"{llm.base_url}?{SECRET_QUERY}"
    cand = ws.http.post(
        f"/api/leaderboards/{lb['id']}/models",
        json={"name": "ours", "platform": "Custom", "model_url": secret_url,
              "parameters": {"model": custom.name}},
    )  # fmt: skip
    assert cand.status_code == 201, cand.text
    reg = ws.http.post(
        "/api/models",
        json={"name": "reg", "platform": "Custom", "model_url": f"{llm.base_url}?token=tk-reg-secret",
              "parameters": {"model": registered.name}},
    )  # fmt: skip
    assert reg.status_code == 201, reg.text
    ref = ws.http.post(
        f"/api/leaderboards/{lb['id']}/models", json={"name": "ft", "model_id": reg.json()["id"]}
    )
    assert ref.status_code == 201, ref.text

    assert cand.json()["model_url"] == f"{llm.base_url}?api_key=***&api-version=2024-02-01"
    assert reg.json()["model_url"] == f"{llm.base_url}?token=***"
    run = run_to_end(ws, stack, lb["id"])
    assert run["status"] == "completed", run
    shown = [
        cand.text,
        reg.text,
        ref.text,
        ws.http.get(f"/api/leaderboards/{lb['id']}/models").text,
        ws.http.get(f"/api/leaderboards/{lb['id']}").text,
        ws.http.get("/api/models").text,
        ws.http.get(f"/api/models/{reg.json()['id']}").text,
        ws.http.get(f"/api/leaderboards/{lb['id']}/runs/{run['id']}").text,
        ws.http.get(f"/api/leaderboards/{lb['id']}/runs").text,
    ]
    for text in shown:
        assert "sk-query-0123456789" not in text and "tk-reg-secret" not in text, text

    # The stored URLs still work: the endpoint got the full query on every call.
    calls = [r for r in llm.requests if json.loads(r.body).get("model") == custom.name]
    assert calls and all(
        r.query == {"api_key": "sk-query-0123456789", "api-version": "2024-02-01"} for r in calls
    )
    reg_calls = [r for r in llm.requests if json.loads(r.body).get("model") == registered.name]
    assert reg_calls and all(r.query == {"token": "tk-reg-secret"} for r in reg_calls)
