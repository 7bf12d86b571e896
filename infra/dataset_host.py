"""A local Hugging Face-compatible file host for the demo's datasets.

Answers ``GET /datasets/{owner}/{repo}/resolve/{revision}/{path}`` the way the Hub answers a
small file: the bytes, with ``X-Repo-Commit`` (here the content's sha1, a stand-in for a commit
id) and an ``ETag``; unknown files get the Hub's 404 with ``X-Error-Code: EntryNotFound``.
Podium reads it through ``HF_ENDPOINT`` exactly as it reads huggingface.co.
"""

from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class DatasetHost:
    def __init__(self, repo: str, folder: Path) -> None:
        """Serve every file of ``folder`` as a file of dataset repository ``repo``."""
        self.repo = repo
        self.folder = folder
        self._server: ThreadingHTTPServer | None = None

    def start(self, port: int = 0) -> DatasetHost:
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                content = host.read(self.path)
                if content is None:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                commit = hashlib.sha1(content, usedforsecurity=False).hexdigest()
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(content)))
                self.send_header("X-Repo-Commit", commit)
                self.send_header("ETag", f'"{commit}"')
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, *_args: Any) -> None:  # the demo keeps the terminal tidy
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    @property
    def endpoint(self) -> str:
        """What HF_ENDPOINT should be."""
        assert self._server is not None, "start() first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def url_for(self, path: str, revision: str = "main") -> str:
        return f"{self.endpoint}/datasets/{self.repo}/resolve/{revision}/{path}"

    def read(self, url_path: str) -> bytes | None:
        prefix = f"/datasets/{self.repo}/resolve/"
        if not url_path.startswith(prefix):
            return None
        _revision, _, name = url_path[len(prefix) :].partition("/")
        file = (self.folder / name).resolve()
        if file.parent != self.folder.resolve() or not file.is_file():
            return None  # nothing outside the folder, and no sub-folders
        return file.read_bytes()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
