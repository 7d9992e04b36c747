"""Generalize templates: merge those that differ only in variable word positions.

Masking (``mask.py``) is stateless and sees one message at a time, so a word
without a digit is always a constant: ``session opened for user cyrus`` and
``... user news`` are two templates, and a random word per event makes one
template per event. This second stage looks at a whole table of templates
(template -> event count) of one sourcetype:

- A learned header (``header_length``): leading columns that hold a variable
  in nearly every event, plus a level column right after them, are header
  fields; their words become ``<VAR>``.
- Templates are compared by their shape (every mask counts as ``<*>``) and
  grouped by token count. For each position ``p``, templates whose tokens
  are equal everywhere except at ``p`` form a group (the "hole" group).
- A hole group is merged, ``<VAR>`` at ``p``, when it holds at least
  ``min_values`` distinct values at ``p`` (many values: a variable, not a
  two-state word such as opened/closed), or when one of its values already
  is ``<VAR>``; and only when the skeleton keeps at least ``min_constants``
  constant tokens besides ``p``, so short messages are not reduced to masks.
- A template with ``<VAR>`` covers the templates equal to it wherever it has
  no ``<VAR>``: they are mapped onto it.
- Rounds repeat until nothing changes: a merge at one position can make
  templates equal elsewhere, so two independent variables both generalize.

The result depends only on the table (counts are summed, never ordered), so
it is deterministic and order-independent: events in any order, split over
any number of indexers, give the same merged templates and ids. Map phases
keep masking per event; the merge runs where the table is whole (capture's
reduce). A compare takes the anchor as the reference (``onto_anchor``).

Limits: two variables that always change together (each user always from
their own host) never form a hole group and stay apart; a variable with fewer
than ``min_values`` distinct values in the window stays literal. The rule
and its measured accuracy: docs/DETECTION.md.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any, NamedTuple, Optional, Union

from anchor.patterns.header import CACHE_ENTRIES, LEVELS
from anchor.patterns.mask import ANY_MASK, Template, pattern_id_of

# A merged position is written <VAR>, not <*>: masking writes <*> for digit
# tokens of no known type, and only a merge-made wildcard may absorb other
# values (see generalize). Both count as a mask in ids (mask.ANY_MASK).
WILDCARD = "<*>"
MERGED = "<VAR>"


class MergeRule(NamedTuple):
    """Thresholds of the merge (see the module doc); the defaults are fit on Loghub (see
    docs/DETECTION.md), leave-one-dataset-out in ``bench/patterns_loghub.py``."""

    min_values: int = 3
    min_constants: int = 3
    # header model: leading columns masked in at least this share of events
    header_share: float = 0.95
    header_columns: int = 8
    header_templates: int = 10
    header_min_columns: int = 1


DEFAULT_RULE = MergeRule()
# A level word this many columns after the learned header at most still belongs to it.
LEVEL_REACH = 3


@lru_cache(maxsize=CACHE_ENTRIES)
def _shape_tokens(template: str) -> tuple[str, ...]:
    # cached: every round, the cover step and the header model ask again
    return tuple(ANY_MASK.sub(WILDCARD, template).split(" "))


def _constants(shape: tuple[str, ...]) -> int:
    return len(shape) - sum(1 for token in shape if WILDCARD in token)


def _round(texts: Iterable[str], rule: MergeRule) -> dict[str, str]:
    """One round: the templates that change, each to its generalized text."""
    by_length: dict[int, list[tuple[str, list[str], tuple[str, ...]]]] = defaultdict(list)
    for text in texts:
        tokens = text.split(" ")
        shape = _shape_tokens(text)
        if len(shape) == len(tokens):
            by_length[len(tokens)].append((text, tokens, shape))
    holes: dict[str, set[int]] = defaultdict(set)
    for length, members in by_length.items():
        if len(members) < 2:
            continue
        constants = {text: _constants(shape) for text, _, shape in members}
        columns = list(zip(*(shape for _, _, shape in members)))
        for p in range(length):
            if len(set(columns[p])) < 2:
                continue  # the same token (or mask) in every template: nothing to merge here
            groups: dict[tuple[str, ...], list[tuple[str, str]]] = defaultdict(list)
            for text, tokens, shape in members:
                if constants[text] - (WILDCARD not in shape[p]) < rule.min_constants:
                    continue
                # values by shape (masks of any type are one value), <VAR> kept apart
                value = MERGED if tokens[p] == MERGED else shape[p]
                groups[shape[:p] + shape[p + 1 :]].append((text, value))
            for group in groups.values():
                if len(group) < 2:
                    continue
                values = {value for _, value in group}
                if len(values) >= rule.min_values or MERGED in values:
                    for text, _ in group:
                        holes[text].add(p)
    changed = {}
    for text, positions in holes.items():
        tokens = text.split(" ")
        for p in positions:
            tokens[p] = MERGED
        target = " ".join(tokens)
        if target != text:
            changed[text] = target
    return changed


def _covered(texts: Iterable[str]) -> dict[str, str]:
    """Templates that a more general template covers, mapped onto it.

    A template with ``<VAR>`` at a set of positions covers another of the
    same length that has ``<VAR>`` at fewer of them and equals it (by shape)
    everywhere else. When several cover one, the most specific (fewest
    ``<VAR>``) wins, ties by position. This is how a current window's
    templates land on an anchor's merged ones.
    """
    texts = list(texts)
    wide = [text for text in texts if MERGED in text]
    if not wide:
        return {}
    lengths = {len(_shape_tokens(text)) for text in wide}
    patterns: dict[tuple[int, frozenset], dict[tuple[str, ...], str]] = defaultdict(dict)
    layouts = []
    for text in texts:
        shape = _shape_tokens(text)
        if len(shape) not in lengths:
            continue
        tokens = text.split(" ")
        if len(tokens) != len(shape):
            continue
        holes = frozenset(i for i, token in enumerate(tokens) if token == MERGED)
        layouts.append((text, holes, shape))
        if holes:
            slot = patterns[(len(shape), holes)]
            key = tuple(shape)  # <VAR> is <*> in a shape
            if key not in slot or text < slot[key]:
                slot[key] = text
    by_length: dict[int, list[frozenset]] = defaultdict(list)
    for length, holes in patterns:
        by_length[length].append(holes)
    for options in by_length.values():
        options.sort(key=lambda holes: (len(holes), sorted(holes)))
    mapped = {}
    for text, holes, shape in layouts:
        for wider in by_length.get(len(shape), ()):
            if holes < wider:
                key = tuple(WILDCARD if i in wider else token for i, token in enumerate(shape))
                target = patterns[(len(shape), wider)].get(key)
                if target is not None:
                    mapped[text] = target
                    break
    return mapped


def header_length(counts: Mapping[str, float], rule: MergeRule = DEFAULT_RULE) -> int:
    """How many leading columns of this table's templates are a header (0: none).

    Learned from the data, not from a list of formats: a header is the run of
    leading columns up to the last one, among the first ``header_columns``,
    that holds a variable (a mask: a number, id, time, node name with digits)
    in at least ``header_share`` of the events (a timestamp, a pid, a node
    id, a sequence number...), when the table is diverse
    (``header_templates`` templates at least). A column of level words
    (``INFO``, ``Warning``...) just after it, in as many events, belongs to
    the header too. Words inside the header (component, state, level, host)
    are header fields, not the message: they become ``<VAR>``.
    """
    if len(counts) < rule.header_templates:
        return 0
    total = sum(counts.values())
    masked = [0.0] * rule.header_columns
    for text, count in counts.items():
        for i, token in enumerate(_shape_tokens(text)[: rule.header_columns]):
            if WILDCARD in token:
                masked[i] += count
    heavy = [i for i, value in enumerate(masked) if total and value >= rule.header_share * total]
    if not heavy:
        return 0
    length = _through_level(counts, heavy[-1] + 1, rule.header_share * total)
    return length if len(heavy) >= rule.header_min_columns or length > heavy[-1] + 1 else 0


def _through_level(counts: Mapping[str, float], length: int, needed: float) -> int:
    """The header extended through a level column (``INFO``, ``FATAL``...) just after it."""
    levels = [0.0] * LEVEL_REACH
    for text, count in counts.items():
        for i, token in enumerate(text.split(" ")[length : length + LEVEL_REACH]):
            if token.strip("[]<>():").upper() in LEVELS:
                levels[i] += count
    found = [i for i, value in enumerate(levels) if value >= needed]
    return length + found[0] + 1 if found else length


def _without_header(text: str, length: int) -> str:
    tokens = text.split(" ")
    if len(tokens) <= length:
        return text
    head = [
        token if WILDCARD in shape else MERGED for token, shape in zip(tokens, _shape_tokens(text))
    ]
    return " ".join(head[:length] + tokens[length:])


def generalize(
    templates: Union[Mapping[str, float], Iterable[str]],
    rule: MergeRule = DEFAULT_RULE,
    header: Optional[int] = None,
) -> dict[str, str]:
    """Each template mapped to its generalized template (itself when nothing merges).

    ``templates``: template -> event count (or just templates, each counted
    once); ``header``: a header length already known (else learned here). A
    function of that table only: any order, any split, same result.
    """
    counts = templates if isinstance(templates, Mapping) else dict.fromkeys(templates, 1.0)
    length = header_length(counts, rule) if header is None else header
    mapping = {text: _without_header(text, length) if length else text for text in counts}
    current = set(mapping.values())
    while True:
        changed = _covered(current)
        changed.update(_round(sorted(current.difference(changed)), rule))
        if not changed:
            return mapping
        for text, target in mapping.items():
            mapping[text] = changed.get(target, target)
        current = set(mapping.values())


def onto_anchor(
    anchor: Mapping[str, float], current: Mapping[str, float], rule: MergeRule = DEFAULT_RULE
) -> tuple[dict[str, str], dict[str, str]]:
    """Mappings for an anchor's and a current window's templates, so both land on the same ids.

    The anchor is the reference: its table is generalized alone (as at
    capture; an already generalized anchor stays as it is). The current
    window's templates take the anchor's header, then land on the anchor's
    templates where one equals or covers them; only the rest are merged,
    among themselves. So a new value of a word the anchor knew literally (a
    new state next to RUNNING and STOPPED) stays visible as a new template,
    while new users of a ``user <VAR>`` template the anchor learned do not.
    """
    anchor_map = generalize(anchor, rule)
    known: dict[str, float] = defaultdict(float)
    for text, count in anchor.items():
        known[anchor_map[text]] += count
    length = header_length(known, rule)
    headed = {text: _without_header(text, length) if length else text for text in current}
    landed = _covered(set(known) | set(headed.values()))
    rest: dict[str, float] = defaultdict(float)
    for text, target in headed.items():
        if target not in known and target not in landed:
            rest[target] += current[text]
    merged = generalize(rest, rule, header=0)
    current_map = {}
    for text, target in headed.items():
        target = landed.get(target, target)
        current_map[text] = merged.get(target, target)
    return anchor_map, current_map


def generalize_lines(
    lines: Sequence[tuple[str, Template]], rule: MergeRule = DEFAULT_RULE
) -> list[Template]:
    """The generalized template of each (sourcetype, template) line, merged per sourcetype."""
    tables: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for sourcetype, template in lines:
        tables[sourcetype][template.template] += 1.0
    mappings = {name: generalize(table, rule) for name, table in tables.items()}
    out = []
    for sourcetype, template in lines:
        text = mappings[sourcetype][template.template]
        out.append(template if text == template.template else Template(pattern_id_of(text), text))
    return out


# --- applying a mapping to fingerprint summaries (entries: fingerprint.TemplateEntry)


def _renamed(entry: Any, text: str) -> Any:
    # A copy of the entry under its generalized text (the entry's own class: the
    # fingerprint imports this module, so it is not imported here).
    hours = list(entry.hours) if entry.hours is not None else None
    return type(entry)(entry.count, entry.errors, text, entry.example, hours)


def _remapped(templates: Mapping[str, Any], mapping: Mapping[str, str]) -> dict[str, Any]:
    if all(
        mapping.get(entry.template, entry.template) == entry.template
        for entry in templates.values()
    ):
        return dict(templates)  # nothing merges (the common case at compare): same entries
    merged: dict[str, Any] = {}
    for pattern_id in sorted(templates):
        entry = templates[pattern_id]
        text = mapping.get(entry.template, entry.template)
        if text == entry.template:
            new_id, fresh = pattern_id, _renamed(entry, text)
        else:
            new_id, fresh = pattern_id_of(text), _renamed(entry, text)
        mine = merged.get(new_id)
        if mine is None:
            merged[new_id] = fresh
        else:
            mine.merge(fresh)
    return merged


def _counts(*summaries: Any) -> dict[str, float]:
    counts: dict[str, float] = defaultdict(float)
    for summary in summaries:
        for entry in summary.templates.values():
            counts[entry.template] += entry.count
    return counts


def _with_templates(summary: Any, templates: dict[str, list]) -> Any:
    fresh = copy.copy(summary)
    fresh.templates = templates
    return fresh


def generalize_summary(summary: Any, rule: MergeRule = DEFAULT_RULE) -> None:
    """Merge one sourcetype summary's templates in place."""
    summary.templates = _remapped(summary.templates, generalize(_counts(summary), rule))


def generalize_fingerprint(fingerprint: Any, rule: MergeRule = DEFAULT_RULE) -> Any:
    """Merge each sourcetype's templates in place (capture, before trimming); returns it."""
    for summary in fingerprint.sourcetypes.values():
        generalize_summary(summary, rule)
    return fingerprint


def align_fingerprints(
    anchor: Any, current: Any, rule: MergeRule = DEFAULT_RULE
) -> tuple[Any, Any]:
    """Copies of both fingerprints whose templates land on the same ids (see ``onto_anchor``).

    The inputs are not modified.
    """
    anchor_out, current_out = copy.copy(anchor), copy.copy(current)
    anchor_out.sourcetypes = dict(anchor.sourcetypes)
    current_out.sourcetypes = dict(current.sourcetypes)
    for name in set(anchor.sourcetypes) & set(current.sourcetypes):
        a, c = anchor.sourcetypes[name], current.sourcetypes[name]
        anchor_map, current_map = onto_anchor(_counts(a), _counts(c), rule)
        anchor_out.sourcetypes[name] = _with_templates(a, _remapped(a.templates, anchor_map))
        current_out.sourcetypes[name] = _with_templates(c, _remapped(c.templates, current_map))
    return anchor_out, current_out
