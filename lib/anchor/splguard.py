"""An allowlist guard for SPL that a model proposes or that Anchor would run for it.

The query is parsed, not pattern-matched: quoted strings (with backslash
escapes) are data, ``[...]`` subsearches are checked recursively,
triple-backtick comments are dropped, and backtick macros are refused
unless the caller allows them by name (a macro could expand to anything).
Every pipeline stage's command must be on the read-only allowlist; writing
or side-effecting commands are refused with a specific reason, and anything
unknown is refused too. ``rest`` is allowed only as a GET.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

ROW_CAP = 50
OBSERVATION_CAP_BYTES = 8192

READ_ONLY = frozenset(
    """
    search where eval stats eventstats streamstats timechart chart table fields rename sort head tail
    dedup top rare rex spath bin bucket fillnull lookup inputlookup tstats makeresults transaction
    join append appendcols appendpipe mvexpand makemv convert addtotals regex reverse uniq metadata
    datamodel rest fieldsummary timewrap untable xyseries foreach format return nomv mvcombine
    iplocation geostats addinfo accum delta autoregress predict trendline cluster kmeans anomalydetection
    sichart sistats sitimechart sitop sirare erex extract kv kvform multikv xmlkv strcat setfields
    tags typer bucketdir eventcount dbinspect audit history loadjob
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
    "sendemail": "sends email",
    "sendalert": "triggers alert actions",
    "script": "runs a script",
    "run": "runs a script",
    "map": "runs arbitrary searches per result",
    "dbxquery": "queries external databases",
    "dbxoutput": "writes to external databases",
    "tscollect": "writes tsidx files",
    "summaryindex": "writes into a summary index",
    "sendresults": "sends email",
    "localop": "changes where commands run",
    "savedsearch": "runs a saved search, which may write",
}
WRITE_METHODS = re.compile(r"\bmethod\s*=\s*\"?(post|put|delete|patch)\b", re.IGNORECASE)
COMMENT = re.compile(r"```.*?```", re.DOTALL)


class UnsafeSPL(ValueError):
    """The query is not allowed; the message says why."""


@dataclass
class GuardResult:
    allowed: bool
    reason: str
    commands: list[str] = field(default_factory=list)


def _split(query: str) -> tuple[list[str], list[str]]:
    """Top-level pipeline stages and the subsearches inside them; raises on bad quoting or brackets."""
    stages, subsearches = [], []
    current, depth, quoted, start = [], 0, False, 0
    index = 0
    while index < len(query):
        char = query[index]
        if quoted:
            if char == "\\" and index + 1 < len(query):
                if depth == 0:
                    current.append(query[index : index + 2])
                index += 2
                continue
            if char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char == "`":
            raise UnsafeSPL("macros are not allowed: expand them first")
        elif char == "[":
            depth += 1
            if depth == 1:
                start = index + 1
                current.append(" __subsearch__ ")
                index += 1
                continue
        elif char == "]":
            depth -= 1
            if depth < 0:
                raise UnsafeSPL("unbalanced ']'")
            if depth == 0:
                subsearches.append(query[start:index])
                index += 1
                continue
        elif char == "|" and depth == 0:
            stages.append("".join(current))
            current = []
            index += 1
            continue
        if depth == 0:
            current.append(char)
        index += 1
    if quoted:
        raise UnsafeSPL("unterminated quoted string")
    if depth:
        raise UnsafeSPL("unbalanced '['")
    stages.append("".join(current))
    return stages, subsearches


def _check(query: str, allowed: frozenset, commands: list[str], level: int) -> None:
    if level > 5:
        raise UnsafeSPL("subsearches nested too deeply")
    text = query.strip()
    if not text:
        raise UnsafeSPL("empty query")
    stages, subsearches = _split(text)
    for position, stage in enumerate(stages):
        words = stage.split()
        if not words:
            if position == 0 and text.startswith("|"):
                continue
            raise UnsafeSPL("empty pipeline stage")
        name = words[0].lower()
        if position == 0 and not text.startswith("|") and name not in allowed | DENIED.keys():
            name = "search"  # a leading stage without a command is an implied search
        if name in DENIED:
            raise UnsafeSPL(f"{name} is not allowed: it {DENIED[name]}")
        if name not in allowed:
            raise UnsafeSPL(f"{name} is not on the read-only allowlist")
        if name == "rest" and WRITE_METHODS.search(stage):
            raise UnsafeSPL("rest is allowed only as a GET")
        commands.append(name)
    for subsearch in subsearches:
        _check(subsearch, allowed, commands, level + 1)


def check_spl(query: str, *, also_allow: Iterable[str] = ()) -> GuardResult:
    """Whether ``query`` only reads; ``also_allow`` adds trusted command names."""
    allowed = READ_ONLY | {name.lower() for name in also_allow}
    commands: list[str] = []
    try:
        _check(COMMENT.sub(" ", query or ""), frozenset(allowed), commands, 0)
    except UnsafeSPL as error:
        return GuardResult(False, str(error), commands)
    return GuardResult(True, "allowed", commands)


def require_safe_spl(query: str, *, also_allow: Iterable[str] = ()) -> None:
    result = check_spl(query, also_allow=also_allow)
    if not result.allowed:
        raise UnsafeSPL(result.reason)


def truncate_observation(text: str, limit: int = OBSERVATION_CAP_BYTES) -> str:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    kept = data[:limit].decode("utf-8", "ignore")
    return (
        kept
        + f"...[truncated: {len(data) - len(kept.encode('utf-8'))} bytes omitted; narrow the query]"
    )
