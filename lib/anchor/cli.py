"""``python -m anchor``: the offline command-line interface over an SQLite memory.

Exit status: 0 on success, 2 on bad input or usage (one line on stderr
saying what to fix), 3 when ``check-spl`` rejects a query, 4 when capture,
compare or diff read no event at all, 5 when compare's input holds none of the
anchor's sourcetypes (likely the wrong input or format), 6 when ``compare
--fail-on`` finds a finding at or above the given severity. A failed command
writes nothing. Every read command takes ``--json`` (one JSON object or
array on stdout); tables fit 80 columns unless ``--wide``.
"""

from __future__ import annotations

import argparse
import functools
import getpass
import json
import os
import shlex
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal, NoReturn, Optional, overload

from anchor import __version__, operations
from anchor.diff import DEFAULT_ALPHA, SEVERITIES
from anchor.errors import AnchorError, InputError, NoCoverage, NoEvents
from anchor.events import FORMATS, ReadReport, field_choice
from anchor.fingerprint import Fingerprint
from anchor.memory import ANCHOR_SUMMARY_FIELDS, Memory
from anchor.safetext import printable
from anchor.store import SQLiteStore
from anchor.terminal import (
    Progress,
    Terminal,
    duration,
    safe,
    summary_line,
    table,
    terminal_width,
    unit,
    wants_colour,
    when,
    window_line,
    with_unit,
)

EXIT_USAGE = 2
EXIT_REJECTED = 3
EXIT_NO_EVENTS = 4  # capture/compare/diff read no event at all
EXIT_NO_COVERAGE = 5  # compare: the input holds none of the anchor's sourcetypes
EXIT_FAIL_ON = 6  # compare/diff --fail-on: a finding at or above the severity


class UsageError(AnchorError):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2, like every other input error
        raise UsageError(
            f"{message} (see `anchor {self.prog.split(' ', 1)[-1]} --help`)".replace(
                "anchor anchor", "anchor"
            )
        )


def default_db() -> str:
    if os.environ.get("ANCHOR_DB"):
        return os.environ["ANCHOR_DB"]
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or os.path.expanduser("~")
    elif sys.platform == "darwin":
        base = os.path.expanduser("~/Library/Application Support")
    else:
        base = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return os.path.join(base, "anchor", "anchor.db")


def _user(explicit: Optional[str] = None) -> str:
    if explicit:
        return explicit
    try:
        return getpass.getuser()
    except Exception:  # getuser raises various errors when no login name exists
        return "unknown"


@overload
def _open(path: str, *, create: Literal[True]) -> Memory: ...
@overload
def _open(path: str, *, create: bool) -> Optional[Memory]: ...
def _open(path: str, *, create: bool) -> Optional[Memory]:
    """The memory at ``path``; None when it does not exist and must not be created."""
    if path != ":memory:" and not os.path.exists(path):
        if not create:
            return None
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
    return Memory(SQLiteStore(path))


def _require(path: str) -> Memory:
    memory = _open(path, create=False)
    if memory is None:
        raise InputError(f"no Anchor memory at {path} yet: capture an anchor first (or set --db)")
    return memory


def _emit(args, out, document: Any) -> bool:
    """Print ``document`` as JSON when ``--json`` was given; True when it did."""
    if getattr(args, "json", False):
        out(json.dumps(document, sort_keys=False))
        return True
    return False


def _metrics(args) -> Optional[list[str]]:
    """``--metric A --metric B`` and ``--metrics A,B`` (the SPL spelling) together."""
    names = [n.strip() for value in (args.metric or []) for n in value.split(",")]
    return [n for n in names if n] or None


def _jobs(args: argparse.Namespace) -> int:
    from anchor.parallel import default_jobs

    return args.jobs or default_jobs()


def _reading(args) -> dict[str, Any]:
    """The reader options shared by every input of capture, compare and diff."""
    return {
        "fmt": args.format,
        "sourcetype": args.sourcetype,
        "metrics": _metrics(args),
        "jobs": _jobs(args),
        "fields": field_choice(args.field, args.exclude_field),
    }


def _fingerprint(args, warn, progress: Progress) -> Fingerprint:
    fingerprint, warnings = operations.read_fingerprint(
        args.input, observe=progress.wrap, **_reading(args)
    )
    for line in warnings:
        warn(line)
    return fingerprint


def _summary(action: str, fingerprint: Fingerprint, progress: Progress) -> str:
    return summary_line(
        action,
        events=fingerprint.count,
        sourcetypes=len(fingerprint.sourcetypes),
        templates=fingerprint.template_count,
        elapsed=progress.elapsed(),
    )


def _detail(s: Mapping[str, Any]) -> str:
    """The template, host or metric a signal is about ('' for a whole sourcetype)."""
    metric = " ".join(filter(None, (s.get("field"), s.get("stat"))))
    return s.get("template") or s.get("host") or metric


def _related(s: Mapping[str, Any]) -> str:
    """' (+3 related)' for a finding that groups several signals as its evidence."""
    evidence = s.get("evidence") or []
    return f" (+{len(evidence)} related)" if evidence else ""


# Short phrases so the template or host (what an engineer reads first) fits 80 columns.
_PHRASES = {
    ("template", "appeared"): "new {}",
    ("template", "disappeared"): "gone {}",
    ("host", "appeared"): "new host {}",
    ("host", "disappeared"): "host {} gone",
    ("error_rate", "up"): "errors up",
    ("error_rate", "down"): "errors down",
}


