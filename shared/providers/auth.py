"""How a model's token travels: the ``auth_type`` values the Leaderboards API accepts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

AuthType = Literal["bearer", "x-api-key", "x-dr.gero-api-key", "authorization", "custom-header"]
AUTH_TYPES: tuple[str, ...] = get_args(AuthType)

_FIXED_HEADER = {
    "bearer": "Authorization",
    "authorization": "Authorization",
    "x-api-key": "X-API-Key",
    "x-dr.gero-api-key": "X-Dr.Gero-Api-Key",
}


@dataclass(frozen=True)
class Auth:
    """A token and the header it goes in. No token, no header (public or self-hosted models).

    ``authorization`` sends the token as the whole ``Authorization`` value (for schemes other
    than Bearer, e.g. ``Basic …`` or a bare key); ``custom-header`` needs ``header_name``.
    """

    auth_type: AuthType = "bearer"
    # Kept out of repr so a logged provider or a traceback does not print the secret.
    token: str | None = field(default=None, repr=False)
    header_name: str | None = None

    def __post_init__(self) -> None:
        if self.auth_type not in AUTH_TYPES:
            raise ValueError(
                f"Unknown auth_type {self.auth_type!r}; expected one of {', '.join(AUTH_TYPES)}"
            )
        if self.auth_type == "custom-header" and not (self.header_name or "").strip():
            raise ValueError("auth_type 'custom-header' needs a header name")

    def headers(self) -> dict[str, str]:
        if not self.token:
            return {}
        if self.auth_type == "bearer":
            return {"Authorization": f"Bearer {self.token}"}
        if self.auth_type == "custom-header":
            assert self.header_name is not None  # checked in __post_init__
            return {self.header_name.strip(): self.token}
        return {_FIXED_HEADER[self.auth_type]: self.token}
