"""``anchor mcp``: Anchor's operations as MCP tools over stdio, for AI assistants.

Built on the official ``mcp`` SDK (an optional extra: ``pip install mcp``,
Python 3.10+; it is not part of the Splunk package). Each tool has a JSON
schema and calls one method of a backend (``anchor.backends``): the local
SQLite memory, or a Splunk search head's Anchor REST endpoint. Read-only
tools are annotated ``readOnlyHint``; ``--read-only`` leaves the writing
ones (capture, compare, feedback: each records something) out entirely, so
a client can be given only the first kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from anchor.backends import Backend
from anchor.errors import AnchorError

NAME = "anchor"
_TEXT = {"type": "string", "minLength": 1}


def _schema(properties: dict, required: tuple = ()) -> dict:
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    schema: dict
    writes: bool


TOOLS = (
    ToolSpec("list_anchors", "List the stored anchors (healthy baselines).", _schema({}), False),
    ToolSpec(
        "show_anchor",
        "Describe one anchor: window, events and a summary per sourcetype.",
        _schema({"name": _TEXT}, ("name",)),
        False,
    ),
    ToolSpec(
        "list_drifts",
        "Recorded drifts (comparisons), newest first.",
        _schema({"anchor": _TEXT, "limit": {"type": "integer", "minimum": 1, "maximum": 200}}),
        False,
    ),
    ToolSpec(
        "show_drift",
        "One drift: ranked signals and narrative. drift_id may be 'latest'.",
        _schema({"drift_id": _TEXT}, ("drift_id",)),
        False,
    ),
    ToolSpec(
        "recall_similar",
        "Past drifts most similar to one drift.",
        _schema(
            {"drift_id": _TEXT, "k": {"type": "integer", "minimum": 1, "maximum": 20}},
            ("drift_id",),
        ),
        False,
    ),
    ToolSpec(
        "learned_weights",
        "Signal weights learned from feedback, furthest from neutral first.",
        _schema({"limit": {"type": "integer", "minimum": 1, "maximum": 1000}}),
        False,
    ),
    ToolSpec(
        "blind_spots",
        "Signals users mark false positive more often than confirmed.",
        _schema({"limit": {"type": "integer", "minimum": 1, "maximum": 1000}}),
        False,
    ),
    ToolSpec(
        "capture",
        "Capture exported log files (JSONL, CSV or raw lines) as an anchor "
        "(offline memory only; on Splunk use | anchorcapture).",
        _schema(
            {
                "name": _TEXT,
                "paths": {"type": "array", "items": _TEXT, "minItems": 1},
                "metrics": {"type": "array", "items": _TEXT},
            },
            ("name", "paths"),
        ),
        True,
    ),
    ToolSpec(
        "compare",
        "Compare a window with an anchor and record the drift: paths to exported "
        "logs offline, or a search (e.g. index=web) on Splunk.",
        _schema(
            {
                "anchor": _TEXT,
                "paths": {"type": "array", "items": _TEXT},
                "search": _TEXT,
                "earliest": _TEXT,
                "limit": {"type": "integer", "minimum": 1, "maximum": 1000},
            },
            ("anchor",),
        ),
        True,
    ),
    ToolSpec(
        "feedback",
        "Record whether a signal of a drift mattered (re-weights future rankings).",
        _schema(
            {
                "drift_id": _TEXT,
                "signal_id": _TEXT,
                "outcome": {"type": "string", "enum": ["confirmed", "false_positive"]},
                "reason": {"type": "string"},
            },
            ("drift_id", "signal_id", "outcome"),
        ),
        True,
    ),
)


def available_tools(read_only: bool) -> list[ToolSpec]:
    return [tool for tool in TOOLS if not (read_only and tool.writes)]


def call(backend: Backend, name: str, arguments: dict[str, Any], *, read_only: bool) -> Any:
    """Run one tool; raises ``AnchorError`` (a user error) or ``LookupError`` (no such tool)."""
    if name not in {t.name for t in available_tools(read_only)}:
        raise LookupError(f"unknown tool {name!r}" + (" (read-only mode)" if read_only else ""))
    return getattr(backend, name)(**arguments)


def build_server(backend: Backend, *, read_only: bool = False) -> Any:
    from mcp import types
    from mcp.server.lowlevel import Server

    server = Server(NAME)

    @server.list_tools()
    async def list_tools() -> list[types.Tool]:
        return [
            types.Tool(
                name=tool.name,
                description=tool.description,
                inputSchema=tool.schema,
                annotations=types.ToolAnnotations(
                    readOnlyHint=not tool.writes, destructiveHint=False
                ),
            )
            for tool in available_tools(read_only)
        ]

    @server.call_tool()
    async def call_tool(name: str, arguments: dict[str, Any]) -> Any:
        try:
            return call(backend, name, arguments, read_only=read_only)
        except (AnchorError, LookupError) as error:
            raise ValueError(str(error)) from None  # the SDK returns it as an error result

    return server


def serve_stdio(backend: Backend, *, read_only: bool = False) -> None:
    import anyio
    from mcp.server.stdio import stdio_server

    server = build_server(backend, read_only=read_only)

    async def main() -> None:
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())

    anyio.run(main)
