"""GET /api/openapi.json: a valid OpenAPI 3.1 document of every route, from the same models."""

from __future__ import annotations

from openapi_spec_validator import validate

from tests.conftest import create_leaderboard


def test_openapi_document_is_valid_and_complete(ws):
    resp = ws.client(None).get("/api/openapi.json")  # public: no token needed
    assert resp.status_code == 200
    doc = resp.json()
    validate(doc)  # raises on any schema violation
    assert doc["openapi"].startswith("3.1")

    from infra.gateway import ROOT

    routes = _routes(ROOT)
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert documented == routes


def _routes(root):
    """The route table, from main.py loaded as Cloud Run loads it: in an app of its own (the
    module registers a 404 handler on the app being created, so it cannot be executed bare)."""
    import re
    import sys

    import functions_framework

    functions_framework.create_app(
        target="leaderboards_api", source=str(root / "functions" / "leaderboards_api" / "main.py")
    )
    module = sys.modules["main"]  # functions-framework registers the source module as "main"
    return {(r.method, re.sub(r"<([^>]+)>", r"{\1}", r.path)) for r in module.ROUTES}


def test_schemas_come_from_the_handlers_models(ws):
    doc = ws.client(None).get("/api/openapi.json").json()
    create = doc["paths"]["/api/leaderboards"]["post"]
    ref = create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert {"name", "system_prompt", "dataset_url", "judge_model", "schedule"} <= set(
        schema["properties"]
    )
    assert schema["required"] == ["name"]
    patch = doc["paths"]["/api/leaderboards/{leaderboard_id}"]["patch"]
    assert patch["description"] == "Requires `leaderboards:write`."
    assert {"401", "403", "404", "422"} <= set(patch["responses"])
    listing = doc["paths"]["/api/leaderboards"]["get"]
    params = {p["name"]: p for p in listing["parameters"]}
    assert params["limit"]["schema"]["maximum"] == 100


# --- issue 6, finding 3: what Schemathesis and a reader found undocumented or wrong ----------
def _doc(ws):
    return ws.client(None).get("/api/openapi.json").json()


def _schema(doc, ref_holder):
    ref = ref_holder["$ref"]
    return doc["components"]["schemas"][ref.rsplit("/", 1)[1]]


def test_the_run_body_is_optional_and_the_samples_model_id_required(ws):
    doc = _doc(ws)
    run = doc["paths"]["/api/leaderboards/{leaderboard_id}/run"]["post"]
    assert run["requestBody"]["required"] is False
    lb = create_leaderboard(ws, dataset_type="PUSH", dataset_url=None)
    # No body at all is accepted (PUSH without data: 409, not 400/422).
    assert ws.http.post(f"/api/leaderboards/{lb['id']}/run").status_code == 409
    samples = doc["paths"]["/api/leaderboards/{leaderboard_id}/runs/{run_id}/samples"]["get"]
    params = {p["name"]: p for p in samples["parameters"]}
    assert params["model_id"]["required"] is True
    assert params["limit"]["required"] is False


def test_idempotent_replays_and_unavailability_are_documented(ws):
    doc = _doc(ws)
    creates = [
        ("/api/leaderboards", "post", "201"),
        ("/api/leaderboards/{leaderboard_id}/models", "post", "201"),
        ("/api/models", "post", "201"),
        ("/api/leaderboards/{leaderboard_id}/run", "post", "202"),
    ]
    for path, method, status in creates:
        op = doc["paths"][path][method]
        headers = {p["name"] for p in op["parameters"] if p["in"] == "header"}
        assert "Idempotency-Key" in headers, path
        replay = op["responses"]["200" if status == "201" else status]
        assert "Idempotent-Replayed" in replay["headers"], path
        assert replay["content"] == op["responses"][status]["content"], path
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if "security" in op:
                assert "Retry-After" in op["responses"]["503"]["headers"], (method, path)


def test_operations_have_plain_ids_and_tags(ws):
    doc = _doc(ws)
    ops = [op for ops in doc["paths"].values() for op in ops.values()]
    ids = [op["operationId"] for op in ops]
    assert len(set(ids)) == len(ids)
    assert "get_leaderboard" in ids and "create_leaderboard" in ids and "start_run" in ids
    assert not [i for i in ids if i.split("_")[:1] * 2 == i.split("_")[:2]]
    tags = {t["name"] for t in doc["tags"]}
    assert all(len(op["tags"]) == 1 and op["tags"][0] in tags for op in ops)


def test_updates_schedules_runs_and_deletes_are_typed(ws):
    doc = _doc(ws)
    patch = doc["paths"]["/api/leaderboards/{leaderboard_id}"]["patch"]
    update = _schema(doc, patch["requestBody"]["content"]["application/json"]["schema"])
    untyped = [
        name for name, s in update["properties"].items() if not set(s) - {"default", "title"}
    ]
    assert untyped == []
    assert update["minProperties"] == 1
    get = doc["paths"]["/api/leaderboards/{leaderboard_id}"]["get"]
    detail = _schema(doc, get["responses"]["200"]["content"]["application/json"]["schema"])
    schedule = detail["properties"]["schedule"]["anyOf"][0]["$ref"]
    assert schedule.endswith("/ScheduleView")
    assert detail["properties"]["recent_runs"]["items"]["$ref"].endswith("/RunSummary")
    for path, ops in doc["paths"].items():
        if "delete" in ops:
            assert "content" in ops["delete"]["responses"]["200"], path


def test_creates_link_to_what_they_created(ws):
    doc = _doc(ws)
    links = doc["paths"]["/api/leaderboards"]["post"]["responses"]["201"]["links"]
    assert links["GetLeaderboard"] == {
        "operationId": "get_leaderboard",
        "parameters": {"path.leaderboard_id": "$response.body#/id"},
    }
    run = doc["paths"]["/api/leaderboards/{leaderboard_id}/run"]["post"]["responses"]["202"]
    assert run["links"]["ListSamples"]["parameters"] == {
        "path.leaderboard_id": "$request.path.leaderboard_id",
        "path.run_id": "$response.body#/id",
        "query.model_id": "$response.body#/model_ids/0",
    }
