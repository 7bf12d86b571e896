"""Offset pagination: the query parameters and the response envelope every list shares."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, Field

from shared.domain.base import RequestModel

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 100
# Offsets are read and discarded by Firestore, so a very deep page is a very slow page.
MAX_OFFSET = 10_000


class ListQuery(RequestModel):
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET)


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int
