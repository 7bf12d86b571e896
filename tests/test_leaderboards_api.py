"""The leaderboard resource API: every field rule, alias, default and behaviour."""

from __future__ import annotations

import copy

import pytest

from tests.conftest import (
    GET_LEADERBOARD,
    HF_ENDPOINT,
    PUSH_LEADERBOARD,
    create_leaderboard,
    detail_of,
)

SCHEDULE = {
    "version": 2,
    "triggers": {
        "model_version": {"enabled": True, "cadence": "WEEKLY"},
        "new_data": {"enabled": True, "check_cadence": "DAILY", "every_new_events": 500},
        "cron": {"enabled": True, "preset": "CUSTOM", "expression": "0 6 * * 1"},
    },
    "dataset": {"mode": "LIMIT", "limit": {"auto": False, "rows": 5000, "algorithm": "LAST_N"}},
}


def errors_at(resp, *loc):
    assert resp.status_code == 422, resp.text
    body = resp.json()
    assert isinstance(body["detail"], str) and body["detail"]
    return [e["msg"] for e in body["errors"] if tuple(e["loc"]) == loc]


# --- create -------------------------------------------------------------------------------
def test_create_get_leaderboard_from_spec(ws):
    body = create_leaderboard(ws)
    assert body["id"].startswith("lb_")
    for key, value in GET_LEADERBOARD.items():
        assert body[key] == value
    assert body["judge_auto_decide"] is False
    assert body["status"] == "active"
    assert body["chosen_model_strategy"] == "manual"
    assert body["model_count"] == 0
    assert body["created_at"].endswith("Z")


def test_create_push_leaderboard_from_spec(ws):
    resp = ws.http.post("/api/leaderboards", json=PUSH_LEADERBOARD)
    assert resp.status_code == 201, resp.text
    body = resp.json()
    for key, value in PUSH_LEADERBOARD.items():
        assert body[key] == value
    assert body["dataset_url"] is None


def test_defaults(ws):
    resp = ws.http.post(
        "/api/leaderboards",
        json={
            "name": "n",
            "model_prompt": "{input}",
            "dataset_url": GET_LEADERBOARD["dataset_url"],
        },
    )
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["dataset_type"] == "GET"
    assert body["eval_type"] == "judge"
    assert body["judge_auto_decide"] is True
    assert body["judge_provider"] is None and body["judge_model"] is None
    push = ws.http.post(
        "/api/leaderboards", json={"name": "p", "system_prompt": "{input}", "dataset_type": "PUSH"}
    ).json()
    assert push["max_samples_to_gather"] == 1000
    assert push["daily_event_limit"] == 5000
    assert push["monthly_event_limit"] == 50000
    assert push["consolidate_every_events"] == 500
    assert push["consolidate_every_hours"] == 24
    assert push["dedupe"] is True and push["auto_limit_size"] is True


def test_camel_case_aliases_accepted_responses_snake_case(ws):
    resp = ws.http.post(
        "/api/leaderboards",
        json={
            "name": "camel",
            "systemPrompt": "Q: {input}",
            "modelPrompt": "{input}",
            "datasetType": "PUSH",
            "evalType": "exact",
            "evalMetadata": {"caseSensitive": True, "numericTolerance": 0.01},
            "judgeProvider": "OpenRouter",
            "judgeModel": "openai/gpt-5.2",
            "autoLimitSize": False,
            "maxSamplesToGather": 10,
            "dailyEventLimit": 20,
            "monthlyEventLimit": 30,
            "consolidateEveryEvents": 5,
            "consolidateEveryHours": 2,
            "datasetAutoLabels": True,
            "chosenModelStrategy": "ranking_winner",
        },
    )
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["system_prompt"] == "Q: {input}"
    assert body["eval_metadata"]["case_sensitive"] is True
    assert body["eval_metadata"]["numeric_tolerance"] == 0.01
    assert body["max_samples_to_gather"] == 10
    assert body["chosen_model_strategy"] == "ranking_winner"
    assert body["dataset_auto_labels"] is True
    assert not any(any(c.isupper() for c in k) for k in body)


