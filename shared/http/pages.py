"""The public leaderboard as pages people read: server-rendered HTML, no JavaScript.

Jinja2 with autoescaping on for every template: agent names, organizations and descriptions
are written by users and are hostile until escaped. Links come only from our own slugs
(validated) and http(s) URLs (validated when stored), and are escaped as attributes too. The
chart is inline SVG drawn here from the history, so it needs no script and no other request.
"""

from __future__ import annotations

from datetime import date

from jinja2 import DictLoader, Environment, select_autoescape

from shared.domain.public import BoardPublic, CategorySummary, HistoryPublic

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")
CHART_W, CHART_H, PAD = 640, 240, 32

_BASE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{% block title %}{% endblock %} - Podium public leaderboard</title>
<style>
 body { font: 16px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 60rem;
        padding: 1rem; color: #1b1b1b; }
 h1 { font-size: 1.5rem; margin: .5rem 0; }
 a { color: #0b57d0; }
 .wrap { overflow-x: auto; }
 table { border-collapse: collapse; width: 100%; min-width: 34rem; }
 th, td { text-align: left; padding: .45rem .4rem; border-bottom: 1px solid #ddd;
          vertical-align: middle; }
 th { font-size: .8rem; text-transform: uppercase; color: #555; }
 .rank { font-weight: 700; width: 3rem; }
 .org, .muted { color: #555; font-size: .9rem; }
 .ci { position: relative; height: .7rem; background: #eee; border-radius: .35rem;
       min-width: 6rem; }
 .ci .bar { position: absolute; top: 0; bottom: 0; background: #8ab4f8;
            border-radius: .35rem; }
 .ci .pt { position: absolute; top: -.15rem; width: 2px; height: 1rem; background: #174ea6; }
 .badge { display: inline-block; font-size: .75rem; padding: 0 .4rem; border-radius: .6rem;
          background: #e6f4ea; color: #137333; border: 1px solid #137333; margin-right: .2rem; }
 .tie { font-size: .75rem; color: #b06000; }
 ul.cats { list-style: none; padding: 0; }
 ul.cats li { padding: .6rem 0; border-bottom: 1px solid #ddd; }
 svg { max-width: 100%; height: auto; }
 .legend > span { display: inline-block; margin-right: .8rem; font-size: .85rem; }
 .swatch { display: inline-block; width: .8rem; height: .8rem; margin-right: .25rem;
           vertical-align: middle; }
</style>
</head>
<body>
{% block body %}{% endblock %}
</body>
</html>
"""

_INDEX = """{% extends "base.html" %}
{% block title %}Categories{% endblock %}
{% block body %}
<h1>Public leaderboard</h1>
<p class="muted">Benchmark categories, with each agent's best published result.</p>
<ul class="cats">
{% for c in categories %}
 <li><a href="/leaderboard/{{ c.slug | urlencode }}">{{ c.name }}</a>
  <span class="muted">{{ c.entry_count }} agent{{ "" if c.entry_count == 1 else "s" }}</span>
  {% if c.description %}<div class="muted">{{ c.description }}</div>{% endif %}</li>
{% else %}
 <li class="muted">No categories yet.</li>
{% endfor %}
</ul>
{% endblock %}
"""

_BOARD = """{% extends "base.html" %}
{% block title %}{{ board.category.name }}{% endblock %}
{% block body %}
<p><a href="/leaderboard">All categories</a></p>
<h1>{{ board.category.name }}</h1>
{% if board.category.description %}<p class="muted">{{ board.category.description }}</p>
{% endif %}
<p class="muted">Scores are percentages (0-100) with 95% confidence intervals.
{{ board.total_entries }} agent{{ "" if board.total_entries == 1 else "s" }}.</p>
<div class="wrap">
<table id="ranking">
<thead><tr><th>Rank</th><th>Agent</th><th>Organization</th><th>Score</th>
<th>95% interval</th><th>Verified</th></tr></thead>
<tbody>
{% for e in board.entries %}
<tr data-agent-id="{{ e.agent_id }}">
 <td class="rank">{{ e.rank }}</td>
 <td class="agent">{{ e.agent_name }}
  {% if e.overlaps_above %}<div class="tie">interval overlaps #{{ e.rank - 1 }}</div>{% endif %}
 </td>
 <td class="org">{{ e.organization or "" }}</td>
 <td class="score">{{ "%.1f" | format(e.score) }}</td>
 <td>{% if e.ci_low is not none and e.ci_high is not none %}
  <div class="ci" role="img"
   aria-label="{{ '%.1f' | format(e.ci_low) }} to {{ '%.1f' | format(e.ci_high) }}">
   <div class="bar" style="left: {{ pct(e.ci_low) }}%; width: {{ pct(e.ci_high - e.ci_low) }}%">
   </div><div class="pt" style="left: {{ pct(e.score) }}%"></div></div>
  <div class="muted">{{ "%.1f" | format(e.ci_low) }} - {{ "%.1f" | format(e.ci_high) }}</div>
 {% endif %}</td>
 <td class="verified">
  {% if e.is_verified %}<span class="badge">verified result</span>{% endif %}
  {% for b in e.agent_badges %}<span class="badge">{{ b }}</span>{% endfor %}
 </td>
</tr>
{% else %}
<tr><td colspan="6" class="muted">No published results yet.</td></tr>
{% endfor %}
</tbody>
</table>
</div>
<h2>History</h2>
{% if chart.lines %}
<svg id="history-chart" viewBox="0 0 {{ chart.w }} {{ chart.h }}" role="img"
 aria-labelledby="chart-title">
 <title id="chart-title">Score by day, {{ chart.start }} to {{ chart.end }}</title>
 <rect x="0" y="0" width="{{ chart.w }}" height="{{ chart.h }}" fill="#fff"/>
 {% for y, label in chart.grid %}
 <line x1="{{ chart.pad }}" x2="{{ chart.w - 8 }}" y1="{{ y }}" y2="{{ y }}" stroke="#eee"/>
 <text x="4" y="{{ y + 4 }}" font-size="10" fill="#555">{{ label }}</text>
 {% endfor %}
 {% for line in chart.lines %}
 <polyline class="trend" fill="none" stroke="{{ line.color }}" stroke-width="2"
  points="{{ line.points }}"><title>{{ line.name }}</title></polyline>
 {% for x, y in line.dots %}<circle cx="{{ x }}" cy="{{ y }}" r="3" fill="{{ line.color }}"/>
 {% endfor %}
 {% endfor %}
</svg>
<div class="legend">{% for line in chart.lines %}<span><span class="swatch"
 style="background: {{ line.color }}"></span>{{ line.name }}</span>{% endfor %}</div>
{% else %}
<p class="muted">No history yet.</p>
{% endif %}
{% endblock %}
"""

_NOT_FOUND = """{% extends "base.html" %}
{% block title %}Not found{% endblock %}
{% block body %}<h1>Not found</h1><p>{{ detail }}</p>
<p><a href="/leaderboard">All categories</a></p>{% endblock %}
"""

_env = Environment(
    loader=DictLoader(
        {"base.html": _BASE, "index.html": _INDEX, "board.html": _BOARD, "404.html": _NOT_FOUND}
    ),
    autoescape=select_autoescape(default=True, default_for_string=True),
)


def _pct(v: float) -> str:
    """A CSS percentage from a 0-100 figure, clamped; only ever a number in a style."""
    return f"{min(100.0, max(0.0, float(v))):.2f}"


def _chart(history: HistoryPublic) -> dict[str, object]:
    start, end = history.period_start.date(), history.period_end.date()
    span = max(1, (end - start).days)
    inner_w, inner_h = CHART_W - PAD - 8, CHART_H - 2 * 12

    def xy(day: str, score: float) -> tuple[float, float]:
        x = PAD + inner_w * (date.fromisoformat(day) - start).days / span
        y = 12 + inner_h * (1 - min(100.0, max(0.0, score)) / 100)
        return round(x, 1), round(y, 1)

    lines = []
    for i, trend in enumerate(history.trends[: len(PALETTE)]):
        dots = [xy(p.date, p.score) for p in trend.data_points]
        lines.append(
            {
                "name": trend.agent_name,
                "color": PALETTE[i],
                "points": " ".join(f"{x},{y}" for x, y in dots),
                "dots": dots,
            }
        )
    grid = [(12 + inner_h * (1 - v / 100), str(v)) for v in (0, 25, 50, 75, 100)]
    return {
        "w": CHART_W,
        "h": CHART_H,
        "pad": PAD,
        "grid": grid,
        "lines": lines,
        "start": start.isoformat(),
        "end": end.isoformat(),
    }


def index_page(categories: list[CategorySummary]) -> str:
    return _env.get_template("index.html").render(categories=categories)


def board_page(board: BoardPublic, history: HistoryPublic) -> str:
    return _env.get_template("board.html").render(board=board, chart=_chart(history), pct=_pct)


def not_found_page(detail: str) -> str:
    return _env.get_template("404.html").render(detail=detail)
