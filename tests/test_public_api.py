"""The public leaderboard (``../shared/spec/public-leaderboard-api.md``) over real HTTP against
the emulator: categories, agent profiles, who may do what, caching, hostile input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import httpx
import pytest

from tests.conftest import detail_of
from tests.public_helpers import (
    P,
    admin_client,
    counting_reads,
    create_agent,
    create_category,
    new_slug,
    publish,
    stored_run,
)


@pytest.fixture
def admin(container, base_url):
    with admin_client(container, base_url) as client:
        yield client


@pytest.fixture
def anon(base_url):
    with httpx.Client(base_url=base_url, timeout=30) as client:
        yield client


# --- categories ---------------------------------------------------------------------------
def test_category_from_spec_and_its_defaults(admin, anon):
    slug = new_slug()
    body = {
        "slug": slug,
        "name": "Coding Tasks",
        "description": "Programming and code generation benchmarks",
        "scoring_criteria": "Correctness, efficiency, code quality",
        "benchmark_suite": "atp-coding-v2",
        "display_order": 1,
    }
    resp = admin.post(f"{P}/categories", json=body)
    assert resp.status_code == 201, resp.text
    created = resp.json()
    assert isinstance(created["id"], int)
    assert created["is_active"] is True and created["created_at"].endswith("Z")
    got = anon.get(f"{P}/categories/{slug}").json()
    for key, value in body.items():
        assert got[key] == value
    listed = anon.get(f"{P}/categories").json()
    item = next(i for i in listed["items"] if i["slug"] == slug)
    assert set(item) == {
        "id",
        "slug",
        "name",
        "description",
        "display_order",
        "is_active",
        "entry_count",
    }
    assert item["entry_count"] == 0 and listed["total"] == len(listed["items"])


def test_category_errors_read_as_the_spec_says(admin, anon):
    resp = anon.get(f"{P}/categories/invalid-slug")
    assert resp.status_code == 404 and detail_of(resp) == "Category 'invalid-slug' not found"
    resp = anon.get(P, params={"category": "invalid-slug"})
    assert resp.status_code == 404 and detail_of(resp) == "Category 'invalid-slug' not found"
    cat = create_category(admin)
    again = admin.post(f"{P}/categories", json={"slug": cat["slug"], "name": "Other"})
    assert again.status_code == 409
    for bad in ("Has Caps", "-lead", "x" * 65, "a/b", "<script>"):
        assert admin.post(f"{P}/categories", json={"slug": bad, "name": "n"}).status_code == 422
    # A pinned dataset needs both its URL and its hash.
    pin = {"slug": new_slug(), "name": "n", "benchmark_dataset_sha256": "a" * 64}
    assert admin.post(f"{P}/categories", json=pin).status_code == 422


def test_retired_categories_are_hidden_unless_asked_for(admin, anon):
    cat = create_category(admin, display_order=-5)
    resp = admin.patch(f"{P}/categories/{cat['slug']}", json={"is_active": False})
    assert resp.status_code == 200 and resp.json()["is_active"] is False
    active = [i["slug"] for i in anon.get(f"{P}/categories").json()["items"]]
    every = anon.get(f"{P}/categories", params={"active_only": "false"}).json()["items"]
    assert cat["slug"] not in active and cat["slug"] in [i["slug"] for i in every]
    assert [i["display_order"] for i in every] == sorted(i["display_order"] for i in every)
    assert admin.patch(f"{P}/categories/{cat['slug']}", json={"name": None}).status_code == 422
    assert admin.patch(f"{P}/categories/nope-{uuid.uuid4().hex[:6]}", json={}).status_code == 404


# --- agents -------------------------------------------------------------------------------
def test_agent_profile_from_spec(ws, anon):
    body = {
        "name": "My Custom Agent",
        "organization": "My Company",
        "description": "A specialized agent for code review",
        "website_url": "https://mycompany.com",
        "github_url": "https://github.com/mycompany/agent",
    }
    resp = ws.http.post(f"{P}/agents", json=body)
    assert resp.status_code == 201, resp.text
    agent = resp.json()
    assert isinstance(agent["id"], int) and agent["slug"] == "my-custom-agent"
    got = anon.get(f"{P}/agents/{agent['id']}").json()
    for key, value in body.items():
        assert got[key] == value
    assert got["is_verified"] is False and got["verification_badges"] == []
    assert "workspace_id" not in got  # who owns a profile is not public
    patch = {"description": "Updated description", "avatar_url": "https://example.com/a.png"}
    resp = ws.http.patch(f"{P}/agents/{agent['id']}", json=patch)
    assert resp.status_code == 200, resp.text
    assert anon.get(f"{P}/agents/{agent['id']}").json() | patch == resp.json() | patch


def test_only_the_owner_updates_a_profile_and_publishes_as_it(ws, make_workspace, admin, anon):
    agent = create_agent(ws.http, name="Mine")
    other = make_workspace()
    resp = other.http.patch(f"{P}/agents/{agent['id']}", json={"name": "Stolen"})
    assert resp.status_code == 403
    assert anon.get(f"{P}/agents/{agent['id']}").json()["name"] == "Mine"
    cat = create_category(admin)
    run = stored_run(other.container, other.id)
    resp = publish(other.http, run, cat["slug"], agent["id"])
    assert resp.status_code == 403
    board = anon.get(P, params={"category": cat["slug"]}).json()
    assert board["entries"] == [] and board["total_entries"] == 0
    assert other.http.get(f"{P}/my-results").json()["total"] == 0


def test_agent_list_filters_and_pages(ws, admin, anon):
    org = f"Org {uuid.uuid4().hex[:6]}"
    made = [create_agent(ws.http, name=n, organization=org) for n in ("beta", "Alpha", "alpine")]
    resp = anon.get(f"{P}/agents", params={"organization": org.upper()})
    assert [i["name"] for i in resp.json()["items"]] == ["Alpha", "alpine", "beta"]
    assert resp.json()["total"] == 3
    page = anon.get(f"{P}/agents", params={"organization": org, "limit": 2, "offset": 2}).json()
    assert [i["name"] for i in page["items"]] == ["beta"] and page["total"] == 3
    found = anon.get(f"{P}/agents", params={"organization": org, "query": "ALP"}).json()
    assert [i["name"] for i in found["items"]] == ["Alpha", "alpine"]
    assert admin.post(
        f"{P}/verify", json={"agent_id": made[0]["id"], "badge_type": "community"}
    ).is_success
    verified = anon.get(f"{P}/agents", params={"organization": org, "verified_only": True})
    assert [i["name"] for i in verified.json()["items"]] == ["beta"]
    for bad in ({"limit": 0}, {"limit": 101}, {"offset": -1}, {"offset": 10_001}):
        assert anon.get(f"{P}/agents", params=bad).status_code == 422


def test_agent_create_is_idempotent_with_a_key(ws):
    key = {"Idempotency-Key": uuid.uuid4().hex}
    body = {"name": "Once"}
    first = ws.http.post(f"{P}/agents", json=body, headers=key)
    again = ws.http.post(f"{P}/agents", json=body, headers=key)
    assert first.status_code == 201 and again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert ws.http.post(f"{P}/agents", json={"name": "Other"}, headers=key).status_code == 422


def test_badges_are_exactly_the_three_types(ws, admin, anon):
    agent = create_agent(ws.http)
    for badge in ("official", "community", "atp"):
        resp = admin.post(f"{P}/verify", json={"agent_id": agent["id"], "badge_type": badge})
        assert resp.status_code == 200, resp.text
    again = admin.post(
        f"{P}/verify", json={"agent_id": agent["id"], "badge_type": "atp", "label": "ATP team"}
    )
    badges = again.json()["verification_badges"]
    assert [b["type"] for b in badges] == ["official", "community", "atp"]
    assert badges[-1]["label"] == "ATP team" and badges[0]["label"] == "Official"
    assert anon.get(f"{P}/agents/{agent['id']}").json()["is_verified"] is True
    for bad in ("gold", "", None, 1):
        resp = admin.post(f"{P}/verify", json={"agent_id": agent["id"], "badge_type": bad})
        assert resp.status_code == 422, bad
    assert (
        admin.post(f"{P}/verify", json={"agent_id": 10**15, "badge_type": "atp"}).status_code == 404
    )


# --- who may do what ----------------------------------------------------------------------
# (operation, who) -> status, one row per line of the spec's table and per kind of caller:
# anonymous, a workspace token without the scope, with it, and a platform admin.
RBAC = [
    ("view leaderboard", "anonymous", 200),
    ("view categories", "anonymous", 200),
    ("view agent", "anonymous", 200),
    ("publish", "anonymous", 401),
    ("publish", "without scope", 403),
    ("publish", "with scope", 201),
    ("publish", "admin", 403),
    ("create agent", "anonymous", 401),
    ("create agent", "without scope", 403),
    ("create agent", "with scope", 201),
    ("create agent", "admin", 403),
    ("update agent", "anonymous", 401),
    ("update agent", "without scope", 403),
    ("update agent", "with scope", 200),
    ("update agent", "other owner", 403),
    ("update agent", "admin", 403),
    ("add badge", "anonymous", 401),
    ("add badge", "with scope", 403),
    ("add badge", "admin", 200),
    ("manage categories", "anonymous", 401),
    ("manage categories", "with scope", 403),
    ("manage categories", "admin", 201),
    ("verify result", "with scope", 403),
    ("verify result", "admin", 200),
    ("my results", "anonymous", 401),
    ("my results", "with scope", 200),
]
SCOPE_OF = {
    "publish": "results:write",
    "create agent": "agents:write",
    "update agent": "agents:write",
    "my results": "results:write",
}


@pytest.mark.parametrize(("operation", "who", "status"), RBAC)
def test_who_may_do_what(operation, who, status, ws, make_workspace, admin, anon):
    cat = create_category(admin)
    agent = create_agent(ws.http)
    run = stored_run(ws.container, ws.id)
    published = publish(ws.http, stored_run(ws.container, ws.id), cat["slug"], agent["id"])
    needed = SCOPE_OF.get(operation, "results:write")
    all_but = sorted(
        {"leaderboards:read", "leaderboards:write", "results:write", "agents:write"} - {needed}
    )
    clients = {
        "anonymous": anon,
        "without scope": ws.client(ws.token_with(*all_but)),
        "with scope": ws.client(ws.token_with(needed)),
        "other owner": make_workspace().http,
        "admin": admin,
    }
    c = clients[who]
    calls = {
        "view leaderboard": lambda: c.get(P, params={"category": cat["slug"]}),
        "view categories": lambda: c.get(f"{P}/categories"),
        "view agent": lambda: c.get(f"{P}/agents/{agent['id']}"),
        "publish": lambda: publish(c, run, cat["slug"], agent["id"]),
        "create agent": lambda: c.post(f"{P}/agents", json={"name": "x"}),
        "update agent": lambda: c.patch(f"{P}/agents/{agent['id']}", json={"name": "y"}),
        "add badge": lambda: c.post(
            f"{P}/verify", json={"agent_id": agent["id"], "badge_type": "atp"}
        ),
        "manage categories": lambda: c.post(
            f"{P}/categories", json={"slug": new_slug(), "name": "n"}
        ),
        "verify result": lambda: c.post(f"{P}/results/{published.json()['id']}/verify"),
        "my results": lambda: c.get(f"{P}/my-results"),
    }
    resp = calls[operation]()
    assert resp.status_code == status, resp.text
    if status == 403 and who == "without scope":
        assert detail_of(resp) == f"Permission '{needed}' required"
    if status in (401, 403):
        # Nothing changed.
        assert anon.get(f"{P}/agents/{agent['id']}").json()["name"] == agent["name"]
        board = anon.get(P, params={"category": cat["slug"]}).json()
        assert board["total_entries"] == 1 and board["entries"][0]["is_verified"] is False


def test_workspace_tokens_cannot_hold_the_admin_scope():
    from shared.domain.auth import parse_scopes

    with pytest.raises(ValueError, match="unknown scope"):
        parse_scopes("platform:admin")


def test_admin_tokens_from_the_cli(emulator, stack, base_url):
    def cli(*args: str) -> dict:
        out = subprocess.run(
            [sys.executable, "-m", "infra.admin", *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
            env=os.environ.copy(),
        )
        lines = out.stdout.strip().splitlines()
        assert len(lines) == 1, out.stdout
        return dict(json.loads(lines[0]))

    name = f"ops-{uuid.uuid4().hex[:6]}"
    token = cli("create-admin-token", "--name", name)["token"]
    listed = cli("list-admin-tokens")["items"]
    mine = next(t for t in listed if t["name"] == name)
    assert mine["workspace_id"] is None and mine["scopes"] == ["platform:admin"]
    assert "token" not in mine and token not in json.dumps(listed)
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}) as admin:
        assert create_category(admin)["id"] >= 1
        # An admin is no workspace member: the private API is closed to it.
        assert admin.get("/api/leaderboards").status_code == 403
        cli("revoke-admin-token", "--token-id", mine["token_id"])
        resp = admin.post(f"{P}/categories", json={"slug": new_slug(), "name": "n"})
        assert resp.status_code == 401


# --- fast, cacheable reads ----------------------------------------------------------------
def test_public_reads_carry_validators_and_answer_304(admin, anon):
    cat = create_category(admin)
    for path, params in (
        (P, {"category": cat["slug"]}),
        (f"{P}/categories", {}),
        (f"{P}/categories/{cat['slug']}", {}),
        (f"/leaderboard/{cat['slug']}", {}),
    ):
        first = anon.get(path, params=params)
        assert first.status_code == 200
        etag = first.headers["ETag"]
        assert first.headers["Cache-Control"].startswith("public, max-age=")
        again = anon.get(path, params=params, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["ETag"] == etag
        stale = anon.get(path, params=params, headers={"If-None-Match": '"other"'})
        assert stale.status_code == 200
    # A change is a new ETag.
    before = anon.get(P, params={"category": cat["slug"]}).headers["ETag"]
    admin.patch(f"{P}/categories/{cat['slug']}", json={"name": "Renamed"})
    assert anon.get(P, params={"category": cat["slug"]}).headers["ETag"] != before


def test_the_category_list_is_one_read(admin, anon, container):
    create_category(admin)
    with counting_reads(container.db) as reads:
        assert anon.get(f"{P}/categories").status_code == 200
    assert reads.reads == 1


def test_private_reads_are_not_publicly_cacheable(ws):
    resp = ws.http.get(f"{P}/my-results")
    assert resp.status_code == 200 and "ETag" not in resp.headers
    assert "public" not in resp.headers.get("Cache-Control", "")


# --- hostile input ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "data:text/html,<b>x</b>", "//evil.example", "https://"]
)
def test_links_are_http_only(ws, url):
    for field in ("avatar_url", "website_url", "github_url"):
        resp = ws.http.post(f"{P}/agents", json={"name": "x", field: url})
        assert resp.status_code == 422, (field, url)


@pytest.mark.parametrize(
    "path",
    [
        f"{P}/agents/abc",
        f"{P}/agents/-1",
        f"{P}/agents/0",
        f"{P}/agents/99999999999999999999999999",
        f"{P}/categories/__x__",
        f"{P}/history/%0A",
        "/leaderboard/%3Cscript%3E",
    ],
)
def test_bad_ids_are_404_not_500(anon, path):
    resp = anon.get(path)
    assert resp.status_code == 404, resp.text


def test_bad_bodies_and_queries(ws, admin, anon):
    huge = {"name": "x", "description": "y" * 1_100_000}
    assert ws.http.post(f"{P}/agents", json=huge).status_code == 413
    assert ws.http.post(f"{P}/agents", json={"name": "x" * 201}).status_code == 422
    assert ws.http.post(f"{P}/agents", json={"name": ""}).status_code == 422
    assert ws.http.post(f"{P}/agents", json={"name": "x", "owner": "me"}).status_code == 422
    assert ws.http.post(f"{P}/agents", content=b"{nope").status_code == 400
    assert ws.http.post(f"{P}/agents", json=["x"]).status_code == 422
    assert anon.get(P).status_code == 422  # category is required
    for bad in ({"limit": 0}, {"limit": 101}, {"verified_only": "maybe"}):
        assert anon.get(P, params={"category": "x", **bad}).status_code == 422
    assert (
        admin.post(
            f"{P}/categories", json={"slug": new_slug(), "name": "n", "display_order": 10**30}
        ).status_code
        == 422
    )
