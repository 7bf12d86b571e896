"""Never a 500 for what a client sent (issue 6, finding 2), over real HTTP through the gateway.

Path ids Firestore would refuse read as missing resources (a JSON 404); bodies Firestore could
not store, or that Python cannot even parse, are a 400/422 naming the field. After every refusal
the stored leaderboard is exactly as it was.
"""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import GET_LEADERBOARD, create_leaderboard, detail_of


def raw_request(
    base_url: str, method: str, path: str, token: str, body: bytes | None = None
) -> tuple[int, str, Any]:
    """Send ``path`` byte for byte (an HTTP client would normalise ``..`` or refuse a newline)."""
    url = urlsplit(base_url)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        conn.putheader("Authorization", f"Bearer {token}")
        if body is not None:
            conn.putheader("Content-Type", "application/json")
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        text = resp.read().decode("utf-8", "replace")
        return resp.status, resp.getheader("Content-Type") or "", text
    finally:
        conn.close()


@pytest.fixture
def lb(ws) -> dict[str, Any]:
    created = create_leaderboard(ws, eval_type="exact", constraints={"team": "support"})
    return dict(ws.http.get(f"/api/leaderboards/{created['id']}").json())


def unchanged(ws, lb: dict[str, Any]) -> None:
    assert ws.http.get(f"/api/leaderboards/{lb['id']}").json() == lb


# --- path ids --------------------------------------------------------------------------------
BAD_IDS = [
    "__main__",
    "__x__",
    "%2E",  # "."
    "%2E%2E",  # ".."
    "a%2Fb",  # "/" inside one segment
    "a%0Ab",  # newline
    "%0A",
    "a%00b",  # NUL
    "a%01b",
    "a%7Fb",
    "x" * 1501,
    "%C3%A9" * 751,  # 751 "é": 1502 bytes, 751 characters
]


@pytest.mark.parametrize("bad", BAD_IDS)
@pytest.mark.parametrize(
    ("method", "template"),
    [
        ("GET", "/api/leaderboards/{id}"),
        ("PATCH", "/api/leaderboards/{id}"),
        ("DELETE", "/api/leaderboards/{id}"),
        ("GET", "/api/leaderboards/{id}/models"),
        ("POST", "/api/leaderboards/{id}/run"),
        ("GET", "/api/leaderboards/{lb}/runs/{id}"),
        ("POST", "/api/leaderboards/{lb}/runs/{id}/cancel"),
        ("DELETE", "/api/leaderboards/{lb}/models/{id}"),
        ("GET", "/api/models/{id}"),
        ("DELETE", "/api/models/{id}"),
    ],
)
def test_ids_firestore_refuses_are_a_json_404(ws, lb, base_url, method, template, bad):
    path = template.format(id=bad, lb=lb["id"])
    body = b'{"name": "x"}' if method in ("PATCH", "POST") else None
    status, content_type, text = raw_request(base_url, method, path, ws.token, body)
    assert status == 404, (path[:80], text[:300])
    assert content_type.startswith("application/json"), text[:300]
    assert "detail" in json.loads(text)
    unchanged(ws, lb)


def test_a_newline_in_any_path_of_the_function_is_a_json_404(ws, base_url):
    # Not an id the router matched: functions-framework's own routing used to answer HTML.
    for path in ("/api/leaderboards/a%0Ab/no/such/route", "/api/models/%0A/%0A"):
        status, content_type, text = raw_request(base_url, "GET", path, ws.token)
        assert (status, content_type) == (404, "application/json"), text
        assert "detail" in json.loads(text)


# --- bodies ----------------------------------------------------------------------------------
DEEP = 100_000