def test_enums_accept_any_case(ws):
    body = create_leaderboard(
        ws, dataset_type="get", eval_type="EXACT", judge_provider="openrouter"
    )
    assert (body["dataset_type"], body["eval_type"], body["judge_provider"]) == (
        "GET",
        "exact",
        "OpenRouter",
    )


@pytest.mark.parametrize(
    ("overrides", "loc", "fragment"),
    [
        ({"name": None}, ("name",), "valid string"),
        ({"name": ""}, ("name",), "at least 1"),
        ({"name": "x" * 201}, ("name",), "at most 200"),
        ({"system_prompt": None}, ("system_prompt",), "system_prompt or model_prompt is required"),
        ({"system_prompt": "no placeholder"}, ("system_prompt",), "{input}"),
        ({"dataset_type": "FTP"}, ("dataset_type",), "GET"),
        ({"dataset_url": None}, ("dataset_url",), "required when dataset_type is GET"),
        ({"dataset_url": "https://example.com/x.jsonl"}, ("dataset_url",), "Hugging Face"),
        ({"dataset_url": "https://huggingface.co/datasets/a/b/resolve/main/x.jsonl"}, ("dataset_url",), "Hugging Face"),
        (
            {"dataset_url": f"{HF_ENDPOINT}/datasets/acme/e/resolve/main/eval.csv"},
            ("dataset_url",),
            ".jsonl",
        ),
        ({"dataset_url": f"{HF_ENDPOINT}/acme/e/resolve/main/x.jsonl"}, ("dataset_url",), "Hugging Face"),
        ({"eval_type": "vibes"}, ("eval_type",), "exact"),
        ({"judge_model": None}, ("judge_model",), "go together"),
        ({"judge_provider": None}, ("judge_provider",), "go together"),
        ({"judge_provider": "Bedrock"}, ("judge_provider",), "OpenRouter"),
        ({"eval_metadata": {"extract_regex": "("}}, ("eval_metadata", "extract_regex"), "regular expression"),
        ({"eval_metadata": {"numeric_tolerance": -1}}, ("eval_metadata", "numeric_tolerance"), "greater than"),
        ({"eval_metadata": {"case_sensitve": True}}, ("eval_metadata", "case_sensitve"), "unknown field"),
        ({"eval_metadata": {"promotion_margin": 1.5}}, ("eval_metadata", "promotion_margin"), "less than or equal"),
        ({"eval_metadata": {"promotion_margin": -0.1}}, ("eval_metadata", "promotion_margin"), "greater than"),
        ({"eval_metadata": {"promotion_min_paired_n": 1}}, ("eval_metadata", "promotion_min_paired_n"), "greater than"),
        ({"status": "deleted"}, ("status",), "active"),
        ({"chosen_model_strategy": "random"}, ("chosen_model_strategy",), "ranking_winner"),
        ({"chosen_leaderboard_model_id": "lm_x"}, ("chosen_leaderboard_model_id",), "no models yet"),
        ({"constraints": {"k": "v" * 20_000}}, ("constraints",), "larger than"),
        ({"max_samples_to_gather": 0}, ("max_samples_to_gather",), "greater than or equal to 1"),
        ({"consolidate_every_hours": 10_000}, ("consolidate_every_hours",), "less than or equal"),
        ({"whatever": 1}, ("whatever",), "unknown field"),
    ],
)  # fmt: skip
def test_create_field_rules(ws, overrides, loc, fragment):
    body = {**GET_LEADERBOARD, **overrides}
    body = {k: v for k, v in body.items() if v is not None or k in ("name",)}
    if "system_prompt" in overrides and overrides["system_prompt"] is None:
        body.pop("system_prompt", None)
    resp = ws.http.post("/api/leaderboards", json=body)
    msgs = errors_at(resp, *loc)
    assert any(fragment in m for m in msgs), resp.json()
    assert ws.http.get("/api/leaderboards").json()["total"] == 0