def _what(s: Mapping[str, Any]) -> str:
    """The thing that changed, in a few words: ``payments: new "Timeout after <NUM>ms"``."""
    detail = _detail(s)
    if s["kind"] == "template" and s.get("template"):
        detail = f'"{detail}"'
    phrase = _PHRASES.get((s["kind"], s["change"]))
    if phrase is None:
        phrase = f"{detail} {s['change']}" if detail else f"{s['kind']} {s['change']}"
    else:
        phrase = phrase.format(detail)
    # "+N related" before the phrase, so cutting the column to the width never hides it.
    return f"{s['sourcetype']}{_related(s)}: {phrase}"


def _delta(s: Mapping[str, Any]) -> str:
    if s.get("delta_pct") is None:
        return "new" if s["change"] == "appeared" else "-"
    return f"{s['delta_pct']:+.0f}%"


def signals_table(signals: Sequence[Mapping[str, Any]], term: Optional[Terminal] = None) -> str:
    """The ranked signals: 80 columns by default, everything (full ids too) with ``--wide``."""
    term = term or Terminal(80, False, False)
    if term.wide:
        header = [
            "#",
            "SEV",
            "SCORE",
            "WEIGHT",
            "KIND",
            "CHANGE",
            "SOURCETYPE",
            "WHAT",
            "BASELINE",
            "CURRENT",
            "DELTA",
            "SIGNAL",
        ]
        rows = [
            [
                s["rank"],
                s["severity"],
                f"{s['score']:.2f}",
                f"{s['weight']:.2f}",
                s["kind"],
                s["change"],
                s["sourcetype"],
                (_detail(s) or "-") + _related(s),
                with_unit(s["baseline"], unit(s)),
                with_unit(s["current"], unit(s)),
                _delta(s),
                s["signal_id"],
            ]
            for s in signals
        ]
        return table(rows, header, term=term, flex=7, severity=1)
    header = ["#", "SEV", "SCORE", "WHAT", "BASELINE", "CURRENT", "DELTA"]
    rows = [
        [
            s["rank"],
            s["severity"],
            f"{s['score']:.2f}",
            _what(s),
            with_unit(s["baseline"], unit(s)),
            with_unit(s["current"], unit(s)),
            _delta(s),
        ]
        for s in signals
    ]
    return table(rows, header, term=term, flex=3, severity=1)


def print_drift(report: operations.DriftReport, out, term: Terminal, *, recorded: bool) -> None:
    """A drift as the terminal shows it: header with both windows, table, story, recall."""
    document = report.to_dict()
    total = document["signal_count"]
    shown = len(report.signals)
    count = f"{shown} of {total} finding(s) shown" if total > shown else f"{total} finding(s)"
    when_text = f" recorded {when(report.created)}" if recorded else ""
    out(f"drift {report.drift_id} against anchor {safe(report.anchor)!r}{when_text}: {count}")
    out(window_line("anchor", report.windows.get("anchor")))
    out(window_line("current", report.windows.get("current")))
    for note in report.notes:
        out(f"note: {safe(note)}")
    if report.signals:
        out(signals_table(document["signals"], term))
        if total > shown:
            out(f"{shown} of {total} shown; --limit {total} shows all")
        out(
            f"feedback: anchor feedback {report.drift_id} RANK confirmed|false_positive "
            '[--reason "..."]'
        )
    else:
        out("no significant change")
    narrative = report.narrative
    out("")
    out(f"Summary ({narrative.source}): {safe(narrative.summary)}")
    if narrative.hypothesis:
        out(f"Hypothesis: {safe(narrative.hypothesis)}")
    if narrative.drill_in_spl:
        out(f"Drill in: {safe(narrative.drill_in_spl)}")
    if narrative.fallback_reason:
        out(f"Narrated offline because: {safe(narrative.fallback_reason)}")
    for step in narrative.steps:
        out(f"Step {step['step']}: {step['tool']}({safe(step['arguments'])}) -> {step['status']}")
    if narrative.truncated:
        out("Investigation stopped at its step budget (truncated).")
    for past in report.similar:
        outcome = past.get("outcome") or "no feedback"
        out(
            f"Similar past drift {past['drift_id']} (similarity {past['similarity']:.2f}, {outcome})"
        )


# -- commands ---------------------------------------------------------------
def cmd_capture(args, out, warn) -> int:
    progress = Progress("reading")
    fingerprint = _fingerprint(args, warn, progress)
    memory = _open(args.db, create=True)
    head = operations.capture(
        memory, args.name, fingerprint, user=_user(), now=time.time(), metrics=_metrics(args)
    )
    out(
        f"captured anchor {head['name']!r}: {head['events']:,.0f} events, "
        f"{len(head['sourcetypes'])} sourcetype(s), {head['templates']} template(s), "
        f"window {when(head['window_start'])} .. {when(head['window_end'])}, "
        f"in {progress.elapsed():.1f}s"
    )
    return 0


