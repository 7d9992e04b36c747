"""``python -m anchor``: the offline command-line interface over an SQLite memory.

Exit status: 0 on success, 2 on bad input or usage (one line on stderr
saying what to fix), 3 when check-spl rejects a query, 4 when compare's input
holds none of the anchor's sourcetypes (likely the wrong input or format). A
failed command writes nothing.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any, Optional

from anchor import __version__, operations
from anchor.diff import DEFAULT_ALPHA
from anchor.errors import AnchorError, InputError, NoCoverage, NoEvents
from anchor.events import FORMATS, ReadReport, field_choice
from anchor.fingerprint import Fingerprint
from anchor.memory import Memory
from anchor.safetext import printable
from anchor.store import SQLiteStore
from anchor.timefmt import plausible_time

EXIT_USAGE = 2
EXIT_NO_EVENTS = 4  # capture/compare/diff read no event at all
EXIT_NO_COVERAGE = 5  # compare: the input holds none of the anchor's sourcetypes


class UsageError(AnchorError):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, like every other input error
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


def _fingerprint(args: argparse.Namespace, warn) -> Fingerprint:
    fingerprint, warnings = operations.read_fingerprint(
        args.input,
        fmt=args.format,
        sourcetype=args.sourcetype,
        metrics=args.metric or None,
        jobs=_jobs(args),
        fields=field_choice(args.field, args.exclude_field),
    )
    for line in warnings:
        warn(line)
    return fingerprint


def _jobs(args: argparse.Namespace) -> int:
    from anchor.parallel import default_jobs

    return args.jobs or default_jobs()


def _when(epoch: Optional[float]) -> str:
    if epoch is None:
        return "-"
    if not plausible_time(epoch):  # a record written before times were checked must still list
        return f"{epoch!r} (out of range)"
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def _table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    cells = [[str(c) for c in header]] + [["-" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _num(value: Optional[float]) -> str:
    if value is None:
        return "new"
    return f"{value:.4g}"


def signals_table(signals: Sequence[dict[str, Any]]) -> str:
    rows = []
    for s in signals:
        what = s["template"] or s["host"] or " ".join(filter(None, (s["field"], s["stat"])))
        folded = len(s.get("evidence") or ()) - 1
        more = f" (+{folded} related)" if folded > 0 else ""
        if len(what) + len(more) > 60:
            what = what[: 57 - len(more)] + "..."
        what += more
        delta = (
            "new"
            if s["delta_pct"] is None and s["change"] == "appeared"
            else ("-" if s["delta_pct"] is None else f"{s['delta_pct']:+.0f}%")
        )
        rows.append(
            [
                s["rank"],
                s["severity"],
                f"{s['score']:.2f}",
                f"{s['weight']:.2f}",
                s["kind"],
                s["change"],
                s["sourcetype"],
                what,
                _num(s["baseline"]),
                _num(s["current"]),
                delta,
            ]
        )
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
    ]
    return _table(rows, header)


# -- commands ---------------------------------------------------------------
def cmd_capture(args, out, warn) -> int:
    operations_name = args.name
    fingerprint = _fingerprint(args, warn)
    memory = _open(args.db, create=True)
    head = operations.capture(
        memory, operations_name, fingerprint, user=_user(), now=time.time(), metrics=args.metric
    )
    out(
        f"captured anchor {head['name']!r}: {head['events']:.0f} events, "
        f"{len(head['sourcetypes'])} sourcetype(s), {head['templates']} template(s), "
        f"window {_when(head['window_start'])} .. {_when(head['window_end'])}"
    )
    return 0


def _narrator(args, memory):
    """The LLM narrator when asked for (--narrate, --deep) and configured; None means offline."""
    if args.no_llm or not (args.narrate or args.deep):
        return None
    url = args.llm_url or os.environ.get("ANCHOR_LLM_URL")
    model = args.llm_model or os.environ.get("ANCHOR_LLM_MODEL")
    if not url or not model:
        raise InputError(
            f"{'--deep' if args.deep else '--narrate'} needs --llm-url and --llm-model "
            "(or ANCHOR_LLM_URL and ANCHOR_LLM_MODEL)"
        )
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


def cmd_compare(args, out, warn) -> int:
    memory = _require(args.db)
    head = memory.anchor(args.name)  # fail on an unknown anchor before reading any input
    fingerprint = _fingerprint(args, warn)
    operations.check_coverage(head.get("sourcetypes") or [], fingerprint)
    report = operations.compare(
        memory,
        args.name,
        fingerprint,
        user=_user(),
        now=time.time(),
        alpha=args.alpha,
        limit=args.limit,
        narrator=_narrator(args, memory),
    )
    return show_report(report, args, out)


def cmd_diff(args, out, warn) -> int:
    if "-" in args.baseline and "-" in args.input:
        raise InputError("only one of --baseline and --input can read stdin ('-')")
    baseline, warnings = operations.read_fingerprint(
        args.baseline,
        fmt=args.format,
        sourcetype=args.sourcetype,
        metrics=args.metric or None,
        jobs=_jobs(args),
        fields=field_choice(args.field, args.exclude_field),
    )
    for line in warnings:
        warn(f"baseline: {line}")
    current = _fingerprint(args, warn)
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
        metrics=args.metric,
        alpha=args.alpha,
        limit=args.limit,
        narrator=_narrator(args, memory),
    )
    return show_report(report, args, out)


def show_report(report: operations.DriftReport, args, out) -> int:
    """What compare and diff print: the ranked signals and the narrative, or ``--json``."""
    document = report.to_dict()
    if args.json:
        out(json.dumps(document, sort_keys=False))
        return 0
    out(
        f"drift {report.drift_id} against anchor {report.anchor!r}: "
        f"{len(report.signals)} finding(s) shown"
    )
    for note in report.notes:
        out(f"note: {note}")
    if report.signals:
        out(signals_table(document["signals"]))
    narrative = report.narrative
    out("")
    out(f"Summary ({narrative.source}): {narrative.summary}")
    if narrative.hypothesis:
        out(f"Hypothesis: {narrative.hypothesis}")
    if narrative.drill_in_spl:
        out(f"Drill in: {narrative.drill_in_spl}")
    if narrative.fallback_reason:
        out(f"Narrated offline because: {narrative.fallback_reason}")
    for step in narrative.steps:
        out(f"Step {step['step']}: {step['tool']}({step['arguments']}) -> {step['status']}")
    if narrative.truncated:
        out("Investigation stopped at its step budget (truncated).")
    for past in report.similar:
        outcome = past["outcome"] or "no feedback"
        out(
            f"Similar past drift {past['drift_id']} (similarity {past['similarity']:.2f}, {outcome})"
        )
    return 0


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
    out(
        f"recorded {entry['outcome']} on {entry['signal_id']} (drift {entry['drift_id']}) "
        f"by {entry['user']}; weight now {entry['weight']:.2f}"
    )
    return 0


def cmd_patterns(args, out, warn) -> int:
    from anchor.parallel import templates
    from anchor.patterns.merge import generalize_lines

    report = ReadReport()
    # Templates are generalized over the whole input (see patterns/merge.py), so read it all first.
    lines = list(
        templates(args.input, fmt=args.format, sourcetype=args.sourcetype, jobs=_jobs(args),
                  report=report)
    )  # fmt: skip
    for number, (pattern_id, template) in enumerate(generalize_lines(lines), 1):
        if args.json:
            out(json.dumps({"line": number, "pattern": pattern_id, "template": template}))
        else:
            out(f"{pattern_id}\t{template}")
    for line in report.warnings():
        warn(line)
    return 0


def cmd_list(args, out, warn) -> int:
    memory = _open(args.db, create=False)
    anchors = memory.anchors() if memory else []
    rows = [
        [
            a["name"],
            _when(a["created"]),
            f"{a['events']:.0f}",
            len(a["sourcetypes"]),
            a["templates"],
            _when(a["window_start"]),
            _when(a["window_end"]),
        ]
        for a in anchors
    ]
    out(_table(rows, ["NAME", "CREATED", "EVENTS", "SOURCETYPES", "TEMPLATES", "FROM", "TO"]))
    return 0


def cmd_show(args, out, warn) -> int:
    anchor = operations.describe_anchor(_require(args.db), args.name)
    out(f"anchor {anchor['name']!r} captured {_when(anchor['created'])} by {anchor['created_by']}")
    out(
        f"window {_when(anchor['window_start'])} .. {_when(anchor['window_end'])}, "
        f"{anchor['events']:.0f} events"
    )
    rows = [
        [s["sourcetype"], f"{s['events']:.0f}", s["templates"], s["hosts"],
         f"{s['error_pct']:.2f}%", ", ".join(s["metrics"]) or "-"]
        for s in anchor["sourcetypes"]
    ]  # fmt: skip
    out(_table(rows, ["SOURCETYPE", "EVENTS", "TEMPLATES", "HOSTS", "ERRORS", "METRICS"]))
    return 0


def cmd_history(args, out, warn) -> int:
    memory = _open(args.db, create=False)
    drifts = operations.list_drifts(memory) if memory else []
    rows = [
        [
            d["drift_id"],
            _when(d["created"]),
            d["anchor"],
            d["signal_count"],
            d["top_severity"] or "-",
            d["top_signal"] or "-",
        ]
        for d in drifts
    ]
    out(_table(rows, ["DRIFT", "CREATED", "ANCHOR", "SIGNALS", "TOP", "TOP SIGNAL"]))
    return 0


def cmd_learned(args, out, warn) -> int:
    memory = _open(args.db, create=False)
    infos = operations.learned_weights(memory, time.time()) if memory else []
    rows = [
        [i["signal_id"], f"{i['weight']:.2f}", i["confirmed"], i["false_positive"],
         _when(i["last_feedback"])]
        for i in infos
    ]  # fmt: skip
    out(_table(rows, ["SIGNAL", "WEIGHT", "CONFIRMED", "FALSE_POS", "LAST_FEEDBACK"]))
    return 0


def cmd_blind_spots(args, out, warn) -> int:
    memory = _open(args.db, create=False)
    spots = operations.blind_spots(memory, time.time()) if memory else []
    rows = [
        [s["signal_id"], f"{s['weight']:.2f}", s["false_positive"], s["confirmed"]] for s in spots
    ]
    out(_table(rows, ["SIGNAL", "WEIGHT", "FALSE_POS", "CONFIRMED"]))
    return 0


def cmd_delete_drift(args, out, warn) -> int:
    _require(args.db).delete_drift(args.drift_id)
    out(f"deleted drift {args.drift_id}")
    return 0


def cmd_purge_drifts(args, out, warn) -> int:
    if args.older_than < 0:
        raise InputError("--older-than must be zero or more days")
    memory = _open(args.db, create=False)
    removed = memory.purge_drifts(time.time() - args.older_than * 86400.0) if memory else 0
    out(f"purged {removed} drift(s) older than {args.older_than:g} day(s)")
    return 0


def cmd_recall(args, out, warn) -> int:
    found = operations.recall(_require(args.db), args.drift_id)
    rows = [
        [f["drift_id"], f"{f['similarity']:.2f}", f["anchor"], _when(f["created"]), f["top_signal"]]
        for f in found
    ]
    out(_table(rows, ["DRIFT", "SIMILARITY", "ANCHOR", "CREATED", "TOP SIGNAL"]))
    return 0


def cmd_report(args, out, warn) -> int:
    from anchor.report import render_html

    memory = _require(args.db)
    report = operations.stored_report(memory, args.drift_id, anchor=args.anchor)
    document = render_html(report, created=report.created)
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
    from anchor.backends import MemoryBackend
    from anchor.mcp_server import serve_stdio
    from anchor.splunk.remote import SplunkBackend

    url = args.splunk_url or os.environ.get("ANCHOR_SPLUNK_URL")
    if url:
        backend: Any = SplunkBackend(url, os.environ.get("ANCHOR_SPLUNK_TOKEN", ""),
                                     ca_file=os.environ.get("ANCHOR_SPLUNKD_CA"))  # fmt: skip
    else:
        backend = MemoryBackend(_open(args.db, create=True), _user(args.user))
    serve_stdio(backend, read_only=args.read_only)
    return 0


def cmd_maintenance(args, out, warn) -> int:
    from anchor import maintenance

    now = time.time()
    dry_run = getattr(args, "dry_run", False)
    if args.action in ("decay", "compact", "retention"):
        memory = _open(args.db, create=False)
        if memory is None:
            out(f"{args.action}: no memory at {args.db} yet; nothing to do")
            return 0
        retention = maintenance.DEFAULT_RETENTION
        if args.action == "retention":
            retention = maintenance.parse_retention(
                {"drift_days": args.days, "drift_max_count": args.max_count}
            )
        out(maintenance.run_step(memory, args.action, now=now, dry_run=dry_run,
                                 retention=retention).detail)  # fmt: skip
        return 0
    if args.action == "export":
        result = maintenance.run_step(
            _require(args.db), "export", now=now,
            destination=maintenance.LocalDestination(args.dest),
            export_retention_days=args.retention_days,
        )  # fmt: skip
        out(result.detail)
        out(result.file or "")
        return 0
    try:
        with open(args.file, "rb") as stream:
            data = stream.read()
    except OSError as exc:
        raise InputError(f"cannot read {args.file}: {exc.strerror or exc}") from exc
    if args.action == "verify":
        result = maintenance.run_step(None, "verify", now=now, data=data, source=args.file)
        out(f"ok: {result.detail}")
        return 0
    maintenance.verify_export(data)  # before the memory file is created
    memory = _open(args.db, create=True)
    out(maintenance.run_step(memory, "restore", now=now, data=data, source=args.file).detail)
    return 0


EXIT_REJECTED = 3


def cmd_check_spl(args, out, warn) -> int:
    from anchor.splguard import check_spl

    result = check_spl(args.query)
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


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="anchor", description="Anchor: memory for on-call engineers (offline).")
    parser.add_argument("--version", action="version", version=f"anchor {__version__}")
    parser.add_argument(
        "--db", default=None, help="SQLite memory (default: $ANCHOR_DB or the user data dir)"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    def inputs(sub: argparse.ArgumentParser, metric: bool = True) -> None:
        sub.add_argument(
            "--input",
            action="append",
            required=True,
            metavar="FILE",
            help="events file (JSONL, CSV export or raw lines; '-' for stdin); repeatable",
        )
        sub.add_argument("--format", choices=FORMATS, help="default: from the file extension")
        sub.add_argument("--sourcetype", help="sourcetype for records that have none")
        sub.add_argument("--jobs", type=_positive_int, metavar="N",
                         help="worker processes for large inputs (default: the number of cores; "
                         "inputs under 8 MB are read by one)")  # fmt: skip
        if metric:
            sub.add_argument(
                "--metric",
                action="append",
                metavar="FIELD",
                help="numeric field to summarize (repeatable; default: detected)",
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

    sub = commands.add_parser(
        "capture", help="fingerprint a healthy window and store it as an anchor"
    )
    sub.add_argument("name")
    inputs(sub)
    sub.set_defaults(run=cmd_capture)

    def outputs(sub: argparse.ArgumentParser) -> None:
        """What compare and diff share: how to test, rank, narrate and print."""
        sub.add_argument("--json", action="store_true", help="print one JSON object")
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
        sub.add_argument(
            "--llm-url", help="OpenAI-compatible base URL, e.g. https://api.openai.com/v1"
        )
        sub.add_argument("--llm-model", help="model name; the key comes from $ANCHOR_LLM_API_KEY")
        sub.add_argument(
            "--alpha",
            type=_alpha,
            default=DEFAULT_ALPHA,
            help="false discovery rate (default 0.01)",
        )
        sub.add_argument(
            "--limit",
            type=_positive_int,
            default=operations.DEFAULT_LIMIT,
            help="signals to show (default 20)",
        )

    sub = commands.add_parser(
        "compare", help="compare a window against an anchor and rank what changed"
    )
    sub.add_argument("name")
    inputs(sub)
    outputs(sub)
    sub.set_defaults(run=cmd_compare)

    sub = commands.add_parser(
        "diff",
        help="compare two inputs directly, no anchor needed",
        description="Compare the events of --input against those of --baseline (no stored "
        "anchor needed) and rank what changed; the drift is recorded like a compare's, so "
        "feedback, history and report work on it.",
        epilog="example: anchor diff --baseline last-week.jsonl --input today.jsonl",
    )
    sub.add_argument(
        "--baseline",
        action="append",
        required=True,
        metavar="FILE",
        help="baseline events file (same formats as --input); repeatable",
    )
    inputs(sub)
    sub.add_argument(
        "--save-baseline",
        metavar="NAME",
        help="also store the baseline as anchor NAME and record the drift against it",
    )
    outputs(sub)
    sub.set_defaults(run=cmd_diff)

    sub = commands.add_parser("feedback", help="record whether a signal mattered")
    sub.add_argument("drift_id")
    sub.add_argument("signal_id")
    sub.add_argument("outcome", choices=("confirmed", "false_positive"))
    sub.add_argument("--reason", default="")
    sub.add_argument("--user", default=None)
    sub.set_defaults(run=cmd_feedback)

    sub = commands.add_parser("patterns", help="print the template of each event")
    inputs(sub, metric=False)
    sub.add_argument("--json", action="store_true")
    sub.set_defaults(run=cmd_patterns)

    for name, run, text in (
        ("list", cmd_list, "list anchors"),
        ("history", cmd_history, "list past drifts, newest first"),
        ("learned", cmd_learned, "learned weights, most changed first"),
        ("blind-spots", cmd_blind_spots, "signals users keep marking false positive"),
    ):
        commands.add_parser(name, help=text).set_defaults(run=run)
    sub = commands.add_parser("show", help="describe one anchor")
    sub.add_argument("name")
    sub.set_defaults(run=cmd_show)
    sub = commands.add_parser("delete-drift", help="delete one drift record")
    sub.add_argument("drift_id")
    sub.set_defaults(run=cmd_delete_drift)
    sub = commands.add_parser("purge-drifts", help="delete drifts older than N days")
    sub.add_argument("--older-than", type=float, required=True, metavar="DAYS")
    sub.set_defaults(run=cmd_purge_drifts)
    sub = commands.add_parser(
        "maintenance", help="decay, compact, retention, export, verify or restore the memory"
    )
    actions = sub.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    actions.required = True
    for action, text in (
        ("decay", "refresh learned weights to today's decayed values"),
        ("compact", "drop feedback entries that no longer affect any weight"),
    ):
        step = actions.add_parser(action, help=text)
        step.add_argument("--dry-run", action="store_true", help="report what would change")
        step.set_defaults(run=cmd_maintenance)
    step = actions.add_parser("retention", help="delete drifts past their retention")
    step.add_argument("--days", type=float, default=90.0, help="keep drifts this many days (90)")
    step.add_argument(
        "--max-count", type=int, default=100000, help="keep at most this many (100000)"
    )
    step.add_argument("--dry-run", action="store_true", help="report what would change")
    step.set_defaults(run=cmd_maintenance)
    step = actions.add_parser(
        "export", help="write the whole memory to DIR/anchor-memory/<time>.json.gz"
    )
    step.add_argument("--dest", required=True, metavar="DIR")
    step.add_argument(
        "--retention-days",
        type=float,
        default=None,
        help="delete our exports in DIR older than this (never the new one)",
    )
    step.set_defaults(run=cmd_maintenance)
    for action, text in (
        ("verify", "check an export file completely"),
        ("restore", "verify an export, then load it into the memory"),
    ):
        step = actions.add_parser(action, help=text)
        step.add_argument("file")
        step.set_defaults(run=cmd_maintenance)
    sub = commands.add_parser("check-spl", help="is this SPL read-only? exit 0 allowed, 3 rejected")
    sub.add_argument("query")
    sub.set_defaults(run=cmd_check_spl)
    sub = commands.add_parser("report", help="write a self-contained HTML report of one drift")
    sub.add_argument("drift_id", help="a drift id from `anchor history`, or latest")
    sub.add_argument("--html", required=True, metavar="FILE", help="the HTML file to write")
    sub.add_argument("--anchor", help="with latest: the newest drift against this anchor")
    sub.set_defaults(run=cmd_report)
    sub = commands.add_parser("mcp", help="serve Anchor's tools to an AI assistant (MCP, stdio)")
    sub.add_argument("--read-only", action="store_true", help="only the tools that write nothing")
    sub.add_argument("--splunk-url", help="a search head (https://host:8089); token from "
                     "$ANCHOR_SPLUNK_TOKEN; default: the local memory")  # fmt: skip
    sub.add_argument("--user", help="who records feedback and captures (default: login name)")
    sub.set_defaults(run=cmd_mcp)
    sub = commands.add_parser("recall", help="past drifts most similar to one drift")
    sub.add_argument("drift_id")
    sub.set_defaults(run=cmd_recall)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    def out(line: str) -> None:
        print(printable(line))  # tables and summaries carry log text: no escape sequences

    def warn(line: str) -> None:
        print(f"anchor: warning: {printable(line)}", file=sys.stderr)

    try:
        args = build_parser().parse_args(argv)
        if args.db is None:
            args.db = default_db()
        return args.run(args, out, warn)
    except NoCoverage as exc:
        print(f"anchor: error: {printable(str(exc))}", file=sys.stderr)
        return EXIT_NO_COVERAGE
    except NoEvents as exc:  # offline, an empty input is most likely a mistake: say so, distinctly
        print(f"anchor: error: {exc}", file=sys.stderr)
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
