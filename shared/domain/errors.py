"""Business errors. Services raise these; one table in ``shared/http/errors.py`` maps them to
HTTP statuses by walking the class hierarchy (the Starlette habit), so no service knows HTTP.

    PodiumError
     ├── InvalidInput           a request that breaks a rule (422)
     │    └── MalformedBody     the body is not JSON at all (400)
     ├── Refused                well-formed, but what it names cannot be used for it (400)
     ├── NotFound               missing, or belongs to another workspace (404)
     ├── Conflict               the state forbids it right now (409)
     ├── Unauthenticated        no token, or one we do not know (401)
     ├── PermissionDenied       the token lacks a scope (403)
     ├── EntitlementRequired    the workspace's plan does not include it (402)
     ├── LimitReached           a usage limit is spent until its window resets (429)
     └── TransientFailure       a dependency failed in a way worth retrying (503)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class PodiumError(Exception):
    """Base of every error that carries meaning for a client."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True)
class FieldError:
    """One broken rule: where (``loc``, a path into the body) and why (``msg``)."""

    loc: tuple[str | int, ...]
    msg: str
    type: str = "value_error"

    def render(self) -> str:
        where = ".".join(str(p) for p in self.loc) or "body"
        return f"{where}: {self.msg}"


class InvalidInput(PodiumError):
    def __init__(self, detail: str | None = None, errors: Sequence[FieldError] = ()) -> None:
        self.errors = tuple(errors)
        super().__init__(detail or "; ".join(e.render() for e in self.errors) or "Invalid input")

    @classmethod
    def field(cls, loc: str | tuple[str | int, ...], msg: str) -> InvalidInput:
        path = (loc,) if isinstance(loc, str) else loc
        return cls(errors=[FieldError(path, msg)])


class MalformedBody(InvalidInput):
    pass


class NotFound(PodiumError):
    pass


class Conflict(PodiumError):
    pass


class Unauthenticated(PodiumError):
    pass


class PermissionDenied(PodiumError):
    pass


class EntitlementRequired(PodiumError):
    def __init__(self, entitlement: str, plan: str, detail: str | None = None) -> None:
        self.entitlement = entitlement
        self.plan = plan
        super().__init__(
            detail
            or f"The '{plan}' plan does not include '{entitlement}'; "
            "upgrade the workspace to use it"
        )


class TransientFailure(PodiumError):
    def __init__(self, detail: str, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class LimitReached(PodiumError):
    """A usage limit (``limit`` names it) is spent until its window resets."""

    def __init__(self, detail: str, *, limit: str, retry_after: float) -> None:
        super().__init__(detail)
        self.limit = limit
        self.retry_after = retry_after


class Refused(PodiumError):
    """A well-formed request the current data cannot serve (a run that has not completed, a
    run on other data than a category pins): the spec's 400."""
