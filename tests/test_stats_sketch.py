"""The hand-written statistics against exact sums and the ddsketch package."""

from __future__ import annotations

import math
import random

import pytest
from ddsketch import DDSketch

from anchor.sketch import QuantileSketch, ks_statistic
from anchor.stats import (
    benjamini_hochberg,
    binom_cdf,
    binom_sf,
    binom_two_sided,
    chi2_sf,
    kolmogorov_sf,
)


def exact_cdf(k, n, p):
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))


@pytest.mark.parametrize("n, p", [(10, 0.5), (40, 0.1), (200, 0.03), (500, 0.7)])
def test_binomial_tails_match_exact_sums(n, p):
    for k in range(0, n + 1, max(1, n // 15)):
        assert binom_cdf(k, n, p) == pytest.approx(exact_cdf(k, n, p), rel=1e-9, abs=1e-15)
        assert binom_sf(k, n, p) == pytest.approx(1 - exact_cdf(k - 1, n, p), rel=1e-8, abs=1e-14)


def test_large_counts_use_a_consistent_normal_tail():
    n, p = 2_000_000, 0.01
    mean = n * p
    assert binom_two_sided(round(mean), n, p) == pytest.approx(1.0, abs=0.01)
    assert binom_two_sided(round(mean + 4 * math.sqrt(mean * 0.99)), n, p) < 1e-4


def test_chi_square_and_kolmogorov_known_values():
    assert chi2_sf(3.841458820694124, 1) == pytest.approx(0.05, rel=1e-6)
    assert chi2_sf(18.307038053275146, 10) == pytest.approx(0.05, rel=1e-6)
    # Kolmogorov distribution: P(K > 1.358) = 0.05 for large samples.
    n = 10**7
    assert kolmogorov_sf(1.358 / math.sqrt(n / 2), n, n) == pytest.approx(0.05, rel=0.01)


def test_benjamini_hochberg_matches_the_definition():
    p = [0.01, 0.04, 0.03, 0.005, 0.5]
    assert benjamini_hochberg(p) == pytest.approx([0.025, 0.05, 0.05, 0.025, 0.5])


def test_sketch_quantiles_agree_with_ddsketch_and_exact_values():
    rng = random.Random(3)
    values = [rng.lognormvariate(3, 1.2) for _ in range(50_000)] + [0.0] * 100 + [-5.0] * 50
    ours, theirs = QuantileSketch(0.01), DDSketch(0.01)
    for v in values:
        ours.add(v)
        theirs.add(v)
    ordered = sorted(values)
    for q in (0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999):
        exact = ordered[int(q * (len(ordered) - 1))]
        assert ours.quantile(q) == pytest.approx(exact, rel=0.0201)
        assert ours.quantile(q) == pytest.approx(theirs.get_quantile_value(q), rel=0.0201)


def test_sketch_merge_is_order_independent_and_bounded():
    rng = random.Random(4)
    values = [rng.expovariate(0.01) for _ in range(20_000)]
    whole = QuantileSketch()
    for v in values:
        whole.add(v)
    parts = [QuantileSketch() for _ in range(4)]
    for i, v in enumerate(values):
        parts[i % 4].add(v)
    merged = QuantileSketch()
    for part in reversed(parts):
        merged.merge(part)
    assert merged.to_dict() == whole.to_dict()
    tiny = QuantileSketch(max_bins=64)
    for v in values:
        tiny.add(v)
    assert len(tiny.positive) <= 64
    assert tiny.quantile(0.99) == pytest.approx(whole.quantile(0.99), rel=0.0201)


def test_ks_statistic_detects_a_shift_and_not_noise():
    rng = random.Random(5)
    a, b, c = QuantileSketch(), QuantileSketch(), QuantileSketch()
    for _ in range(5000):
        a.add(rng.gauss(100, 10))
        b.add(rng.gauss(100, 10))
        c.add(rng.gauss(115, 10))
    assert ks_statistic(a, b) < 0.05
    assert ks_statistic(a, c) > 0.4
