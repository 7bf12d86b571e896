"""LocalDispatcher against a real HTTP server on loopback.

The server answers by a per-path script (status, Retry-After, a pause) and records every
delivery. Backoffs are milliseconds, so nothing here is slow, and no assertion depends on
how long anything took: the policy's chosen delays are checked as numbers (each Attempt
records the delay it caused), and ordering, counts and headers are checked as facts.
"""

from __future__ import annotations

import json
import math
import re
import socket
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from shared.tasks.limits import QueueLimits, TokenBucket, parse_retry_after, retry_delay
from shared.tasks.local import LocalDispatcher
from shared.tasks.queue import (
    ALL_QUEUES,
    MAX_PAYLOAD_BYTES,
    QUEUE_CONTROL,
    QUEUE_JUDGE,
    check_task_id,
    task_name,
)

FAST = QueueLimits(
    max_concurrent=2, max_per_second=1000.0, max_attempts=5, min_backoff=0.001, max_backoff=0.01
)
JOIN_TIMEOUT = 30.0  # a bound for a broken dispatcher, not an expectation


# --- the worker stand-in -----------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int = 200
    retry_after: str | None = None
    pause: float = 0.0  # seconds to hold the request, to overlap deliveries


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes

    @property
    def json(self) -> object:
        return json.loads(self.body)


@dataclass
class TaskServer:
    """Records deliveries and answers each path from its script (200 once a script runs out,
    or ``fallback[path]`` when set). ``gate_at`` holds every request until that many are in
    flight at once, which proves the dispatcher really runs that many in parallel."""

    received: list[Received] = field(default_factory=list)
    scripts: dict[str, deque[Reply]] = field(default_factory=dict)
    fallback: dict[str, Reply] = field(default_factory=dict)
    in_flight: int = 0
    max_in_flight: int = 0
    gate_at: int | None = None
    gate: threading.Event = field(default_factory=threading.Event)
    # When set, a handler waits for ``hold`` before answering, and for ``linger`` after its
    # reply is on the wire (the window in which the dispatcher already has the reply while the
    # server thread has not returned).
    hold: threading.Event | None = None
    linger: threading.Event | None = None
    lock: threading.Condition = field(default_factory=threading.Condition)
    url: str = ""

    def script(self, path: str, *replies: Reply) -> None:
        self.scripts[path] = deque(replies)

    def answer(self, path: str, headers: dict[str, str], body: bytes) -> Reply:
        with self.lock:
            self.received.append(Received(path, headers, body))
            self.lock.notify_all()
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            if self.gate_at is not None and self.in_flight >= self.gate_at:
                self.gate.set()
            queue = self.scripts.get(path)
            reply = queue.popleft() if queue else self.fallback.get(path, Reply())
        if self.gate_at is not None:
            self.gate.wait(timeout=5.0)
        if self.hold is not None:
            self.hold.wait(timeout=JOIN_TIMEOUT)
        if reply.pause:
            threading.Event().wait(reply.pause)
        return reply

    def done(self) -> None:
        with self.lock:
            self.in_flight -= 1

    def paths(self) -> list[str]:
        return [r.path for r in self.received]

    def wait_for(self, count: int, timeout: float = JOIN_TIMEOUT) -> bool:
        with self.lock:
            return self.lock.wait_for(lambda: len(self.received) >= count, timeout)


@pytest.fixture
def server() -> Iterator[TaskServer]:
    state = TaskServer()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                reply = state.answer(self.path, headers, body)
            finally:
                # The handler's work ends before its reply leaves: once the reply is sent, the
                # dispatcher may settle and join() return while this thread has not run again.
                state.done()
            self.send_response(reply.status)
            if reply.retry_after is not None:
                self.send_header("Retry-After", reply.retry_after)
            self.send_header("Content-Length", "0")
            self.end_headers()
            if state.linger is not None:
                state.linger.wait(timeout=JOIN_TIMEOUT)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    # A short poll interval only makes shutdown() prompt.
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def make_dispatcher() -> Iterator[object]:
    created: list[LocalDispatcher] = []

    def make(base_url: str, *, start: bool = True, **kwargs: object) -> LocalDispatcher:
        kwargs.setdefault("queues", {QUEUE_JUDGE: FAST, QUEUE_CONTROL: FAST})
        dispatcher = LocalDispatcher(base_url=base_url, **kwargs)  # type: ignore[arg-type]
        created.append(dispatcher)
        if start:
            dispatcher.start()
        return dispatcher

    yield make
    for dispatcher in created:
        assert dispatcher.stop(timeout=10.0), "workers did not exit"


