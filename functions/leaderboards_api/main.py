"""The private leaderboards API (``../shared/spec/leaderboards-api.md``): leaderboards,
candidate models and the workspace's registered models. Handlers parse, call a service,
respond; everything else lives in ``shared/``."""

from __future__ import annotations

from typing import Any

import flask
import functions_framework

from shared import bootstrap
from shared.boot import boot
from shared.domain.accounts import (
    IntegrationPublic,
    MemberAdd,
    MemberList,
    MemberPublic,
    OpenRouterKey,
    TokenCreate,
    TokenCreated,
    TokenList,
    WorkspaceCreate,
    WorkspaceList,
    WorkspacePublic,
)
from shared.domain.auth import SESSION_SCOPE, Scope
from shared.domain.candidates import (
    CandidateCreate,
    CandidatePublic,
    RegisteredModelCreate,
    RegisteredModelPublic,
)
from shared.domain.catalog import AutoSelectRequest, AutoSelectResult
from shared.domain.events import (
    DatasetStatus,
    DatasetVersionPublic,
    EventPublic,
    EventsPush,
    ImproveAccepted,
    IngestResult,
)
from shared.domain.leaderboards import LeaderboardConfig, LeaderboardPublic, LeaderboardUpdate
from shared.domain.paging import ListQuery, Page
from shared.domain.reviews import ReviewAccepted, ReviewItemPublic, ReviewQuery, ReviewSubmit
from shared.domain.runs import RunCreate, RunPublic, SampleQuery, SampleResult
from shared.domain.views import Deleted, LeaderboardDetail
from shared.http.api import Api, Call, Reply, Route
from shared.http.openapi import openapi_document
from shared.services import accounts as account_service
from shared.services import auto_select as auto_select_service
from shared.services import events as event_service
from shared.services import improve as improve_service
from shared.services import leaderboards as lb_service
from shared.services import models as model_service
from shared.services import reviews as review_service
from shared.services import runs as run_service

boot("leaderboards_api")  # settings checked, logs set up: a bad deployment stops here

READ, WRITE = Scope.LEADERBOARDS_READ.value, Scope.LEADERBOARDS_WRITE.value
RUN = Scope.LEADERBOARDS_RUN.value
PUSH = Scope.DATASETS_PUSH.value
REVIEW = Scope.REVIEWS_WRITE.value


def c() -> bootstrap.Container:
    return bootstrap.container()


def _created(result: tuple[Any, bool]) -> Reply:
    body, created = result
    return Reply(body, 201 if created else 200, {} if created else {"Idempotent-Replayed": "true"})


# --- leaderboards ------------------------------------------------------------------------
def list_leaderboards(call: Call) -> Page[LeaderboardPublic]:
    return lb_service.list_leaderboards(
        leaderboards=c().leaderboards, principal=call.principal, query=call.query(ListQuery)
    )


def create_leaderboard(call: Call) -> Reply:
    return _created(
        lb_service.create_leaderboard(
            leaderboards=c().leaderboards,
            clock=c().clock,
            principal=call.principal,
            body=call.json(),
            context=c().validation_context,
            idempotency_key=call.header("Idempotency-Key"),
        )
    )


def get_leaderboard(call: Call) -> LeaderboardDetail:
    return lb_service.get_leaderboard(
        leaderboards=c().leaderboards,
        runs=c().runs,
        principal=call.principal,
        leaderboard_id=call.params["leaderboard_id"],
        reviews=c().reviews,
    )


def update_leaderboard(call: Call) -> LeaderboardPublic:
    return lb_service.update_leaderboard(
        leaderboards=c().leaderboards,
        clock=c().clock,
        principal=call.principal,
        leaderboard_id=call.params["leaderboard_id"],
        body=call.json(),
        context=c().validation_context,
    )


def delete_leaderboard(call: Call) -> Reply:
    lb_service.delete_leaderboard(
        leaderboards=c().leaderboards,
        principal=call.principal,
        leaderboard_id=call.params["leaderboard_id"],
    )
    return Reply({"deleted": True, "id": call.params["leaderboard_id"]})


# --- candidate models --------------------------------------------------------------------
def list_candidates(call: Call) -> Page[CandidatePublic]:
    return model_service.list_candidates(
        leaderboards=c().leaderboards,
        principal=call.principal,
        leaderboard_id=call.params["leaderboard_id"],
        query=call.query(ListQuery),
    )


