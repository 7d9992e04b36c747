"""The scenario suite (eval/) at a small size: Anchor meets the targets on a held-out seed.

The full suite, with the peer detector beside it, is ``make eval``; this
test runs one held-out seed at a third of the volume, Anchor only, and
asserts every target: each planted cause in the top 5, no false HIGH, no
duplicate row in the top 10, quiet windows with no HIGH and at most 2 MEDIUM.
"""

from __future__ import annotations

import os
import sys

import pytest

# One xdist worker runs this module (make test: --dist loadgroup), so its module
# fixtures are made once, and its group is handed out before single tests.
pytestmark = pytest.mark.xdist_group("eval")

EVAL = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "eval")
sys.path.insert(0, EVAL)

import run  # noqa: E402


@pytest.fixture(scope="module")
def scores():
    scenarios = run.load_scenarios(run.HELD_OUT_SEEDS[:1], 0.3)
    return run.evaluate(scenarios, peer=False, log=lambda line: None)


def test_the_suite_covers_the_stories_the_issue_names(scores):
    names = {s.scenario.split("/")[0] for s in scores}
    assert {
        "three_causes",
        "night_window",
        "rolling_deploy",
        "latency_creep",
        "sourcetype_stops",
        "no_change",
    } <= names
    assert {"rare_fatal", "status_shift", "slow_host", "build_bump", "unique_word_burst"} <= names


def test_every_scenario_meets_its_targets(scores):
    failed = [
        (s.scenario, s.found, s.false_high, s.duplicates, s.high, s.medium)
        for s in scores
        if not s.passed
    ]
    assert not failed


def test_the_scoring_counts_misses_false_highs_and_duplicates():
    """The scorer itself can fail: a list that repeats a cause and raises an unrelated HIGH."""
    scenario = run.Scenario(
        "made_up",
        [],
        [],
        [
            run_cause("db latency", lambda s: s.get("sourcetype") == "db"),
            run_cause("never found", lambda s: False),
        ],
    )
    rows = [
        {"severity": "HIGH", "sourcetype": "web"},
        {"severity": "MEDIUM", "sourcetype": "x", "evidence": [{"sourcetype": "db"}]},
        {"severity": "LOW", "sourcetype": "db"},
    ]
    score = run.score("test", scenario, rows)
    assert score.found == [2, None]
    assert score.false_high == 1
    assert score.duplicates == 1
    assert not score.passed


def run_cause(label, match):
    from scenario import Cause

    return Cause(label, match)
