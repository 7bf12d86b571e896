"""The public leaderboard (``../shared/spec/public-leaderboard-api.md``): benchmark categories,
agent profiles, published results, verification and history, plus the pages people read at
``/leaderboard``. Read-heavy and cacheable: public reads need no token, carry ``Cache-Control``
and an ``ETag``, and a board is one document read. Handlers parse, call a service, respond.
"""

from __future__ import annotations

import flask
import functions_framework

from shared import bootstrap
from shared.boot import boot
from shared.domain.auth import ADMIN_SCOPE, Scope
from shared.domain.base import parse
from shared.domain.errors import InvalidInput, NotFound
from shared.domain.public import (
    AgentCreate,
    AgentList,
    AgentPublic,
    AgentQuery,
    AgentUpdate,
    BadgeCreate,
    BoardPublic,
    BoardQuery,
    CategoryCreate,
    CategoryList,
    CategoryPublic,
    CategoryQuery,
    CategoryUpdate,
    HistoryPublic,
    HistoryQuery,
    MyResults,
    MyResultsQuery,
    PublishRequest,
    PublishResponse,
    ResultPublic,
)
from shared.http.api import Api, Call, Reply, Route
from shared.http.caching import cacheable
from shared.http.openapi import openapi_document
from shared.http.pages import board_page, index_page, not_found_page
from shared.services import public_catalog as catalog
from shared.services import publishing

boot("public_api")  # settings checked, logs set up: a bad deployment stops here

RESULTS, AGENTS = Scope.RESULTS_WRITE.value, Scope.AGENTS_WRITE.value
ADMIN = ADMIN_SCOPE


def c() -> bootstrap.Container:
    return bootstrap.container()


# --- public reads ------------------------------------------------------------------------
def get_leaderboard(call: Call) -> BoardPublic:
    return catalog.get_board(public=c().public, query=call.query(BoardQuery))


def list_categories(call: Call) -> CategoryList:
    return catalog.list_categories(public=c().public, query=call.query(CategoryQuery))


def get_category(call: Call) -> CategoryPublic:
    return catalog.get_category(public=c().public, slug=call.params["slug"])


def list_agents(call: Call) -> AgentList:
    return catalog.list_agents(public=c().public, query=call.query(AgentQuery))


def get_agent(call: Call) -> AgentPublic:
    return catalog.get_agent(public=c().public, agent_id=int(call.params["agent_id"]))


def _history_query(call: Call) -> HistoryQuery:
    """``agent_ids`` repeated (``agent_ids=1&agent_ids=2``) or comma-separated (``1,2``)."""
    args = call.request.args
    data: dict[str, object] = {k: v for k, v in args.items() if k != "agent_ids"}
    ids = [p.strip() for v in args.getlist("agent_ids") for p in v.split(",") if p.strip()]
    if ids:
        data["agent_ids"] = ids
    return parse(HistoryQuery, data)


def get_history(call: Call) -> HistoryPublic:
    return publishing.history(
        public=c().public, clock=c().clock, slug=call.params["category"], query=_history_query(call)
    )


# --- workspace writes --------------------------------------------------------------------
def publish_result(call: Call) -> Reply:
    body = publishing.publish(
        public=c().public, clock=c().clock, principal=call.principal, body=call.json()
    )
    return Reply(body, 201)


def my_results(call: Call) -> MyResults:
    return publishing.my_results(
        public=c().public, principal=call.principal, query=call.query(MyResultsQuery)
    )


def create_agent(call: Call) -> Reply:
    agent, created = catalog.create_agent(
        public=c().public,
        clock=c().clock,
        principal=call.principal,
        body=call.json(),
        idempotency_key=call.header("Idempotency-Key"),
    )
    return Reply(agent, 201 if created else 200, {} if created else {"Idempotent-Replayed": "true"})


def update_agent(call: Call) -> AgentPublic:
    return catalog.update_agent(
        public=c().public,
        clock=c().clock,
        principal=call.principal,
        agent_id=int(call.params["agent_id"]),
        body=call.json(),
    )


# --- platform admin ----------------------------------------------------------------------
def create_category(call: Call) -> Reply:
    body = catalog.create_category(
        public=c().public, clock=c().clock, principal=call.principal, body=call.json()
    )
    return Reply(body, 201)


def update_category(call: Call) -> CategoryPublic:
    return catalog.update_category(
        public=c().public, clock=c().clock, slug=call.params["slug"], body=call.json()
    )


def add_badge(call: Call) -> AgentPublic:
    return catalog.add_badge(public=c().public, clock=c().clock, body=call.json())


def verify_result(call: Call) -> ResultPublic:
    return publishing.verify_result(
        public=c().public, clock=c().clock, result_id=int(call.params["result_id"])
    )


