"""CloudTasksQueue through the real google-cloud-tasks client, over real gRPC.

Two servers stand in for Cloud Tasks:
- the Cloud Tasks emulator (infra/tasks_emulator.py) keeps tasks as sent and dispatches them,
  so the request the adapter builds is read back from it, and a task is seen arriving at a
  local HTTP server;
- the emulator never answers ALREADY_EXISTS, so a small in-process gRPC server speaking the
  CloudTasks service does, as Cloud Tasks does for a reserved name. That checks the whole
  path: status on the wire -> the client's AlreadyExists -> enqueue returning False.

An emulator that cannot be installed or started fails these tests, as the Firestore emulator
does: a skipped test would hide a broken set-up.
"""

from __future__ import annotations

import contextlib
import json
import threading
import uuid
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc  # type: ignore[import-untyped]
import pytest
from google.api_core import exceptions
from google.cloud import tasks_v2
from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

from infra.tasks_emulator import EmulatorUnavailable, TasksEmulator, tasks_emulator
from shared.tasks.cloud import CloudTasksQueue
from shared.tasks.queue import QUEUE_JUDGE, task_name

PROJECT = "podium-test"
LOCATION = "europe-west1"
INVOKER = "tasks-invoker@podium-test.iam.gserviceaccount.com"
WAIT = 15.0  # a bound for a broken setup, not an expectation


# --- the emulator and a target for its dispatches ----------------------------------------


# pytest runs a failed module fixture again for every test; one failed install is enough.
_UNAVAILABLE: list[str] = []


@pytest.fixture(scope="module")
def tasks_api() -> Iterator[TasksEmulator]:
    with contextlib.ExitStack() as stack:
        if not _UNAVAILABLE:
            try:
                # Few retries: a failing dispatch should not spin in its log for the whole run.
                running = stack.enter_context(tasks_emulator(max_retries=2))
            except EmulatorUnavailable as exc:
                _UNAVAILABLE.append(str(exc))
        if _UNAVAILABLE:
            pytest.fail(f"Cloud Tasks emulator unavailable: {_UNAVAILABLE[0]}")
        yield running


@pytest.fixture(scope="module")
def client(tasks_api: TasksEmulator) -> tasks_v2.CloudTasksClient:
    return tasks_api.client()


@pytest.fixture
def queue_id(client: tasks_v2.CloudTasksClient) -> str:
    """A fresh queue per test: the emulator's state outlives a test."""
    queue_id = f"{QUEUE_JUDGE}-{uuid.uuid4().hex[:8]}"
    parent = f"projects/{PROJECT}/locations/{LOCATION}"
    client.create_queue(
        parent=parent, queue=tasks_v2.Queue(name=client.queue_path(PROJECT, LOCATION, queue_id))
    )
    return queue_id


@dataclass
class Receiver:
    url: str = ""
    # (path, headers with lower-cased names, body)
    received: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, count: int) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: len(self.received) >= count, WAIT)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with state.cond:
                state.received.append(
                    (self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                state.cond.notify_all()
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    yield state
    httpd.shutdown()
    httpd.server_close()


def make_queue(client: tasks_v2.CloudTasksClient, base_url: str, **kwargs: str) -> CloudTasksQueue:
    return CloudTasksQueue(
        client=client,
        project=PROJECT,
        location=LOCATION,
        target_base_url=base_url,
        invoker_service_account=INVOKER,
        **kwargs,
    )


def stored_task(client: tasks_v2.CloudTasksClient, queue_id: str, name: str) -> tasks_v2.Task:
    """The task as the emulator holds it. Its processor briefly takes a not-yet-due task out of
    the list and puts it back, so one listing can miss it; look a few times."""
    full_name = client.task_path(PROJECT, LOCATION, queue_id, name)
    parent = client.queue_path(PROJECT, LOCATION, queue_id)
    for _ in range(50):
        for task in client.list_tasks(parent=parent):
            if task.name == full_name:
                return task
        threading.Event().wait(0.05)
    raise AssertionError(f"{full_name} is not in the emulator")


# --- against the emulator ----------------------------------------------------------------


def test_creates_an_authenticated_json_post_to_the_workers(client, queue_id):
    queue = make_queue(client, "https://workers-abc-ew.a.run.app/")
    name = task_name("run-1", "model-1", "0")
    before = datetime.now(UTC)

    created = queue.enqueue(
        queue=queue_id,
        name=name,
        path="/tasks/inference",
        payload={"run_id": 1, "chunk": 0, "note": "ünïcode"},
        delay_seconds=3600,  # held, not dispatched, so it can be read back
    )
    after = datetime.now(UTC)

    assert created is True
    task = stored_task(client, queue_id, name)
    request = task.http_request
    assert request.http_method == tasks_v2.HttpMethod.POST
    assert request.url == "https://workers-abc-ew.a.run.app/tasks/inference"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.body) == {"run_id": 1, "chunk": 0, "note": "ünïcode"}
    assert request.oidc_token.service_account_email == INVOKER
    assert request.oidc_token.audience == "https://workers-abc-ew.a.run.app"
    eta = task.schedule_time
    assert before + timedelta(seconds=3600) <= eta <= after + timedelta(seconds=3600)


def test_an_explicit_audience_is_used_as_given(client, queue_id):
    queue = make_queue(client, "https://workers.example", audience="https://podium-workers")

    queue.enqueue(queue=queue_id, name="t1", path="/tasks/x", payload={}, delay_seconds=3600)

    oidc = stored_task(client, queue_id, "t1").http_request.oidc_token
    assert oidc.audience == "https://podium-workers"


def test_a_task_reaches_its_target(client, queue_id, receiver):
    queue = make_queue(client, receiver.url)
    name = task_name("run-2", "model-9", "4")

    assert queue.enqueue(queue=queue_id, name=name, path="/tasks/judge", payload={"cell": "9_4"})

    assert receiver.wait_for(1)
    path, headers, body = receiver.received[0]
    assert path == "/tasks/judge"
    assert json.loads(body) == {"cell": "9_4"}
    assert headers["content-type"] == "application/json"
    assert headers["x-cloudtasks-taskname"] == name
    # Cloud Tasks sends the queue id; the emulator sends the full queue path.
    assert headers["x-cloudtasks-queuename"].split("/")[-1] == queue_id
    assert headers["x-cloudtasks-taskretrycount"] == "0"


def test_an_unknown_queue_is_an_error_not_a_duplicate(client):
    queue = make_queue(client, "https://workers.example")

    # Cloud Tasks says NOT_FOUND, the emulator FAILED_PRECONDITION: either way, not False.
    with pytest.raises(exceptions.GoogleAPICallError):
        queue.enqueue(queue="no-such-queue", name="t1", path="/tasks/x", payload={})


# --- against a stub answering as Cloud Tasks does for reserved names ---------------------


@dataclass
class StubCloudTasks:
    """CreateTask only: ALREADY_EXISTS for a name seen before; ``failures`` are answered
    first, one per call."""

    failures: list[grpc.StatusCode] = field(default_factory=list)
    requests: list[tasks_v2.CreateTaskRequest] = field(default_factory=list)
    names: set[str] = field(default_factory=set)

    def create_task(
        self, request: tasks_v2.CreateTaskRequest, context: grpc.ServicerContext
    ) -> tasks_v2.Task:
        self.requests.append(request)
        if self.failures:
            context.abort(self.failures.pop(0), "stub: try again")
        if request.task.name in self.names:
            context.abort(grpc.StatusCode.ALREADY_EXISTS, "Requested entity already exists")
        self.names.add(request.task.name)
        return request.task


@pytest.fixture
def stub() -> Iterator[tuple[StubCloudTasks, tasks_v2.CloudTasksClient]]:
    service = StubCloudTasks()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                "google.cloud.tasks.v2.CloudTasks",
                {
                    "CreateTask": grpc.unary_unary_rpc_method_handler(
                        service.create_task,
                        request_deserializer=tasks_v2.CreateTaskRequest.deserialize,
                        response_serializer=tasks_v2.Task.serialize,
                    )
                },
            ),
        )
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield service, tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))
    channel.close()
    server.stop(grace=None)