def _llm_settings(args) -> Optional[tuple[str, str]]:
    """(url, model) when the LLM is asked for; a usage error when the flags do not fit.

    Checked before anything is read or written, so a bad combination writes nothing.
    """
    if args.no_llm and (args.narrate or args.deep):
        raise InputError(
            f"{'--deep' if args.deep else '--narrate'} asks for the LLM and --no-llm forbids it: "
            "drop one of them"
        )
    if args.no_llm or not (args.narrate or args.deep):
        return None
    url = args.llm_url or os.environ.get("ANCHOR_LLM_URL")
    model = args.llm_model or os.environ.get("ANCHOR_LLM_MODEL")
    if not url or not model:
        raise InputError(
            f"{'--deep' if args.deep else '--narrate'} needs --llm-url and --llm-model "
            "(or ANCHOR_LLM_URL and ANCHOR_LLM_MODEL)"
        )
    return url, model


def _narrator(args, memory):
    """The LLM narrator when asked for (--narrate, --deep) and configured; None means offline."""
    settings = _llm_settings(args)
    if settings is None:
        return None
    url, model = settings
    from anchor.llm import LLMClient, LLMConfig, LLMError
    from anchor.narrate import llm_narrator

    try:
        config = LLMConfig(url, model, api_key=os.environ.get("ANCHOR_LLM_API_KEY", ""))
    except LLMError as error:
        raise InputError(str(error)) from None
    if args.deep:
        from anchor.investigate import Toolbox, deep_narrator

        # Offline there is no Splunk to search: run_spl answers that it is unavailable.
        return deep_narrator(LLMClient(config), Toolbox(memory))
    return llm_narrator(LLMClient(config))


def _fails(report: operations.DriftReport, threshold: Optional[str]) -> bool:
    """True when a signal (shown or not) is at or above ``threshold`` severity."""
    if not threshold or report.top_severity is None:
        return False
    return SEVERITIES.index(report.top_severity) <= SEVERITIES.index(threshold)


def _origin(argv: Sequence[str]) -> str:
    """The command line that made a drift, for its report; an endpoint URL is left out
    (it could carry credentials)."""
    shown, hide = [], False
    for arg in argv:
        if hide:
            shown.append("URL")
        elif arg.startswith("--llm-url="):
            shown.append("--llm-url=URL")
        else:
            shown.append(arg)
        hide = arg == "--llm-url"
    return "anchor " + shlex.join(shown)


def cmd_compare(args, out, warn) -> int:
    memory = _require(args.db)
    head = memory.anchor(args.name)  # fail on an unknown anchor before reading any input
    narrator = _narrator(args, memory)
    progress = Progress("reading")
    fingerprint = _fingerprint(args, warn, progress)
    operations.check_coverage(head.get("sourcetypes") or [], fingerprint)
    report = operations.compare(
        memory,
        args.name,
        fingerprint,
        user=_user(),
        now=time.time(),
        alpha=args.alpha,
        limit=args.limit,
        narrator=narrator,
        origin=_origin(args.argv),
    )
    return show_report(report, args, out, _summary("compared", fingerprint, progress))


def cmd_diff(args, out, warn) -> int:
    if "-" in args.baseline and "-" in args.input:
        raise InputError("only one of --baseline and --input can read stdin ('-')")
    _llm_settings(args)  # flag errors before the memory is created
    progress = Progress("reading")
    baseline, warnings = operations.read_fingerprint(
        args.baseline, observe=progress.wrap, **_reading(args)
    )
    for line in warnings:
        warn(f"baseline: {line}")
    current = _fingerprint(args, warn, progress)
    operations.check_adhoc(baseline, current, args.save_baseline)
    memory = _open(args.db, create=True)
    label = "+".join(os.path.basename(path) if path != "-" else "stdin" for path in args.baseline)
    report = operations.compare_adhoc(
        memory,
        label,
        baseline,
        current,
        user=_user(),
        now=time.time(),
        save_as=args.save_baseline,
        metrics=_metrics(args),
        alpha=args.alpha,
        limit=args.limit,
        narrator=_narrator(args, memory),
        origin=_origin(args.argv),
    )
    return show_report(report, args, out, _summary("compared", current, progress))


def show_report(report: operations.DriftReport, args, out, summary: str) -> int:
    """What compare and diff print: the drift and a summary line, or ``--json``."""
    if _emit(args, out, report.to_dict()):
        print(summary, file=sys.stderr)  # stdout stays one JSON document
    else:
        print_drift(report, out, args.term, recorded=False)
        out(summary)
    return EXIT_FAIL_ON if _fails(report, args.fail_on) else 0


def cmd_feedback(args, out, warn) -> int:
    memory = _require(args.db)
    entry = operations.feedback(
        memory,
        args.drift_id,
        args.signal_id,
        args.outcome,
        user=_user(args.user),
        now=time.time(),
        reason=args.reason or "",
    )
    if _emit(args, out, entry):
        return 0
    out(
        f"recorded {entry['outcome']} on {entry['signal_id']} (drift {entry['drift_id']}) "
        f"by {entry['user']}; weight now {entry['weight']:.2f}"
    )
    replaced = entry.get("replaced")
    if replaced:
        out(
            f"this replaces your earlier {replaced['outcome']} from {when(replaced['time'])} "
            "(only your latest feedback on a signal counts)"
        )
    return 0


