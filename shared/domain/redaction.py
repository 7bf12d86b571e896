"""What a response may show of a URL a user gave us.

Endpoints often carry credentials in the URL itself (``?api_key=``, Azure's ``?code=``, signed
URLs' ``X-Amz-Signature``, ``user:pass@``). The stored URL keeps them, because calls need them;
responses show the URL with those parts replaced, so a token with read scope cannot harvest them.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit, urlunsplit

MASK = "***"

# A query parameter is secret when its name (lower-cased, '-' read as '_') contains one of these
# words, or is one of the short names below. Masking a harmless parameter costs nothing;
# showing a secret one is the leak this module exists to prevent.
_SECRET_WORDS = ("key", "token", "secret", "signature", "password", "passwd", "credential", "auth")
_SECRET_NAMES = frozenset({"sig", "pwd", "pass", "code", "session", "sessionid"})
_WORD = re.compile(r"[^a-z0-9]+")


def is_secret_param(name: str) -> bool:
    normalized = _WORD.sub("_", unquote(name).lower()).strip("_")
    return normalized in _SECRET_NAMES or any(w in normalized for w in _SECRET_WORDS)


def redact_url(url: str | None) -> str | None:
    """``url`` with userinfo and secret query values masked; anything else is left byte for byte
    (other parameters keep their order and encoding). Not a URL (an OpenRouter model id):
    returned unchanged."""
    if not url or ("?" not in url and "@" not in url):
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK  # unparsable: show nothing rather than guess where a secret ends
    netloc = parts.netloc
    if "@" in netloc:
        netloc = MASK + "@" + netloc.rsplit("@", 1)[1]
    query = "&".join(_redact_pair(pair) for pair in parts.query.split("&")) if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _redact_pair(pair: str) -> str:
    name, sep, _ = pair.partition("=")
    if not is_secret_param(name):
        return pair
    return f"{name}={MASK}" if sep else pair
