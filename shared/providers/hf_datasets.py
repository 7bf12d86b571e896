"""Fetch a Hugging Face JSONL dataset file, streaming, and pin exactly what was read.

``https://huggingface.co/datasets/{owner}/{repo}/resolve/{rev}/{path}`` answers a small file
itself and redirects a large (LFS/Xet) one to a signed CDN URL. The resolve response carries the
pins: ``X-Repo-Commit`` (the commit ``rev`` resolved to) and ``X-Linked-Etag``/``ETag``; the CDN
response does not, so every hop is inspected and the first value seen wins (huggingface_hub
reads the same headers off the same response).

Redirects are followed here, hop by hop, rather than by httpx, for two reasons: each hop's URL
goes through the outbound URL guard (a redirect to the metadata server must be refused like a
direct link), and the token is dropped for good once a hop leaves the original origin. httpx
would also strip ``Authorization`` on a cross-origin hop, but not on an http→https upgrade of
the same host, and it would not re-check the URL.
"""

from __future__ import annotations

import codecs
import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from shared.domain.text import clean_text
from shared.providers.errors import (
    DatasetError,
    ProviderError,
    error_from_transport,
    is_transient_status,
    parse_retry_after,
)
from shared.providers.url_safety import OutboundGuard, UrlGuard

INPUT_ALIASES = ("input", "question", "prompt")
EXPECTED_ALIASES = ("expected", "output", "answer", "target", "reference")
MAX_REDIRECTS = 5
MAX_BAD_ROW_EXAMPLES = 5
# A row this long is refused (counted as a bad row) unless the caller says otherwise: a stored
# chunk of samples must fit one Firestore document (1 MiB), and a huge row is almost always a
# mistake in the file rather than a prompt anyone means to send.
DEFAULT_MAX_ROW_BYTES = 256 * 1024


@dataclass(frozen=True)
class Sample:
    index: int  # position among the usable rows, from 0
    input: str
    expected: str | None  # absent for judge leaderboards
    line: int  # physical line in the file, from 1


@dataclass(frozen=True)
class BadRow:
    line: int
    reason: str


@dataclass(frozen=True)
class DatasetFile:
    samples: list[Sample]
    revision: str | None  # the commit the URL resolved to (X-Repo-Commit), if the host said
    # sha256 and size of the bytes the samples came from: the whole file unless ``truncated``,
    # else up to the end of the last line kept. Same file, same caps, same hash.
    content_sha256: str
    etag: str | None
    bad_rows: int
    bad_row_examples: list[BadRow]
    truncated: bool
    bytes_read: int


_STRICT_GUARD = OutboundGuard(allow_private=False)


def fetch_jsonl(
    *,
    client: httpx.Client,
    url: str,
    token: str | None,
    max_rows: int,
    max_bytes: int,
    input_field: str | None = None,
    expected_field: str | None = None,
    url_guard: UrlGuard | None = _STRICT_GUARD,
    max_row_bytes: int = DEFAULT_MAX_ROW_BYTES,
) -> DatasetFile:
    """Read up to ``max_rows`` usable rows and at most ``max_bytes`` bytes of ``url``.

    Rows that are not usable are counted (with the first few line numbers and reasons), not
    fatal; a line over ``max_row_bytes`` is one of them, and is streamed past rather than
    held in memory. Text is stored as read, except that lone surrogates become U+FFFD.

    Raises ``DatasetError`` when the file cannot be fetched (naming the HTTP status) or has no
    usable row.
    """
    if max_rows < 1 or max_bytes < 1:
        raise ValueError("max_rows and max_bytes must be positive")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    reader = _RowReader(max_rows, max_bytes, input_field, expected_field, max_row_bytes)
    with _final_response(client, url, headers, url_guard) as (response, pins):
        try:
            for chunk in response.iter_bytes():
                if not reader.feed(chunk):
                    break
            else:
                reader.finish()
        except httpx.HTTPError as exc:
            raise _as_dataset_error(error_from_transport(exc, what=f"Fetching {url}")) from exc
    if not reader.samples:
        raise DatasetError(f"no usable rows: {reader.why_empty()}")
    return DatasetFile(
        samples=reader.samples,
        revision=pins.revision,
        content_sha256=reader.hasher.hexdigest(),
        etag=pins.etag,
        bad_rows=reader.bad_rows,
        bad_row_examples=reader.bad_row_examples,
        truncated=reader.truncated,
        bytes_read=reader.consumed,
    )


