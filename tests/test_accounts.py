"""Signed-in sessions (Firebase Auth emulator), workspaces, members and roles, settings tokens
and the OpenRouter integration, over real HTTP."""

from __future__ import annotations

import json
import time

import pytest
from firebase_admin import auth

from tests.conftest import GET_LEADERBOARD, PROJECT, detail_of
from tests.people import expired_token_for, forged_token, sign_up


@pytest.fixture
def person(base_url):
    return sign_up(base_url, "owner")


def _workspace(person, name="Acme") -> str:
    resp = person.client().post("/api/workspaces", json={"name": name})
    assert resp.status_code == 201, resp.text
    return resp.json()["id"]


def create_leaderboard(client, **overrides):
    resp = client.post("/api/leaderboards", json={**GET_LEADERBOARD, **overrides})
    assert resp.status_code == 201, resp.text
    return resp.json()


def _add(actor, ws_id, who, role):
    return actor.client().post(
        f"/api/workspaces/{ws_id}/members", json={"email": who.email, "role": role}
    )


# --- sessions ------------------------------------------------------------------------------
def test_a_person_creates_a_workspace_and_owns_it(person):
    resp = person.client().post("/api/workspaces", json={"name": "  Acme  "})
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["name"] == "Acme" and body["role"] == "owner" and body["plan"] == "free"
    listed = person.client().get("/api/workspaces").json()["items"]
    assert [(w["id"], w["role"]) for w in listed] == [(body["id"], "owner")]
    members = person.client().get(f"/api/workspaces/{body['id']}/members").json()["items"]
    assert [(m["uid"], m["email"], m["role"]) for m in members] == [
        (person.uid, person.email, "owner")
    ]


@pytest.mark.parametrize("body", [{}, {"name": "   "}, {"name": "x", "plan": "pro"}, []])
def test_bad_workspace_bodies_are_422(person, body):
    resp = person.client().post("/api/workspaces", json=body)
    assert resp.status_code == 422, resp.text
    assert person.client().get("/api/workspaces").json()["items"] == []


def test_an_api_token_cannot_use_session_routes(ws):
    for method, path in [("GET", "/api/workspaces"), ("POST", "/api/workspaces")]:
        resp = ws.http.request(method, path, json={"name": "x"})
        assert resp.status_code == 403
        assert "signed-in session" in detail_of(resp)


def test_bad_expired_revoked_and_disabled_id_tokens_are_401(base_url, container):
    person = sign_up(base_url)
    client = person.client()
    assert client.get("/api/workspaces").status_code == 200

    time.sleep(1.1)  # issued after the account's creation second, so not read as revoked
    expired = expired_token_for(person, PROJECT)
    for bad in ["eyJ.garbage.x", forged_token({"sub": person.uid}), expired]:
        resp = client.get("/api/workspaces", headers={"Authorization": f"Bearer {bad}"})
        assert resp.status_code == 401, (bad, resp.text)
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    resp = client.get("/api/workspaces", headers={"Authorization": f"Bearer {expired}"})
    assert "expired" in detail_of(resp)

    # Revocation is checked against Auth on every request; it counts from the next second.
    auth.revoke_refresh_tokens(person.uid, app=container.identity.app)
    resp = client.get("/api/workspaces")
    assert resp.status_code == 401 and "revoked" in detail_of(resp)

    fresh = sign_up(base_url)
    auth.update_user(fresh.uid, disabled=True, app=container.identity.app)
    resp = fresh.client().get("/api/workspaces")
    assert resp.status_code == 401 and "disabled" in detail_of(resp)


# --- tenancy -------------------------------------------------------------------------------
def test_a_session_works_in_its_only_workspace_like_a_token(person):
    ws_id = _workspace(person)
    lb = create_leaderboard(person.client(), name="by a person")
    listed = person.client().get("/api/leaderboards").json()["items"]
    assert [x["id"] for x in listed] == [lb["id"]]
    assert person.client(ws_id).get(f"/api/leaderboards/{lb['id']}").status_code == 200


def test_x_workspace_id_chooses_among_several_and_non_members_get_404(base_url, person):
    first, second = _workspace(person, "one"), _workspace(person, "two")
    resp = person.client().get("/api/leaderboards")
    assert resp.status_code == 400
    assert "X-Workspace-Id" in detail_of(resp)
    lb = create_leaderboard(person.client(second), name="in two")
    assert person.client(first).get(f"/api/leaderboards/{lb['id']}").status_code == 404
    assert [x["id"] for x in person.client(second).get("/api/leaderboards").json()["items"]] == [
        lb["id"]
    ]

    stranger = sign_up(base_url, "stranger")
    _workspace(stranger, "theirs")
    for ws_id in [second, "ws_doesnotexist", "a/b", "x" * 300]:
        resp = stranger.client(ws_id).get("/api/leaderboards")
        assert resp.status_code == 404, (ws_id, resp.text)
    assert stranger.client(second).get(f"/api/leaderboards/{lb['id']}").status_code == 404
    assert stranger.client().get(f"/api/workspaces/{second}/members").status_code == 404


