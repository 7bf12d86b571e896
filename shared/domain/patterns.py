"""User-supplied regular expressions (``eval_metadata.extract_regex``), run in linear time.

Python's ``re`` backtracks: a pattern such as ``(a+)+$`` against a few thousand characters of a
model's answer runs for hours while holding the GIL, which froze every thread of an instance
(health checks included). RE2 guarantees time linear in the input and releases no control to
the pattern's author, at the price of backreferences and lookaround, which a pattern is
checked for when it is saved, so a run never meets a pattern it cannot compile.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import re2

# RE2 compiles a pattern into an automaton and caps the memory it may use; past the cap it
# refuses the pattern at compile time (so at save time) instead of growing. 2 MiB is plenty
# for any 500-character extraction pattern and bounds what a hostile one costs an instance.
MAX_PATTERN_MEMORY = 2 << 20
# Compiled patterns kept per instance: a run scores every answer with the same pattern.
_CACHE_SIZE = 256


def _options() -> Any:
    options = re2.Options()
    options.max_mem = MAX_PATTERN_MEMORY
    # Invalid patterns are reported to the caller; RE2 would also print them to stderr.
    options.log_errors = False
    return options


class PatternError(ValueError):
    """A pattern the linear-time engine cannot run; the message says why, for a person."""


@functools.lru_cache(maxsize=_CACHE_SIZE)
def compile_pattern(pattern: str) -> Any:
    """The compiled pattern, or PatternError. Cached, so scoring a run compiles it once."""
    try:
        return re2.compile(pattern, _options())
    except re2.error as exc:
        reason = _reason(exc)
    if "too large" in reason:
        raise PatternError(
            f"is too large for the linear-time engine (RE2): compiled, it needs more than "
            f"{MAX_PATTERN_MEMORY >> 20} MiB; use fewer or smaller repetitions"
        )
    try:
        re.compile(pattern)
    except re.error as exc:
        raise PatternError(f"not a valid regular expression: {exc}") from None
    # Python's engine takes it, so it uses something only a backtracking engine can do.
    raise PatternError(
        f"uses a feature the linear-time engine (RE2) does not support: {reason} "
        "(no backreferences, lookahead/lookbehind, possessive or atomic groups, or "
        "repetition counts over 1000)"
    )


def _reason(exc: Exception) -> str:
    detail = exc.args[0] if exc.args else exc
    return detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)


def search_first(pattern: str, text: str) -> tuple[str | None] | None:
    """Search ``text`` for ``pattern``: ``None`` when it does not match; otherwise a 1-tuple of
    the first group (``None`` when that optional group did not take part), or of the whole
    match for a pattern without groups."""
    compiled = compile_pattern(pattern)
    match = compiled.search(text)
    if match is None:
        return None
    if compiled.groups == 0:
        return (str(match.group(0)),)
    group = match.group(1)
    return (None if group is None else str(group),)