@dataclass
class _Pins:
    revision: str | None = None
    linked_etag: str | None = None
    plain_etag: str | None = None

    def observe(self, response: httpx.Response) -> None:
        self.revision = self.revision or response.headers.get("X-Repo-Commit")
        self.linked_etag = self.linked_etag or _normalize_etag(
            response.headers.get("X-Linked-Etag")
        )
        self.plain_etag = self.plain_etag or _normalize_etag(response.headers.get("ETag"))

    @property
    def etag(self) -> str | None:
        # The linked etag names the file's content (its sha256 for LFS); a CDN's own ETag may not.
        return self.linked_etag or self.plain_etag


@contextmanager
def _final_response(
    client: httpx.Client, url: str, headers: dict[str, str], url_guard: UrlGuard | None
) -> Iterator[tuple[httpx.Response, _Pins]]:
    """Follow redirects by hand; yield the final 2xx response, still streaming."""
    pins = _Pins()
    origin = _origin(httpx.URL(url))
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        _check(url_guard, current, shown=url)
        try:
            request = client.build_request("GET", current, headers=headers)
            # auth=None: a client-level auth would be re-applied on every hop, CDN included.
            response = client.send(request, stream=True, follow_redirects=False, auth=None)
        except httpx.HTTPError as exc:
            raise _as_dataset_error(error_from_transport(exc, what=f"Fetching {url}")) from exc
        try:
            pins.observe(response)
            if response.is_redirect:
                current = str(response.url.join(response.headers["Location"]))
                if _origin(httpx.URL(current)) != origin:
                    # A signed CDN URL needs no token, and the token must not reach another host.
                    headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
                continue
            if not response.is_success:
                raise _status_error(response, url)
            yield response, pins
            return
        finally:
            response.close()
    raise DatasetError(f"too many redirects fetching {url}")


def _check(url_guard: UrlGuard | None, target: str, *, shown: str) -> None:
    if url_guard is None:
        return
    try:
        url_guard(target)
    except ValueError as exc:
        raise DatasetError(str(exc)) from None
    except OSError as exc:
        raise DatasetError(f"could not resolve the host of {shown}: {exc}", transient=True) from exc


def _status_error(response: httpx.Response, url: str) -> DatasetError:
    status = response.status_code
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    # The Hub puts its reason in headers ("Entry not found", "Repository not found").
    message = response.headers.get("X-Error-Message")
    return DatasetError(
        f"HTTP {status} fetching {url}" + (f": {message}" if message else ""),
        transient=is_transient_status(status, has_retry_after=retry_after is not None),
        status=status,
        retry_after=retry_after,
    )


def _as_dataset_error(error: ProviderError) -> DatasetError:
    return DatasetError(error.detail, transient=error.transient, status=error.status)


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port or {"http": 80, "https": 443}.get(url.scheme)


