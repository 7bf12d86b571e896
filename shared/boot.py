"""Start-up of a function instance: settings checked, logging set up, before any request.

Every ``functions/*/main.py`` calls ``boot`` at import, which functions-framework does before it
listens: a deployment with missing or malformed settings (say, no ``PODIUM_SECRET_KEYS``) exits
with one clear log line instead of starting and answering 500 on every route. Clients
(Firestore, Cloud Tasks, httpx) stay lazy in ``shared/bootstrap.py``: nothing here touches the
network.
"""

from __future__ import annotations

import logging

from pydantic import ValidationError

from shared.config import ConfigError, Settings, get_settings
from shared.logs import setup_logging

log = logging.getLogger("podium.boot")


def boot(function: str) -> Settings:
    """The instance's checked settings; exits the process (status 1) when they cannot work."""
    try:
        settings = get_settings()
        settings.check()
    except (ValidationError, ConfigError) as exc:
        setup_logging(project=None)
        log.critical("Podium %s cannot start: %s", function, describe(exc))
        raise SystemExit(1) from None
    setup_logging(project=settings.google_cloud_project)
    return settings


def describe(exc: ValidationError | ConfigError) -> str:
    """One line naming the environment variables at fault (never their values)."""
    if isinstance(exc, ConfigError):
        return str(exc)
    problems = []
    for e in exc.errors():
        where = ".".join(str(p) for p in e["loc"]).upper()
        msg = e["msg"].removeprefix("Value error, ")
        problems.append(f"{where}: {msg}" if where else msg)  # a rule across settings: no loc
    return "invalid settings: " + "; ".join(problems)
