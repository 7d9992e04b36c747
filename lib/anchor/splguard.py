"""An allowlist guard for SPL that a model proposes or that Anchor would run for it.

The query is tokenized the way Splunk's search parser reads it, then every
pipeline stage's command is checked against a read-only allowlist:

- A backslash escapes the next character, inside and outside double-quoted
  strings (``\\"`` outside quotes does not open a string, ``\\|`` is not a pipe).
- Double-quoted strings are data; quotes are resolved before comments, so a
  triple backtick inside a string is text, not a comment.
- Triple-backtick comments are replaced by a space, as Splunk does.
- ``[...]`` outside strings is a subsearch, checked recursively.
- Any other backtick is a macro and is refused (a macro could expand to
  anything), unless the caller trusts the query's macros by name.

Writing or side-effecting commands are refused with a specific reason, and
anything not on the allowlist is refused too. ``rest`` is refused: a GET to
``search/jobs/export`` runs any search, other GETs read secrets and
``_reload`` endpoints act. docs/SECURITY.md states the model.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Optional

ROW_CAP = 50
OBSERVATION_CAP_BYTES = 8192
MAX_DEPTH = 5

READ_ONLY = frozenset(
    """
    search where eval stats eventstats streamstats timechart chart table fields rename sort head tail
    dedup top rare rex spath bin bucket fillnull inputlookup tstats makeresults transaction
    join append appendcols appendpipe mvexpand makemv convert addtotals regex reverse uniq metadata
    datamodel fieldsummary timewrap untable xyseries foreach format return nomv mvcombine
    iplocation geostats addinfo accum delta autoregress predict trendline cluster kmeans anomalydetection
    sichart sistats sitimechart sitop sirare erex multikv xmlkv strcat setfields
    tags typer bucketdir eventcount dbinspect audit history
    """.split()  # noqa: SIM905 - a word list reads better than 90 quoted strings
)
DENIED = {
    "delete": "deletes indexed events",
    "collect": "writes events into an index",
    "mcollect": "writes metrics into an index",
    "meventcollect": "writes metrics into an index",
    "outputlookup": "writes a lookup",
    "outputcsv": "writes a file",
    "outputtext": "writes a file",
    "dump": "writes files on the search head",
    "sendemail": "sends email",
    "sendalert": "triggers alert actions",
    "sendresults": "sends email",
    "script": "runs a script",
    "run": "runs a script",
    "runshellscript": "runs a script",
    "map": "runs arbitrary searches per result",
    "dbxquery": "queries external databases",
    "dbxoutput": "writes to external databases",
    "dbxlookup": "queries external databases",
    "tscollect": "writes tsidx files",
    "summaryindex": "writes into a summary index",
    "localop": "changes where commands run",
    "savedsearch": "runs a saved search, which may write",
    "loadjob": "loads another job's results and can dispatch a saved search",
    "rest": "calls splunkd endpoints: GETs read secrets and can run any search",
    "lookup": "may run an external (scripted) lookup, which runs code or reaches out",
    "extract": "can reload props.conf and transforms.conf (reload=true)",
    "kv": "can reload props.conf and transforms.conf (reload=true)",
    "input": "adds or removes data inputs",
    "crawl": "adds data inputs",
    "inputcsv": "reads files from the search head's disk",
}
TRIPLE = "```"
COMMAND = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
SUBSEARCH = "\x00"  # marks where a subsearch stood in its stage; no query may contain it


class UnsafeSPL(ValueError):
    """The query is not allowed; the message says why."""


@dataclass
class GuardResult:
    allowed: bool
    reason: str
    commands: list[str] = field(default_factory=list)


@dataclass
class Pipeline:
    """One search as Splunk splits it: each stage's text and the subsearches inside each stage."""

    __slots__ = ("stages", "subsearches")
    stages: list[str]
    subsearches: list[list[Pipeline]]


