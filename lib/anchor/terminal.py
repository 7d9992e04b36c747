"""How the CLI draws on a terminal: width, colour, units, progress, safe log text.

Everything here is presentation only; the engine never imports it. Log text
reaches the terminal only through ``safe()``, so a hostile log line cannot
move the cursor, retitle the window or recolour what follows.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Optional, TextIO

from anchor.safetext import printable
from anchor.timefmt import plausible_time

DEFAULT_WIDTH = 80
MIN_WHAT = 16
# C0 and C1 control characters (ESC, BEL, CSI...) except tab; newlines become spaces too.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
_COLOURS = {"HIGH": "\033[1;31m", "MEDIUM": "\033[33m", "LOW": "\033[2m"}
_RESET = "\033[0m"


def safe(text: Any) -> str:
    """Log-derived text made harmless for a terminal (control characters become U+FFFD)."""
    # One line per cell: newlines too become U+FFFD.
    return printable("" if text is None else str(text)).replace("\n", "\ufffd")


def wants_colour(stream: TextIO, environ: Mapping[str, str] = os.environ) -> bool:
    """Colour only on a terminal, and never with NO_COLOR set (https://no-color.org)."""
    if "NO_COLOR" in environ or environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def terminal_width(stream: TextIO) -> int:
    """The terminal's width; 80 when piped, so files and pipes get stable output."""
    isatty = getattr(stream, "isatty", None)
    if isatty and isatty():
        return max(40, shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns)
    return DEFAULT_WIDTH


@dataclass
class Terminal:
    """The output settings of one CLI run."""

    __slots__ = ("colour", "wide", "width")
    width: int
    colour: bool
    wide: bool

    def severity(self, text: str, padded: str) -> str:
        if not self.colour or text not in _COLOURS:
            return padded
        return f"{_COLOURS[text]}{padded}{_RESET}"


def shorten(text: str, width: int) -> str:
    if width <= 0 or len(text) <= width:
        return text
    return text[: max(0, width - 3)] + "..."


def table(
    rows: Sequence[Sequence[Any]],
    header: Sequence[str],
    *,
    term: Optional[Terminal] = None,
    flex: Optional[int] = None,
    severity: Optional[int] = None,
) -> str:
    """A plain aligned table; column ``flex`` shrinks so lines fit ``term.width``.

    With ``term.wide`` nothing is cut. Column ``severity`` is coloured on a
    colour terminal (after padding, so escape codes never skew alignment).
    """
    cells = [[str(c) for c in header]] + [["-" if c is None else safe(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    if term is not None and flex is not None and not term.wide:
        others = sum(w for i, w in enumerate(widths) if i != flex) + 2 * (len(widths) - 1)
        room = max(MIN_WHAT, term.width - others)
        if widths[flex] > room:
            widths[flex] = room
            for row in cells:
                row[flex] = shorten(row[flex], room)
    lines = []
    for number, row in enumerate(cells):
        padded = [c.ljust(w) for c, w in zip(row, widths)]
        if term is not None and severity is not None and number > 0:
            padded[severity] = term.severity(row[severity], padded[severity])
        lines.append("  ".join(padded).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def when(epoch: Optional[float]) -> str:
    if epoch is None:
        return "-"
    if not plausible_time(epoch):  # a record written before times were checked must still list
        return f"{epoch!r} (out of range)"
    return datetime.fromtimestamp(float(epoch), tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def duration(seconds: Optional[float]) -> str:
    if seconds is None:
        return "?"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f}h".replace(".0h", "h")
    return f"{seconds / 86400:.1f}d".replace(".0d", "d")


def window_line(label: str, window: Optional[Mapping[str, Any]]) -> str:
    """``anchor   2025-01-01 00:00:00Z .. 2025-01-04 00:00:00Z (3d, 12,345 events)``."""
    window = window or {}
    start, end, events = window.get("start"), window.get("end"), window.get("events")
    span = duration(end - start) if start is not None and end is not None else "?"
    count = f"{events:,.0f} events" if events is not None else "events unknown"
    return f"{label:<8} {when(start)} .. {when(end)} ({span}, {count})"


# Units by metric field name suffix: the conventions of most log schemas.
_FIELD_UNITS = (
    ("_ms", "ms"),
    ("_us", "us"),
    ("_ns", "ns"),
    ("_seconds", "s"),
    ("_secs", "s"),
    ("_sec", "s"),
    ("_s", "s"),
    ("_bytes", "B"),
    ("_pct", "%"),
    ("_percent", "%"),
)


def unit(signal: Mapping[str, Any]) -> str:
    """The unit of a signal's baseline and current values ('' when unknown)."""
    kind, stat = signal.get("kind"), signal.get("stat") or ""
    if kind == "volume" or stat == "events_per_hour":
        return "/h"
    if kind in ("template", "host", "error_rate", "hourly_profile") or stat.endswith("_pct"):
        return "%"
    if kind == "metric":
        name = (signal.get("field") or "").lower()
        return next((u for suffix, u in _FIELD_UNITS if name.endswith(suffix)), "")
    return ""


def format_number(value: Optional[float], missing: str = "n/a") -> str:
    """A measured value for people: whole and thousands-separated from 100 up, else 3 digits.

    From 100 up ``.3g`` would already drop the decimals, and would print 999.7 as 1e+03.
    """
    if value is None:
        return missing
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def with_unit(value: Optional[float], suffix: str) -> str:
    return "-" if value is None else format_number(value) + suffix


class Progress:
    """Events read so far, their rate and the time spent, redrawn on one stderr line.

    Silent unless the stream is a terminal; ``finish`` clears the line.
    """

    def __init__(self, label: str, stream: Optional[TextIO] = None, *, every: float = 0.5) -> None:
        # sys.stderr of the moment, not of import: main(argv) may run with streams redirected.
        stream = sys.stderr if stream is None else stream
        self.label, self.stream, self.every = label, stream, every
        self.enabled = bool(getattr(stream, "isatty", None) and stream.isatty())
        self.count = 0
        self.started = time.monotonic()
        self._drawn = 0.0

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def wrap(self, events: Iterable[Any]) -> Iterator[Any]:
        for event in events:
            self.count += 1
            if self.enabled and not self.count % 1000:
                now = time.monotonic()
                if now - self._drawn >= self.every:
                    self._drawn = now
                    self._draw()
            yield event
        self.finish()

    def _draw(self) -> None:
        elapsed = self.elapsed()
        rate = self.count / elapsed if elapsed > 0 else 0.0
        self.stream.write(
            f"\r{self.label}: {self.count:,} events, {rate:,.0f}/s, {duration(elapsed)}\033[K"
        )
        self.stream.flush()

    def finish(self) -> None:
        if self.enabled and self._drawn:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self._drawn = 0.0


def summary_line(
    action: str, *, events: float, sourcetypes: int, templates: int, elapsed: float
) -> str:
    return (
        f"{action}: {events:,.0f} events, {sourcetypes} sourcetype(s), "
        f"{templates} template(s) in {elapsed:.1f}s"
    )