def cmd_patterns(args, out, warn) -> int:
    from anchor.parallel import templates
    from anchor.patterns.merge import generalize_lines

    report = ReadReport()
    progress = Progress("reading")
    sourcetypes, patterns = set(), set()
    # Templates are generalized over the whole input (see patterns/merge.py), so read it all first.
    lines = list(
        progress.wrap(
            templates(
                args.input,
                fmt=args.format,
                sourcetype=args.sourcetype,
                jobs=_jobs(args),
                report=report,
            )
        )
    )
    for number, ((sourcetype, _), (pattern_id, template)) in enumerate(
        zip(lines, generalize_lines(lines)), 1
    ):
        sourcetypes.add(sourcetype)
        patterns.add(pattern_id)
        if args.json:
            out(json.dumps({"line": number, "pattern": pattern_id, "template": template}))
        else:
            out(f"{pattern_id}\t{safe(template)}")
    for line in report.warnings():
        warn(line)
    # stdout is the data (one line per event): the summary goes to stderr.
    print(
        summary_line(
            "patterns",
            events=progress.count,
            sourcetypes=len(sourcetypes),
            templates=len(patterns),
            elapsed=progress.elapsed(),
        ),
        file=sys.stderr,
    )
    return 0


def _empty(out, what: str, db: str, hint: str) -> None:
    out(f"no {what} in {db}{': ' + hint if hint else ''}")


def cmd_list(args, out, warn) -> int:
    memory = _open(args.db, create=False)
    anchors = memory.anchors() if memory else []
    keep = (*ANCHOR_SUMMARY_FIELDS, "metrics")
    if _emit(args, out, [{k: a.get(k) for k in keep} for a in anchors]):
        return 0
    if not anchors:
        _empty(out, "anchors", args.db, "capture one with `anchor capture NAME --input FILE`")
        return 0
    rows = [
        [
            a["name"],
            f"{a['events']:,.0f}",
            len(a["sourcetypes"]),
            a["templates"],
            when(a["window_start"]),
            when(a["window_end"]),
        ]
        for a in anchors
    ]
    out(
        table(
            rows,
            ["NAME", "EVENTS", "SOURCETYPES", "TEMPLATES", "FROM", "TO"],
            term=args.term,
            flex=0,
        )
    )
    return 0


def cmd_show(args, out, warn) -> int:
    anchor = operations.describe_anchor(_require(args.db), args.name)
    window = operations.window_of(anchor["window_start"], anchor["window_end"], anchor["events"])
    if _emit(args, out, {**anchor, "window": window}):
        return 0
    out(f"anchor {anchor['name']!r} captured {when(anchor['created'])} by {anchor['created_by']}")
    out(window_line("window", window))
    rows = [
        [
            s["sourcetype"],
            f"{s['events']:,.0f}",
            s["templates"],
            s["hosts"],
            f"{s['error_pct']:.2f}%",
            ", ".join(s["metrics"]) or "-",
        ]
        for s in anchor["sourcetypes"]
    ]
    out(
        table(
            rows,
            ["SOURCETYPE", "EVENTS", "TEMPLATES", "HOSTS", "ERRORS", "METRICS"],
            term=args.term,
            flex=5,
        )
    )
    return 0


def cmd_history(args, out, warn) -> int:
    memory = _open(args.db, create=False)
    keep = (
        "drift_id",
        "created",
        "created_by",
        "anchor",
        "signal_count",
        "top_severity",
        "top_signal",
        "summary",
    )
    documents: list[dict[str, Any]] = []
    if memory is not None:
        drifts = operations.list_drifts(memory, anchor=args.anchor, limit=args.limit)
        documents = [
            {**{k: d.get(k) for k in keep}, "windows": operations.drift_windows(memory, d)}
            for d in drifts
        ]
    if _emit(args, out, documents):
        return 0
    if not documents:
        _empty(out, "drifts", args.db, "run `anchor compare ANCHOR --input FILE`")
        return 0
    rows = []
    for d in documents:
        current = d["windows"]["current"]
        start, end = current.get("start"), current.get("end")
        span = f"+{duration(end - start)}" if start is not None and end is not None else ""
        row = [
            d["drift_id"],
            when(d["created"])[5:16],
            d["anchor"],
            d["signal_count"],
            d["top_severity"] or "-",
            f"{when(start)[5:16]} {span}".strip(),
            f"{current['events']:,.0f}" if current.get("events") is not None else "-",
        ]
        rows.append(row + [d["top_signal"] or "-"] if args.term.wide else row)
    header = ["DRIFT", "CREATED", "ANCHOR", "SIGNALS", "TOP", "COMPARED WINDOW", "EVENTS"]
    header += ["TOP SIGNAL"] if args.term.wide else []
    out(table(rows, header, term=args.term, flex=2, severity=4))
    out("see a drift's ranked signals: anchor report DRIFT (or latest)")
    return 0


def cmd_learned(args, out, warn) -> int:
    memory = _open(args.db, create=False)
    infos = operations.learned_weights(memory, time.time()) if memory else []
    if _emit(args, out, infos):
        return 0
    if not infos:
        _empty(out, "feedback", args.db, "weights are learned from `anchor feedback`")
        return 0
    rows = [
        [
            i["signal_id"],
            f"{i['weight']:.2f}",
            i["confirmed"],
            i["false_positive"],
            when(i["last_feedback"]),
        ]
        for i in infos
    ]
    out(
        table(rows, ["SIGNAL", "WEIGHT", "CONFIRMED", "FALSE_POS", "LAST_FEEDBACK"], term=args.term)
    )
    return 0