def _macro(query: str, index: int) -> UnsafeSPL:
    return UnsafeSPL(f"macros are not allowed: expand them first (backtick at character {index})")


def _string_end(query: str, index: int) -> int:
    """The index just past the double-quoted string that opens at ``index``."""
    position = index + 1
    while position < len(query):
        char = query[position]
        if char == "\\":
            if query.startswith("`", position + 1):
                raise _macro(query, position + 1)
            position += 2
            continue
        if char == '"':
            return position + 1
        if char == "`":
            # Quotes are resolved first, so a ``` here is text; any other backtick could be a macro.
            if not query.startswith(TRIPLE, position) or query.startswith("````", position):
                raise _macro(query, position)
            position += 3
            continue
        position += 1
    raise UnsafeSPL("unterminated quoted string")


def _comment_end(query: str, index: int) -> int:
    """The index just past the ```comment``` that opens at ``index``."""
    close = query.find(TRIPLE, index + 3)
    if close < 0:
        raise UnsafeSPL("unterminated ``` comment")
    body = query[index + 3 : close]
    if '"' in body or "\\" in body:
        # Splunk resolves quotes and escapes before comments: a quote in a comment could open a
        # string that hides or reveals a pipe, so such comments are refused rather than guessed at.
        raise UnsafeSPL("a ``` comment must not contain a double quote or a backslash")
    return close + 3


def _single_quote_end(query: str, index: int) -> int:
    """The index just past the single-quoted span opening at ``index`` (it has a closing quote).

    Single quotes name fields in eval and where. Whether the pipeline split honours them is not
    documented, so a span that would change the split either way is refused; a lone apostrophe
    (no closing quote) is text.
    """
    close = query.find("'", index + 1)
    if any(char in '"|[]`' for char in query[index + 1 : close]):
        raise UnsafeSPL(
            "a single-quoted name holds a double quote, pipe, bracket or backtick: "
            "Splunk could split it differently; rename the field or use double quotes"
        )
    return close + 1


def parse(query: str, index: int = 0, depth: int = 0) -> tuple[Pipeline, int]:
    """Split ``query`` from ``index`` into stages, recursing into ``[...]`` subsearches.

    Returns the pipeline and the index just past it (past the closing ``]`` of a subsearch).
    Raises ``UnsafeSPL`` on anything Splunk would read differently or not at all.
    """
    if depth > MAX_DEPTH:
        raise UnsafeSPL("subsearches nested too deeply")
    stages: list[str] = []
    subsearches: list[list[Pipeline]] = []
    current: list[str] = []
    inner: list[Pipeline] = []
    while index < len(query):
        char = query[index]
        if char == "\\":
            # Whether an escape stops macro expansion is not documented: refuse it.
            if query.startswith("`", index + 1):
                raise _macro(query, index + 1)
            current.append(query[index : index + 2])  # an escaped character is never syntax
            index += 2
        elif char == '"':
            end = _string_end(query, index)
            current.append(query[index:end])
            index = end
        elif char == "`":
            if not query.startswith(TRIPLE, index):
                raise _macro(query, index)
            index = _comment_end(query, index)
            current.append(" ")  # Splunk replaces a comment with a space
        elif char == "'" and query.find("'", index + 1) > 0:
            end = _single_quote_end(query, index)
            current.append(query[index:end])
            index = end
        elif char == "[":
            sub, index = parse(query, index + 1, depth + 1)
            inner.append(sub)
            current.append(f" {SUBSEARCH} ")
        elif char == "]":
            if depth == 0:
                raise UnsafeSPL("unbalanced ']'")
            stages.append("".join(current))
            subsearches.append(inner)
            return Pipeline(stages, subsearches), index + 1
        elif char == "|":
            stages.append("".join(current))
            subsearches.append(inner)
            current, inner = [], []
            index += 1
        else:
            current.append(char)
            index += 1
    if depth:
        raise UnsafeSPL("unbalanced '['")
    stages.append("".join(current))
    subsearches.append(inner)
    return Pipeline(stages, subsearches), index