# --- delivery ----------------------------------------------------------------------------


def test_delivers_a_post_with_json_and_cloud_tasks_headers(server, make_dispatcher):
    dispatcher = make_dispatcher(server.url)
    name = task_name("run-1", "model-2", "0")

    assert dispatcher.enqueue(
        queue=QUEUE_JUDGE, name=name, path="/tasks/judge", payload={"run": 1, "ß": "ü"}
    )
    assert dispatcher.join(JOIN_TIMEOUT)

    (got,) = server.received
    assert got.path == "/tasks/judge"
    assert got.json == {"run": 1, "ß": "ü"}
    assert got.headers["content-type"] == "application/json"
    assert got.headers["x-cloudtasks-taskname"] == name
    assert got.headers["x-cloudtasks-queuename"] == QUEUE_JUDGE  # the id, as Cloud Tasks sends
    assert got.headers["x-cloudtasks-taskretrycount"] == "0"
    assert got.headers["x-cloudtasks-taskexecutioncount"] == "0"
    assert math.isfinite(float(got.headers["x-cloudtasks-tasketa"]))
    assert "x-cloudtasks-taskpreviousresponse" not in got.headers
    stats = dispatcher.stats()
    assert stats.queues[QUEUE_JUDGE].created == 1
    assert stats.queues[QUEUE_JUDGE].delivered == 1
    assert [(a.name, a.queue, a.status, a.attempt) for a in stats.attempts] == [
        (name, QUEUE_JUDGE, 200, 1)
    ]


def test_failures_are_retried_with_growing_counts_until_acknowledged(server, make_dispatcher):
    server.script("/tasks/flaky", Reply(404), Reply(500), Reply(200))
    dispatcher = make_dispatcher(server.url)

    assert dispatcher.enqueue(queue=QUEUE_JUDGE, name="t1", path="/tasks/flaky", payload={})
    assert dispatcher.join(JOIN_TIMEOUT)

    headers = [r.headers for r in server.received]
    assert [h["x-cloudtasks-taskretrycount"] for h in headers] == ["0", "1", "2"]
    # Execution count counts responses other than 5xx: the 404 counts, the 500 does not.
    assert [h["x-cloudtasks-taskexecutioncount"] for h in headers] == ["0", "1", "1"]
    assert [h.get("x-cloudtasks-taskpreviousresponse") for h in headers] == [None, "404", "500"]
    attempts = dispatcher.stats().attempts
    assert [(a.attempt, a.status) for a in attempts] == [(1, 404), (2, 500), (3, 200)]
    assert attempts[-1].next_delay is None
    assert dispatcher.stats().queues[QUEUE_JUDGE].retried == 2
    assert dispatcher.stats().queues[QUEUE_JUDGE].delivered == 1


def test_retry_after_on_503_and_429_lengthens_the_wait_up_to_max_backoff(server, make_dispatcher):
    limits = QueueLimits(max_concurrent=1, min_backoff=0.001, max_backoff=0.05, max_attempts=5)
    server.script(
        "/tasks/busy",
        Reply(503, retry_after="1"),
        Reply(429, retry_after="1"),
        Reply(500, retry_after="1"),  # not a back-off request: the queue's backoff applies
        Reply(503),
        Reply(200),
    )
    dispatcher = make_dispatcher(server.url, queues={QUEUE_JUDGE: limits})

    dispatcher.enqueue(queue=QUEUE_JUDGE, name="t1", path="/tasks/busy", payload={})
    assert dispatcher.join(JOIN_TIMEOUT)

    delays = [a.next_delay for a in dispatcher.stats().attempts]
    # Retry-After asked for 1 s; max_backoff caps it at 0.05. Otherwise 0.001 * 2**(n-1).
    assert delays == [0.05, 0.05, pytest.approx(0.004), pytest.approx(0.008), None]


