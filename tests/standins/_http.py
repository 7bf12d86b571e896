"""The bit every stand-in shares: a threaded loopback HTTP server on a free port.

Each stand-in turns a ``StandinRequest`` into a ``StandinResponse`` in ``handle``; this module
does the sockets, records every request, and makes waits interruptible so ``stop()`` never
hangs on a handler that is deliberately slow (the "timeout" failure pattern).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit


@dataclass(frozen=True)
class StandinRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class StandinResponse:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, headers: dict[str, str] | None = None) -> Self:
        return cls(
            status,
            json.dumps(payload).encode(),
            {"Content-Type": "application/json", **(headers or {})},
        )


class StandinServer:
    """Start with ``start()`` or ``with``; ``url`` is ``http://127.0.0.1:<port>``."""

    # HTTP/1.1 keeps connections open between requests, as real providers do (a benchmark
    # measures the pipeline, not a TCP handshake and a server thread per call); tests keep
    # HTTP/1.0, one request per connection, so no idle connection outlives stop().
    keep_alive = False

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._requests: list[StandinRequest] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- what a stand-in implements ----------------------------------------------------------
    def handle(self, request: StandinRequest) -> StandinResponse:
        raise NotImplementedError

    # --- lifecycle ---------------------------------------------------------------------------
    def start(self, port: int = 0) -> Self:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if standin.keep_alive else "HTTP/1.0"
            # Headers and body go out in separate writes: with Nagle's algorithm on, the
            # second waits for the client's delayed ACK of the first (~40 ms a response).
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                self._dispatch()

            do_POST = do_PUT = do_DELETE = do_HEAD = do_GET

            def _dispatch(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = StandinRequest(
                    method=self.command,
                    path=parts.path,
                    query=dict(parse_qsl(parts.query)),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                standin._record(request)
                response = standin.handle(request)
                try:
                    self.send_response(response.status)
                    for name, value in response.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(response.body)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(response.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test): nothing to tell it

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False
            # Python's default listen backlog is 5: a burst of concurrent clients (every request
            # is a new HTTP/1.0 connection) overflowed it and paid ~1 s of SYN retry per drop.
            request_queue_size = 128

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that hung up mid-request is expected in timeout tests

        self._stopping.clear()
        self._httpd = Server(("127.0.0.1", port), Handler)
        # A short poll interval: shutdown() waits up to one interval, once per test.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.02},
            name=type(self).__name__,
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wake handlers that are waiting on purpose
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- for tests ---------------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def requests(self) -> list[StandinRequest]:
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def wait(self, seconds: float) -> None:
        """Sleep in a handler, cut short by ``stop()``."""
        if seconds > 0:
            self._stopping.wait(seconds)

    def _record(self, request: StandinRequest) -> None:
        with self._lock:
            self._requests.append(request)
