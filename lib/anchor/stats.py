"""Small, dependency-free statistical tests used by the diff.

Everything here is pure math on counts: exact binomial tails through the
regularized incomplete beta function, chi-square tails through the
regularized incomplete gamma function, the Kolmogorov distribution, and
Benjamini-Hochberg. SciPy is not available inside Splunk's Python, so these
are written out (after Numerical Recipes' continued fractions) and checked
against SciPy-free identities in the tests.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

_EPS = 3e-16
_TINY = 1e-300


def _betacf(a: float, b: float, x: float) -> float:
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, 10000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + aa / c
        c = c if abs(c) > _TINY else _TINY
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + aa / c
        c = c if abs(c) > _TINY else _TINY
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def binom_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p)."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    return betainc(n - k, k + 1, 1.0 - p)


def binom_sf(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    return betainc(k, n - k + 1, p)


def binom_two_sided(k: int, n: int, p: float) -> float:
    """Two-sided p-value of k successes in n trials: twice the smaller tail, capped at 1.

    Exact through the incomplete beta function while the variance is small;
    past that the continued fraction slows down and the normal approximation
    (with continuity correction) is accurate to far better than we need.
    """
    if n <= 0 or p <= 0.0 or p >= 1.0:
        return 1.0
    variance = n * p * (1.0 - p)
    if variance > 2000.0:
        gap = max(0.0, abs(k - n * p) - 0.5)
        return min(1.0, norm_two_sided(gap / math.sqrt(variance)))
    return min(1.0, 2.0 * min(binom_cdf(k, n, p), binom_sf(k, n, p)))


def rate_test(count_a: float, count_b: float, share_b: float) -> float:
    """Are two counts consistent with B holding ``share_b`` of their total?

    This is the conditional binomial test for two Poisson rates (or two
    shares): given N = a + b events, b ~ Binomial(N, share_b) under the null.
    Weighted counts are rounded to whole events.
    """
    a, b = round(count_a), round(count_b)
    return binom_two_sided(b, a + b, share_b)


def _gser(a: float, x: float) -> float:
    total = term = 1.0 / a
    ap = a
    for _ in range(10000):
        ap += 1.0
        term *= x / ap
        total += term
        if abs(term) < abs(total) * _EPS:
            break
    return total * math.exp(-x + a * math.log(x) - math.lgamma(a))


def _gcf(a: float, x: float) -> float:
    b = x + 1.0 - a
    c = 1.0 / _TINY
    d = 1.0 / b
    h = d
    for i in range(1, 10000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = d if abs(d) > _TINY else _TINY
        c = b + an / c
        c = c if abs(c) > _TINY else _TINY
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return math.exp(-x + a * math.log(x) - math.lgamma(a)) * h


def gammaincc(a: float, x: float) -> float:
    """Regularized upper incomplete gamma Q(a, x)."""
    if x <= 0.0:
        return 1.0
    if x < a + 1.0:
        return 1.0 - _gser(a, x)
    return _gcf(a, x)


def chi2_sf(statistic: float, dof: int) -> float:
    return gammaincc(dof / 2.0, statistic / 2.0) if dof > 0 else 1.0


def chi2_homogeneity(row_a: Sequence[float], row_b: Sequence[float]) -> float:
    """p-value of a 2 x k chi-square test that two count vectors share one distribution."""
    total_a, total_b = sum(row_a), sum(row_b)
    total = total_a + total_b
    if total_a <= 0 or total_b <= 0:
        return 1.0
    statistic, used = 0.0, 0
    for a, b in zip(row_a, row_b):
        column = a + b
        if column <= 0:
            continue
        used += 1
        expect_a = column * total_a / total
        expect_b = column * total_b / total
        statistic += (a - expect_a) ** 2 / expect_a + (b - expect_b) ** 2 / expect_b
    return chi2_sf(statistic, used - 1)


def norm_two_sided(z: float) -> float:
    return math.erfc(abs(z) / math.sqrt(2.0))


def two_proportion(successes_a: float, n_a: float, successes_b: float, n_b: float) -> float:
    """Pooled two-proportion z-test; p-value 1 when undefined."""
    if n_a <= 0 or n_b <= 0:
        return 1.0
    pooled = (successes_a + successes_b) / (n_a + n_b)
    variance = pooled * (1.0 - pooled) * (1.0 / n_a + 1.0 / n_b)
    if variance <= 0:
        return 1.0
    return norm_two_sided((successes_b / n_b - successes_a / n_a) / math.sqrt(variance))


def kolmogorov_sf(statistic: float, n_a: float, n_b: float) -> float:
    """Asymptotic p-value of the two-sample KS statistic (Stephens' correction)."""
    if n_a <= 0 or n_b <= 0 or statistic <= 0:
        return 1.0
    effective = math.sqrt(n_a * n_b / (n_a + n_b))
    lam = (effective + 0.12 + 0.11 / effective) * statistic
    if lam < 0.2:
        return 1.0
    total = 0.0
    for j in range(1, 101):
        term = 2.0 * (-1) ** (j - 1) * math.exp(-2.0 * j * j * lam * lam)
        total += term
        if abs(term) < 1e-12:
            break
    return min(1.0, max(0.0, total))


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """q-values (BH adjusted p-values) in the input order."""
    count = len(p_values)
    order = sorted(range(count), key=lambda i: p_values[i])
    q_values = [1.0] * count
    running = 1.0
    for rank in range(count, 0, -1):
        index = order[rank - 1]
        running = min(running, p_values[index] * count / rank)
        q_values[index] = min(1.0, running)
    return q_values
