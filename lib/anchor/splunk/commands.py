"""The custom search commands, on splunklib's searchcommands (protocol v2, chunked).

Each class only declares its options, opens the memory as the invoking user
and calls the plain functions in ``anchor.splunk.rows``. User errors become a
one-line search error (never a traceback); nothing is written unless the
whole operation succeeds.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Optional

from splunklib.searchcommands import (
    Configuration,
    GeneratingCommand,
    Option,
    ReportingCommand,
    StreamingCommand,
    validators,
)

from anchor.diff import DEFAULT_ALPHA, check_alpha
from anchor.errors import AnchorError
from anchor.memory import Memory
from anchor.operations import DEFAULT_LIMIT
from anchor.splunk import rows
from anchor.splunk.access import (
    FEEDBACK_CAPABILITY,
    WRITE_CAPABILITY,
    open_memory,
    require_capability,
)

Rows = Iterator[dict[str, Any]]


def _one_line_errors(method: Callable[..., Rows]) -> Callable[..., Rows]:
    """A command's row generator whose user errors (and a broken install's
    ImportError) end the search with one error line, not a traceback.

    Rows already yielded stay yielded: the error is written where it happened.
    """

    @functools.wraps(method)
    def rows_or_error(self: Any, *args: Any, **kwargs: Any) -> Rows:
        try:
            yield from method(self, *args, **kwargs)
        except (AnchorError, ImportError) as error:
            self._fail(error)

    return rows_or_error


class _Alpha(validators.Validator):
    def __call__(self, value: Any) -> Optional[float]:
        if value is None:
            return None
        number = float(value)
        check_alpha(number)
        return number

    def format(self, value: Any) -> str:
        return "" if value is None else repr(float(value))


class _AnchorCommand:
    """Shared plumbing: who is running, against which memory, and clean errors."""

    if TYPE_CHECKING:  # from splunklib's SearchCommand, which every Anchor command derives from
        metadata: Any

        def write_error(self, message: str, *args: Any) -> None: ...

    def _searchinfo(self):
        return self.metadata.searchinfo

    def _user(self) -> str:
        return getattr(self._searchinfo(), "username", None) or "unknown"

    def _invocation(self) -> rows.Invocation:
        info = self._searchinfo()
        return {"user": self._user(), "now": time.time(), "search": getattr(info, "search", None)}

    def _memory(self, capability: Optional[str] = None) -> Memory:
        info = self._searchinfo()
        uri, token = info.splunkd_uri, info.session_key
        if capability:
            require_capability(uri, token, capability)
        return open_memory(uri, token)

    def _fail(self, error: Exception) -> None:
        if isinstance(error, ImportError):
            # A broken install (a missing or incompatible library): one line, not a traceback.
            error = AnchorError(
                f"Anchor could not load a library it needs ({error}); reinstall the app package"
            )
        self.write_error(str(error).splitlines()[0] if str(error) else type(error).__name__)


class _ReportingAnchorCommand(_AnchorCommand, ReportingCommand):
    metrics = Option(
        doc="**Syntax:** metrics=<field>[,<field>...] **Description:** numeric fields to summarize",
        require=False,
    )
    fields = Option(
        doc="**Syntax:** fields=<field>[,<field>...] **Description:** fields whose values "
        "to compare as categories (default: short text fields and codes such as status)",
        require=False,
    )
    exclude_fields = Option(
        doc="**Syntax:** exclude_fields=<field>[,<field>...] **Description:** fields to "
        "leave out of metrics and categories",
        require=False,
    )

    def __init__(self) -> None:
        super().__init__()
        self._reducer = rows.Reducer()

    def prepare(self) -> None:
        super().prepare()
        # Both phases declare the same list: the map's decides what the indexers
        # send, the reduce's must not drop the map's partials. Category fields
        # (status, code, ...) are discovered among all of an event's fields, so
        # the list is declared only when metrics= and fields= both name what is read.
        named_categories = rows.metric_list(self.fields)
        if named_categories is None:
            return
        fields = rows.required_fields(
            rows.metric_list(self.metrics), [*named_categories, *self._named_fields()]
        )
        if fields is not None:
            self._configuration.required_fields = fields

    def _named_fields(self) -> list[Optional[str]]:
        """Fields named by options other than ``metrics=`` (each adds to required_fields)."""
        return []

    def _field_choice(self):
        return rows.field_options(self.fields, self.exclude_fields)

    @_one_line_errors
    def _map(self, records) -> Iterator[dict[str, Any]]:
        # splunklib calls map once per chunk: each call emits a partial
        # fingerprint of its chunk, and the reduce phase merges them all.
        fingerprint = rows.fingerprint_records(
            records, rows.metric_list(self.metrics), self._field_choice()
        )
        if fingerprint.count > 0:
            yield rows.encode_partial(fingerprint)

    @_one_line_errors
    def reduce(self, records) -> Iterator[dict[str, Any]]:
        self._reducer.add(records, rows.metric_list(self.metrics), self._field_choice())
        if not self._finished:
            return
        info = self._searchinfo()
        fingerprint = self._reducer.finish(rows.search_span(info.earliest_time, info.latest_time))
        yield from self._run(fingerprint)

    def _run(self, fingerprint) -> list[dict[str, Any]]:
        raise NotImplementedError


@Configuration(requires_preop=True, run_in_preview=False)
class AnchorCaptureCommand(_ReportingAnchorCommand):
    """``anchorcapture name=<anchor> [metrics=<fields>]``: store a fingerprint of the events."""

    # ``name`` collides with the command's own ``name`` attribute in splunklib.
    anchor_name = Option(
        name="name",
        doc="**Syntax:** name=<string> **Description:** the anchor to create or replace",
        require=False,
    )
    # anchorcompare calls it anchor=: accept that spelling here too.
    anchor = Option(
        doc="**Syntax:** anchor=<string> **Description:** the same as name=", require=False
    )

    # splunklib reads ``map`` from the concrete class itself, not its bases.
    @Configuration()
    def map(self, records) -> Iterator[dict[str, Any]]:
        return self._map(records)

    def _run(self, fingerprint):
        self.anchor_name = rows.one_name(self.anchor_name, self.anchor)
        memory = self._memory(WRITE_CAPABILITY)
        return rows.capture_rows(memory, self, fingerprint, self._invocation())


@Configuration(requires_preop=True, run_in_preview=False)
class AnchorCompareCommand(_ReportingAnchorCommand):
    """``anchorcompare anchor=<anchor> [alpha=0.01] [limit=20] [narrate=true] [deep=true]``,
    or ``anchorcompare split=<field> baseline=<value> [save_baseline=<name>] ...``."""

    _split_reducer: Optional[rows.SplitReducer] = None  # a split-by comparison's reduce state

    anchor = Option(
        doc="**Syntax:** anchor=<string> **Description:** the anchor to compare against",
        require=False,
    )
    split = Option(
        doc="**Syntax:** split=<field> **Description:** compare two windows of this search: "
        "events whose field equals baseline= against the rest",
        require=False,
        validate=validators.Fieldname(),
    )
    baseline = Option(
        doc="**Syntax:** baseline=<string> **Description:** with split=, the baseline's value",
        require=False,
    )
    save_baseline = Option(
        doc="**Syntax:** save_baseline=<string> **Description:** with split=, also store the "
        "baseline as this anchor",
        require=False,
    )
    alpha = Option(
        doc="**Syntax:** alpha=<number> **Description:** false discovery rate, default 0.01",
        require=False,
        default=DEFAULT_ALPHA,
        validate=_Alpha(),
    )
    limit = Option(
        doc="**Syntax:** limit=<int> **Description:** signals to return, default 20",
        require=False,
        default=DEFAULT_LIMIT,
        validate=validators.Integer(minimum=1, maximum=1000),
    )
    narrate = Option(
        doc="**Syntax:** narrate=<bool> **Description:** narrate with the configured LLM",
        require=False,
        default=False,
        validate=validators.Boolean(),
    )
    deep = Option(
        doc="**Syntax:** deep=<bool> **Description:** investigate with read-only tools first",
        require=False,
        default=False,
        validate=validators.Boolean(),
    )

    @Configuration()
    @_one_line_errors
    def map(self, records) -> Iterator[dict[str, Any]]:
        if not self._split_mode():
            yield from self._map(records)
            return
        sides = rows.split_fingerprints(
            records,
            rows.metric_list(self.metrics),
            self.split,
            self.baseline,
            self._field_choice(),
        )
        yield from rows.encode_sides(sides)

    def _named_fields(self) -> list[Optional[str]]:
        # A split-by comparison reads the split field and each window's bounds.
        return [self.split, *rows.WINDOW_FIELDS] if self.split else []

    def _split_mode(self) -> bool:
        return rows.split_mode(self.anchor, self.split, self.baseline)

    @_one_line_errors
    def reduce(self, records) -> Iterator[dict[str, Any]]:
        if not self._split_mode():
            yield from super().reduce(records)
            return
        if self._split_reducer is None:
            self._split_reducer = rows.SplitReducer(self.split, self.baseline)
        reducer = self._split_reducer
        reducer.add(records, rows.metric_list(self.metrics), self._field_choice())
        if not self._finished:
            return
        info = self._searchinfo()
        baseline, current = reducer.finish(rows.search_span(info.earliest_time, info.latest_time))
        memory = self._memory(WRITE_CAPABILITY if self.save_baseline else None)
        yield from rows.compare_split_rows(
            memory,
            self,
            baseline,
            current,
            self._invocation(),
            save_baseline=self.save_baseline or None,
            narrator=self._narrator(memory),
        )

    def _narrator(self, memory: Memory):
        """The LLM narrator, if asked for; if narration cannot even load, the offline one saying why."""
        if not (self.narrate or self.deep):
            return None
        try:
            from anchor.splunk.narration import search_narrator
        except ImportError as error:
            from anchor.narrate import unavailable_narrator

            return unavailable_narrator(f"LLM not used: narration could not be loaded ({error})")
        info = self._searchinfo()
        return search_narrator(
            info.splunkd_uri, info.session_key, self._user(), memory, deep=bool(self.deep)
        )

    def _run(self, fingerprint):
        memory = self._memory()
        narrator = self._narrator(memory)
        return rows.compare_rows(memory, self, fingerprint, self._invocation(), narrator)


@Configuration(type="reporting")
class AnchorFeedbackCommand(_AnchorCommand, GeneratingCommand):
    """``| anchorfeedback drift=<id> signal=<signal_id> outcome=confirmed|false_positive``."""

    drift = Option(require=True, doc="**Syntax:** drift=<drift_id>")
    signal = Option(require=True, doc="**Syntax:** signal=<signal_id>")
    outcome = Option(
        require=True,
        validate=validators.Set("confirmed", "false_positive"),
        doc="**Syntax:** outcome=confirmed|false_positive",
    )
    reason = Option(require=False, default="", doc="**Syntax:** reason=<string>")

    @_one_line_errors
    def generate(self) -> Iterator[dict[str, Any]]:
        memory = self._memory(FEEDBACK_CAPABILITY)
        yield from rows.feedback_rows(
            memory,
            self.drift,
            self.signal,
            self.outcome,
            user=self._user(),
            now=time.time(),
            reason=self.reason or "",
        )


@Configuration(type="reporting")
class AnchorShowCommand(_AnchorCommand, GeneratingCommand):
    """``| anchorshow what=anchors|drifts|drift|weights|blind_spots|feedback``: read the memory."""

    what = Option(
        require=True,
        validate=validators.Set(*rows.SHOW_VIEWS),
        doc="**Syntax:** what=anchors|drifts|drift|weights|blind_spots|feedback",
    )
    anchor = Option(require=False, doc="**Syntax:** anchor=<name> (default: every anchor)")
    drift = Option(require=False, default="latest", doc="**Syntax:** drift=<drift_id>|latest")
    limit = Option(
        require=False, default=1000, validate=validators.Integer(minimum=1, maximum=50000)
    )

    @_one_line_errors
    def generate(self) -> Iterator[dict[str, Any]]:
        info = self._searchinfo()
        yield from rows.show_rows(
            self._memory(),
            self,
            span=rows.search_span(info.earliest_time, info.latest_time),
            now=time.time(),
        )


@Configuration(type="reporting")
class AnchorMaintenanceCommand(_AnchorCommand, GeneratingCommand):
    """``| anchormaintenance action=decay|compact|retention|export|verify|restore [dry_run=true]``."""

    action = Option(
        require=True,
        validate=validators.Set("decay", "compact", "retention", "export", "verify", "restore"),
        doc="**Syntax:** action=decay|compact|retention|export|verify|restore",
    )
    dry_run = Option(require=False, default=False, validate=validators.Boolean())
    file = Option(
        require=False, doc="**Syntax:** file=anchor-memory/<time>.json.gz (verify, restore)"
    )
    local_dir = Option(require=False, default="exports", doc="**Syntax:** local_dir=<folder>")

    @_one_line_errors
    def generate(self) -> Iterator[dict[str, Any]]:
        memory = self._memory(WRITE_CAPABILITY)
        retention = None
        if self.action == "retention":
            from anchor.splunk.maintenance_input import read_retention

            info = self._searchinfo()
            retention = read_retention(info.splunkd_uri, info.session_key)
        yield from rows.maintenance_rows(
            memory,
            self.action,
            dry_run=bool(self.dry_run),
            name=self.file,
            folder=self.local_dir or "exports",
            now=time.time(),
            retention=retention,
        )


@Configuration()
class AnchorPatternCommand(StreamingCommand):
    """``anchorpattern``: label events with ``anchor_pattern`` and ``anchor_template``."""

    def stream(self, records):
        return rows.label_records(records)
