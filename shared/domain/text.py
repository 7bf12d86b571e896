"""Text that is safe to store: Firestore (and any UTF-8 encoder) refuses lone surrogates.

Python's json module decodes an escaped lone surrogate (``"\\udcff"``) into a str that cannot be
encoded as UTF-8. Such text reaches us from dataset rows, model answers and provider error
bodies; stored as-is it makes the write fail, and a write that fails on every retry used to
keep a run spinning. Valid pairs (``"\\ud83d\\ude00"``) are already joined by the decoder, so
every surrogate left in a str is a lone one.
"""

from __future__ import annotations

import re

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def clean_text(text: str) -> str:
    """``text`` with every lone surrogate replaced by U+FFFD (a no-op for ordinary text)."""
    return _LONE_SURROGATE.sub(REPLACEMENT, text)


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def truncate_utf8(text: str, max_bytes: int) -> str:
    """The longest prefix of ``text`` whose UTF-8 encoding fits in ``max_bytes`` (never cutting
    a character in half)."""
    encoded = text.encode("utf-8", "surrogatepass")
    if len(encoded) <= max_bytes:
        return text
    return encoded[: max(0, max_bytes)].decode("utf-8", "ignore")