def nested(depth: int, leaf: str = "1") -> str:
    return "[" * depth + leaf + "]" * depth


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (nested(DEEP), 400),
        ('{"constraints": {"a": ' + nested(DEEP) + "}}", 400),
        ('{"description": "x", "eval_metadata": ' + '{"a":' * DEEP + "1" + "}" * DEEP + "}", 400),
        ('{"constraints": {"x": NaN}}', 400),
        ('{"constraints": {"x": Infinity}}', 400),
        ('{"eval_metadata": {"numeric_tolerance": -Infinity}}', 400),
    ],
)
def test_unparsable_bodies_are_a_400(ws, lb, raw, status):
    resp = ws.http.patch(
        f"/api/leaderboards/{lb['id']}",
        content=raw.encode(),
        headers={"Content-Type": "application/json"},
    )
    assert resp.status_code == status, resp.text[:300]
    detail_of(resp)
    unchanged(ws, lb)


DEEP_21 = {"a": json.loads(nested(21))}


@pytest.mark.parametrize(
    ("patch", "loc"),
    [
        ({"eval_metadata": {"numeric_tolerance": 1e999}}, ["eval_metadata", "numeric_tolerance"]),
        ({"constraints": {"limit": 1e999}}, ["constraints", "limit"]),
        ({"constraints": {"n": 2**63}}, ["constraints", "n"]),
        ({"constraints": {"n": -(2**63) - 1}}, ["constraints", "n"]),
        ({"constraints": {"n": [1, 10**30]}}, ["constraints", "n", 1]),
        ({"constraints": {"": 1}}, ["constraints", ""]),
        ({"constraints": {"__name__": 1}}, ["constraints", "__name__"]),
        ({"constraints": {"ok": {"__x__": 1}}}, ["constraints", "ok", "__x__"]),
        ({"constraints": {"k" * 1501: 1}}, ["constraints", "k" * 1501]),
        ({"constraints": DEEP_21}, ["constraints", "a"]),
        ({"dataset_metadata": {"__x__": "note"}}, ["dataset_metadata", "__x__"]),
        ({"dataset_metadata": {"notes": DEEP_21}}, ["dataset_metadata", "notes", "a"]),
        ({"eval_metadata": DEEP_21}, ["eval_metadata", "a"]),
        ({"description": "\ud800"}, ["description"]),
        ({"constraints": {"\udfff": 1}}, ["constraints", "\udfff"]),
        (
            {"schedule": {"version": 2, "triggers": {"cron": {"timezone": "a" * 300}}}},
            ["schedule", "triggers", "cron", "timezone"],
        ),
        (
            {"schedule": {"version": 2, "triggers": {"new_data": {"every_new_events": 2**64}}}},
            ["schedule", "triggers", "new_data", "every_new_events"],
        ),
        (
            {"schedule": {"version": 2, "dataset": {"mode": "LIMIT", "limit": {"rows": 1e999}}}},
            ["schedule", "dataset", "limit", "rows"],
        ),
        ({"name": 2**64}, ["name"]),
    ],
    ids=lambda v: json.dumps(v, ensure_ascii=True)[:60] if isinstance(v, dict) else None,
)
def test_values_firestore_cannot_store_are_a_422_naming_the_field(ws, lb, patch, loc):
    # json.dumps writes 1e999 as Infinity; send the literal a client would send instead.
    raw = json.dumps(patch).replace("Infinity", "1e999").encode("utf-8", "surrogatepass")
    resp = ws.http.patch(
        f"/api/leaderboards/{lb['id']}", content=raw, headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == 422, resp.text[:300]
    locs = [e["loc"] for e in resp.json()["errors"]]
    assert loc[: len(locs[0])] == locs[0] or locs[0][: len(loc)] == loc, locs
    unchanged(ws, lb)


@pytest.mark.parametrize(
    "body",
    [
        {**GET_LEADERBOARD, "constraints": {"n": 2**63}},
        {**GET_LEADERBOARD, "dataset_metadata": {"": 1}},
        {**GET_LEADERBOARD, "eval_metadata": {"numeric_tolerance": 1e999}},
    ],
)
def test_creates_refuse_them_too_and_store_nothing(ws, body):
    raw = json.dumps(body).replace("Infinity", "1e999").encode()
    resp = ws.http.post(
        "/api/leaderboards", content=raw, headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == 422, resp.text[:300]
    assert ws.http.get("/api/leaderboards").json()["total"] == 0


@pytest.mark.parametrize(
    ("parameters", "loc"),
    [
        ({"temperature": 1e999}, ["parameters", "temperature"]),
        ({"max_tokens": 2**64}, ["parameters", "max_tokens"]),
        ({"__x__": 1}, ["parameters", "__x__"]),
        ({"model": "m" * 5000}, ["parameters", "model"]),
    ],
)
def test_model_parameters_cannot_smuggle_values_into_firestore(ws, lb, parameters, loc):
    body = {"name": "m", "platform": "OpenRouter", "model_url": "acme/m", "parameters": parameters}
    raw = json.dumps(body).replace("Infinity", "1e999").encode()
    for path in (f"/api/leaderboards/{lb['id']}/models", "/api/models"):
        resp = ws.http.post(path, content=raw, headers={"Content-Type": "application/json"})
        assert resp.status_code == 422, resp.text[:300]
        assert resp.json()["errors"][0]["loc"][:2] == loc[:2]
    assert ws.http.get(f"/api/leaderboards/{lb['id']}/models").json()["total"] == 0
    assert ws.http.get("/api/models").json()["total"] == 0
    unchanged(ws, lb)


def test_query_ids_firestore_refuses_are_refused(ws, lb, base_url):
    for model_id in ("a/b", "x" * 1501, "__x__"):
        resp = ws.http.get(
            f"/api/leaderboards/{lb['id']}/runs/run_missing/samples", params={"model_id": model_id}
        )
        assert resp.status_code in (404, 422), resp.text[:300]
        detail_of(resp)


def test_dotted_and_unicode_keys_that_firestore_stores_are_kept(ws, lb):
    notes = {"a.b": 1, "é": [1, {"k": 2**63 - 1}], "-(2**63)": -(2**63)}
    resp = ws.http.patch(f"/api/leaderboards/{lb['id']}", json={"constraints": notes})
    assert resp.status_code == 200, resp.text
    assert ws.http.get(f"/api/leaderboards/{lb['id']}").json()["constraints"] == notes


BAD_BODY_IDS = ["__x__", "a/b", ".", "..", "x" * 1501, "a\nb"]


@pytest.mark.parametrize("bad", BAD_BODY_IDS, ids=lambda v: v[:8])
def test_ids_in_bodies_the_store_cannot_hold_are_a_422(ws, lb, bad):
    """Ids a body refers to are looked up in the store: one it cannot hold refers to nothing."""
    lm = ws.http.post(
        f"/api/leaderboards/{lb['id']}/models",
        json={"name": "m", "platform": "OpenRouter", "model_url": "acme/m"},
    ).json()["id"]
    current = ws.http.get(f"/api/leaderboards/{lb['id']}").json()
    cases = [
        (
            "PATCH",
            f"/api/leaderboards/{lb['id']}",
            {"chosen_leaderboard_model_id": bad},
            "chosen_leaderboard_model_id",
        ),
        ("POST", f"/api/leaderboards/{lb['id']}/run", {"model_ids": [lm, bad]}, "model_ids"),
        (
            "POST",
            f"/api/leaderboards/{lb['id']}/models",
            {"name": "ref", "platform": "Dr.Gero", "model_id": bad},
            "model_id",
        ),
    ]
    for method, path, body, field in cases:
        resp = ws.http.request(method, path, json=body)
        assert resp.status_code == 422, (path, resp.text[:300])
        assert resp.json()["errors"][0]["loc"][0] == field, resp.text[:300]
    resp = ws.http.get(f"/api/leaderboards/{lb['id']}/runs/run_x/samples", params={"model_id": bad})
    assert resp.status_code == 422, resp.text[:300]
    assert ws.http.get(f"/api/leaderboards/{lb['id']}").json() == current
    assert ws.http.get(f"/api/leaderboards/{lb['id']}/runs").json()["total"] == 0
    assert ws.http.get(f"/api/leaderboards/{lb['id']}/models").json()["total"] == 1
