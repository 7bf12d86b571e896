"""Fetching Hugging Face JSONL datasets from the Hub stand-in, over real loopback HTTP."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx
import pytest

from shared.providers.errors import DatasetError
from shared.providers.hf_datasets import BadRow, DatasetFile, Sample, fetch_jsonl
from shared.providers.url_safety import OutboundGuard
from tests.standins import HFStandin

REPO = "acme/support-evals"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
LOOPBACK_OK = OutboundGuard(allow_private=True)


def jsonl(*rows: object) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


@pytest.fixture
def hub():
    with HFStandin() as server:
        yield server


@pytest.fixture
def client():
    with httpx.Client(trust_env=False, timeout=5) as c:
        yield c


def fetch(client: httpx.Client, url: str, **overrides: Any) -> DatasetFile:
    options = {
        "client": client,
        "url": url,
        "token": None,
        "max_rows": 1000,
        "max_bytes": 1_000_000,
        "url_guard": LOOPBACK_OK,
        **overrides,
    }
    return fetch_jsonl(**options)


# --- rows ------------------------------------------------------------------------------------


def test_field_aliases(hub, client):
    url = hub.add_file(
        REPO,
        "eval.jsonl",
        jsonl(
            {"input": "a", "expected": "A"},
            {"question": "b", "output": "B"},
            {"prompt": "c", "answer": "C"},
            {"question": "d", "target": "D"},
            {"input": "e", "reference": "E"},
            {"input": "f", "question": "ignored", "expected": "F", "answer": "ignored"},
        ),
    )
    samples = fetch(client, url).samples

    assert [(s.input, s.expected) for s in samples] == [
        ("a", "A"),
        ("b", "B"),
        ("c", "C"),
        ("d", "D"),
        ("e", "E"),
        ("f", "F"),
    ]
    assert [(s.index, s.line) for s in samples] == [(i, i + 1) for i in range(6)]


def test_configured_columns_replace_the_aliases(hub, client):
    url = hub.add_file(
        REPO,
        "eval.jsonl",
        jsonl({"q": "one", "gold": "1", "input": "x"}, {"input": "no q here", "gold": "2"}),
    )
    dataset = fetch(client, url, input_field="q", expected_field="gold")

    assert dataset.samples == [Sample(index=0, input="one", expected="1", line=1)]
    assert dataset.bad_row_examples == [BadRow(line=2, reason="no 'q' value")]


def test_expected_may_be_absent_and_values_are_stringified(hub, client):
    url = hub.add_file(
        REPO,
        "eval.jsonl",
        jsonl(
            {"input": "judge me"},
            {"input": 7, "expected": 3.5},
            {"input": {"text": "hé"}, "expected": [1, "two"]},
            {"input": "flag", "expected": True},
            {"input": "null", "expected": None},
        ),
    )
    samples = fetch(client, url).samples

    assert [(s.input, s.expected) for s in samples] == [
        ("judge me", None),
        ("7", "3.5"),
        ('{"text": "hé"}', '[1, "two"]'),
        ("flag", "true"),
        ("null", None),
    ]


def test_bad_rows_are_counted_with_line_numbers(hub, client):
    content = (
        b'{"input": "ok-1"}\n'
        b"\n"
        b"{not json\n"
        b"[1, 2]\n"
        b'{"expected": "no input"}\n'
        b"   \n"
        b'{"input": ""}\n'
        b'{"input": "ok-2"}\n'
        b'{"input": "\xff"}\n'
    )
    url = hub.add_file(REPO, "eval.jsonl", content)
    dataset = fetch(client, url)

    assert [(s.input, s.line, s.index) for s in dataset.samples] == [("ok-1", 1, 0), ("ok-2", 8, 1)]
    assert dataset.bad_rows == 5
    assert [b.line for b in dataset.bad_row_examples] == [3, 4, 5, 7, 9]
    reasons = [b.reason for b in dataset.bad_row_examples]
    assert reasons[0].startswith("invalid JSON")
    assert reasons[1:] == [
        "not a JSON object",
        "no input/question/prompt value",
        "no input/question/prompt value",
        "not UTF-8",
    ]


def test_only_the_first_five_bad_rows_are_kept_as_examples(hub, client):
    url = hub.add_file(REPO, "eval.jsonl", "oops\n" * 8 + jsonl({"input": "fine"}))
    dataset = fetch(client, url)

    assert dataset.bad_rows == 8
    assert [b.line for b in dataset.bad_row_examples] == [1, 2, 3, 4, 5]


def test_crlf_bom_and_a_missing_final_newline(hub, client):
    content = b'\xef\xbb\xbf{"input": "a"}\r\n{"input": "b"}'
    url = hub.add_file(REPO, "eval.jsonl", content)
    dataset = fetch(client, url)

    assert [s.input for s in dataset.samples] == ["a", "b"]
    assert dataset.bad_rows == 0
    assert dataset.bytes_read == len(content)


def test_no_usable_rows_names_the_bad_lines(hub, client):
    url = hub.add_file(REPO, "eval.jsonl", "nope\n[]\n{}\n")

    with pytest.raises(DatasetError) as caught:
        fetch(client, url)

    assert caught.value.reason.startswith("no usable rows: 3 bad rows, first at lines 1, 2, 3")
    assert caught.value.transient is False


def test_an_empty_file_has_no_usable_rows(hub, client):
    url = hub.add_file(REPO, "eval.jsonl", "\n\n")

    with pytest.raises(DatasetError, match="no usable rows: the file is empty"):
        fetch(client, url)


# --- caps ------------------------------------------------------------------------------------


def test_max_rows_truncates(hub, client):
    rows = [{"input": f"q{i}"} for i in range(10)]
    url = hub.add_file(REPO, "eval.jsonl", jsonl(*rows))
    dataset = fetch(client, url, max_rows=4)

    assert [s.input for s in dataset.samples] == ["q0", "q1", "q2", "q3"]
    assert dataset.truncated is True
    kept = jsonl(*rows[:4]).encode()
    assert (dataset.bytes_read, dataset.content_sha256) == (
        len(kept),
        hashlib.sha256(kept).hexdigest(),
    )


def test_exactly_max_rows_is_not_truncated(hub, client):
    url = hub.add_file(REPO, "eval.jsonl", jsonl({"input": "a"}, {"input": "b"}) + "\n")
    dataset = fetch(client, url, max_rows=2)

    assert len(dataset.samples) == 2
    assert dataset.truncated is False


def test_max_bytes_stops_reading_and_drops_the_partial_line(hub, client):
    rows = [{"input": f"question number {i}", "expected": str(i)} for i in range(50)]
    content = jsonl(*rows).encode()
    kept = jsonl(*rows[:3]).encode()
    url = hub.add_file(REPO, "eval.jsonl", content)

    dataset = fetch(client, url, max_bytes=len(kept) + 10)

    assert [s.input for s in dataset.samples] == [f"question number {i}" for i in range(3)]
    assert dataset.truncated is True
    assert dataset.bad_rows == 0  # the cut line is dropped, not counted as bad
    assert dataset.bytes_read == len(kept)
    assert dataset.content_sha256 == hashlib.sha256(kept).hexdigest()


def test_byte_cap_across_many_streamed_chunks(hub, client):
    content = jsonl(*({"input": f"q{i}", "expected": "x" * 20} for i in range(20_000))).encode()
    url = hub.add_file(REPO, "big.jsonl", content, lfs=True)
    cap = 300_001
    kept = content[: content.rindex(b"\n", 0, cap) + 1]

    dataset = fetch(client, url, max_bytes=cap, max_rows=1_000_000)

    assert len(dataset.samples) == kept.count(b"\n")
    assert dataset.samples[-1].input == f"q{len(dataset.samples) - 1}"
    assert dataset.truncated is True
    assert dataset.content_sha256 == hashlib.sha256(kept).hexdigest()


def test_a_file_that_fits_max_bytes_exactly_is_whole(hub, client):
    content = jsonl({"input": "a"}, {"input": "b"}).encode()
    url = hub.add_file(REPO, "eval.jsonl", content)

    dataset = fetch(client, url, max_bytes=len(content))

    assert (len(dataset.samples), dataset.truncated) == (2, False)


def test_a_first_line_longer_than_max_bytes(hub, client):
    url = hub.add_file(REPO, "eval.jsonl", jsonl({"input": "x" * 500}))

    with pytest.raises(DatasetError, match="longer than the 100-byte limit"):
        fetch(client, url, max_bytes=100)


# --- pins ------------------------------------------------------------------------------------


def test_revision_etag_and_hash_pin_what_was_read(hub, client):
    content = jsonl({"input": "a", "expected": "A"}, {"input": "b", "expected": "B"})
    url = hub.add_file(REPO, "eval.jsonl", content, commit=COMMIT)

    first = fetch(client, url)
    second = fetch(client, url)

    file = hub.files[(REPO, "eval.jsonl")]
    assert first.revision == COMMIT
    assert first.etag == file.git_blob_id
    assert first.content_sha256 == hashlib.sha256(content.encode()).hexdigest()
    assert first.bytes_read == len(content.encode())
    assert first.truncated is False
    assert second == first


def test_a_commit_revision_resolves_too(hub, client):
    hub.add_file(REPO, "eval.jsonl", jsonl({"input": "a"}), commit=COMMIT)

    dataset = fetch(client, hub.url_for(REPO, "eval.jsonl", revision=COMMIT))

    assert dataset.revision == COMMIT


def test_lfs_redirect_is_followed_and_pinned_from_the_resolve_response(hub, client):
    content = jsonl(*({"input": f"q{i}", "expected": f"a{i}"} for i in range(20)))
    url = hub.add_file(REPO, "data/eval.jsonl", content, commit=COMMIT, lfs=True)

    dataset = fetch(client, url)

    assert len(dataset.samples) == 20
    assert dataset.revision == COMMIT  # only the 302 carried X-Repo-Commit
    sha256 = hashlib.sha256(content.encode()).hexdigest()
    assert dataset.etag == sha256  # X-Linked-Etag, not the CDN's own ETag
    assert dataset.content_sha256 == sha256
    assert [r.path for r in hub.requests] == [
        f"/datasets/{REPO}/resolve/main/data/eval.jsonl",
        f"/cdn/{sha256}",
    ]


# --- auth ------------------------------------------------------------------------------------


def test_token_is_sent_as_bearer(client):
    with HFStandin(token="hf_secret") as hub:
        url = hub.add_file(REPO, "eval.jsonl", jsonl({"input": "a"}))

        dataset = fetch(client, url, token="hf_secret")

        assert len(dataset.samples) == 1
        assert hub.requests[-1].headers["authorization"] == "Bearer hf_secret"


def test_no_token_for_a_private_repo_is_a_401(client):
    with HFStandin(token="hf_secret") as hub:
        url = hub.add_file(REPO, "eval.jsonl", jsonl({"input": "a"}))

        with pytest.raises(DatasetError) as caught:
            fetch(client, url)

        assert caught.value.status == 401
        assert caught.value.reason.startswith(f"HTTP 401 fetching {url}")
        assert "authorization" not in hub.requests[-1].headers


def test_token_is_not_forwarded_to_another_host_on_redirect(client):
    with HFStandin() as cdn, HFStandin(token="hf_secret", cdn=cdn) as hub:
        url = hub.add_file(REPO, "eval.jsonl", jsonl({"input": "a"}), commit=COMMIT, lfs=True)

        dataset = fetch(client, url, token="hf_secret")

        assert dataset.revision == COMMIT
        assert [s.input for s in dataset.samples] == ["a"]
        assert hub.requests[0].headers["authorization"] == "Bearer hf_secret"
        assert len(cdn.requests) == 1
        assert "authorization" not in cdn.requests[0].headers


def test_same_origin_redirect_keeps_the_token(client):
    with HFStandin(token="hf_secret") as hub:
        url = hub.add_file(REPO, "eval.jsonl", jsonl({"input": "a"}), lfs=True)

        fetch(client, url, token="hf_secret")

        assert [r.headers.get("authorization") for r in hub.requests] == ["Bearer hf_secret"] * 2


# --- failures --------------------------------------------------------------------------------


def test_404_names_the_status_and_url(hub, client):
    hub.add_file(REPO, "eval.jsonl", jsonl({"input": "a"}))
    url = hub.url_for(REPO, "missing.jsonl")

    with pytest.raises(DatasetError) as caught:
        fetch(client, url)

    assert caught.value.reason == f"HTTP 404 fetching {url}: Entry not found"
    assert (caught.value.status, caught.value.transient) == (404, False)


def test_unknown_repo_is_a_404(hub, client):
    with pytest.raises(DatasetError, match=r"HTTP 404 fetching .*Repository not found"):
        fetch(client, hub.url_for("acme/nothing", "eval.jsonl"))


def test_503_is_transient_with_retry_after(hub, client):
    url = hub.add_file(REPO, "eval.jsonl", jsonl({"input": "a"}))
    hub.fail(REPO, "eval.jsonl", 503, headers={"Retry-After": "20"}, times=1)

    with pytest.raises(DatasetError) as caught:
        fetch(client, url)
    assert (caught.value.status, caught.value.transient, caught.value.retry_after) == (
        503,
        True,
        20.0,
    )

    assert len(fetch(client, url).samples) == 1  # the Hub is back


def test_connection_refused_is_transient(client):
    with HFStandin() as gone:
        url = gone.url_for(REPO, "eval.jsonl")

    with pytest.raises(DatasetError) as caught:
        fetch(client, url)
    assert (caught.value.transient, caught.value.status) == (True, None)


def test_too_many_redirects(hub, client):
    url = hub.add_file(REPO, "eval.jsonl", jsonl({"input": "a"}))
    hub.fail(REPO, "eval.jsonl", 302, headers={"Location": url})

    with pytest.raises(DatasetError, match="too many redirects"):
        fetch(client, url)


# --- outbound URL guard ----------------------------------------------------------------------


def test_default_guard_refuses_loopback_before_any_request(hub, client):
    url = hub.add_file(REPO, "eval.jsonl", jsonl({"input": "a"}))

    with pytest.raises(DatasetError, match="loopback") as caught:
        fetch_jsonl(client=client, url=url, token=None, max_rows=10, max_bytes=1000)

    assert caught.value.transient is False
    assert hub.requests == []


def test_a_redirect_to_the_metadata_server_is_refused(hub, client):
    url = hub.add_file(REPO, "eval.jsonl", jsonl({"input": "a"}))
    metadata = "http://169.254.169.254/computeMetadata/v1/instance/service-accounts/"
    hub.fail(REPO, "eval.jsonl", 302, headers={"Location": metadata})

    with pytest.raises(DatasetError, match="metadata server"):
        fetch(client, url, token="hf_secret")


# --- rows too long for a document, text Firestore refuses ------------------------------------


@pytest.mark.parametrize("lfs", [False, True], ids=["direct", "streamed"])
def test_a_line_over_the_row_limit_is_a_bad_row_streamed_past(hub, client, lfs):
    huge = json.dumps({"input": "x" * 300_000})
    content = (jsonl({"input": "a"}) + huge + "\n" + jsonl({"input": "b"}) + huge).encode()
    url = hub.add_file(REPO, f"long-{lfs}.jsonl", content, lfs=lfs)

    dataset = fetch(client, url, max_row_bytes=1000)

    assert [s.input for s in dataset.samples] == ["a", "b"]
    assert [s.line for s in dataset.samples] == [1, 3]
    # The last line has no newline: it is still a whole (bad) line.
    assert dataset.bad_row_examples == [
        BadRow(2, "row is longer than the 1000-byte limit"),
        BadRow(4, "row is longer than the 1000-byte limit"),
    ]
    assert dataset.content_sha256 == hashlib.sha256(content).hexdigest()
    assert dataset.bytes_read == len(content) and dataset.truncated is False


def test_max_rows_reached_before_a_long_line_stops_there(hub, client):
    content = (jsonl({"input": "a"}) + "y" * 5000 + "\n" + jsonl({"input": "b"})).encode()
    url = hub.add_file(REPO, "long-after-cap.jsonl", content)

    dataset = fetch(client, url, max_rows=1, max_row_bytes=1000)

    assert [s.input for s in dataset.samples] == ["a"]
    assert dataset.truncated is True and dataset.bad_rows == 0


def test_lone_surrogates_become_replacement_characters(hub, client):
    content = '{"input": "q \\udcff", "expected": {"k\\ud800": 1}}\n'
    url = hub.add_file(REPO, "surrogates.jsonl", content)

    (sample,) = fetch(client, url).samples

    assert sample.input == "q \ufffd"
    assert sample.expected == '{"k\ufffd": 1}'
    sample.input.encode("utf-8")  # what Firestore needs