def test_a_person_with_no_workspace_is_told_to_create_one(person):
    resp = person.client().get("/api/leaderboards")
    assert resp.status_code == 404
    assert "POST /api/workspaces" in detail_of(resp)


# --- roles ---------------------------------------------------------------------------------
def test_role_rules(base_url, person):
    ws_id = _workspace(person)
    admin, member, other = (sign_up(base_url, n) for n in ("admin", "member", "other"))

    assert _add(person, ws_id, admin, "admin").status_code == 201
    assert _add(admin, ws_id, member, "member").status_code == 201
    # Nobody grants above their own role, and members grant nothing.
    resp = _add(admin, ws_id, other, "owner")
    assert resp.status_code == 403 and "cannot grant" in detail_of(resp)
    assert _add(member, ws_id, other, "member").status_code == 403
    # An admin cannot change or remove an owner.
    assert _add(admin, ws_id, person, "member").status_code == 403
    assert admin.client().delete(f"/api/workspaces/{ws_id}/members/{person.uid}").status_code == (
        403
    )
    # Someone who never signed in cannot be added.
    resp = person.client().post(
        f"/api/workspaces/{ws_id}/members", json={"email": "nobody@example.com"}
    )
    assert resp.status_code == 404 and "signed in" in detail_of(resp)
    assert (
        person.client()
        .post(f"/api/workspaces/{ws_id}/members", json={"email": "not an email"})
        .status_code
        == 422
    )
    assert _add(person, ws_id, other, "superuser").status_code == 422

    # Changing a role is the same call; it answers 200.
    resp = _add(person, ws_id, member, "admin")
    assert resp.status_code == 200 and resp.json()["role"] == "admin"
    roles = {
        m["uid"]: m["role"]
        for m in member.client().get(f"/api/workspaces/{ws_id}/members").json()["items"]
    }
    assert roles == {person.uid: "owner", admin.uid: "admin", member.uid: "admin"}

    # Each member sees the workspace, with their own role.
    listed = admin.client().get("/api/workspaces").json()["items"]
    assert [(w["id"], w["role"]) for w in listed] == [(ws_id, "admin")]

    # The last owner can neither leave nor be demoted; after a second owner, they can.
    resp = person.client().delete(f"/api/workspaces/{ws_id}/members/{person.uid}")
    assert resp.status_code == 409 and "last owner" in detail_of(resp)
    assert _add(person, ws_id, person, "admin").status_code == 409
    assert _add(person, ws_id, admin, "owner").status_code == 200
    assert person.client().delete(f"/api/workspaces/{ws_id}/members/{person.uid}").status_code == (
        200
    )
    assert person.client().get(f"/api/workspaces/{ws_id}/members").status_code == 404
    # Anyone may leave; an admin removes a member.
    assert _add(admin, ws_id, other, "member").status_code == 201
    assert other.client().delete(f"/api/workspaces/{ws_id}/members/{other.uid}").status_code == (
        200
    )
    resp = admin.client().delete(f"/api/workspaces/{ws_id}/members/{other.uid}")
    assert resp.status_code == 404


def test_members_use_the_workspace_but_only_managers_change_settings(base_url, person):
    ws_id = _workspace(person)
    member = sign_up(base_url, "member")
    assert _add(person, ws_id, member, "member").status_code == 201
    lb = create_leaderboard(member.client(), name="a member's")
    assert person.client().get(f"/api/leaderboards/{lb['id']}").status_code == 200
    for method, path, body in [
        ("POST", "tokens", {"scopes": ["leaderboards:read"]}),
        ("GET", "tokens", None),
        ("PUT", "integrations/openrouter", {"api_key": "sk-or-v1-abcdefgh12345678"}),
        ("DELETE", "integrations/openrouter", None),
    ]:
        resp = member.client().request(method, f"/api/workspaces/{ws_id}/{path}", json=body)
        assert resp.status_code == 403, (method, path, resp.text)
    assert member.client().get(f"/api/workspaces/{ws_id}/integrations/openrouter").json() == {
        "provider": "openrouter",
        "configured": False,
        "hint": None,
        "updated_at": None,
    }