def test_gives_up_after_max_attempts_and_records_the_failure(server, make_dispatcher):
    server.fallback["/tasks/broken"] = Reply(500)
    limits = QueueLimits(max_concurrent=1, max_attempts=3, min_backoff=0.001, max_backoff=0.01)
    dispatcher = make_dispatcher(server.url, queues={QUEUE_CONTROL: limits})

    dispatcher.enqueue(queue=QUEUE_CONTROL, name="doomed", path="/tasks/broken", payload={})
    assert dispatcher.join(JOIN_TIMEOUT)

    assert server.paths() == ["/tasks/broken"] * 3
    stats = dispatcher.stats()
    assert stats.queues[QUEUE_CONTROL].failed == 1
    assert stats.queues[QUEUE_CONTROL].retried == 2
    assert stats.queues[QUEUE_CONTROL].delivered == 0
    assert stats.failed_tasks == ((QUEUE_CONTROL, "doomed"),)
    assert [a.next_delay is None for a in stats.attempts] == [False, False, True]


def test_no_response_is_a_failure_like_any_other(make_dispatcher):
    with socket.socket() as sock:  # a port that was free a moment ago refuses connections
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    limits = QueueLimits(max_concurrent=1, max_attempts=2, min_backoff=0.001, max_backoff=0.01)
    dispatcher = make_dispatcher(f"http://127.0.0.1:{closed_port}", queues={QUEUE_JUDGE: limits})

    dispatcher.enqueue(queue=QUEUE_JUDGE, name="t1", path="/tasks/x", payload={})
    assert dispatcher.join(JOIN_TIMEOUT)

    assert [a.status for a in dispatcher.stats().attempts] == [None, None]
    assert dispatcher.stats().failed_tasks == ((QUEUE_JUDGE, "t1"),)


# --- names -------------------------------------------------------------------------------


def test_a_duplicate_name_is_refused_and_delivered_once(server, make_dispatcher):
    dispatcher = make_dispatcher(server.url)
    name = task_name("run-7", "model-1", "3")

    assert dispatcher.enqueue(queue=QUEUE_JUDGE, name=name, path="/tasks/a", payload={"n": 1})
    assert not dispatcher.enqueue(queue=QUEUE_JUDGE, name=name, path="/tasks/a", payload={"n": 2})
    assert dispatcher.join(JOIN_TIMEOUT)
    # Still reserved after it finished, as Cloud Tasks keeps a name for about an hour.
    assert not dispatcher.enqueue(queue=QUEUE_JUDGE, name=name, path="/tasks/a", payload={})
    assert dispatcher.join(JOIN_TIMEOUT)

    assert [r.json for r in server.received] == [{"n": 1}]
    assert dispatcher.stats().queues[QUEUE_JUDGE].duplicates == 2
    # The same name in another queue is another task.
    assert dispatcher.enqueue(queue=QUEUE_CONTROL, name=name, path="/tasks/a", payload={})


def test_a_finished_name_is_free_again_after_the_retention(server, make_dispatcher):
    dispatcher = make_dispatcher(server.url, name_retention_seconds=0.0)

    assert dispatcher.enqueue(queue=QUEUE_JUDGE, name="again", path="/tasks/a", payload={})
    # Pending: reserved whatever the retention.
    assert not dispatcher.enqueue(queue=QUEUE_JUDGE, name="again", path="/tasks/a", payload={})
    assert dispatcher.join(JOIN_TIMEOUT)
    assert dispatcher.enqueue(queue=QUEUE_JUDGE, name="again", path="/tasks/a", payload={})
    assert dispatcher.join(JOIN_TIMEOUT)

    assert server.paths() == ["/tasks/a", "/tasks/a"]


def test_task_name_is_deterministic_legal_and_unambiguous():
    name = task_name("run-1", "openai/gpt-4o", "chunk 7")

    assert name == task_name("run-1", "openai/gpt-4o", "chunk 7")
    assert re.fullmatch(r"[0-9a-f]{64}", name)
    check_task_id(name)
    assert task_name("a/b", "c") != task_name("a", "b/c")
    assert task_name("ab") != task_name("a", "b")
    with pytest.raises(ValueError, match="at least one part"):
        task_name()


def test_bad_input_fails_at_enqueue(server, make_dispatcher):
    dispatcher = make_dispatcher(server.url)
    ok = {"queue": QUEUE_JUDGE, "name": "t", "path": "/tasks/a", "payload": {}}

    with pytest.raises(ValueError, match="Illegal task name"):
        dispatcher.enqueue(**{**ok, "name": "runs/1"})
    with pytest.raises(ValueError, match="Illegal task name"):
        dispatcher.enqueue(**{**ok, "name": "x" * 501})
    with pytest.raises(LookupError, match="not configured"):
        dispatcher.enqueue(**{**ok, "queue": "nope"})
    with pytest.raises(ValueError, match="absolute"):
        dispatcher.enqueue(**{**ok, "path": "tasks/a"})
    with pytest.raises(ValueError, match="at most"):
        dispatcher.enqueue(**{**ok, "payload": {"x": "y" * MAX_PAYLOAD_BYTES}})
    with pytest.raises(ValueError, match="JSON compliant"):
        dispatcher.enqueue(**{**ok, "payload": {"score": float("nan")}})
    assert dispatcher.join(JOIN_TIMEOUT)
    assert server.received == []