def add_candidate(call: Call) -> Reply:
    return _created(
        model_service.add_candidate(
            leaderboards=c().leaderboards,
            secrets=c().secrets,
            clock=c().clock,
            check_url=c().check_url,
            principal=call.principal,
            leaderboard_id=call.params["leaderboard_id"],
            body=call.json(),
            idempotency_key=call.header("Idempotency-Key"),
        )
    )


def remove_candidate(call: Call) -> Reply:
    model_service.remove_candidate(
        leaderboards=c().leaderboards,
        clock=c().clock,
        principal=call.principal,
        leaderboard_id=call.params["leaderboard_id"],
        leaderboard_model_id=call.params["leaderboard_model_id"],
    )
    return Reply({"deleted": True, "id": call.params["leaderboard_model_id"]})


def auto_select(call: Call) -> AutoSelectResult:
    return auto_select_service.auto_select(
        leaderboards=c().leaderboards,
        runs=c().runs,
        catalog=c().catalog,
        secrets=c().secrets,
        clock=c().clock,
        check_url=c().check_url,
        principal=call.principal,
        leaderboard_id=call.params["leaderboard_id"],
        body=call.json(),
        api_key=c().openrouter_key(call.principal.workspace_id),
    )


# --- registered models -------------------------------------------------------------------
def list_models(call: Call) -> Page[RegisteredModelPublic]:
    return model_service.list_registered(
        leaderboards=c().leaderboards, principal=call.principal, query=call.query(ListQuery)
    )


def register_model(call: Call) -> Reply:
    return _created(
        model_service.register_model(
            leaderboards=c().leaderboards,
            secrets=c().secrets,
            clock=c().clock,
            check_url=c().check_url,
            principal=call.principal,
            body=call.json(),
            idempotency_key=call.header("Idempotency-Key"),
        )
    )


def get_model(call: Call) -> RegisteredModelPublic:
    return model_service.get_registered(
        leaderboards=c().leaderboards, principal=call.principal, model_id=call.params["model_id"]
    )


def delete_model(call: Call) -> Reply:
    model_service.delete_registered(
        leaderboards=c().leaderboards, principal=call.principal, model_id=call.params["model_id"]
    )
    return Reply({"deleted": True, "id": call.params["model_id"]})


# --- runs --------------------------------------------------------------------------------
def start_run(call: Call) -> Reply:
    run, created = run_service.start_run(
        leaderboards=c().leaderboards,
        runs=c().runs,
        queue=c().queue,
        clock=c().clock,
        principal=call.principal,
        leaderboard_id=call.params["leaderboard_id"],
        body=call.json(),
        idempotency_key=call.header("Idempotency-Key"),
        openrouter_key_encrypted=account_service.openrouter_key_encrypted(
            workspaces=c().workspaces, workspace_id=call.principal.workspace_id
        ),
    )
    return Reply(run, 202, {} if created else {"Idempotent-Replayed": "true"})


def list_runs(call: Call) -> Page[RunPublic]:
    return run_service.list_runs(
        leaderboards=c().leaderboards,
        runs=c().runs,
        principal=call.principal,
        leaderboard_id=call.params["leaderboard_id"],
        query=call.query(ListQuery),
    )


def get_run(call: Call) -> RunPublic:
    return run_service.get_run(
        runs=c().runs,
        principal=call.principal,
        leaderboard_id=call.params["leaderboard_id"],
        run_id=call.params["run_id"],
        reviews=c().reviews,
    )


def cancel_run(call: Call) -> RunPublic:
    return run_service.cancel_run(
        runs=c().runs,
        clock=c().clock,
        principal=call.principal,
        leaderboard_id=call.params["leaderboard_id"],
        run_id=call.params["run_id"],
    )


def list_samples(call: Call) -> Page[SampleResult]:
    return run_service.list_samples(
        runs=c().runs,
        principal=call.principal,
        leaderboard_id=call.params["leaderboard_id"],
        run_id=call.params["run_id"],
        query=call.query(SampleQuery),
    )


# --- PUSH events and datasets -------------------------------------------------------------
def push_events(call: Call) -> Reply:
    result = event_service.push_events(
        leaderboards=c().leaderboards,
        events=c().events,
        queue=c().queue,
        clock=c().clock,
        principal=call.principal,
        leaderboard_id=call.params["leaderboard_id"],
        body=call.json(empty=None),
    )
    return Reply(result, 202)


