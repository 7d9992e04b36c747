"""The SPL guard: read-only allowlist, parsed, not pattern-matched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import examples, run_cli

from anchor.splguard import (
    OBSERVATION_CAP_BYTES,
    UnsafeSPL,
    check_spl,
    require_safe_spl,
    truncate_observation,
)

CASES = [
    json.loads(line)
    for line in (Path(__file__).parent / "data" / "spl_guard_cases.jsonl").read_text().splitlines()
]


@pytest.mark.parametrize("case", [c for c in CASES if c["allowed"]], ids=lambda c: c["why"])
def test_read_only_queries_are_allowed(case):
    result = check_spl(case["query"])
    assert result.allowed, result.reason


@pytest.mark.parametrize("case", [c for c in CASES if not c["allowed"]], ids=lambda c: c["reason"])
def test_writing_unknown_or_malformed_queries_are_rejected(case):
    result = check_spl(case["query"])
    assert not result.allowed
    assert case["reason"] in result.reason
    with pytest.raises(UnsafeSPL):
        require_safe_spl(case["query"])


def test_the_corpus_has_both_kinds_of_case():
    assert sum(c["allowed"] for c in CASES) >= 20 and sum(not c["allowed"] for c in CASES) >= 40


def test_a_bracket_bomb_is_refused_without_recursing():
    assert "nested too deeply" in check_spl("[" * 100_000).reason
    assert "nested too deeply" in check_spl("index=a " + "[search x " * 7 + "]" * 7).reason


def test_commands_are_reported_and_trusted_ones_can_be_added():
    assert check_spl("index=a | stats count | head 1").commands == ["search", "stats", "head"]
    assert check_spl("index=a | anchorcompare anchor=x", also_allow=["anchorcompare"]).allowed


def test_observations_are_truncated_with_a_marker():
    short = "x" * 100
    assert truncate_observation(short) == short
    long = "é" * OBSERVATION_CAP_BYTES
    cut = truncate_observation(long)
    assert (
        "[truncated:" in cut
        and len(cut.split("...[truncated")[0].encode()) <= OBSERVATION_CAP_BYTES
    )


def test_cli_check_spl_contract():
    ok = run_cli("check-spl", "index=a | stats count")
    assert ok.returncode == 0 and ok.stdout.strip() == "allowed"
    bad = run_cli("check-spl", "index=a | delete")
    assert bad.returncode == 3 and bad.stdout.strip().startswith("rejected: delete")


def test_every_offline_drill_in_query_passes_the_guard(demo_fingerprints):
    from anchor.diff import compare_fingerprints
    from anchor.narrate import drill_in_spl

    signals = compare_fingerprints(*demo_fingerprints).signals
    assert signals
    for signal in signals:
        result = check_spl(drill_in_spl(signal))
        assert result.allowed, (signal.signal_id, result.reason)


# -- property: the guard reads a pipeline the way it was written ---------------
# The reference split is the construction itself: a pipeline is built stage by stage from
# commands and argument fragments that each follow one of Splunk's documented rules (quoted
# strings with escapes, backslash escapes outside quotes, ``` comments, [subsearches]), so the
# command list is known without parsing. The guard must arrive at the same list.
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

COMMANDS = ["stats", "eval", "where", "table", "rex", "head", "search", "dedup", "sort"]
TEXT = st.text(
    st.characters(blacklist_characters='"\\`', blacklist_categories=("Cc", "Cs")), max_size=8
)
QUOTED = st.lists(
    st.one_of(TEXT, st.sampled_from(['\\"', "\\\\", "``` ", "|", "[", "]", "'", "```|``` "])),
    max_size=5,
).map(lambda parts: '"' + "".join(parts) + '"')
ESCAPED = st.sampled_from(["\\|", '\\"', "\\[", "\\]", "\\\\"])
COMMENT = st.text(
    st.characters(blacklist_characters='"\\`', blacklist_categories=("Cc", "Cs")), max_size=10
).map(lambda body: f"```{body}```")
WORD = st.from_regex(r"[A-Za-z0-9_=().,*<>-]{1,8}", fullmatch=True)


def pipelines(depth: int = 0):
    fragments = [WORD, QUOTED, ESCAPED, COMMENT]
    if depth < 2:
        fragments.append(
            st.deferred(lambda: pipelines(depth + 1)).map(lambda built: (f"[{built[0]}]", built[1]))
        )
    fragment = st.one_of(*fragments)

    def stage(draw_args):
        name, args = draw_args
        text = " ".join(a if isinstance(a, str) else a[0] for a in args)
        subs = [c for a in args if not isinstance(a, str) for c in a[1]]
        return f"{name} {text}", [name, *subs]

    stages = st.lists(
        st.tuples(st.sampled_from(COMMANDS), st.lists(fragment, max_size=4)).map(stage),
        min_size=1,
        max_size=4,
    )
    return stages.map(
        lambda built: (
            "| " + " | ".join(s for s, _ in built),
            [c for _, names in built for c in names],
        )
    )


@pytest.mark.fuzz
@settings(max_examples=examples(300), deadline=None)
@given(pipelines())
def test_the_guard_splits_generated_pipelines_like_the_reference(built):
    query, expected = built
    result = check_spl(query)
    assert result.allowed, (query, result.reason)
    assert result.commands == expected


@pytest.mark.fuzz
@settings(max_examples=examples(200), deadline=None)
@given(pipelines(), st.sampled_from(["collect index=x", "delete", "outputlookup y", "rest /x"]))
def test_a_writing_stage_anywhere_in_a_generated_pipeline_is_found(built, bad):
    query, _ = built
    assert not check_spl(f"{query} | {bad}").allowed
    assert not check_spl(f"| makeresults | append [{query} | {bad}]").allowed
