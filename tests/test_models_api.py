"""Candidate models and the workspace model registry."""

from __future__ import annotations

import json

import pytest

from tests.conftest import create_leaderboard, detail_of

OR_MODEL = {"name": "GPT OSS 120B via OpenRouter", "platform": "OpenRouter", "model_url": "openai/gpt-oss-120b"}  # fmt: skip
SECRET = "sk-live-0123456789abcdefWXYZ"


def add(ws, lb_id, body, **kw):
    return ws.http.post(f"/api/leaderboards/{lb_id}/models", json=body, **kw)


def stored_candidate(ws, lb_id, lm_id):
    return (
        ws.container.db.collection("workspaces").document(ws.id)
        .collection("leaderboards").document(lb_id)
        .collection("candidates").document(lm_id).get().to_dict()
    )  # fmt: skip


def test_add_spec_example_and_list(ws):
    lb = create_leaderboard(ws)
    resp = add(ws, lb["id"], OR_MODEL)
    assert resp.status_code == 201, resp.text
    lm = resp.json()
    assert lm["id"].startswith("lm_")
    assert (lm["name"], lm["platform"], lm["model_url"]) == (
        OR_MODEL["name"],
        "OpenRouter",
        "openai/gpt-oss-120b",
    )
    assert lm["token"] is None and lm["auth_type"] == "bearer"
    listed = ws.http.get(f"/api/leaderboards/{lb['id']}/models").json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == lm["id"]
    assert ws.http.get(f"/api/leaderboards/{lb['id']}").json()["model_count"] == 1


def test_list_candidates_paginates(ws):
    lb = create_leaderboard(ws)
    ids = [add(ws, lb["id"], {**OR_MODEL, "name": f"m{i}"}).json()["id"] for i in range(4)]
    page = ws.http.get(f"/api/leaderboards/{lb['id']}/models", params={"limit": 2, "offset": 2})
    assert page.json()["total"] == 4
    assert [m["id"] for m in page.json()["items"]] == list(reversed(ids))[2:]
    assert (
        ws.http.get(f"/api/leaderboards/{lb['id']}/models", params={"limit": 0}).status_code == 422
    )
    assert ws.http.get("/api/leaderboards/lb_missing/models").status_code == 404