# --- settings: tokens ----------------------------------------------------------------------
def test_settings_tokens_are_shown_once_scoped_and_revocable(base_url, container, person):
    ws_id = _workspace(person)
    resp = person.client().post(
        f"/api/workspaces/{ws_id}/tokens", json={"name": "ci", "scopes": ["leaderboards:read"]}
    )
    assert resp.status_code == 201, resp.text
    assert resp.headers["Cache-Control"] == "no-store"
    created = resp.json()
    token = created["token"]
    assert token.startswith("podium_") and created["scopes"] == ["leaderboards:read"]
    assert created["created_by"] == f"user:{person.uid}"

    import httpx

    reader = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"})
    assert reader.get("/api/leaderboards").status_code == 200
    assert reader.post("/api/leaderboards", json={}).status_code == 403
    listed = person.client().get(f"/api/workspaces/{ws_id}/tokens").json()["items"]
    assert [t["token_id"] for t in listed] == [created["token_id"]]
    assert token not in json.dumps(listed) and "token" not in listed[0]
    stored = [d.to_dict() for d in container.db.collection("api_tokens").stream()]
    assert token not in json.dumps(stored, default=str)

    for body in [{"scopes": ["nope"]}, {"scopes": []}, {"scopes": ["platform:admin"]}, {}]:
        resp = person.client().post(f"/api/workspaces/{ws_id}/tokens", json=body)
        assert resp.status_code == 422, (body, resp.text)

    resp = person.client().delete(f"/api/workspaces/{ws_id}/tokens/{created['token_id']}")
    assert resp.status_code == 200
    assert reader.get("/api/leaderboards").status_code == 401
    other_ws = _workspace(sign_up(base_url), "other")
    resp = person.client().delete(f"/api/workspaces/{other_ws}/tokens/{created['token_id']}")
    assert resp.status_code == 404


# --- settings: the OpenRouter integration --------------------------------------------------
def test_the_openrouter_key_is_stored_encrypted_and_shown_as_a_hint(container, person):
    ws_id = _workspace(person)
    key = "sk-or-v1-0123456789abcdef0123456789abcdef"
    path = f"/api/workspaces/{ws_id}/integrations/openrouter"
    resp = person.client().put(path, json={"apiKey": key})
    assert resp.status_code == 200, resp.text
    assert resp.json()["hint"] == "***" + key[-4:] and resp.json()["configured"] is True
    got = person.client().get(path)
    assert key not in got.text and got.json()["configured"] is True
    stored = container.db.collection("workspaces").document(ws_id).get().to_dict()
    assert key not in json.dumps(stored, default=str)
    assert container.secrets.decrypt(stored["openrouter"]["key_encrypted"]) == key

    for body in [{}, {"api_key": "short"}, {"api_key": "has a space in it"}, {"key": key}]:
        assert person.client().put(path, json=body).status_code == 422, body
    assert person.client().get(path).json()["hint"] == "***" + key[-4:]

    assert person.client().delete(path).json()["configured"] is False
    assert person.client().get(path).json()["configured"] is False


def test_the_workspace_key_pays_for_its_openrouter_calls(person, stack, hf, llm):
    """Candidates without a token of their own and the judge call OpenRouter with the
    workspace's key; a candidate's own token still comes first."""
    from tests.standins.openai_server import StandinModel
    from tests.test_runs import make_dataset, model

    ws_id = _workspace(person)
    key = "sk-or-v1-workspace-key-0123456789"
    client = person.client()
    assert (
        client.put(
            f"/api/workspaces/{ws_id}/integrations/openrouter", json={"api_key": key}
        ).status_code
        == 200
    )
    url, _ = make_dataset(hf, llm, 3)
    judge = StandinModel(f"judge{time.time_ns()}/j", judge=True)
    llm.add_model(judge)
    lb = create_leaderboard(
        client, dataset_url=url, eval_type="judge", judge_provider="OpenRouter",
        judge_model=judge.name,
    )  # fmt: skip
    plain, own = model(llm, 1.0), model(llm, 1.0)
    for m, token in [(plain, None), (own, "sk-or-v1-own-token-0123456789")]:
        body = {"name": m.name, "platform": "OpenRouter", "model_url": m.name}
        resp = client.post(f"/api/leaderboards/{lb['id']}/models", json=body | {"token": token})
        assert resp.status_code == 201, resp.text

    seen: list[tuple[str, str | None]] = []

    def record(request):
        seen.append(((request.json() or {}).get("model"), request.headers.get("authorization")))
        return

    llm.intercept = record
    try:
        resp = client.post(f"/api/leaderboards/{lb['id']}/run", json={})
        assert resp.status_code == 202, resp.text
        assert stack.dispatcher.join(timeout=120)
    finally:
        llm.intercept = None
    run = client.get(f"/api/leaderboards/{lb['id']}/runs/{resp.json()['id']}").json()
    assert run["status"] == "completed", run
    keys = {m: {a for n, a in seen if n == m} for m in (plain.name, own.name, judge.name)}
    assert keys == {
        plain.name: {f"Bearer {key}"},
        own.name: {"Bearer sk-or-v1-own-token-0123456789"},
        judge.name: {f"Bearer {key}"},
    }
    assert key not in json.dumps(run)