# --- limits and scheduling ---------------------------------------------------------------


def test_concurrency_never_exceeds_the_queue_limit(server, make_dispatcher):
    server.gate_at = 2
    server.fallback["/tasks/slow"] = Reply(pause=0.01)
    limits = QueueLimits(max_concurrent=2, max_per_second=1000.0)
    dispatcher = make_dispatcher(server.url, queues={QUEUE_JUDGE: limits})

    for i in range(8):
        dispatcher.enqueue(queue=QUEUE_JUDGE, name=f"t{i}", path="/tasks/slow", payload={})
    assert dispatcher.join(JOIN_TIMEOUT)

    assert len(server.received) == 8
    assert server.max_in_flight == 2  # reached (the gate waits for it) and never passed


def test_a_delayed_task_waits_for_its_time(server, make_dispatcher):
    limits = QueueLimits(max_concurrent=1, max_per_second=1000.0)
    dispatcher = make_dispatcher(server.url, queues={QUEUE_JUDGE: limits})

    dispatcher.enqueue(
        queue=QUEUE_JUDGE, name="later", path="/tasks/later", payload={}, delay_seconds=0.3
    )
    dispatcher.enqueue(queue=QUEUE_JUDGE, name="now", path="/tasks/now", payload={})
    assert dispatcher.join(JOIN_TIMEOUT)

    assert server.paths() == ["/tasks/now", "/tasks/later"]
    eta = {r.path: float(r.headers["x-cloudtasks-tasketa"]) for r in server.received}
    assert eta["/tasks/later"] > eta["/tasks/now"]


def test_join_reports_false_while_work_remains(server, make_dispatcher):
    dispatcher = make_dispatcher(server.url, start=False)
    assert dispatcher.join(0)  # nothing to do is idle

    dispatcher.enqueue(queue=QUEUE_JUDGE, name="t1", path="/tasks/a", payload={})
    dispatcher.enqueue(
        queue=QUEUE_CONTROL, name="t2", path="/tasks/b", payload={}, delay_seconds=3600
    )
    assert not dispatcher.join(0.05)  # not started: nothing can finish
    dispatcher.start()
    assert server.wait_for(1)
    assert not dispatcher.join(0.05)  # the delayed task is still pending
    assert server.paths() == ["/tasks/a"]


def test_join_waits_for_a_slow_delivery(server, make_dispatcher):
    server.fallback["/tasks/slow"] = Reply(pause=0.2)
    dispatcher = make_dispatcher(server.url)

    dispatcher.enqueue(queue=QUEUE_JUDGE, name="t1", path="/tasks/slow", payload={})
    assert dispatcher.join(JOIN_TIMEOUT)

    assert dispatcher.stats().queues[QUEUE_JUDGE].delivered == 1
    assert server.in_flight == 0


def test_join_waits_for_the_reply_not_for_the_server_thread(server, make_dispatcher):
    # Deterministic form of the race above: the handler is held until join() has been seen
    # not idle, and its thread is held after replying until the assertions are done.
    server.hold, server.linger = threading.Event(), threading.Event()
    dispatcher = make_dispatcher(server.url)

    dispatcher.enqueue(queue=QUEUE_JUDGE, name="t1", path="/tasks/held", payload={})
    assert server.wait_for(1)
    assert not dispatcher.join(0)  # the handler has not answered: in flight, not idle
    server.hold.set()
    try:
        assert dispatcher.join(JOIN_TIMEOUT)
        assert dispatcher.stats().queues[QUEUE_JUDGE].delivered == 1
        assert server.in_flight == 0  # the server thread is still lingering after its reply
    finally:
        server.linger.set()