# --- pages -------------------------------------------------------------------------------
def _page(html: str, status: int = 200) -> Reply:
    return Reply(html, status, mimetype="text/html")


def categories_page(call: Call) -> Reply:
    listed = catalog.list_categories(public=c().public, query=CategoryQuery(active_only=True))
    return _page(index_page(listed.items))


def category_page(call: Call) -> Reply:
    slug = call.params["slug"]
    try:
        query = parse(BoardQuery, {"category": slug, "limit": 100})
        board = catalog.get_board(public=c().public, query=query)
    except InvalidInput:  # not a slug: names no category
        return _page(not_found_page(f"Category {slug!r} not found"), 404)
    except NotFound as exc:
        return _page(not_found_page(exc.detail), 404)
    trend = publishing.history(
        public=c().public, clock=c().clock, slug=slug, query=HistoryQuery(days=30, limit=8)
    )
    return _page(board_page(board, trend))


# --- service -----------------------------------------------------------------------------
def openapi(call: Call) -> Reply:
    documented = [r for r in ROUTES if not r.path.startswith("/leaderboard")]
    return Reply(
        openapi_document(title="Podium public leaderboard API", version="1", routes=documented)
    )


P = "/api/public/leaderboard"
AGENT = P + "/agents/<int:agent_id>"
# fmt: off
ROUTES: list[Route] = [
    # method, path, handler, summary, scope, models, success status, documented errors
    Route("GET", P, get_leaderboard, "A category's board: each agent's best result, ranked",
          query=BoardQuery, response=BoardPublic, errors=(404, 422)),
    Route("GET", P + "/categories", list_categories, "List benchmark categories",
          query=CategoryQuery, response=CategoryList, errors=(422,)),
    Route("POST", P + "/categories", create_category, "Create a category (platform admin)",
          ADMIN, body=CategoryCreate, response=CategoryPublic, status=201, errors=(409,)),
    Route("GET", P + "/categories/<slug>", get_category, "Get a category",
          response=CategoryPublic, errors=(404,)),
    Route("PATCH", P + "/categories/<slug>", update_category,
          "Update or retire a category (platform admin)", ADMIN, body=CategoryUpdate,
          response=CategoryPublic, errors=(404, 409)),
    Route("GET", P + "/agents", list_agents, "List agent profiles, by name",
          query=AgentQuery, response=AgentList, errors=(422,)),
    Route("POST", P + "/agents", create_agent, "Create an agent profile owned by the workspace",
          AGENTS, body=AgentCreate, response=AgentPublic, status=201, idempotent=True),
    Route("GET", AGENT, get_agent, "Get an agent profile", response=AgentPublic, errors=(404,)),
    Route("PATCH", AGENT, update_agent, "Update an agent profile (its owner only)", AGENTS,
          body=AgentUpdate, response=AgentPublic, errors=(404,)),
    Route("GET", P + "/history/<category>", get_history,
          "Per-agent score and rank by day", query=HistoryQuery, response=HistoryPublic,
          errors=(404, 422)),
    Route("POST", P + "/publish", publish_result,
          "Publish a completed run's result for an agent of the workspace", RESULTS,
          body=PublishRequest, response=PublishResponse, status=201, errors=(404, 409)),
    Route("GET", P + "/my-results", my_results, "Results the workspace published, newest first",
          RESULTS, query=MyResultsQuery, response=MyResults, errors=(422,)),
    Route("POST", P + "/verify", add_badge, "Add a verification badge to an agent (admin)",
          ADMIN, body=BadgeCreate, response=AgentPublic, errors=(404,)),
    Route("POST", P + "/results/<int:result_id>/verify", verify_result,
          "Mark a published result verified (admin)", ADMIN, response=ResultPublic,
          errors=(404,)),
    Route("GET", P + "/openapi.json", openapi, "This document"),
    Route("GET", "/leaderboard", categories_page, "The categories, as a page"),
    Route("GET", "/leaderboard/<slug>", category_page, "A category's board, as a page"),
    bootstrap.HEALTH_ROUTE,
]
# fmt: on

api = Api(
    title="public_api",
    routes=ROUTES,
    authenticate=lambda: c().authenticate,
    max_body_bytes=lambda: c().settings.max_body_bytes,
)


@functions_framework.http
def public_api(request: flask.Request) -> flask.Response:
    response = api(request)
    # Public reads only: a token-bearing read (my-results) is the workspace's own business.
    if "Authorization" not in request.headers and not request.path.endswith("/my-results"):
        return cacheable(request, response)
    return response


# As in leaderboards_api: a path with a newline misses functions-framework's rule; the router
# answers it with the same JSON 404 as any unknown resource.
def _unrouted(_exc: Exception) -> flask.Response:
    return api(flask.request)


functions_framework.errorhandler(404)(_unrouted)