def _command(stage: str, position: int, leading_pipe: bool, allowed: frozenset) -> str:
    text = stage.strip()
    match = COMMAND.match(text)
    name = match.group().lower() if match else ""
    plain = match is not None and (match.end() == len(text) or text[match.end()].isspace())
    if position == 0 and not leading_pipe and not (plain and name in allowed | DENIED.keys()):
        return "search"  # a leading stage without a command is an implied search
    if not plain:
        raise UnsafeSPL(f"pipeline stage {position + 1} does not start with a command name")
    return name


def _check(pipeline: Pipeline, allowed: frozenset, commands: list[str]) -> None:
    stages = pipeline.stages
    leading_pipe = len(stages) > 1 and not stages[0].strip()
    for position, (stage, inner) in enumerate(zip(stages, pipeline.subsearches)):
        if not stage.strip():
            if position == 0 and leading_pipe:
                continue
            raise UnsafeSPL("empty query" if len(stages) == 1 else "empty pipeline stage")
        name = _command(stage, position, leading_pipe, allowed)
        if name in DENIED:
            raise UnsafeSPL(f"{name} is not allowed: it {DENIED[name]}")
        if name not in allowed:
            raise UnsafeSPL(f"{name} is not on the read-only allowlist")
        commands.append(name)
        for sub in inner:
            _check(sub, allowed, commands)


def check_spl(query: str, *, also_allow: Iterable[str] = ()) -> GuardResult:
    """Whether ``query`` only reads; ``also_allow`` adds trusted command names."""
    allowed = READ_ONLY | {name.lower() for name in also_allow}
    commands: list[str] = []
    try:
        if any(ord(char) < 32 and char not in "\t\r\n" for char in query or ""):
            raise UnsafeSPL("the query contains a control character")
        _check(parse(query or "")[0], frozenset(allowed), commands)
    except UnsafeSPL as error:
        return GuardResult(False, str(error), commands)
    return GuardResult(True, "allowed", commands)


def require_safe_spl(query: str, *, also_allow: Iterable[str] = ()) -> None:
    result = check_spl(query, also_allow=also_allow)
    if not result.allowed:
        raise UnsafeSPL(result.reason)


# -- building SPL ---------------------------------------------------------------
# Every query Anchor writes goes through these two helpers for anything taken from logs, so a
# hostile sourcetype, host or field name stays one value and never becomes syntax.
FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]{0,127}")
_UNSPEAKABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f`]")


def spl_string(value: str) -> str:
    """A double-quoted SPL string for a search term or option value.

    Backslashes and quotes are escaped; control characters and backticks (which the guard
    refuses, since Splunk could read a backtick as a macro) become ``*``, a wildcard in a
    search term, so the term still finds the events it names.
    """
    text = _UNSPEAKABLE.sub("*", str(value))
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def spl_field(name: str) -> Optional[str]:
    """``name`` if Splunk reads it as a plain field name anywhere (eval, stats, timechart), else None.

    A name with spaces, quotes, brackets or pipes is not spliced into a query at all; the caller
    renames it first (``rename "<name>" AS x``) or leaves the field out.
    """
    return name if isinstance(name, str) and FIELD_NAME.fullmatch(name) else None


def checked_spl(query: str, *, also_allow: Iterable[str] = ()) -> Optional[str]:
    """``query`` if the guard allows it, else None: nothing Anchor writes is shown or run unchecked."""
    return query if check_spl(query, also_allow=also_allow).allowed else None


def truncate_observation(text: str, limit: int = OBSERVATION_CAP_BYTES) -> str:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    kept = data[:limit].decode("utf-8", "ignore")
    return (
        kept
        + f"...[truncated: {len(data) - len(kept.encode('utf-8'))} bytes omitted; narrow the query]"
    )