def cmd_blind_spots(args, out, warn) -> int:
    memory = _open(args.db, create=False)
    spots = operations.blind_spots(memory, time.time()) if memory else []
    if _emit(args, out, spots):
        return 0
    if not spots:
        _empty(
            out,
            "blind spots",
            args.db,
            "no signal has been marked false positive more often than confirmed",
        )
        return 0
    rows = [
        [s["signal_id"], f"{s['weight']:.2f}", s["false_positive"], s["confirmed"]] for s in spots
    ]
    out(table(rows, ["SIGNAL", "WEIGHT", "FALSE_POS", "CONFIRMED"], term=args.term))
    return 0


def cmd_delete_drift(args, out, warn) -> int:
    memory = _require(args.db)
    drift_id = operations.resolve_drift(memory, args.drift_id)["drift_id"]
    memory.delete_drift(drift_id)
    if not _emit(args, out, {"deleted": drift_id}):
        out(f"deleted drift {drift_id}")
    return 0


def cmd_purge_drifts(args, out, warn) -> int:
    if args.older_than < 0:
        raise InputError("--older-than must be zero or more days")
    if args.older_than == 0 and not (args.yes or args.dry_run):
        raise InputError("--older-than 0 deletes every drift: add --yes (or try --dry-run)")
    memory = _open(args.db, create=False)
    cutoff = time.time() - args.older_than * 86400.0
    removed = memory.purge_drifts(cutoff, dry_run=args.dry_run) if memory else 0
    document = {"removed": removed, "older_than_days": args.older_than, "dry_run": args.dry_run}
    if not _emit(args, out, document):
        verb = "would purge" if args.dry_run else "purged"
        suffix = " [dry run: nothing deleted]" if args.dry_run else ""
        out(f"{verb} {removed} drift(s) older than {args.older_than:g} day(s){suffix}")
    return 0


def cmd_recall(args, out, warn) -> int:
    memory = _require(args.db)
    drift_id = operations.resolve_drift(memory, args.drift_id)["drift_id"]
    found = operations.recall(memory, drift_id)
    if _emit(args, out, found):
        return 0
    if not found:
        out(f"no past drift shares a signal with drift {drift_id}")
        return 0
    rows = [
        [
            f["drift_id"],
            f"{f['similarity']:.2f}",
            f["anchor"],
            when(f["created"])[:16],
            f.get("outcome") or "-",
            f["top_signal"],
        ]
        for f in found
    ]
    header = ["DRIFT", "SIMILARITY", "ANCHOR", "CREATED", "OUTCOME", "TOP SIGNAL"]
    out(table(rows, header, term=args.term, flex=5))
    return 0


def cmd_report(args, out, warn) -> int:
    memory = _require(args.db)
    report = operations.stored_report(memory, args.drift_id, anchor=args.anchor)
    if not args.html:
        if not _emit(args, out, report.to_dict()):
            print_drift(report, out, args.term, recorded=True)
        return 0
    from anchor.report import render_html

    document = render_html(
        report, created=report.created, feedback=operations.feedback_log(memory, report.drift_id)
    )
    if args.html == "-":
        sys.stdout.write(document)
        return 0
    try:
        with open(args.html, "w", encoding="utf-8") as handle:
            handle.write(document)
    except OSError as exc:
        raise InputError(f"cannot write {args.html}: {exc.strerror or exc}") from None
    out(f"wrote {args.html}: drift {report.drift_id}, {len(report.signals)} finding(s)")
    return 0


def cmd_mcp(args, out, warn) -> int:
    """Serve the MCP tools on stdin/stdout until the client disconnects."""
    try:
        import mcp  # noqa: F401
    except ImportError:
        raise InputError(
            "anchor mcp needs the MCP SDK: pip install 'mcp>=1.26,<2' (Python 3.10 or newer)"
        ) from None
    from anchor.backends import Backend, MemoryBackend
    from anchor.mcp_server import serve_stdio
    from anchor.splunk.remote import SplunkBackend

    url = args.splunk_url or os.environ.get("ANCHOR_SPLUNK_URL")
    if url:
        backend: Backend = SplunkBackend(
            url,
            os.environ.get("ANCHOR_SPLUNK_TOKEN", ""),
            ca_file=os.environ.get("ANCHOR_SPLUNKD_CA"),
        )
    else:
        backend = MemoryBackend(_open(args.db, create=True), _user(args.user))
    serve_stdio(backend, read_only=args.read_only)
    return 0


def cmd_maintenance(args, out, warn) -> int:
    from anchor import maintenance

    now = time.time()
    dry_run = getattr(args, "dry_run", False)

    def show(result) -> int:
        document = {
            "action": result.action,
            "detail": result.detail,
            "file": result.file,
            "dry_run": dry_run,
        }
        if not _emit(args, out, document):
            out(result.detail)
            if result.action == "export":
                out(result.file or "")
        return 0

    if args.action in ("decay", "compact", "retention"):
        memory = _open(args.db, create=False)
        if memory is None:
            if not _emit(
                args,
                out,
                {"action": args.action, "detail": "no memory", "file": None, "dry_run": dry_run},
            ):
                out(f"{args.action}: no memory at {args.db} yet; nothing to do")
            return 0
        retention = maintenance.DEFAULT_RETENTION
        if args.action == "retention":
            retention = maintenance.parse_retention(
                {"drift_days": args.days, "drift_max_count": args.max_count}
            )
        return show(
            maintenance.run_step(memory, args.action, now=now, dry_run=dry_run, retention=retention)
        )
    if args.action == "export":
        return show(
            maintenance.run_step(
                _require(args.db),
                "export",
                now=now,
                destination=maintenance.LocalDestination(args.dest),
                export_retention_days=args.retention_days,
            )
        )
    try:
        with open(args.file, "rb") as stream:
            data = stream.read()
    except OSError as exc:
        raise InputError(f"cannot read {args.file}: {exc.strerror or exc}") from exc
    if args.action == "verify":
        return show(maintenance.run_step(None, "verify", now=now, data=data, source=args.file))
    maintenance.verify_export(data)  # before the memory file is created
    memory = _open(args.db, create=True)
    return show(maintenance.run_step(memory, "restore", now=now, data=data, source=args.file))