def list_events(call: Call) -> Page[EventPublic]:
    return event_service.list_events(
        leaderboards=c().leaderboards,
        events=c().events,
        principal=call.principal,
        leaderboard_id=call.params["leaderboard_id"],
        query=call.query(ListQuery),
    )


def get_dataset(call: Call) -> DatasetStatus:
    return event_service.dataset_status(
        leaderboards=c().leaderboards,
        events=c().events,
        clock=c().clock,
        principal=call.principal,
        leaderboard_id=call.params["leaderboard_id"],
    )


def list_versions(call: Call) -> Page[DatasetVersionPublic]:
    return event_service.list_versions(
        leaderboards=c().leaderboards,
        events=c().events,
        principal=call.principal,
        leaderboard_id=call.params["leaderboard_id"],
        query=call.query(ListQuery),
    )


def improve_dataset(call: Call) -> Reply:
    accepted = improve_service.request_improvement(
        leaderboards=c().leaderboards,
        queue=c().queue,
        principal=call.principal,
        leaderboard_id=call.params["leaderboard_id"],
        idempotency_key=call.header("Idempotency-Key"),
    )
    return Reply(accepted, 202)


# --- human review ----------------------------------------------------------------------------
def list_reviews(call: Call) -> Page[ReviewItemPublic]:
    return review_service.list_reviews(
        leaderboards=c().leaderboards,
        reviews=c().reviews,
        principal=call.principal,
        leaderboard_id=call.params["leaderboard_id"],
        query=dict(call.request.args.items()),
    )


def submit_review(call: Call) -> ReviewAccepted:
    return review_service.submit_review(
        leaderboards=c().leaderboards,
        reviews=c().reviews,
        runs=c().runs,
        queue=c().queue,
        clock=c().clock,
        principal=call.principal,
        leaderboard_id=call.params["leaderboard_id"],
        item_id=call.params["item_id"],
        body=call.json(),
    )


# --- a signed-in person's workspaces and their settings ------------------------------------
def create_workspace(call: Call) -> Reply:
    created = account_service.create_workspace(
        workspaces=c().workspaces, clock=c().clock, principal=call.principal, body=call.json()
    )
    return Reply(created, 201)


def list_workspaces(call: Call) -> WorkspaceList:
    return account_service.list_workspaces(
        workspaces=c().workspaces, memberships=c().memberships, principal=call.principal
    )


def add_member(call: Call) -> Reply:
    member, created = account_service.add_member(
        memberships=c().memberships,
        directory=c().identity,
        clock=c().clock,
        principal=call.principal,
        workspace_id=call.params["workspace_id"],
        body=call.json(),
    )
    return Reply(member, 201 if created else 200)


def list_members(call: Call) -> MemberList:
    return account_service.list_members(
        memberships=c().memberships,
        principal=call.principal,
        workspace_id=call.params["workspace_id"],
    )


def remove_member(call: Call) -> Reply:
    account_service.remove_member(
        memberships=c().memberships,
        principal=call.principal,
        workspace_id=call.params["workspace_id"],
        uid=call.params["uid"],
    )
    return Reply({"deleted": True, "id": call.params["uid"]})


def create_token(call: Call) -> Reply:
    created = account_service.create_token(
        tokens=c().tokens,
        workspaces=c().workspaces,
        memberships=c().memberships,
        clock=c().clock,
        principal=call.principal,
        workspace_id=call.params["workspace_id"],
        body=call.json(),
    )
    # The token is in this body once: no cache may keep it.
    return Reply(created, 201, {"Cache-Control": "no-store"})


def list_tokens(call: Call) -> TokenList:
    return account_service.list_tokens(
        tokens=c().tokens,
        memberships=c().memberships,
        principal=call.principal,
        workspace_id=call.params["workspace_id"],
    )


def revoke_token(call: Call) -> Reply:
    account_service.revoke_token(
        tokens=c().tokens,
        memberships=c().memberships,
        clock=c().clock,
        principal=call.principal,
        workspace_id=call.params["workspace_id"],
        token_id=call.params["token_id"],
    )
    return Reply({"deleted": True, "id": call.params["token_id"]})


def put_openrouter(call: Call) -> IntegrationPublic:
    return account_service.put_openrouter_key(
        workspaces=c().workspaces,
        memberships=c().memberships,
        secrets=c().secrets,
        clock=c().clock,
        principal=call.principal,
        workspace_id=call.params["workspace_id"],
        body=call.json(),
    )


