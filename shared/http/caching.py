"""HTTP caching for public reads: ``Cache-Control``, a strong ``ETag`` over the body, and 304
for a matching ``If-None-Match`` (RFC 9110 section 13.1.2), so browsers and the load balancer's
CDN can serve a board without the function reading Firestore again."""

from __future__ import annotations

import hashlib

import flask

# Short: a publish should show within a minute; stale-while-revalidate hides the refresh.
PUBLIC_CACHE_CONTROL = "public, max-age=30, stale-while-revalidate=60"


def cacheable(request: flask.Request, response: flask.Response) -> flask.Response:
    """Add validators to a successful GET; answer 304 when the client's copy is current."""
    if request.method not in ("GET", "HEAD") or response.status_code != 200:
        return response
    body = response.get_data()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = PUBLIC_CACHE_CONTROL
    response.headers["Vary"] = "Accept-Encoding"
    if _matches(request.headers.get("If-None-Match"), etag):
        not_modified = flask.Response(status=304)
        for name in ("ETag", "Cache-Control", "Vary"):
            not_modified.headers[name] = response.headers[name]
        return not_modified
    return response


def _matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    if header.strip() == "*":
        return True
    # Weak comparison, as for GET: W/"x" matches "x".
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return etag in tags
