"""A Hugging Face Hub stand-in for ``/datasets/{owner}/{repo}/resolve/{rev}/{path}``.

Behaves like the Hub where Podium can tell the difference:

* a small file is answered directly, with ``X-Repo-Commit`` and an ``ETag`` (its git blob id);
* an ``lfs=True`` file answers 302 to a CDN URL, the resolve response carrying
  ``X-Repo-Commit``, ``X-Linked-Etag`` (the content's sha256) and ``X-Linked-Size``; the CDN
  answers 200 with its own ``ETag`` and no Hub headers. The CDN is this server (``/cdn/<sha>``,
  redirected to with a relative ``Location``) or another ``HFStandin`` given as ``cdn`` (a
  different origin, for testing that the token is not forwarded);
* errors carry ``X-Error-Code``/``X-Error-Message`` headers and an empty body, as the Hub's do:
  404 ``RepoNotFound``/``RevisionNotFound``/``EntryNotFound``, 401 when ``token`` is set and the
  request lacks ``Authorization: Bearer <token>``;
* ``fail(repo, path, status, ...)`` forces a status for a file (e.g. 503 with ``Retry-After``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from tests.standins._http import StandinRequest, StandinResponse, StandinServer


@dataclass
class HFFile:
    content: bytes
    revision: str
    commit: str
    lfs: bool = False

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    @property
    def git_blob_id(self) -> str:
        blob = b"blob %d\x00" % len(self.content) + self.content
        return hashlib.sha1(blob, usedforsecurity=False).hexdigest()


@dataclass
class _Failure:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    times: int | None = None  # None: for ever


class HFStandin(StandinServer):
    def __init__(self, *, token: str | None = None, cdn: HFStandin | None = None) -> None:
        super().__init__()
        self.token = token
        self.cdn = cdn
        self.files: dict[tuple[str, str], HFFile] = {}
        self.blobs: dict[str, bytes] = {}
        self._failures: dict[tuple[str, str], _Failure] = {}
        # repo -> the token a private repo requires (on top of the server-wide ``token``).
        self.private: dict[str, str] = {}

    # --- for tests ---------------------------------------------------------------------------
    def add_file(
        self,
        repo: str,
        path: str,
        content: bytes | str,
        *,
        revision: str = "main",
        commit: str | None = None,
        lfs: bool = False,
    ) -> str:
        """Serve ``content`` at ``repo``/``path``; returns the resolve URL for ``revision``."""
        data = content.encode() if isinstance(content, str) else content
        commit = (
            commit or hashlib.sha1(repo.encode() + b"@" + data, usedforsecurity=False).hexdigest()
        )
        file = HFFile(data, revision, commit, lfs)
        self.files[(repo, path)] = file
        if lfs:
            (self.cdn or self).blobs[file.sha256] = data
        return self.url_for(repo, path, revision)

    def url_for(self, repo: str, path: str, revision: str = "main") -> str:
        return f"{self.url}/datasets/{repo}/resolve/{revision}/{path}"

    def fail(
        self,
        repo: str,
        path: str,
        status: int,
        *,
        headers: dict[str, str] | None = None,
        times: int | None = None,
    ) -> None:
        self._failures[(repo, path)] = _Failure(status, dict(headers or {}), times)

    # --- the wire ----------------------------------------------------------------------------
    def handle(self, request: StandinRequest) -> StandinResponse:
        if request.method not in ("GET", "HEAD"):
            return StandinResponse(405)
        if request.path.startswith("/cdn/"):
            return self._cdn(request.path.removeprefix("/cdn/"))
        parts = request.path.strip("/").split("/")
        if len(parts) < 6 or parts[0] != "datasets" or parts[3] != "resolve":
            return _hub_error(404, "RepoNotFound", "Repository not found")
        repo, revision, path = f"{parts[1]}/{parts[2]}", parts[4], "/".join(parts[5:])
        return self._resolve(request, repo, revision, path)

    def _resolve(
        self, request: StandinRequest, repo: str, revision: str, path: str
    ) -> StandinResponse:
        authorization = request.headers.get("authorization")
        required = self.private.get(repo, self.token)
        if required is not None and authorization != f"Bearer {required}":
            return _hub_error(401, "RepoNotFound", "Invalid username or password.")
        failure = self._take_failure(repo, path)
        if failure is not None:
            return StandinResponse(failure.status, headers=failure.headers)
        if not any(r == repo for r, _ in self.files):
            return _hub_error(404, "RepoNotFound", "Repository not found")
        file = self.files.get((repo, path))
        if file is not None and revision not in (file.revision, file.commit):
            return _hub_error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        if file is None:
            return _hub_error(404, "EntryNotFound", "Entry not found")
        hub_headers = {"X-Repo-Commit": file.commit}
        if file.lfs:
            location = f"{self.cdn.url}/cdn/{file.sha256}" if self.cdn else f"/cdn/{file.sha256}"
            return StandinResponse(
                302,
                headers={
                    **hub_headers,
                    "Location": location,
                    "X-Linked-Etag": f'"{file.sha256}"',
                    "X-Linked-Size": str(len(file.content)),
                    "ETag": f'W/"{file.git_blob_id}"',
                },
            )
        return StandinResponse(
            200,
            file.content,
            {**hub_headers, "ETag": f'"{file.git_blob_id}"', "Content-Type": "text/plain"},
        )

    def _cdn(self, key: str) -> StandinResponse:
        data = self.blobs.get(key)
        if data is None:
            return StandinResponse(403, b"AccessDenied")
        etag = hashlib.md5(data, usedforsecurity=False).hexdigest()
        return StandinResponse(200, data, {"ETag": f'"{etag}"', "Content-Type": "text/plain"})

    def _take_failure(self, repo: str, path: str) -> _Failure | None:
        with self._lock:
            failure = self._failures.get((repo, path))
            if failure is None:
                return None
            if failure.times is not None:
                failure.times -= 1
                if failure.times <= 0:
                    del self._failures[(repo, path)]
            return failure


def _hub_error(status: int, code: str, message: str) -> StandinResponse:
    return StandinResponse(status, headers={"X-Error-Code": code, "X-Error-Message": message})