def _normalize_etag(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"') or None


@dataclass
class _RowReader:
    max_rows: int
    max_bytes: int
    input_field: str | None
    expected_field: str | None
    max_row_bytes: int = DEFAULT_MAX_ROW_BYTES
    samples: list[Sample] = field(default_factory=list)
    bad_rows: int = 0
    bad_row_examples: list[BadRow] = field(default_factory=list)
    truncated: bool = False
    consumed: int = 0  # bytes of the lines taken (kept, bad or blank)
    hasher: Any = field(default_factory=hashlib.sha256)
    _received: int = 0
    _line_no: int = 0
    _buffer: bytearray = field(default_factory=bytearray)
    # Bytes of an over-long line skipped so far (None: not inside one).
    _skipping: int | None = None

    def feed(self, chunk: bytes) -> bool:
        """Take a chunk; ``False`` means stop reading (a cap was reached)."""
        room = self.max_bytes - self._received
        over = len(chunk) > room
        if over:
            chunk = chunk[:room]
        self._received += len(chunk)
        self._buffer += chunk
        while True:
            end = self._buffer.find(b"\n")
            if self._skipping is not None:
                if not self._skip(end):
                    return False
                if end == -1:
                    break
                continue
            if end == -1:
                if len(self._buffer) > self.max_row_bytes + 2 and not self._start_skip():
                    return False
                if self._skipping is None:
                    break
                continue
            line = bytes(self._buffer[: end + 1])
            del self._buffer[: end + 1]
            if not self._take(line):
                return False
        if over:
            # The byte cap cut the file: what is left in the buffer is a partial line.
            self.truncated = True
            return False
        return True

    def finish(self) -> None:
        """End of file: a last line without a newline is still a whole line."""
        if self._skipping is not None:
            self._skip(-1, eof=True)
        elif self._buffer:
            self._take(bytes(self._buffer))
            self._buffer.clear()

    def _start_skip(self) -> bool:
        """The buffered line is already over the row limit: stop holding it."""
        if len(self.samples) >= self.max_rows:
            self.truncated = True
            return False
        self._skipping = 0
        return True

    def _skip(self, end: int, *, eof: bool = False) -> bool:
        """Consume the over-long line up to ``end`` (its newline), or all that is buffered
        when ``end`` is -1; once whole (its newline, or the end of the file), count it as a
        bad row."""
        taken = bytes(self._buffer) if end == -1 else bytes(self._buffer[: end + 1])
        del self._buffer[: len(taken)]
        self.hasher.update(taken)
        self.consumed += len(taken)
        assert self._skipping is not None
        self._skipping += len(taken)
        if end != -1 or eof:
            self._line_no += 1
            self._bad(f"row is longer than the {self.max_row_bytes}-byte limit")
            self._skipping = None
        return True

    def _bad(self, reason: str) -> None:
        self.bad_rows += 1
        if len(self.bad_row_examples) < MAX_BAD_ROW_EXAMPLES:
            self.bad_row_examples.append(BadRow(self._line_no, reason))

    def _take(self, line: bytes) -> bool:
        raw = line.rstrip(b"\r\n")
        if self._line_no == 0 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        if raw.strip() and len(self.samples) >= self.max_rows:
            self.truncated = True  # one more row exists past the cap; leave it unread
            return False
        self._line_no += 1
        self.consumed += len(line)
        self.hasher.update(line)
        if not raw.strip():
            return True
        if len(raw) > self.max_row_bytes:
            self._bad(f"row is longer than the {self.max_row_bytes}-byte limit")
            return True
        sample_or_reason = self._parse(raw)
        if isinstance(sample_or_reason, Sample):
            self.samples.append(sample_or_reason)
        else:
            self._bad(sample_or_reason)
        return True

    def _parse(self, raw: bytes) -> Sample | str:
        try:
            row = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            return "not UTF-8"
        except json.JSONDecodeError as exc:
            return f"invalid JSON ({exc.msg})"
        if not isinstance(row, dict):
            return "not a JSON object"
        input_value = _pick(row, self.input_field, INPUT_ALIASES)
        text = None if input_value is None else _as_text(input_value)
        if not text or not text.strip():
            wanted = repr(self.input_field) if self.input_field else "input/question/prompt"
            return f"no {wanted} value"
        expected = _pick(row, self.expected_field, EXPECTED_ALIASES)
        return Sample(
            index=len(self.samples),
            input=text,
            expected=None if expected is None else _as_text(expected),
            line=self._line_no,
        )

    def why_empty(self) -> str:
        if self.bad_rows:
            examples = self.bad_row_examples
            rows = "row" if self.bad_rows == 1 else "rows"
            at = "line" if len(examples) == 1 else "lines"
            lines = ", ".join(str(b.line) for b in examples)
            first = examples[0]
            return (
                f"{self.bad_rows} bad {rows}, first at {at} {lines} "
                f"(line {first.line}: {first.reason})"
            )
        if self.truncated:
            return f"the first line is longer than the {self.max_bytes}-byte limit"
        return "the file is empty"


def _pick(row: dict[str, Any], configured: str | None, aliases: tuple[str, ...]) -> Any:
    if configured:
        return row.get(configured)
    for name in aliases:
        if row.get(name) is not None:
            return row[name]
    return None


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return clean_text(json.dumps(value, ensure_ascii=False))