def test_redeliver_sends_a_finished_task_again(server, make_dispatcher):
    dispatcher = make_dispatcher(server.url)
    dispatcher.enqueue(queue=QUEUE_JUDGE, name="t1", path="/tasks/a", payload={"k": "v"})
    assert dispatcher.join(JOIN_TIMEOUT)

    dispatcher.redeliver("t1")
    assert dispatcher.join(JOIN_TIMEOUT)

    assert [r.json for r in server.received] == [{"k": "v"}, {"k": "v"}]
    assert [r.headers["x-cloudtasks-taskname"] for r in server.received] == ["t1", "t1"]
    stats = dispatcher.stats()
    assert stats.queues[QUEUE_JUDGE].delivered == 2
    assert stats.queues[QUEUE_JUDGE].redelivered == 1
    assert [a.redelivery for a in stats.attempts] == [False, True]
    with pytest.raises(LookupError):
        dispatcher.redeliver("never-enqueued")


def test_stats_are_kept_per_queue(server, make_dispatcher):
    dispatcher = make_dispatcher(server.url)
    dispatcher.enqueue(queue=QUEUE_JUDGE, name="a", path="/tasks/a", payload={})
    dispatcher.enqueue(queue=QUEUE_CONTROL, name="b", path="/tasks/b", payload={})
    dispatcher.enqueue(queue=QUEUE_CONTROL, name="c", path="/tasks/c", payload={})
    assert dispatcher.join(JOIN_TIMEOUT)

    stats = dispatcher.stats()
    assert stats.queues[QUEUE_JUDGE].delivered == 1
    assert stats.queues[QUEUE_CONTROL].delivered == 2
    assert stats.total().delivered == 3


def test_default_limits_cover_every_queue():
    dispatcher = LocalDispatcher(base_url="http://127.0.0.1:9")  # never started: nothing is sent
    for queue in ALL_QUEUES:
        assert dispatcher.enqueue(queue=queue, name="t", path="/tasks/x", payload={})
    assert set(dispatcher.stats().queues) == set(ALL_QUEUES)
    assert dispatcher.stats().total().created == len(ALL_QUEUES)


# --- the policy, as plain numbers --------------------------------------------------------


def test_retry_delay_grows_exponentially_and_honours_retry_after():
    limits = QueueLimits(min_backoff=1.0, max_backoff=300.0)

    assert [
        retry_delay(limits, failed_attempts=n, status=500, retry_after=None) for n in (1, 2, 3)
    ] == [1.0, 2.0, 4.0]
    assert retry_delay(limits, failed_attempts=20, status=500, retry_after=None) == 300.0
    assert retry_delay(limits, failed_attempts=10_000, status=500, retry_after=None) == 300.0
    assert retry_delay(limits, failed_attempts=1, status=503, retry_after=120.0) == 120.0
    assert retry_delay(limits, failed_attempts=1, status=429, retry_after=9999.0) == 300.0
    # A Retry-After shorter than the backoff does not hurry the retry.
    assert retry_delay(limits, failed_attempts=4, status=503, retry_after=1.0) == 8.0
    assert retry_delay(limits, failed_attempts=1, status=500, retry_after=120.0) == 1.0


def test_parse_retry_after_reads_seconds_and_http_dates():
    now = 1_445_412_480.0  # Wed, 21 Oct 2015 07:28:00 GMT

    assert parse_retry_after("120", now_epoch=now) == 120.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:30:00 GMT", now_epoch=now) == 120.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now_epoch=now) == 0.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:30:00", now_epoch=now) is None  # no zone
    assert parse_retry_after("soon", now_epoch=now) is None
    assert parse_retry_after("-5", now_epoch=now) is None
    assert parse_retry_after(None, now_epoch=now) is None


def test_token_bucket_spends_its_burst_then_refills_at_the_rate():
    bucket = TokenBucket(rate=2.0, burst=2.0, now=0.0)

    assert [bucket.take(0.0), bucket.take(0.0)] == [0.0, 0.0]
    assert bucket.take(0.0) == pytest.approx(0.5)
    assert bucket.take(0.5) == 0.0
    assert bucket.take(0.5) == pytest.approx(0.5)
    assert bucket.take(100.0) == 0.0  # a long pause refills only up to the burst
    assert bucket.take(100.0) == 0.0
    assert bucket.take(100.0) > 0.0


def test_queue_limits_reject_nonsense():
    for bad in (
        {"max_concurrent": 0},
        {"max_per_second": 0.0},
        {"max_attempts": 0},
        {"max_attempts": -2},
        {"min_backoff": 5.0, "max_backoff": 1.0},
    ):
        with pytest.raises(ValueError, match="must"):
            QueueLimits(**bad)
    assert QueueLimits(max_attempts=-1).gives_up_after(10**9) is False