def test_aliases_name_model_name_url(ws):
    lb = create_leaderboard(ws)
    resp = add(
        ws, lb["id"], {"model_name": "a", "platform": "Custom", "url": "http://127.0.0.1:9/v1"}
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["name"] == "a" and resp.json()["model_url"] == "http://127.0.0.1:9/v1"
    resp = add(
        ws,
        lb["id"],
        {"modelName": "b", "platform": "huggingface", "modelUrl": "https://x.endpoints.huggingface.cloud/v1", "authType": "X-API-KEY"},
    )  # fmt: skip
    assert resp.status_code == 201, resp.text
    assert resp.json()["platform"] == "HuggingFace" and resp.json()["auth_type"] == "x-api-key"


def test_openrouter_model_page_url_becomes_its_id(ws):
    lb = create_leaderboard(ws)
    resp = add(ws, lb["id"], {**OR_MODEL, "model_url": "https://openrouter.ai/openai/gpt-oss-120b"})
    assert resp.json()["model_url"] == "openai/gpt-oss-120b"


@pytest.mark.parametrize(
    ("body", "loc", "fragment"),
    [
        ({"platform": "OpenRouter", "model_url": "a/b"}, ("name",), "required"),
        ({"name": "x", "platform": "OpenRouter"}, ("model_url",), "required for OpenRouter"),
        ({"name": "x", "platform": "Custom"}, ("model_url",), "required for Custom"),
        ({"name": "x", "platform": "HuggingFace"}, ("model_url",), "required for HuggingFace"),
        ({"name": "x"}, ("model_id",), "required for Dr.Gero"),
        ({"name": "x", "platform": "OpenRouter", "model_url": "gpt-4"}, ("model_url",), "OpenRouter model id"),
        ({"name": "x", "platform": "Custom", "model_url": "ftp://h/v1"}, ("model_url",), "http(s)"),
        ({"name": "x", "platform": "Custom", "model_url": "http://u:p@h/v1"}, ("model_url",), "credentials"),
        ({"name": "x", "platform": "Custom", "model_url": "http://169.254.169.254/v1"}, ("model_url",), "169.254.169.254"),
        ({"name": "x", "platform": "Custom", "model_url": "http://169.254.10.1/v1"}, ("model_url",), "169.254.10.1"),
        ({"name": "x", "platform": "Bedrock", "model_url": "a/b"}, ("platform",), "OpenRouter"),
        ({**OR_MODEL, "auth_type": "cookie"}, ("auth_type",), "bearer"),
        ({**OR_MODEL, "auth_type": "custom-header"}, ("auth_header_name",), "required"),
        ({**OR_MODEL, "auth_header_name": "X-Key"}, ("auth_header_name",), "only used"),
        ({**OR_MODEL, "auth_type": "custom-header", "auth_header_name": "Bad Header"}, ("auth_header_name",), "header name"),
        ({**OR_MODEL, "auth_type": "custom-header", "auth_header_name": "Host"}, ("auth_header_name",), "cannot carry"),
        ({"name": "x", "model_id": "mdl_1", "model_url": "a/b"}, ("model_url",), "not used for Dr.Gero"),
        ({"name": "x", "model_id": "mdl_1", "token": "t"}, ("token",), "registered token"),
        ({**OR_MODEL, "model_id": "mdl_1"}, ("model_id",), "only used with platform Dr.Gero"),
        ({"name": "x", "model_id": "mdl_missing"}, ("model_id",), "no registered model"),
        ({**OR_MODEL, "parameters": {"temperature": 5}}, ("parameters", "temperature"), "less than"),
        ({**OR_MODEL, "parameters": {"timeout_seconds": 0}}, ("parameters", "timeout_seconds"), "greater than 0"),
        ({**OR_MODEL, "parameters": {"timeout_seconds": 601}}, ("parameters", "timeout_seconds"), "less than or equal to 600"),
        ({**OR_MODEL, "colour": "red"}, ("colour",), "unknown field"),
    ],
)  # fmt: skip
def test_candidate_rules(ws, body, loc, fragment):
    lb = create_leaderboard(ws)
    resp = add(ws, lb["id"], body)
    assert resp.status_code == 422, resp.text
    msgs = [e["msg"] for e in resp.json()["errors"] if tuple(e["loc"]) == loc]
    assert any(fragment in m for m in msgs), resp.json()
    assert ws.http.get(f"/api/leaderboards/{lb['id']}").json()["model_count"] == 0


def test_token_is_encrypted_at_rest_and_never_returned(ws):
    lb = create_leaderboard(ws)
    resp = add(
        ws,
        lb["id"],
        {"name": "c", "platform": "Custom", "model_url": "http://127.0.0.1:9/v1", "token": SECRET, "auth_type": "custom-header", "auth_header_name": "X-Model-Key"},
    )  # fmt: skip
    assert resp.status_code == 201, resp.text
    lm = resp.json()
    assert lm["token"] == "***WXYZ"
    assert lm["auth_header_name"] == "X-Model-Key"
    stored = stored_candidate(ws, lb["id"], lm["id"])
    assert SECRET not in json.dumps(stored, default=str)
    assert ws.container.secrets.decrypt(stored["token_encrypted"]) == SECRET
    for path in (f"/api/leaderboards/{lb['id']}", f"/api/leaderboards/{lb['id']}/models"):
        text = ws.http.get(path).text
        assert SECRET not in text and "token_encrypted" not in text
    short = add(ws, lb["id"], {**OR_MODEL, "token": "abc"}).json()
    assert short["token"] == "***"


def test_remove_candidate_clears_chosen(ws):
    lb = create_leaderboard(ws)
    a = add(ws, lb["id"], OR_MODEL).json()
    ws.http.patch(f"/api/leaderboards/{lb['id']}", json={"chosen_leaderboard_model_id": a["id"]})
    resp = ws.http.delete(f"/api/leaderboards/{lb['id']}/models/{a['id']}")
    assert resp.status_code == 200 and resp.json() == {"deleted": True, "id": a["id"]}
    d = ws.http.get(f"/api/leaderboards/{lb['id']}").json()
    assert d["chosen_leaderboard_model_id"] is None and d["models"] == [] and d["model_count"] == 0
    assert ws.http.delete(f"/api/leaderboards/{lb['id']}/models/{a['id']}").status_code == 404


def test_free_plan_model_limit(free_ws):
    from shared.domain.plans import PLANS

    limit = PLANS["free"].max_models_per_leaderboard
    lb = create_leaderboard(free_ws)
    for i in range(limit):
        assert add(free_ws, lb["id"], {**OR_MODEL, "name": f"m{i}"}).status_code == 201
    resp = add(free_ws, lb["id"], {**OR_MODEL, "name": "one too many"})
    assert resp.status_code == 402
    assert resp.json()["entitlement"] == "max_models_per_leaderboard"
    assert str(limit) in detail_of(resp)
    assert free_ws.http.get(f"/api/leaderboards/{lb['id']}/models").json()["total"] == limit


def test_concurrent_adds_cannot_exceed_the_plan_limit(free_ws):
    import time
    from concurrent.futures import ThreadPoolExecutor

    from shared.domain.plans import PLANS

    limit = PLANS["free"].max_models_per_leaderboard
    lb = create_leaderboard(free_ws)
    # One more writer than the limit allows. (The emulator resolves each lock conflict in ~2 s,
    # so more writers only make the test slow, not stronger.)
    writers = limit + 1
    client = free_ws.client(free_ws.token)
    client.timeout = 120

    def add_like_a_client(i: int) -> int:
        # Contention may answer 503 + Retry-After; a well-behaved client retries (bounded).
        for _ in range(10):
            resp = client.post(
                f"/api/leaderboards/{lb['id']}/models", json={**OR_MODEL, "name": f"m{i}"}
            )
            if resp.status_code != 503:
                return resp.status_code
            assert resp.headers["Retry-After"]
            time.sleep(0.2)
        return 503

    with ThreadPoolExecutor(writers) as pool:
        codes = list(pool.map(add_like_a_client, range(writers)))
    assert codes.count(201) == limit, codes
    assert codes.count(402) == writers - limit, codes
    d = free_ws.http.get(f"/api/leaderboards/{lb['id']}").json()
    assert d["model_count"] == limit == len(d["models"])


def test_idempotent_add(ws):
    lb = create_leaderboard(ws)
    key = {"Idempotency-Key": "k1"}
    first = add(ws, lb["id"], {**OR_MODEL, "token": SECRET}, headers=key)
    again = add(ws, lb["id"], {**OR_MODEL, "token": SECRET}, headers=key)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert ws.http.get(f"/api/leaderboards/{lb['id']}").json()["model_count"] == 1
    assert add(ws, lb["id"], {**OR_MODEL, "name": "other"}, headers=key).status_code == 422
    # The same key on another leaderboard is another request.
    lb2 = create_leaderboard(ws)
    assert add(ws, lb2["id"], OR_MODEL, headers=key).status_code == 201


# --- registry -----------------------------------------------------------------------------
def test_registry_crud_and_dr_gero_candidates(ws):
    resp = ws.http.post(
        "/api/models",
        json={"name": "Our fine-tune", "platform": "Custom", "model_url": "http://127.0.0.1:9/v1/chat/completions", "token": SECRET, "authType": "authorization"},
    )  # fmt: skip
    assert resp.status_code == 201, resp.text
    mdl = resp.json()
    assert mdl["id"].startswith("mdl_") and mdl["token"] == "***WXYZ"
    assert ws.http.get(f"/api/models/{mdl['id']}").json()["name"] == "Our fine-tune"
    assert ws.http.get("/api/models").json()["total"] == 1

    lb = create_leaderboard(ws)
    resp = add(ws, lb["id"], {"name": "FT", "platform": "Dr.Gero", "model_id": mdl["id"]})
    assert resp.status_code == 201, resp.text
    lm = resp.json()
    assert lm["platform"] == "Dr.Gero" and lm["model_id"] == mdl["id"] and lm["model_url"] is None
    # Default platform is Dr.Gero.
    assert add(ws, lb["id"], {"name": "FT2", "model_id": mdl["id"]}).json()["platform"] == "Dr.Gero"

    busy = ws.http.delete(f"/api/models/{mdl['id']}")
    assert busy.status_code == 409 and "2 leaderboard" in detail_of(busy)
    for cand in ws.http.get(f"/api/leaderboards/{lb['id']}/models").json()["items"]:
        ws.http.delete(f"/api/leaderboards/{lb['id']}/models/{cand['id']}")
    assert ws.http.delete(f"/api/models/{mdl['id']}").status_code == 200
    assert ws.http.get(f"/api/models/{mdl['id']}").status_code == 404
    assert ws.http.delete(f"/api/models/{mdl['id']}").status_code == 404


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"platform": "Custom", "model_url": "http://127.0.0.1:9/v1"}, ("name",)),
        ({"name": "x", "platform": "Dr.Gero"}, ("platform",)),
        ({"name": "x", "platform": "Custom"}, ("model_url",)),
        ({"name": "x", "platform": "OpenRouter", "model_url": "nope"}, ("model_url",)),
    ],
)
def test_registry_rules(ws, body, loc):
    resp = ws.http.post("/api/models", json=body)
    assert resp.status_code == 422, resp.text
    assert any(tuple(e["loc"]) == loc for e in resp.json()["errors"]), resp.json()
    assert ws.http.get("/api/models").json()["total"] == 0


def test_private_endpoints_refused_when_not_allowed(container):
    from shared.domain.auth import ALL_SCOPES, Principal
    from shared.domain.errors import InvalidInput
    from shared.providers.url_safety import check_outbound_url
    from shared.services import models

    principal = Principal("ws_private", "pro", ALL_SCOPES, "tok_x")
    for url in ("http://127.0.0.1:9/v1", "http://10.0.0.5/v1", "http://[::1]/v1"):
        with pytest.raises(InvalidInput) as err:
            models.register_model(
                leaderboards=container.leaderboards,
                secrets=container.secrets,
                clock=container.clock,
                check_url=lambda u: check_outbound_url(u, allow_private=False),
                principal=principal,
                body={"name": "x", "platform": "Custom", "model_url": url},
            )
        assert err.value.errors[0].loc == ("model_url",)