def test_push_refuses_dataset_url_and_bad_limits(ws):
    resp = ws.http.post(
        "/api/leaderboards",
        json={**PUSH_LEADERBOARD, "dataset_url": GET_LEADERBOARD["dataset_url"]},
    )
    assert errors_at(resp, "dataset_url")
    resp = ws.http.post(
        "/api/leaderboards",
        json={**PUSH_LEADERBOARD, "daily_event_limit": 100, "monthly_event_limit": 10},
    )
    assert errors_at(resp, "monthly_event_limit")


def test_blob_link_is_stored_as_resolve_url(ws):
    body = create_leaderboard(
        ws,
        dataset_url=f"{HF_ENDPOINT}/datasets/acme/support-evals/blob/main/data/eval.jsonl?download=true",
    )
    assert body["dataset_url"] == (
        f"{HF_ENDPOINT}/datasets/acme/support-evals/resolve/main/data/eval.jsonl"
    )


def test_prompt_in_model_prompt_is_enough(ws):
    body = create_leaderboard(ws, system_prompt="You are terse.", model_prompt="Q: {input}")
    assert body["model_prompt"] == "Q: {input}"


@pytest.mark.parametrize(
    "raw",
    [b"{bad", b"[1, 2]", b'"a string"', b"\xff\xfe", b"null"],
)
def test_malformed_bodies_are_4xx_never_500(ws, raw):
    resp = ws.http.post(
        "/api/leaderboards", content=raw, headers={"Content-Type": "application/json"}
    )
    assert resp.status_code in (400, 422), resp.text
    assert detail_of(resp)


def test_oversized_body_is_413(ws):
    resp = ws.http.post("/api/leaderboards", content=b"{" + b" " * 2_000_000 + b"}")
    assert resp.status_code == 413
    assert "larger" in detail_of(resp)


def test_unknown_route_and_method(ws):
    assert ws.http.get("/api/leaderboards/x/y/z").status_code == 404
    resp = ws.http.put("/api/leaderboards")
    assert resp.status_code == 405
    assert detail_of(resp)


def test_idempotency_key_replays_and_refuses_a_different_body(ws):
    key = {"Idempotency-Key": "create-support-qa-1"}
    first = ws.http.post("/api/leaderboards", json=GET_LEADERBOARD, headers=key)
    again = ws.http.post("/api/leaderboards", json=GET_LEADERBOARD, headers=key)
    assert first.status_code == 201 and again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    other = ws.http.post("/api/leaderboards", json={**GET_LEADERBOARD, "name": "x"}, headers=key)
    assert other.status_code == 422
    assert "different request body" in detail_of(other)
    assert ws.http.get("/api/leaderboards").json()["total"] == 1


# --- list ---------------------------------------------------------------------------------
def test_pagination(ws):
    ids = [create_leaderboard(ws, name=f"lb{i}")["id"] for i in range(5)]
    page = ws.http.get("/api/leaderboards", params={"limit": 2, "offset": 1}).json()
    assert (page["total"], page["limit"], page["offset"]) == (5, 2, 1)
    assert [i["id"] for i in page["items"]] == list(reversed(ids))[1:3]
    default = ws.http.get("/api/leaderboards").json()
    assert default["limit"] == 50 and default["offset"] == 0 and len(default["items"]) == 5
    tail = ws.http.get("/api/leaderboards", params={"offset": 4}).json()
    assert [i["id"] for i in tail["items"]] == [ids[0]]


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": 101}, {"limit": "ten"}, {"offset": -1}, {"offset": 10**6}]
)
def test_pagination_out_of_range_is_422(ws, params):
    resp = ws.http.get("/api/leaderboards", params=params)
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["loc"][0] in params


