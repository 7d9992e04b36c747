"""A self-contained HTML drift report, to attach to an incident ticket.

One file, inline CSS, no scripts and no external resources, so it opens the
same anywhere (a mail client, a ticket attachment, an air-gapped laptop).
Everything from the logs (templates, hosts, narrative text) is escaped:
log text is untrusted.
"""

from __future__ import annotations

import html
from datetime import datetime, timezone
from typing import Optional

from anchor.diff import Signal
from anchor.narrate import describe
from anchor.operations import DriftReport
from anchor.timefmt import plausible_time

STYLE = """
body{font:14px/1.45 -apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#1d1d1f;
max-width:1100px}
h1{font-size:20px;margin:0 0 4px} .meta{color:#555;margin-bottom:16px}
.story{background:#f4f6f8;border-left:4px solid #2b6cb0;padding:10px 14px;margin:12px 0}
code{background:#eef;padding:2px 4px;border-radius:3px;word-break:break-all}
table{border-collapse:collapse;width:100%;margin-top:12px} th,td{text-align:left;padding:6px 8px;
border-bottom:1px solid #e2e2e2;vertical-align:top} th{background:#fafafa;font-weight:600}
.sev{font-weight:700;border-radius:3px;padding:1px 6px;color:#fff}
.HIGH{background:#c53030} .MEDIUM{background:#dd6b20} .LOW{background:#718096}
.bars{width:260px} .bar{height:9px;border-radius:2px;margin:3px 0}
.key{display:inline-block;width:14px;vertical-align:middle} .base{background:#a0aec0} .cur{background:#2b6cb0} .num{color:#555;font-size:12px}
"""


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _number(value: Optional[float]) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _bars(signal: Signal) -> str:
    baseline, current = signal.baseline or 0.0, signal.current or 0.0
    top = max(abs(baseline), abs(current)) or 1.0
    width = lambda v: f"{max(0.0, min(100.0, abs(v) / top * 100)):.1f}%"  # noqa: E731
    return (
        f'<div class="bar base" style="width:{width(baseline)}" title="baseline"></div>'
        f'<div class="bar cur" style="width:{width(current)}" title="current"></div>'
        f'<div class="num">baseline {_e(_number(signal.baseline))} &rarr; '
        f"current {_e(_number(signal.current))}</div>"
    )


def _when(epoch: Optional[float]) -> str:
    if not epoch or not plausible_time(epoch):
        return "unknown time"
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _evidence(finding: Signal) -> str:
    """The signals folded into a finding, by id, under its description."""
    folded = finding.evidence[1:]
    if not folded:
        return ""
    ids = ", ".join(_e(e.signal_id) for e in folded)
    return f"<div class='num'>with {len(folded)} related signal(s): {ids}</div>"


def render_html(
    report: DriftReport, *, created: Optional[float] = None, link: Optional[str] = None
) -> str:
    """The report as one HTML document."""
    story = report.narrative
    rows = "\n".join(
        f'<tr class="signal" data-signal="{_e(s.signal_id)}"><td>{s.rank}</td>'
        f'<td><span class="sev {_e(s.severity)}">{_e(s.severity)}</span></td>'
        f"<td>{_e(describe(s))}<div class='num'>{_e(s.signal_id)}</div>{_evidence(s)}</td>"
        f'<td class="bars">{_bars(s)}</td><td>{_e(f"{s.score:.2f}")}</td></tr>'
        for s in report.signals
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Anchor drift {_e(report.drift_id)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>Drift {_e(report.drift_id)} against anchor {_e(report.anchor)}</h1>",
        f'<div class="meta">{_e(_when(created))} &middot; {len(report.signals)} finding(s) '
        f"&middot; narrative: {_e(story.source)}"
        + (f" ({_e(story.model)})" if story.model else "")
        + "</div>",
        f'<div class="story"><p><strong>Summary.</strong> {_e(story.summary)}</p>',
    ]
    if story.hypothesis:
        parts.append(f"<p><strong>Hypothesis.</strong> {_e(story.hypothesis)}</p>")
    if story.drill_in_spl:
        parts.append(f"<p><strong>Drill in.</strong> <code>{_e(story.drill_in_spl)}</code></p>")
    if story.fallback_reason:
        parts.append(f"<p class='num'>Narrated offline: {_e(story.fallback_reason)}</p>")
    parts.append("</div>")
    for note in report.notes:
        parts.append(f"<p class='num'>Note: {_e(note)}</p>")
    parts.append(
        "<table><thead><tr><th>#</th><th>Severity</th><th>What changed</th>"
        "<th>Baseline <span class='bar base key'></span> vs current "
        "<span class='bar cur key'></span></th><th>Score</th></tr></thead><tbody>"
        + rows
        + "</tbody></table>"
    )
    if story.steps:
        parts.append("<h2>Investigation</h2><ol>")
        parts += [f"<li>{_e(s['tool'])} &rarr; {_e(s['status'])}</li>" for s in story.steps]
        parts.append("</ol>")
    if link:
        parts.append(f'<p><a href="{_e(link)}">Open in Splunk</a></p>')
    parts.append("</body></html>")
    return "\n".join(parts)
