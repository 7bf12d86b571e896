"""Base classes for request and response models.

Requests accept both the spec's snake_case names and camelCase aliases and refuse unknown
fields; error locations use snake_case names so a 422 names the field as the spec does.
Responses always serialise snake_case.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, ValidationError
from pydantic.alias_generators import to_camel

from shared.domain.errors import FieldError, InvalidInput


class RequestModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        loc_by_alias=False,
        extra="forbid",
        str_strip_whitespace=True,
    )


class ResponseModel(BaseModel):
    model_config = ConfigDict(extra="ignore")


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


# Timestamps leave the API as ISO 8601 in UTC with a Z, whatever Firestore handed back.
Timestamp = Annotated[datetime, PlainSerializer(_iso, return_type=str)]


def case_insensitive(enum: type[StrEnum]) -> BeforeValidator:
    """Accept any casing of an enum's values (``get`` for ``GET``, ``openrouter`` for
    ``OpenRouter``); the stored value is always the canonical spelling."""
    table = {m.value.lower(): m.value for m in enum}

    def parse(v: Any) -> Any:
        if isinstance(v, str):
            return table.get(v.strip().lower(), v)
        return v

    return BeforeValidator(parse)


class RuleViolation(ValueError):
    """A cross-field rule broken in a model validator, naming the field to blame (pydantic
    would otherwise report it at the model's own location, which names no field)."""

    def __init__(self, field: str, msg: str) -> None:
        super().__init__(msg)
        self.field = field
        self.msg = msg


def field_errors(exc: ValidationError, *, prefix: tuple[str | int, ...] = ()) -> list[FieldError]:
    """pydantic's errors in our terms: snake_case locations, plain messages."""
    out: list[FieldError] = []
    for err in exc.errors(include_url=False):
        loc: tuple[str | int, ...] = prefix + tuple(err["loc"])
        msg = err["msg"]
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, RuleViolation):
            loc, msg = (*loc, cause.field), cause.msg
        elif err["type"] == "extra_forbidden":
            msg = "unknown field"
        elif err["type"] == "missing":
            msg = "field required"
        msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
        out.append(FieldError(loc, msg, err["type"]))
    return out


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], data: Any, *, context: dict[str, Any] | None = None) -> M:
    """Validate ``data`` as ``model``; broken rules become one InvalidInput naming each field."""
    if not isinstance(data, dict):
        raise InvalidInput.field((), f"expected a JSON object, got {type(data).__name__}")
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise InvalidInput(errors=field_errors(exc)) from exc