# --- detail -------------------------------------------------------------------------------
def test_detail_has_challenge_models_and_recent_runs(ws):
    lb = create_leaderboard(ws, eval_metadata={"rubric": "Be kind"})
    ws.http.post(
        f"/api/leaderboards/{lb['id']}/models",
        json={"name": "m", "platform": "OpenRouter", "model_url": "openai/gpt-oss-120b"},
    )
    d = ws.http.get(f"/api/leaderboards/{lb['id']}").json()
    assert d["id"] == lb["id"] and d["name"] == "Support QA"
    assert d["recent_runs"] == []
    assert [m["model_url"] for m in d["models"]] == ["openai/gpt-oss-120b"]
    ch = d["challenge"]
    assert ch["system_prompt"] == GET_LEADERBOARD["system_prompt"]
    assert ch["dataset"] == {
        "type": "GET",
        "url": GET_LEADERBOARD["dataset_url"],
        "metadata": None,
        "auto_labels": False,
        "push": None,
    }
    assert ch["evaluation"]["type"] == "judge"
    assert ch["evaluation"]["judge"] == {
        "provider": "OpenRouter",
        "model": "openai/gpt-5.2",
        "auto": False,
    }
    assert ch["evaluation"]["metadata"]["rubric"] == "Be kind"
    assert ws.http.get("/api/leaderboards/lb_missing").status_code == 404