def test_a_duplicate_name_returns_false(stub):
    service, client = stub
    queue = make_queue(client, "https://workers.example")
    name = task_name("run-3", "model-1", "0")

    assert queue.enqueue(queue=QUEUE_JUDGE, name=name, path="/tasks/x", payload={"a": 1})
    assert not queue.enqueue(queue=QUEUE_JUDGE, name=name, path="/tasks/x", payload={"a": 1})
    # Another queue, another task.
    assert queue.enqueue(queue="control", name=name, path="/tasks/x", payload={"a": 1})
    assert [r.parent.split("/")[-1] for r in service.requests] == [
        QUEUE_JUDGE,
        QUEUE_JUDGE,
        "control",
    ]


def test_a_transient_failure_is_retried_because_named_tasks_are_idempotent(stub):
    service, client = stub
    service.failures = [grpc.StatusCode.UNAVAILABLE]
    queue = make_queue(client, "https://workers.example")

    assert queue.enqueue(queue=QUEUE_JUDGE, name="t1", path="/tasks/x", payload={})
    assert len(service.requests) == 2


def test_other_errors_propagate(stub):
    service, client = stub
    service.failures = [grpc.StatusCode.PERMISSION_DENIED]
    queue = make_queue(client, "https://workers.example")

    with pytest.raises(exceptions.PermissionDenied):
        queue.enqueue(queue=QUEUE_JUDGE, name="t1", path="/tasks/x", payload={})
    assert len(service.requests) == 1


def test_bad_input_fails_before_any_call(stub):
    service, client = stub
    queue = make_queue(client, "https://workers.example")

    with pytest.raises(ValueError, match="Illegal task name"):
        queue.enqueue(queue=QUEUE_JUDGE, name="runs/1", path="/tasks/x", payload={})
    with pytest.raises(ValueError, match="Illegal queue id"):
        queue.enqueue(queue="judge/x", name="t1", path="/tasks/x", payload={})
    with pytest.raises(ValueError, match="absolute"):
        queue.enqueue(queue=QUEUE_JUDGE, name="t1", path="https://elsewhere/x", payload={})
    assert service.requests == []


def test_tasks_carry_a_dispatch_deadline_long_enough_for_a_slow_chunk(stub):
    service, client = stub
    queue = make_queue(client, "https://workers.example")
    queue.enqueue(queue=QUEUE_JUDGE, name=task_name("run-9"), path="/tasks/x", payload={})
    deadline = service.requests[0].task.dispatch_deadline
    assert deadline == timedelta(seconds=1800)  # Cloud Tasks' maximum; its default is 600 s
    with pytest.raises(ValueError, match="between 15 and 1800"):
        CloudTasksQueue(
            client=client, project=PROJECT, location=LOCATION, target_base_url="https://w",
            invoker_service_account=INVOKER, dispatch_deadline_seconds=3600,
        )  # fmt: skip
