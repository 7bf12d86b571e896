"""The page people read, loaded in a real browser (headless Chromium) against the local stack:
what a person sees is the ranking in order, the badges, the chart, and hostile names shown as
text, never run."""

from __future__ import annotations

import os
import shutil
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from tests.browser import rendered_dom, screenshot
from tests.public_helpers import (
    P,
    admin_client,
    create_agent,
    create_category,
    publish,
    result_row,
    stored_run,
)

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = '<script>document.title="pwned"</script><img src=x onerror=alert(1)>'


class Seen(HTMLParser):
    """The text of each ranking row and the elements a person would see."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.tags: list[str] = []
        self.polylines = 0
        self.title = ""
        self._cell: list[str] | None = None
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "tr" and dict(attrs).get("data-agent-id"):
            self.rows.append([])
        if tag == "td" and self.rows:
            self._cell = []
        if tag == "polyline":
            self.polylines += 1
        self._in_title = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None and self.rows:
            self.rows[-1].append(" ".join(" ".join(self._cell).split()))
            self._cell = None
        if tag == "tbody":
            self._cell = None
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._in_title and not self.title:
            self.title = data


@pytest.fixture
def published_board(ws, container, base_url):
    """A board of three agents: one with a hostile name, one verified with badges."""
    admin = admin_client(container, base_url)
    cat = create_category(admin, name="Coding Tasks <b>bold</b>", description="Code & more")
    slug = cat["slug"]
    agents = {
        "hostile": create_agent(ws.http, name=HOSTILE, organization="<i>Evil</i> Corp"),
        "claude": create_agent(ws.http, name="Claude 3 Opus", organization="Anthropic"),
        "gpt": create_agent(ws.http, name="GPT-4 Turbo", organization="OpenAI"),
    }
    scores = {"gpt": 0.925, "claude": 0.912, "hostile": 0.60}
    results = {}
    for key, score in scores.items():
        run = stored_run(container, ws.id, results=[result_row("m", score, half_width=0.02)])
        resp = publish(ws.http, run, slug, agents[key]["id"])
        assert resp.status_code == 201, resp.text
        results[key] = resp.json()
    assert admin.post(f"{P}/results/{results['gpt']['id']}/verify").status_code == 200
    assert admin.post(
        f"{P}/verify", json={"agent_id": agents["gpt"]["id"], "badge_type": "official"}
    ).is_success
    admin.close()
    return slug, agents


def test_the_page_in_a_browser(published_board, base_url, tmp_path):
    slug, _ = published_board
    url = f"{base_url}/leaderboard/{slug}"
    dom = rendered_dom(url, tmp_path)
    seen = Seen()
    seen.feed(dom)
    # The ranking, in order, as a person reads it.
    names = [row[1] for row in seen.rows]
    assert names[0] == "GPT-4 Turbo" and names[1].startswith("Claude 3 Opus")
    assert names[2].startswith(HOSTILE)  # shown as the text it is
    assert [row[0] for row in seen.rows] == ["1", "2", "3"]
    assert [row[3] for row in seen.rows] == ["92.5", "91.2", "60.0"]
    assert "interval overlaps #1" in names[1]  # 92.5±2 and 91.2±2 overlap
    # Badges: the verified result and the agent's badge.
    assert "verified result" in seen.rows[0][5] and "official" in seen.rows[0][5]
    assert seen.rows[1][5] == "" and seen.rows[2][2] == "<i>Evil</i> Corp"
    # The chart: one line per agent, drawn without any script.
    assert seen.polylines == 3
    # Nothing a user wrote ran or became markup (the page has no script of its own, and the
    # browser ran this one with JavaScript on).
    assert "script" not in seen.tags and "img" not in seen.tags and "i" not in seen.tags
    assert seen.title.startswith("Coding Tasks <b>bold</b>") and "pwned" not in seen.title
    for width, height, name in ((390, 1400, "phone"), (1200, 1000, "desktop")):
        shot = screenshot(url, tmp_path / f"board-{name}.png", tmp_path, width=width, height=height)
        assert shot.stat().st_size > 5000
    # `PODIUM_UPDATE_SCREENSHOT=1 pytest tests/test_public_page.py` refreshes the README's image.
    if os.environ.get("PODIUM_UPDATE_SCREENSHOT"):
        shutil.copy(tmp_path / "board-desktop.png", ROOT / "docs" / "public-leaderboard.png")


def test_the_category_index_and_a_missing_category(published_board, base_url, tmp_path):
    slug, _ = published_board
    seen = Seen()
    seen.feed(rendered_dom(f"{base_url}/leaderboard", tmp_path))
    assert "a" in seen.tags and "b" not in seen.tags  # the category's <b> is text
    html = httpx.get(f"{base_url}/leaderboard").text
    assert f'href="/leaderboard/{slug}"' in html
    assert "Coding Tasks &lt;b&gt;bold&lt;/b&gt;" in html
    missing = httpx.get(f"{base_url}/leaderboard/no-such-{slug}")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    assert "not found" in missing.text


def test_the_page_works_without_javascript_and_escapes_names(published_board, base_url):
    slug, _ = published_board
    resp = httpx.get(f"{base_url}/leaderboard/{slug}")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/html")
    html = resp.text
    # No script of its own, and what users wrote is text: every < of theirs is &lt;.
    assert "<script" not in html.lower() and "<img" not in html.lower()
    assert "&lt;script&gt;" in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert '<meta name="viewport"' in html
    assert "&lt;i&gt;Evil&lt;/i&gt; Corp" in html