# --- update -------------------------------------------------------------------------------
def test_patch_spec_example(ws):
    lb = create_leaderboard(ws)
    resp = ws.http.patch(
        f"/api/leaderboards/{lb['id']}",
        json={
            "description": "Production support leaderboard",
            "chosen_model_strategy": "ranking_winner",
        },
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["description"] == "Production support leaderboard"
    assert body["chosen_model_strategy"] == "ranking_winner"
    assert body["name"] == "Support QA"
    assert body["updated_at"] > lb["updated_at"]


def test_patch_every_updatable_field(ws):
    lb = create_leaderboard(ws)
    lm = ws.http.post(
        f"/api/leaderboards/{lb['id']}/models",
        json={"name": "m", "platform": "OpenRouter", "model_url": "a/b"},
    ).json()
    patch = {
        "name": "Renamed",
        "description": "d",
        "status": "paused",
        "dataset_type": "GET",
        "dataset_url": f"{HF_ENDPOINT}/datasets/a/b/resolve/v2/x.jsonl",
        "dataset_metadata": {"input_field": "question", "expected_field": "answer", "note": "kept"},
        "dataset_auto_labels": True,
        "eval_type": "exact",
        "eval_metadata": {"case_sensitive": True},
        "judge_provider": None,
        "judge_model": None,
        "category": "support",
        "constraints": {"max_latency_ms": 2000},
        "model_prompt": "Q: {input}",
        "system_prompt": "Be brief.",
        "chosen_leaderboard_model_id": lm["id"],
        "chosen_model_strategy": "manual",
        "schedule": SCHEDULE,
    }
    resp = ws.http.patch(f"/api/leaderboards/{lb['id']}", json=patch)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    for key, value in patch.items():
        if key in ("schedule", "eval_metadata"):
            continue
        assert body[key] == value, key
    assert body["judge_auto_decide"] is True
    assert body["eval_metadata"]["case_sensitive"] is True
    assert body["schedule"]["triggers"]["cron"]["expression"] == "0 6 * * 1"
    assert body["next_scheduled_at"] is not None
    again = ws.http.get(f"/api/leaderboards/{lb['id']}").json()
    assert again["name"] == "Renamed" and again["chosen_leaderboard_model_id"] == lm["id"]


@pytest.mark.parametrize(
    ("patch", "loc"),
    [
        ({"auto_limit_size": False}, ("auto_limit_size",)),
        ({"id": "lb_other"}, ("id",)),
        ({"model_count": 9}, ("model_count",)),
        ({"workspace_id": "ws_other"}, ("workspace_id",)),
        ({"name": ""}, ("name",)),
        ({"name": None}, ("name",)),
        ({"dataset_url": "https://example.com/x.jsonl"}, ("dataset_url",)),
        ({"dataset_type": "GET", "dataset_url": None}, ("dataset_url",)),
        ({"judge_provider": None}, ("judge_provider",)),
        ({"system_prompt": "no placeholder"}, ("system_prompt",)),
        ({"chosen_leaderboard_model_id": "lm_nope"}, ("chosen_leaderboard_model_id",)),
        ({}, ()),
    ],
)
def test_patch_refusals_change_nothing(ws, patch, loc):
    lb = create_leaderboard(ws)
    before = ws.http.get(f"/api/leaderboards/{lb['id']}").json()
    resp = ws.http.patch(f"/api/leaderboards/{lb['id']}", json=patch)
    assert resp.status_code == 422, resp.text
    assert any(tuple(e["loc"]) == loc for e in resp.json()["errors"]), resp.json()
    assert ws.http.get(f"/api/leaderboards/{lb['id']}").json() == before


def test_patch_camel_case(ws):
    lb = create_leaderboard(ws)
    resp = ws.http.patch(
        f"/api/leaderboards/{lb['id']}",
        json={"chosenModelStrategy": "ranking_winner", "datasetAutoLabels": True},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["chosen_model_strategy"] == "ranking_winner"


def test_switching_to_push_drops_the_file_url_and_back_needs_one(ws):
    lb = create_leaderboard(ws)
    pushed = ws.http.patch(f"/api/leaderboards/{lb['id']}", json={"dataset_type": "PUSH"})
    assert pushed.status_code == 200, pushed.text
    assert pushed.json()["dataset_url"] is None
    back = ws.http.patch(f"/api/leaderboards/{lb['id']}", json={"dataset_type": "GET"})
    assert errors_at(back, "dataset_url")


def test_schedule_as_whole_body(ws):
    lb = create_leaderboard(ws)
    resp = ws.http.patch(f"/api/leaderboards/{lb['id']}", json=SCHEDULE)
    assert resp.status_code == 200, resp.text
    assert resp.json()["schedule"]["dataset"]["limit"]["rows"] == 5000
    assert resp.json()["schedule"]["triggers"]["new_data"]["every_new_events"] == 500
    mixed = ws.http.patch(f"/api/leaderboards/{lb['id']}", json={**SCHEDULE, "name": "x"})
    assert mixed.status_code == 422
    assert "mixed" in detail_of(mixed)


def test_schedule_camel_case_and_presets(ws):
    lb = create_leaderboard(ws)
    resp = ws.http.patch(
        f"/api/leaderboards/{lb['id']}",
        json={"version": 2, "triggers": {"newData": {"enabled": True, "everyNewEvents": 50, "checkCadence": "hourly"}, "cron": {"enabled": True, "preset": "DAILY"}}},
    )  # fmt: skip
    assert resp.status_code == 200, resp.text
    triggers = resp.json()["schedule"]["triggers"]
    assert triggers["new_data"] == {
        "enabled": True,
        "check_cadence": "HOURLY",
        "every_new_events": 50,
    }
    assert triggers["cron"]["expression"] == "0 6 * * *"


def _schedule_with(path, value):
    doc = copy.deepcopy(SCHEDULE)
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


@pytest.mark.parametrize(
    ("path", "value", "loc"),
    [
        (("version",), 1, ("schedule", "version")),
        (("triggers", "model_version", "cadence"), "FORTNIGHTLY", ("schedule", "triggers", "model_version", "cadence")),
        (("triggers", "new_data", "every_new_events"), 0, ("schedule", "triggers", "new_data", "every_new_events")),
        (("triggers", "cron", "expression"), "61 * * * *", ("schedule", "triggers", "cron", "expression")),
        (("triggers", "cron", "expression"), "0 6 * * 1 2026", ("schedule", "triggers", "cron", "expression")),
        (("triggers", "cron", "expression"), "*/5 * * * *", ("schedule", "triggers", "cron", "expression")),
        (("triggers", "cron", "timezone"), "Mars/Olympus", ("schedule", "triggers", "cron", "timezone")),
        (("dataset", "limit", "rows"), 0, ("schedule", "dataset", "limit", "rows")),
        (("dataset", "limit", "algorithm"), "BEST_N", ("schedule", "dataset", "limit", "algorithm")),
        (("dataset", "limit"), None, ("schedule", "dataset", "limit")),
        (("triggers", "surprise"), {}, ("schedule", "triggers", "surprise")),
    ],
)  # fmt: skip
def test_schedule_rules(ws, path, value, loc):
    lb = create_leaderboard(ws)
    resp = ws.http.patch(
        f"/api/leaderboards/{lb['id']}", json={"schedule": _schedule_with(path, value)}
    )
    assert resp.status_code == 422, resp.text
    assert any(tuple(e["loc"]) == loc for e in resp.json()["errors"]), resp.json()
    assert ws.http.get(f"/api/leaderboards/{lb['id']}").json()["schedule"] is None


# --- plans --------------------------------------------------------------------------------
def test_free_plan_cannot_schedule(free_ws):
    lb = create_leaderboard(free_ws)
    for body in ({"schedule": SCHEDULE}, SCHEDULE):
        resp = free_ws.http.patch(f"/api/leaderboards/{lb['id']}", json=body)
        assert resp.status_code == 402, resp.text
        assert resp.json()["entitlement"] == "schedules"
        assert "schedules" in detail_of(resp)
    resp = free_ws.http.post("/api/leaderboards", json={**GET_LEADERBOARD, "schedule": SCHEDULE})
    assert resp.status_code == 402
    assert free_ws.http.get("/api/leaderboards").json()["total"] == 1
    assert free_ws.http.get(f"/api/leaderboards/{lb['id']}").json()["schedule"] is None
    # Clearing a schedule is not a paid feature.
    assert (
        free_ws.http.patch(f"/api/leaderboards/{lb['id']}", json={"schedule": None}).status_code
        == 200
    )


def test_free_plan_cannot_delete(free_ws):
    lb = create_leaderboard(free_ws)
    resp = free_ws.http.delete(f"/api/leaderboards/{lb['id']}")
    assert resp.status_code == 402
    assert resp.json()["entitlement"] == "delete_leaderboards"
    assert free_ws.http.get(f"/api/leaderboards/{lb['id']}").status_code == 200
    assert free_ws.http.delete("/api/leaderboards/lb_missing").status_code == 404


# --- delete -------------------------------------------------------------------------------
def test_delete_removes_everything_under_it(ws):
    lb = create_leaderboard(ws)
    mdl = ws.http.post(
        "/api/models", json={"name": "r", "platform": "OpenRouter", "model_url": "a/b"}
    ).json()
    ws.http.post(f"/api/leaderboards/{lb['id']}/models", json={"name": "x", "model_id": mdl["id"]})
    ws.http.post(
        f"/api/leaderboards/{lb['id']}/models",
        json={"name": "y", "platform": "OpenRouter", "model_url": "c/d"},
    )
    resp = ws.http.delete(f"/api/leaderboards/{lb['id']}")
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"deleted": True, "id": lb["id"]}
    assert ws.http.get(f"/api/leaderboards/{lb['id']}").status_code == 404
    assert ws.http.delete(f"/api/leaderboards/{lb['id']}").status_code == 404
    ref = (
        ws.container.db.collection("workspaces")
        .document(ws.id)
        .collection("leaderboards")
        .document(lb["id"])
    )
    assert list(ref.collection("candidates").stream()) == []
    # The registered model is free again.
    assert ws.http.delete(f"/api/models/{mdl['id']}").status_code == 200
