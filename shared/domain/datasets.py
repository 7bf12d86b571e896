"""Dataset sources: which URLs count as a Hugging Face JSONL file."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

# {HF_ENDPOINT}/datasets/{owner}/{repo}/(resolve|blob)/{revision}/{path}.jsonl
_HF_PATH = re.compile(
    r"^/datasets/(?P<owner>[A-Za-z0-9][\w.-]*)/(?P<repo>[\w.-]+)"
    r"/(?P<kind>resolve|blob)/(?P<rev>[^/]+)/(?P<path>(?:[^/]+/)*[^/]+\.jsonl)$"
)


def normalize_hf_jsonl_url(url: str, hf_endpoint: str) -> str:
    """Return the canonical ``resolve/`` URL for a Hugging Face JSONL file, or raise ValueError.

    A ``blob/`` link (what the Hub's web page shows) is rewritten to its ``resolve/`` twin, which
    is what serves the raw file. Query strings such as ``?download=true`` are dropped.
    """
    base = urlsplit(hf_endpoint.rstrip("/"))
    parts = urlsplit(url.strip())
    expected = (
        f"{hf_endpoint.rstrip('/')}/datasets/{{owner}}/{{repo}}/resolve/{{revision}}/{{path}}.jsonl"
    )
    if (parts.scheme, parts.netloc.lower()) != (base.scheme, base.netloc.lower()):
        raise ValueError(f"must be a Hugging Face dataset file URL of the form {expected}")
    path = parts.path
    if base.path and path.startswith(base.path):
        path = path[len(base.path) :]
    m = _HF_PATH.match(path)
    if not m:
        if "/datasets/" in path and not unquote(path).lower().endswith(".jsonl"):
            raise ValueError(f"must point to a .jsonl file ({expected})")
        raise ValueError(f"must be a Hugging Face dataset file URL of the form {expected}")
    if ".." in m["path"].split("/"):
        raise ValueError("the file path may not contain '..'")
    repo = f"{m['owner']}/{m['repo']}"
    return f"{hf_endpoint.rstrip('/')}/datasets/{repo}/resolve/{m['rev']}/{m['path']}"
