"""CloudTasksQueue: the TaskQueue port on Google Cloud Tasks (HTTP target tasks).

Each task is a POST of JSON to ``target_base_url + path`` (the workers function) carrying an
OIDC token minted for ``invoker_service_account``, so the workers function can stay private
(Cloud Run checks the token's audience: by default the workers URL). Settings arrive from the
composition root; nothing here reads the environment.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from google.api_core import exceptions, retry
from google.cloud import tasks_v2

from shared.tasks.queue import (
    TaskQueue,
    check_path,
    check_queue_id,
    check_task_id,
    encode_payload,
)

# The client does not retry CreateTask by default, because an unnamed task created twice is two
# tasks. Ours are always named, so repeating is safe: if a first try landed but its answer was
# lost, the repeat gets ALREADY_EXISTS, which enqueue reports as False ("it is there"), the
# same outcome. So transient failures are retried here rather than failing the caller's request.
_CREATE_RETRY: Final = retry.Retry(
    predicate=retry.if_exception_type(exceptions.ServiceUnavailable, exceptions.DeadlineExceeded),
    initial=0.1,
    maximum=5.0,
    multiplier=2.0,
    timeout=30.0,
)
_CREATE_TIMEOUT: Final = 10.0  # per try; Cloud Tasks answers CreateTask in well under a second


class CloudTasksQueue(TaskQueue):  # subclassed so mypy checks the signature here
    def __init__(
        self,
        *,
        client: tasks_v2.CloudTasksClient,
        project: str,
        location: str,
        target_base_url: str,
        invoker_service_account: str,
        audience: str | None = None,
        dispatch_deadline_seconds: float = 1800.0,
    ) -> None:
        """``dispatch_deadline_seconds``: how long Cloud Tasks waits for a worker's answer
        (15 s to 30 min; its default is 10 min, less than a slow chunk may need). The workers
        function's own timeout must be at least this (terraform/functions.tf)."""
        if not 15 <= dispatch_deadline_seconds <= 1800:
            raise ValueError("dispatch_deadline_seconds must be between 15 and 1800")
        self._deadline = timedelta(seconds=dispatch_deadline_seconds)
        self._client = client
        self._project = project
        self._location = location
        self._base_url = target_base_url.rstrip("/")
        self._invoker = invoker_service_account
        self._audience = audience or self._base_url

    def enqueue(
        self,
        *,
        queue: str,
        name: str,
        path: str,
        payload: Mapping[str, Any],
        delay_seconds: float = 0.0,
    ) -> bool:
        # Checked here too, so a bad name fails the same way as on the local dispatcher, and
        # before a network call rather than as an INVALID_ARGUMENT from it.
        check_queue_id(queue)
        check_task_id(name)
        check_path(path)
        if not math.isfinite(delay_seconds):
            raise ValueError(f"delay_seconds must be finite: {delay_seconds!r}")
        task = tasks_v2.Task(
            name=self._client.task_path(self._project, self._location, queue, name),
            http_request=tasks_v2.HttpRequest(
                http_method=tasks_v2.HttpMethod.POST,
                url=self._base_url + path,
                # Cloud Tasks sends no Content-Type of its own; the workers parse JSON by it.
                headers={"Content-Type": "application/json"},
                body=encode_payload(payload),
                oidc_token=tasks_v2.OidcToken(
                    service_account_email=self._invoker, audience=self._audience
                ),
            ),
        )
        task.dispatch_deadline = self._deadline
        if delay_seconds > 0:
            # Left unset otherwise: Cloud Tasks then schedules it at its own "now", with no
            # skew from this instance's clock.
            task.schedule_time = datetime.now(UTC) + timedelta(seconds=delay_seconds)
        request = tasks_v2.CreateTaskRequest(
            parent=self._client.queue_path(self._project, self._location, queue), task=task
        )
        try:
            self._client.create_task(request=request, retry=_CREATE_RETRY, timeout=_CREATE_TIMEOUT)
        except exceptions.AlreadyExists:
            return False
        return True
