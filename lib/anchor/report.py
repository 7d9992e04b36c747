"""A self-contained HTML drift report, to attach to an incident ticket.

One file, inline CSS and inline SVG, no scripts and no external resources,
so it opens the same anywhere (a mail client, a ticket attachment, an
air-gapped laptop). Everything from the logs (templates, hosts, narrative
text, feedback reasons) is escaped: log text is untrusted.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, Optional

from anchor import __version__
from anchor.diff import Signal
from anchor.narrate import Narrative, describe, drill_in_spl
from anchor.operations import DriftReport
from anchor.splguard import spl_string
from anchor.terminal import duration, unit, with_unit
from anchor.timefmt import plausible_time

STYLE = """
body{font:14px/1.45 -apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#1d1d1f;
max-width:1100px}
h1{font-size:20px;margin:0 0 4px} h2{font-size:16px;margin:20px 0 6px}
.meta{color:#555;margin-bottom:8px}
.story{background:#f4f6f8;border-left:4px solid #2b6cb0;padding:10px 14px;margin:12px 0}
code{background:#eef;padding:2px 4px;border-radius:3px;word-break:break-all}
table{border-collapse:collapse;width:100%;margin-top:12px} th,td{text-align:left;padding:6px 8px;
border-bottom:1px solid #e2e2e2;vertical-align:top} th{background:#fafafa;font-weight:600}
.sev{font-weight:700;border-radius:3px;padding:1px 6px;color:#fff}
.HIGH{background:#c53030} .MEDIUM{background:#dd6b20} .LOW{background:#718096}
.bars{width:260px} .bar{height:9px;border-radius:2px;margin:3px 0}
.key{display:inline-block;width:14px;vertical-align:middle} .base{background:#a0aec0}
.cur{background:#2b6cb0} .num{color:#555;font-size:12px}
.windows td,.windows th{border:none;padding:2px 10px 2px 0;width:auto}
.legend{color:#444;font-size:12px;margin-top:10px} .legend span{margin-right:10px}
.fb{font-size:12px;color:#333;margin-top:4px} svg{display:block;margin-top:6px}
footer{color:#777;font-size:12px;margin-top:24px}
"""


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _bars(signal: Signal) -> str:
    baseline, current = signal.baseline or 0.0, signal.current or 0.0
    top = max(abs(baseline), abs(current)) or 1.0
    width = lambda v: f"{max(0.0, min(100.0, abs(v) / top * 100)):.1f}%"  # noqa: E731
    suffix = unit(signal.to_dict())
    return (
        f'<div class="bar base" style="width:{width(baseline)}" title="baseline"></div>'
        f'<div class="bar cur" style="width:{width(current)}" title="current"></div>'
        f'<div class="num">baseline {_e(with_unit(signal.baseline, suffix))} &rarr; '
        f"current {_e(with_unit(signal.current, suffix))}</div>"
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


def _windows(windows: Mapping[str, Mapping[str, Any]]) -> str:
    rows = []
    for label in ("anchor", "current"):
        w = windows.get(label) or {}
        start, end, events = w.get("start"), w.get("end"), w.get("events")
        span = duration(end - start) if start is not None and end is not None else "?"
        count = f"{events:,.0f} events" if events is not None else "events unknown"
        rows.append(
            f'<tr class="window" data-window="{label}"><th>{label.capitalize()} window</th>'
            f"<td>{_e(_when(start))} &rarr; {_e(_when(end))}</td><td>{_e(span)}</td>"
            f"<td>{_e(count)}</td></tr>"
        )
    return f'<table class="windows">{"".join(rows)}</table>'


def windowed_spl(spl: str, window: Optional[Mapping[str, Any]]) -> str:
    """``spl`` limited to a window: earliest/latest (epoch seconds) join its base search."""
    start, end = (window or {}).get("start"), (window or {}).get("end")
    if start is None or end is None:
        return spl
    base, _, rest = spl.partition(" | ")
    # latest is exclusive in Splunk: one second past the last event keeps it in.
    terms = f"{base} earliest={int(start)} latest={int(end) + 1}"
    return f"{terms} | {rest}" if rest else terms


def _feedback(entries: Sequence[Mapping[str, Any]]) -> str:
    if not entries:
        return '<div class="fb">No feedback yet.</div>'
    lines = [
        f"<li>{_e(e.get('outcome'))} by {_e(e.get('user'))}, {_e(_when(e.get('time')))}"
        + (f": {_e(e.get('reason'))}" if e.get("reason") else "")
        + "</li>"
        for e in entries
    ]
    return f'<div class="fb">Feedback:<ul>{"".join(lines)}</ul></div>'


def timeline_svg(line: Mapping[str, Sequence[float]], width: int = 240, height: int = 56) -> str:
    """A small chart: the expected band (grey), the expected rate (dashed), the actual rate."""
    rates, low, high = line["rate"], line["low"], line["high"]
    top = max(max(rates), max(high)) or 1.0
    step = width / max(1, len(rates) - 1)
    x = lambda i: f"{i * step:.1f}"  # noqa: E731
    y = lambda v: f"{height - 4 - (v / top) * (height - 8):.1f}"  # noqa: E731
    band = " ".join(f"{x(i)},{y(v)}" for i, v in enumerate(high))
    band += " " + " ".join(f"{x(i)},{y(v)}" for i, v in reversed(list(enumerate(low))))
    expected = " ".join(f"{x(i)},{y(v)}" for i, v in enumerate(line["expected"]))
    actual = " ".join(f"{x(i)},{y(v)}" for i, v in enumerate(rates))
    first, last = _when(line["start"][0]), _when(line["start"][-1])
    label = (
        f"{line['sourcetype']}: events per hour, {first} to {last}; anchor's expected band in grey"
    )
    return (
        f'<svg class="timeline" role="img" aria-label="{_e(label)}" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{_e(label)}</title>"
        f'<polygon points="{band}" fill="#e2e8f0"/>'
        f'<polyline points="{expected}" fill="none" stroke="#a0aec0" stroke-dasharray="3,3"/>'
        f'<polyline points="{actual}" fill="none" stroke="#2b6cb0" stroke-width="2"/></svg>'
        f'<div class="num">{_e(line["sourcetype"])} events per hour, hour by hour (blue), '
        "against the anchor's expected band (grey)</div>"
    )


LEGEND = (
    '<div class="legend"><strong>Legend.</strong> '
    '<span><span class="sev HIGH">HIGH</span> large change or something new/gone at volume</span>'
    '<span><span class="sev MEDIUM">MEDIUM</span> clear change</span>'
    '<span><span class="sev LOW">LOW</span> small but significant change</span><br>'
    "Score = severity &times; learned weight &times; effect size; weight 1.00 is neutral, "
    "confirmed feedback raises it and false positives lower it (decaying back over 30 days). "
    "Every signal passed a significance test (Benjamini-Hochberg, q below alpha) and an effect floor."
    "</div>"
)

TOP_TIMELINES = 3


def _row(signal: Signal, report: DriftReport, feedback: Sequence[Mapping[str, Any]]) -> str:
    window = report.windows.get("current")
    query = drill_in_spl(signal)  # None when the guard refuses it: no drill-in offered
    spl = windowed_spl(query, window) if query else "(none)"
    line = report.timelines.get(signal.sourcetype) if signal.rank <= TOP_TIMELINES else None
    mine = [e for e in feedback if e.get("signal_id") == signal.signal_id]
    return (
        f'<tr class="signal" data-signal="{_e(signal.signal_id)}"><td>{signal.rank}</td>'
        f'<td><span class="sev {_e(signal.severity)}">{_e(signal.severity)}</span></td>'
        f"<td>{_e(describe(signal))}<div class='num'>{_e(signal.signal_id)}</div>"
        f"{_evidence(signal)}<div class='num'>Drill in: <code>{_e(spl)}</code></div>"
        f"{_feedback(mine)}</td>"
        f'<td class="bars">{_bars(signal)}{timeline_svg(line) if line else ""}</td>'
        f"<td>{_e(f'{signal.score:.2f}')}<div class='num'>weight "
        f"{_e(f'{signal.weight:.2f}')} when ranked</div></td></tr>"
    )


def _recall(similar: Sequence[Mapping[str, Any]]) -> str:
    if not similar:
        return "<h2>Similar past drifts</h2><p class='num'>None: this looks new.</p>"
    items = [
        f'<li data-similar="{_e(p.get("drift_id"))}">drift {_e(p.get("drift_id"))} '
        f"(similarity {float(p.get('similarity') or 0):.2f}): "
        f"{_e(p.get('outcome') or 'never judged')}"
        + (f" &mdash; {_e(p.get('reason'))}" if p.get("reason") else "")
        + "</li>"
        for p in similar
    ]
    return f"<h2>Similar past drifts</h2><ul>{''.join(items)}</ul>"


def _reproduce(report: DriftReport) -> str:
    """How to see this again: the stored drift, and the same window compared in Splunk."""
    current = report.windows.get("current") or {}
    lines = [f"recorded by: {report.origin}"] if report.origin else []
    lines.append(f"anchor report {report.drift_id}")
    if current.get("start") is not None and current.get("end") is not None:
        lines.append(
            f"<your base search> earliest={int(current['start'])} "
            f"latest={int(current['end']) + 1} | anchorcompare anchor={spl_string(report.anchor)}"
        )
    body = "".join(f"<li><code>{_e(line)}</code></li>" for line in lines)
    return f"<h2>Reproduce</h2><ul>{body}</ul>"


def _story(story: Narrative) -> str:
    """The narrative: summary, then hypothesis, drill-in search and why it was offline, if any."""
    parts = [f'<div class="story"><p><strong>Summary.</strong> {_e(story.summary)}</p>']
    if story.hypothesis:
        parts.append(f"<p><strong>Hypothesis.</strong> {_e(story.hypothesis)}</p>")
    if story.drill_in_spl:
        parts.append(f"<p><strong>Drill in.</strong> <code>{_e(story.drill_in_spl)}</code></p>")
    if story.fallback_reason:
        parts.append(f"<p class='num'>Narrated offline: {_e(story.fallback_reason)}</p>")
    parts.append("</div>")
    return "\n".join(parts)


def render_html(
    report: DriftReport,
    *,
    created: Optional[float] = None,
    link: Optional[str] = None,
    feedback: Sequence[Mapping[str, Any]] = (),
) -> str:
    """The report as one HTML document; ``feedback`` is the drift's feedback log."""
    story = report.narrative
    rows = "\n".join(_row(s, report, feedback) for s in report.signals)
    total = report.total if report.total is not None else len(report.signals)
    shown = (
        f"{len(report.signals)} of {total} finding(s) shown"
        if total > len(report.signals)
        else f"{total} finding(s)"
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Anchor drift {_e(report.drift_id)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>Drift {_e(report.drift_id)} against anchor {_e(report.anchor)}</h1>",
        f'<div class="meta">{_e(_when(created))} &middot; {_e(shown)} '
        f"&middot; narrative: {_e(story.source)}"
        + (f" ({_e(story.model)})" if story.model else "")
        + "</div>",
        _windows(report.windows),
        _story(story),
    ]
    for note in report.notes:
        parts.append(f"<p class='num'>Note: {_e(note)}</p>")
    parts.append(
        "<table><thead><tr><th>#</th><th>Severity</th><th>What changed</th>"
        "<th>Baseline <span class='bar base key'></span> vs current "
        "<span class='bar cur key'></span></th><th>Score</th></tr></thead><tbody>"
        + rows
        + "</tbody></table>"
    )
    parts.append(LEGEND)
    if story.steps:
        parts.append("<h2>Investigation</h2><ol>")
        parts += [f"<li>{_e(s['tool'])} &rarr; {_e(s['status'])}</li>" for s in story.steps]
        parts.append("</ol>")
    parts.append(_recall(report.similar))
    parts.append(_reproduce(report))
    if link:
        parts.append(f'<p><a href="{_e(link)}">Open in Splunk</a></p>')
    parts.append(f"<footer>Anchor {_e(__version__)}</footer>")
    parts.append("</body></html>")
    return "\n".join(parts)
