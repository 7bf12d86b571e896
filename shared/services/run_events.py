"""One structured log line per run state change: queued, running, failed (with its reason),
completed (with its figures), cancelled, resumed. Cloud Logging indexes ``json_fields`` as
top-level keys, so a query like ``jsonPayload.event="run_state" jsonPayload.status="failed"``
finds every run that ended badly, with why."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("podium.runs")


def log_run_state(run: dict[str, Any], status: str, **figures: Any) -> None:
    fields = {
        "event": "run_state",
        "run_id": run.get("id"),
        "workspace_id": run.get("workspace_id"),
        "leaderboard_id": run.get("leaderboard_id"),
        "status": status,
        **figures,
    }
    level = logging.WARNING if status == "failed" else logging.INFO
    log.log(level, "run %s %s", run.get("id"), status, extra={"json_fields": fields})