def cmd_check_spl(args, out, warn) -> int:
    from anchor.splguard import check_spl

    result = check_spl(args.query)
    if not _emit(args, out, {"allowed": result.allowed, "reason": result.reason or None}):
        out("allowed" if result.allowed else f"rejected: {result.reason}")
    return 0 if result.allowed else EXIT_REJECTED


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _alpha(text: str) -> float:
    value = float(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1 (exclusive)")
    return value


# -- the parser -------------------------------------------------------------
DB_HELP = "SQLite memory (default: $ANCHOR_DB or the user data dir); also accepted before COMMAND"
DRIFT_HELP = "a drift id from `anchor history`, or latest"


def _common(sub: argparse.ArgumentParser, *, json_help: Optional[str]) -> None:
    """--db on every command (so it works after the command name), --json on read commands."""
    # SUPPRESS: a --db given before the command is not reset by the subcommand's default.
    sub.add_argument("--db", default=argparse.SUPPRESS, metavar="FILE", help=DB_HELP)
    if json_help:
        sub.add_argument("--json", action="store_true", help=json_help)


def _inputs(sub: argparse.ArgumentParser, metric: bool = True) -> None:
    sub.add_argument(
        "--input",
        action="append",
        required=True,
        metavar="FILE",
        help="events file (JSONL, CSV export or raw lines; '-' for stdin); repeatable",
    )
    sub.add_argument("--format", choices=FORMATS, help="default: from the file extension")
    sub.add_argument("--sourcetype", help="sourcetype for records that have none")
    if metric:
        sub.add_argument(
            "--metric",
            "--metrics",
            dest="metric",
            action="append",
            metavar="FIELD[,FIELD]",
            help="numeric field(s) to summarize, repeatable or comma-separated like the SPL "
            "option metrics= (default: detected)",
        )
        sub.add_argument(
            "--field",
            action="append",
            metavar="FIELD",
            help="field whose values to compare as categories, even a number or an "
            "id-like name (repeatable; default: short text fields and codes such as status)",
        )
        sub.add_argument(
            "--exclude-field",
            action="append",
            metavar="FIELD",
            help="field to leave out of metrics and categories (repeatable)",
        )
    sub.add_argument(
        "--jobs",
        type=_positive_int,
        metavar="N",
        help="worker processes for large inputs (default: the number of cores; "
        "inputs under 8 MB are read by one)",
    )


def _args_capture(sub) -> None:
    sub.add_argument("name", metavar="NAME", help="the anchor to create or replace")
    _inputs(sub)


def _args_compare(sub) -> None:
    sub.add_argument("name", metavar="ANCHOR", help="the anchor to compare against")
    _inputs(sub)
    _outputs(sub)


def _args_diff(sub) -> None:
    sub.add_argument(
        "--baseline",
        action="append",
        required=True,
        metavar="FILE",
        help="baseline events file (same formats as --input); repeatable",
    )
    _inputs(sub)
    sub.add_argument(
        "--save-baseline",
        metavar="NAME",
        help="also store the baseline as anchor NAME and record the drift against it",
    )
    _outputs(sub)


def _outputs(sub) -> None:
    """What compare and diff share: how to test, rank, narrate and print."""
    sub.add_argument("--no-llm", action="store_true", help="use the offline narrator only")
    sub.add_argument(
        "--narrate",
        action="store_true",
        help="narrate with the configured LLM (falls back to offline)",
    )
    sub.add_argument(
        "--deep",
        action="store_true",
        help="investigate with read-only tools (at most 6 steps) before narrating",
    )
    sub.add_argument("--llm-url", help="OpenAI-compatible base URL, e.g. https://api.openai.com/v1")
    sub.add_argument("--llm-model", help="model name; the key comes from $ANCHOR_LLM_API_KEY")
    sub.add_argument(
        "--alpha", type=_alpha, default=DEFAULT_ALPHA, help="false discovery rate (default 0.01)"
    )
    sub.add_argument(
        "--limit",
        type=_positive_int,
        default=operations.DEFAULT_LIMIT,
        help="signals to show (default 20)",
    )
    sub.add_argument(
        "--fail-on",
        type=str.upper,
        choices=SEVERITIES,
        metavar="SEVERITY",
        help=f"exit {EXIT_FAIL_ON} when a signal at or above HIGH, MEDIUM or LOW exists (for cron)",
    )
    sub.add_argument("--wide", action="store_true", help="full text and signal ids, any width")


def _args_feedback(sub) -> None:
    sub.add_argument("drift_id", metavar="DRIFT", help=DRIFT_HELP)
    sub.add_argument(
        "signal_id", metavar="SIGNAL", help="the signal's rank (the # column) or its full id"
    )
    sub.add_argument(
        "outcome", choices=("confirmed", "false_positive"), help="did the signal matter?"
    )
    sub.add_argument("--reason", default="", help="why (shown to whoever sees this drift next)")
    sub.add_argument("--user", default=None, help="who gives the feedback (default: login name)")


def _args_patterns(sub) -> None:
    _inputs(sub, metric=False)


def _args_wide(sub) -> None:
    sub.add_argument("--wide", action="store_true", help="do not cut text to the terminal width")


def _args_history(sub) -> None:
    sub.add_argument("--anchor", help="only drifts against this anchor")
    sub.add_argument("--limit", type=_positive_int, default=None, help="the newest N drifts only")
    _args_wide(sub)


def _args_show(sub) -> None:
    sub.add_argument("name", metavar="ANCHOR", help="an anchor name from `anchor list`")
    _args_wide(sub)


def _args_drift(sub) -> None:
    sub.add_argument("drift_id", metavar="DRIFT", help=DRIFT_HELP)


def _args_purge(sub) -> None:
    sub.add_argument(
        "--older-than",
        type=float,
        required=True,
        metavar="DAYS",
        help="delete drifts recorded more than DAYS days ago (0 needs --yes)",
    )
    sub.add_argument("--dry-run", action="store_true", help="count what would be deleted")
    sub.add_argument("--yes", action="store_true", help="confirm --older-than 0 (every drift)")


def _args_recall(sub) -> None:
    _args_drift(sub)
    _args_wide(sub)


def _args_report(sub) -> None:
    _args_drift(sub)
    sub.add_argument(
        "--html",
        metavar="FILE",
        help="write a self-contained HTML report to FILE ('-' for stdout); "
        "without it the drift is printed as compare prints it",
    )
    sub.add_argument("--anchor", help="with latest: the newest drift against this anchor")
    _args_wide(sub)


def _args_check_spl(sub) -> None:
    sub.add_argument("query", metavar="SPL", help="the search to check, quoted")


def _args_mcp(sub) -> None:
    sub.add_argument("--read-only", action="store_true", help="only the tools that write nothing")
    sub.add_argument(
        "--splunk-url",
        help="a search head (https://host:8089); token from "
        "$ANCHOR_SPLUNK_TOKEN; default: the local memory",
    )
    sub.add_argument("--user", help="who records feedback and captures (default: login name)")


def _args_maintenance(sub) -> None:
    actions = sub.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    actions.required = True
    json_help = "print one JSON object"
    for action, text in (
        ("decay", "refresh learned weights to today's decayed values"),
        ("compact", "drop feedback entries that no longer affect any weight"),
    ):
        step = actions.add_parser(action, help=text, description=text)
        step.add_argument("--dry-run", action="store_true", help="report what would change")
        _common(step, json_help=json_help)
        step.set_defaults(run=cmd_maintenance)
    step = actions.add_parser("retention", help="delete drifts past their retention")
    step.add_argument("--days", type=float, default=90.0, help="keep drifts this many days (90)")
    step.add_argument(
        "--max-count", type=int, default=100000, help="keep at most this many (100000)"
    )
    step.add_argument("--dry-run", action="store_true", help="report what would change")
    _common(step, json_help=json_help)
    step.set_defaults(run=cmd_maintenance)
    step = actions.add_parser(
        "export", help="write the whole memory to DIR/anchor-memory/<time>.json.gz"
    )
    step.add_argument("--dest", required=True, metavar="DIR", help="the folder to write into")
    step.add_argument(
        "--retention-days",
        type=float,
        default=None,
        help="delete our exports in DIR older than this (never the new one)",
    )
    _common(step, json_help=json_help)
    step.set_defaults(run=cmd_maintenance)
    for action, text in (
        ("verify", "check an export file completely"),
        ("restore", "verify an export, then load it into the memory"),
    ):
        step = actions.add_parser(action, help=text, description=text)
        step.add_argument("file", metavar="FILE", help="an export written by `maintenance export`")
        _common(step, json_help=json_help)
        step.set_defaults(run=cmd_maintenance)


class Command:
    """One subcommand: how to run it, its help, its arguments, whether it has --json."""

    __slots__ = ("add_arguments", "description", "example", "help", "json", "name", "run")

    def __init__(
        self, name, run, help, add_arguments=None, *, json=None, example=None, description=None
    ) -> None:
        self.name, self.run, self.help = name, run, help
        self.add_arguments, self.json, self.example = add_arguments, json, example
        self.description = description or help


JSON_ARRAY = "print one JSON array"
JSON_OBJECT = "print one JSON object"

# The subcommands in the order `--help` lists them; add new ones here.
COMMANDS = [
    Command(
        "capture",
        cmd_capture,
        "fingerprint a healthy window and store it as an anchor",
        _args_capture,
        example="anchor capture healthy_week --input week.jsonl --metrics latency_ms",
    ),
    Command(
        "compare",
        cmd_compare,
        "compare a window against an anchor and rank what changed",
        _args_compare,
        json=JSON_OBJECT,
        example="anchor compare healthy_week --input last_hour.jsonl --fail-on HIGH",
    ),
    Command(
        "diff",
        cmd_diff,
        "compare two inputs directly, no anchor needed",
        _args_diff,
        json=JSON_OBJECT,
        example="anchor diff --baseline last-week.jsonl --input today.jsonl",
        description="Compare the events of --input against those of --baseline (no stored "
        "anchor needed) and rank what changed; the drift is recorded like a compare's, so "
        "feedback, history and report work on it.",
    ),
    Command(
        "feedback",
        cmd_feedback,
        "record whether a signal mattered",
        _args_feedback,
        json=JSON_OBJECT,
        example="anchor feedback latest 1 confirmed --reason 'gateway down'",
    ),
    Command(
        "patterns",
        cmd_patterns,
        "print the template of each event",
        _args_patterns,
        json="print one JSON object per event (JSON Lines)",
        example="anchor patterns --input app.log | sort | uniq -c | sort -rn | head",
    ),
    Command("list", cmd_list, "list anchors", _args_wide, json=JSON_ARRAY),
    Command(
        "show",
        cmd_show,
        "describe one anchor",
        _args_show,
        json=JSON_OBJECT,
        example="anchor show healthy_week",
    ),
    Command(
        "history",
        cmd_history,
        "list past drifts, newest first",
        _args_history,
        json=JSON_ARRAY,
        example="anchor history --limit 10",
    ),
    Command(
        "report",
        cmd_report,
        "print one recorded drift, or write it as an HTML report",
        _args_report,
        json=JSON_OBJECT,
        example="anchor report latest --html drift.html",
    ),
    Command(
        "recall",
        cmd_recall,
        "past drifts most similar to one drift",
        _args_recall,
        json=JSON_ARRAY,
        example="anchor recall latest",
    ),
    Command(
        "learned", cmd_learned, "learned weights, most changed first", _args_wide, json=JSON_ARRAY
    ),
    Command(
        "blind-spots",
        cmd_blind_spots,
        "signals users keep marking false positive",
        _args_wide,
        json=JSON_ARRAY,
    ),
    Command(
        "delete-drift", cmd_delete_drift, "delete one drift record", _args_drift, json=JSON_OBJECT
    ),
    Command(
        "purge-drifts",
        cmd_purge_drifts,
        "delete drifts older than N days",
        _args_purge,
        json=JSON_OBJECT,
        example="anchor purge-drifts --older-than 90 --dry-run",
    ),
    Command(
        "maintenance",
        None,
        "decay, compact, retention, export, verify or restore the memory",
        _args_maintenance,
        example="anchor maintenance export --dest backups/",
    ),
    Command(
        "check-spl",
        cmd_check_spl,
        "is this SPL read-only? exit 0 allowed, 3 rejected",
        _args_check_spl,
        json=JSON_OBJECT,
        example="anchor check-spl 'index=web | stats count by host'",
    ),
    Command("mcp", cmd_mcp, "serve Anchor's tools to an AI assistant (MCP, stdio)", _args_mcp),
]

EPILOG = """examples:
  anchor capture healthy_week --input week.jsonl --metrics latency_ms
  anchor compare healthy_week --input last_hour.jsonl
  anchor feedback latest 1 confirmed --reason "gateway outage"
  anchor report latest --html drift.html

exit status: 0 ok, 2 bad input or usage, 3 check-spl rejected the query,
4 compare --fail-on found a signal at or above that severity"""


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="anchor",
        description="Anchor: memory for on-call engineers (offline).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"anchor {__version__}")
    parser.add_argument("--db", default=None, metavar="FILE", help=DB_HELP)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    for command in COMMANDS:
        sub = commands.add_parser(
            command.name,
            help=command.help,
            description=command.description,
            epilog=f"example: {command.example}" if command.example else None,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if command.add_arguments is not None:
            command.add_arguments(sub)
        _common(sub, json_help=command.json)
        if command.run is not None:
            sub.set_defaults(run=command.run)
    return parser


@functools.lru_cache(maxsize=1)
def _parser() -> argparse.ArgumentParser:
    """The parser, built once per process: parsing leaves it unchanged (its defaults are
    constants), and building it takes about 20 ms, which in-process callers of main()
    (the scenario suite, the tests) would otherwise pay on every call."""
    return build_parser()


def main(argv: Optional[Sequence[str]] = None) -> int:
    def out(line: str) -> None:
        # Log text reaches the terminal only through terminal.safe (cells, notes, narrative),
        # so a line may carry our own colour codes.
        print(line)

    def warn(line: str) -> None:
        print(f"anchor: warning: {printable(line)}", file=sys.stderr)

    try:
        argv = list(sys.argv[1:] if argv is None else argv)
        args = _parser().parse_args(argv)
        args.argv = argv  # compare records it, so a report can say how to reproduce a drift
        if args.db is None:
            args.db = default_db()
        args.term = Terminal(
            terminal_width(sys.stdout), wants_colour(sys.stdout), getattr(args, "wide", False)
        )
        return args.run(args, out, warn)
    except NoCoverage as exc:
        print(f"anchor: error: {printable(str(exc))}", file=sys.stderr)
        return EXIT_NO_COVERAGE
    except NoEvents as exc:  # offline, an empty input is most likely a mistake: say so, distinctly
        print(f"anchor: error: {printable(str(exc))}", file=sys.stderr)
        return EXIT_NO_EVENTS
    except AnchorError as exc:
        print(f"anchor: error: {printable(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