def get_openrouter(call: Call) -> IntegrationPublic:
    return account_service.get_openrouter_key(
        workspaces=c().workspaces,
        memberships=c().memberships,
        principal=call.principal,
        workspace_id=call.params["workspace_id"],
    )


def delete_openrouter(call: Call) -> IntegrationPublic:
    return account_service.delete_openrouter_key(
        workspaces=c().workspaces,
        memberships=c().memberships,
        principal=call.principal,
        workspace_id=call.params["workspace_id"],
    )


# --- service -----------------------------------------------------------------------------
def openapi(call: Call) -> Reply:
    return Reply(openapi_document(title="Podium leaderboards API", version="1", routes=ROUTES))


LB = "/api/leaderboards/<leaderboard_id>"
RUNS = LB + "/runs/<run_id>"
WS = "/api/workspaces/<workspace_id>"
SESSION = SESSION_SCOPE
# fmt: off
ROUTES: list[Route] = [
    # method, path, handler, summary, scope, models, success status, documented errors
    Route("GET", "/api/leaderboards", list_leaderboards, "List leaderboards", READ,
          query=ListQuery, response=Page[LeaderboardPublic], errors=(422,)),
    Route("POST", "/api/leaderboards", create_leaderboard, "Create a leaderboard", WRITE,
          body=LeaderboardConfig, response=LeaderboardPublic, status=201, errors=(402,),
          idempotent=True),
    Route("GET", LB, get_leaderboard, "Get a leaderboard with its challenge, models and runs",
          READ, response=LeaderboardDetail, errors=(404,)),
    Route("PATCH", LB, update_leaderboard, "Update a leaderboard (or send a schedule document)",
          WRITE, body=LeaderboardUpdate, response=LeaderboardPublic, errors=(402, 404)),
    Route("DELETE", LB, delete_leaderboard, "Delete a leaderboard and everything under it",
          WRITE, response=Deleted, errors=(402, 404)),
    Route("GET", LB + "/models", list_candidates, "List candidate models", READ,
          query=ListQuery, response=Page[CandidatePublic], errors=(404, 422)),
    Route("POST", LB + "/models", add_candidate, "Add a candidate model", WRITE,
          body=CandidateCreate, response=CandidatePublic, status=201, errors=(402, 404),
          idempotent=True),
    Route("POST", LB + "/models/auto-select", auto_select,
          "Add candidate models from OpenRouter's catalog (signed-in session)", WRITE,
          body=AutoSelectRequest, response=AutoSelectResult, errors=(400, 402, 403, 404, 503),
          body_required=False),
    Route("DELETE", LB + "/models/<leaderboard_model_id>", remove_candidate,
          "Remove a candidate model", WRITE, response=Deleted, errors=(404,)),
    Route("POST", LB + "/run", start_run, "Run the leaderboard: every model on every sample",
          RUN, body=RunCreate, response=RunPublic, status=202, errors=(404, 409),
          body_required=False, idempotent=True),
    Route("GET", LB + "/runs", list_runs, "List runs, newest first", READ,
          query=ListQuery, response=Page[RunPublic], errors=(404, 422)),
    Route("GET", RUNS, get_run, "Get a run: status, progress, results", READ,
          response=RunPublic, errors=(404,)),
    Route("POST", RUNS + "/cancel", cancel_run, "Cancel a queued or running run", RUN,
          response=RunPublic, errors=(404, 409)),
    Route("GET", RUNS + "/samples", list_samples, "One model's per-sample outputs and scores",
          READ, query=SampleQuery, response=Page[SampleResult], errors=(404, 422)),
    Route("POST", LB + "/events", push_events,
          "Push production events (one, or {events: [...]} with up to 500)", PUSH,
          body=EventsPush, response=IngestResult, status=202, errors=(404, 409, 429)),
    Route("GET", LB + "/events", list_events, "List pushed events, newest first", READ,
          query=ListQuery, response=Page[EventPublic], errors=(404, 422)),
    Route("GET", LB + "/dataset", get_dataset,
          "The dataset: current version, pending events, usage against the limits", READ,
          response=DatasetStatus, errors=(404,)),
    Route("GET", LB + "/dataset/versions", list_versions, "Dataset versions, newest first",
          READ, query=ListQuery, response=Page[DatasetVersionPublic], errors=(404, 422)),
    Route("POST", LB + "/improve-dataset", improve_dataset,
          "Build an improved dataset version (deduplicated, cleaned, auto-labelled)", RUN,
          response=ImproveAccepted, status=202, errors=(404, 409), idempotent=True),
    Route("GET", LB + "/reviews", list_reviews,
          "Blind review items (human runs, judge audits), in a seeded shuffled order",
          (READ, REVIEW), query=ReviewQuery, response=Page[ReviewItemPublic], errors=(404, 422)),
    Route("POST", LB + "/reviews/<item_id>", submit_review,
          "Score an answer 0-10; the same reviewer again replaces their score", REVIEW,
          body=ReviewSubmit, response=ReviewAccepted, errors=(404, 409)),
    Route("GET", "/api/models", list_models, "List registered models", READ,
          query=ListQuery, response=Page[RegisteredModelPublic], errors=(422,)),
    Route("POST", "/api/models", register_model, "Register a model endpoint", WRITE,
          body=RegisteredModelCreate, response=RegisteredModelPublic, status=201,
          idempotent=True),
    Route("GET", "/api/models/<model_id>", get_model, "Get a registered model", READ,
          response=RegisteredModelPublic, errors=(404,)),
    Route("DELETE", "/api/models/<model_id>", delete_model,
          "Delete a registered model (refused while a leaderboard uses it)", WRITE,
          response=Deleted, errors=(404, 409)),
    Route("POST", "/api/workspaces", create_workspace,
          "Create a workspace (signed-in session); the caller owns it", SESSION,
          body=WorkspaceCreate, response=WorkspacePublic, status=201),
    Route("GET", "/api/workspaces", list_workspaces,
          "The caller's workspaces, with their role in each (signed-in session)", SESSION,
          response=WorkspaceList),
    Route("GET", WS + "/members", list_members, "List a workspace's members", SESSION,
          response=MemberList, errors=(404,)),
    Route("POST", WS + "/members", add_member,
          "Add a member by email, or change their role (owners and admins)", SESSION,
          body=MemberAdd, response=MemberPublic, status=201, errors=(403, 404, 409),
          also=((200, "A member already: their role, as changed"),)),
    Route("DELETE", WS + "/members/<uid>", remove_member,
          "Remove a member (owners and admins), or leave", SESSION, response=Deleted,
          errors=(403, 404, 409)),
    Route("GET", WS + "/tokens", list_tokens, "List the workspace's API tokens", SESSION,
          response=TokenList, errors=(403, 404)),
    Route("POST", WS + "/tokens", create_token,
          "Make an API token with chosen scopes; the token is shown once", SESSION,
          body=TokenCreate, response=TokenCreated, status=201, errors=(403, 404, 409)),
    Route("DELETE", WS + "/tokens/<token_id>", revoke_token, "Revoke an API token", SESSION,
          response=Deleted, errors=(403, 404)),
    Route("GET", WS + "/integrations/openrouter", get_openrouter,
          "The workspace's OpenRouter key: whether one is set, and its hint", SESSION,
          response=IntegrationPublic, errors=(404,)),
    Route("PUT", WS + "/integrations/openrouter", put_openrouter,
          "Set the workspace's OpenRouter key (stored encrypted, used for its OpenRouter calls)",
          SESSION, body=OpenRouterKey, response=IntegrationPublic, errors=(403, 404)),
    Route("DELETE", WS + "/integrations/openrouter", delete_openrouter,
          "Remove the workspace's OpenRouter key", SESSION, response=IntegrationPublic,
          errors=(403, 404)),
    Route("GET", "/api/openapi.json", openapi, "This document"),
    bootstrap.HEALTH_ROUTE,
]
# fmt: on

api = Api(
    title="leaderboards_api",
    routes=ROUTES,
    authenticate=lambda: c().authenticate,
    max_body_bytes=lambda: c().settings.max_body_bytes,
)


@functions_framework.http
def leaderboards_api(request: flask.Request) -> flask.Response:
    return api(request)


# functions-framework routes every path to the function through one Flask rule, `/<path:path>`,
# whose `.*` stops at a newline: a path holding one (`%0A`) missed that rule and got Flask's HTML
# 404 without reaching us. Flask's 404 handler hands such requests to the router instead, so
# they get the same JSON 404 as any other unknown resource.
def _unrouted(_exc: Exception) -> flask.Response:
    return api(flask.request)


functions_framework.errorhandler(404)(_unrouted)
