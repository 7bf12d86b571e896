"""What the document store can hold: the rules for ids and values, checked before any write.

Firestore refuses some ids and values with an error that surfaces only at write time (so as a
500, sometimes after part of a request's work). Every request body and every path id is checked
against these rules first, so a client learns which field is wrong and nothing is half-written.
Limits are Firestore's (https://firebase.google.com/docs/firestore/quotas), some stricter:

- document ids: 1-1500 bytes of UTF-8, no ``/``, not ``.`` or ``..``, not ``__.*__``; we also
  refuse control characters, which no id we issue contains;
- field names (object keys): 1-1500 bytes, not ``__.*__``;
- integers: signed 64-bit; floats: finite (JSON has no infinity, but ``1e999`` parses as one);
- strings: valid Unicode (JSON's ``\\ud800`` escapes can produce lone surrogates);
- nesting: Firestore allows 20 levels of maps and arrays; a body may use ``MAX_DEPTH``, which
  leaves room for the levels the stored record adds around it.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import AfterValidator

from shared.domain.errors import FieldError

MAX_ID_BYTES = 1500
MAX_KEY_BYTES = 1500
MAX_DEPTH = 16
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

_RESERVED = re.compile(r"__.*__", re.DOTALL)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _utf8_size(text: str) -> int | None:
    """Bytes in UTF-8, or None when ``text`` holds a lone surrogate (not encodable)."""
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        return None


def document_id_problem(value: str) -> str | None:
    """Why ``value`` cannot be a document id, or None when it can."""
    size = _utf8_size(value)
    if size is None:
        return "is not valid Unicode"
    if size == 0:
        return "is empty"
    if size > MAX_ID_BYTES:
        return f"is longer than {MAX_ID_BYTES} bytes"
    if "/" in value:
        return "contains '/'"
    if value in (".", ".."):
        return "is '.' or '..'"
    if _RESERVED.fullmatch(value):
        return "matches __.*__, which the store reserves"
    if _CONTROL.search(value):
        return "contains a control character"
    return None


def _key_problem(key: str) -> str | None:
    size = _utf8_size(key)
    if size is None:
        return "key is not valid Unicode"
    if size == 0:
        return "key is empty"
    if size > MAX_KEY_BYTES:
        return f"key is longer than {MAX_KEY_BYTES} bytes"
    if _RESERVED.fullmatch(key):
        return "key matches __.*__, which the store reserves"
    return None


def _scalar_problem(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            return "integer is outside the signed 64-bit range"
    elif isinstance(value, float):
        if not math.isfinite(value):
            return "number is not finite (too large for a 64-bit float)"
    elif isinstance(value, str) and _utf8_size(value) is None:
        return "text is not valid Unicode (a lone surrogate)"
    return None


def value_problems(
    value: Any, *, loc: tuple[str | int, ...] = (), max_depth: int = MAX_DEPTH
) -> list[FieldError]:
    """Every place in a JSON value the store would refuse, with its path. Iterative, so a
    deeply nested value cannot exhaust the stack; a container past ``max_depth`` is reported
    once and not descended into."""
    problems: list[FieldError] = []
    # (value, its path, how many containers enclose it)
    stack: list[tuple[Any, tuple[str | int, ...], int]] = [(value, loc, 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > max_depth:
                problems.append(
                    FieldError(path, f"nested deeper than {max_depth} levels", "too_deep")
                )
                continue
            if isinstance(item, dict):
                for key, child in reversed(item.items()):
                    problem = _key_problem(key) if isinstance(key, str) else "key is not text"
                    if problem is not None:
                        problems.append(FieldError((*path, key), problem, "invalid_key"))
                    else:
                        stack.append((child, (*path, key), depth + 1))
            else:
                stack.extend(
                    (child, (*path, i), depth + 1) for i, child in reversed(list(enumerate(item)))
                )
        else:
            problem = _scalar_problem(item)
            if problem is not None:
                problems.append(FieldError(path, problem, "unstorable_value"))
    return problems


def check_storable(value: Any, what: str, *, max_depth: int = MAX_DEPTH) -> Any:
    """For field validators: ``value``, or a ValueError naming the first problem's place."""
    problems = value_problems(value, max_depth=max_depth)
    if problems:
        first = problems[0]
        where = "".join(f"[{p!r}]" for p in first.loc)
        raise ValueError(f"{what}{where}: {first.msg}")
    return value


def _valid_id(value: str) -> str:
    problem = document_id_problem(value)
    if problem is not None:
        raise ValueError(f"not a valid id: it {problem}")
    return value


# An id a request refers to (a candidate, a registered model): looked up in the store, so it
# must be one the store can hold; any other is refused as naming nothing.
DocumentId = Annotated[str, AfterValidator(_valid_id)]
