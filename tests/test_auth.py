"""Tokens, scopes and tenancy, over real HTTP against the emulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import GET_LEADERBOARD, create_leaderboard, detail_of

ROOT = Path(__file__).resolve().parent.parent


def test_missing_token_is_401(ws):
    resp = ws.client(None).get("/api/leaderboards")
    assert resp.status_code == 401
    assert "bearer" in detail_of(resp).lower()
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", ["Bearer podium_nope", "Basic abc", "Bearer", "podium_x"])
def test_unknown_or_malformed_token_is_401(ws, header):
    resp = ws.client(None).get("/api/leaderboards", headers={"Authorization": header})
    assert resp.status_code == 401


def test_token_is_stored_only_as_hash(ws):
    from shared.domain.tokens import hash_token

    db = ws.container.db
    stored = db.collection("api_tokens").document(hash_token(ws.token)).get().to_dict()
    assert stored["workspace_id"] == ws.id
    assert ws.token not in json.dumps(stored, default=str)
    assert stored["token_id"].startswith("tok_")


def test_last_used_is_recorded(ws):
    from shared.domain.tokens import hash_token

    assert ws.http.get("/api/leaderboards").status_code == 200
    stored = ws.container.db.collection("api_tokens").document(hash_token(ws.token)).get()
    assert stored.get("last_used_at") is not None


def test_revoked_token_is_401(ws):
    from shared.domain.tokens import hash_token, token_id_for
    from shared.services import access

    token = ws.token_with("leaderboards:read")
    client = ws.client(token)
    assert client.get("/api/leaderboards").status_code == 200
    access.revoke_token(
        tokens=ws.container.tokens,
        clock=ws.container.clock,
        workspace_id=ws.id,
        token_id=token_id_for(hash_token(token)),
    )
    assert client.get("/api/leaderboards").status_code == 401


ROUTES = [
    ("GET", "/api/leaderboards", "leaderboards:read"),
    ("POST", "/api/leaderboards", "leaderboards:write"),
    ("GET", "/api/leaderboards/{lb}", "leaderboards:read"),
    ("PATCH", "/api/leaderboards/{lb}", "leaderboards:write"),
    ("DELETE", "/api/leaderboards/{lb}", "leaderboards:write"),
    ("GET", "/api/leaderboards/{lb}/models", "leaderboards:read"),
    ("POST", "/api/leaderboards/{lb}/models", "leaderboards:write"),
    ("DELETE", "/api/leaderboards/{lb}/models/lm_x", "leaderboards:write"),
    ("POST", "/api/leaderboards/{lb}/run", "leaderboards:run"),
    ("GET", "/api/leaderboards/{lb}/runs", "leaderboards:read"),
    ("GET", "/api/leaderboards/{lb}/runs/run_x", "leaderboards:read"),
    ("POST", "/api/leaderboards/{lb}/runs/run_x/cancel", "leaderboards:run"),
    ("GET", "/api/leaderboards/{lb}/runs/run_x/samples", "leaderboards:read"),
    ("GET", "/api/models", "leaderboards:read"),
    ("POST", "/api/models", "leaderboards:write"),
    ("GET", "/api/models/mdl_x", "leaderboards:read"),
    ("DELETE", "/api/models/mdl_x", "leaderboards:write"),
]


@pytest.mark.parametrize(("method", "path", "scope"), ROUTES)
def test_every_route_enforces_its_scope(ws, method, path, scope):
    lb = create_leaderboard(ws)
    others = {
        "leaderboards:read",
        "leaderboards:write",
        "leaderboards:run",
        "datasets:push",
        "results:write",
        "agents:write",
    } - {scope}
    client = ws.client(ws.token_with(*others))
    resp = client.request(method, path.format(lb=lb["id"]), json={})
    assert resp.status_code == 403, resp.text
    assert detail_of(resp) == f"Permission '{scope}' required"
    # Refused before anything happened.
    assert ws.http.get(f"/api/leaderboards/{lb['id']}").status_code == 200


def test_read_token_can_read_but_not_write(ws):
    client = ws.client(ws.token_with("leaderboards:read"))
    assert client.get("/api/leaderboards").status_code == 200
    resp = client.post("/api/leaderboards", json=GET_LEADERBOARD)
    assert resp.status_code == 403
    assert ws.http.get("/api/leaderboards").json()["total"] == 0


def test_another_workspace_sees_404_exactly_like_missing(make_workspace):
    owner, intruder = make_workspace("pro"), make_workspace("pro")
    lb = create_leaderboard(owner)
    lm = owner.http.post(
        f"/api/leaderboards/{lb['id']}/models",
        json={"name": "m", "platform": "OpenRouter", "model_url": "openai/gpt-oss-120b"},
    ).json()
    mdl = owner.http.post(
        "/api/models", json={"name": "r", "platform": "OpenRouter", "model_url": "a/b"}
    ).json()
    probes = [
        ("GET", f"/api/leaderboards/{lb['id']}", None),
        ("PATCH", f"/api/leaderboards/{lb['id']}", {"name": "pwned"}),
        ("DELETE", f"/api/leaderboards/{lb['id']}", None),
        ("GET", f"/api/leaderboards/{lb['id']}/models", None),
        ("POST", f"/api/leaderboards/{lb['id']}/models", {"name": "x", "platform": "OpenRouter", "model_url": "a/b"}),
        ("DELETE", f"/api/leaderboards/{lb['id']}/models/{lm['id']}", None),
        ("GET", f"/api/models/{mdl['id']}", None),
        ("DELETE", f"/api/models/{mdl['id']}", None),
    ]  # fmt: skip
    for method, path, body in probes:
        theirs = intruder.http.request(method, path, json=body)
        missing = intruder.http.request(method, path.replace(lb["id"], "lb_missing"), json=body)
        if "/api/models/" in path:
            missing = intruder.http.request(method, "/api/models/mdl_missing", json=body)
        assert theirs.status_code == missing.status_code == 404, (method, path, theirs.text)
        assert theirs.json() == missing.json()
    assert intruder.http.get("/api/leaderboards").json()["total"] == 0
    assert intruder.http.get("/api/models").json()["total"] == 0
    # Nothing of the owner's changed.
    detail = owner.http.get(f"/api/leaderboards/{lb['id']}").json()
    assert detail["name"] == GET_LEADERBOARD["name"]
    assert [m["id"] for m in detail["models"]] == [lm["id"]]
    assert owner.http.get(f"/api/models/{mdl['id']}").status_code == 200


def _admin(container, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ}
    return subprocess.run(
        [sys.executable, "-m", "infra.admin", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_admin_cli_bootstraps_workspace_and_tokens(container, base_url):
    import httpx

    out = _admin(container, "create-workspace", "--name", "Acme", "--plan", "pro")
    assert out.returncode == 0, out.stderr
    created = json.loads(out.stdout.strip())
    assert set(created) == {"workspace_id", "token"}
    ws_id, owner = created["workspace_id"], created["token"]
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {owner}"}) as c:
        assert c.post("/api/leaderboards", json=GET_LEADERBOARD).status_code == 201

    out = _admin(
        container,
        "create-token",
        "--workspace",
        ws_id,
        "--scopes",
        "leaderboards:read",
        "--name",
        "ro",
    )
    assert out.returncode == 0, out.stderr
    ro = json.loads(out.stdout)["token"]
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {ro}"}) as c:
        assert c.get("/api/leaderboards").json()["total"] == 1
        assert c.post("/api/leaderboards", json=GET_LEADERBOARD).status_code == 403

    listed = json.loads(_admin(container, "list-tokens", "--workspace", ws_id).stdout)["items"]
    assert {t["name"] for t in listed} == {"owner", "ro"}
    assert all(ro not in json.dumps(t) and owner not in json.dumps(t) for t in listed)
    ro_id = next(t["token_id"] for t in listed if t["name"] == "ro")

    out = _admin(container, "revoke-token", "--workspace", ws_id, "--token-id", ro_id)
    assert out.returncode == 0, out.stderr
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {ro}"}) as c:
        assert c.get("/api/leaderboards").status_code == 401

    bad = _admin(container, "create-token", "--workspace", ws_id, "--scopes", "leaderboards:fly")
    assert bad.returncode == 2
    assert "unknown scope" in json.loads(bad.stderr)["error"]
    missing = _admin(
        container, "create-token", "--workspace", "ws_nope", "--scopes", "leaderboards:read"
    )
    assert missing.returncode == 2
