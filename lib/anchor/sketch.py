"""A mergeable quantile sketch with relative-error guarantees (DDSketch-style).

Values fall into logarithmic buckets: bucket ``k`` holds values in
``(gamma**(k-1), gamma**k]`` with ``gamma = (1 + a) / (1 - a)``, so any
quantile is returned within relative error ``a``. Merging adds bucket counts,
which makes the result independent of how events were split across indexers
and of their order. Negative values use a mirrored store; values near zero a
zero bucket. The number of buckets is bounded: past ``max_bins`` the lowest
buckets collapse together (the high quantiles, where regressions show, keep
their accuracy).

Written here rather than vendoring ``ddsketch`` so that serialization is a
plain, versioned dict and the hot ``add`` path is a few lines; the tests
compare its quantiles with the ``ddsketch`` package's.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from functools import reduce
from itertools import repeat
from operator import add
from typing import Any

RELATIVE_ACCURACY = 0.01
MAX_BINS = 2048
_MIN_INDEXABLE = 1e-9
_ceil, _log = math.ceil, math.log  # (bound once: ``add`` runs per event and metric)


class QuantileSketch:
    __slots__ = (
        "_log_gamma",
        "accuracy",
        "count",
        "gamma",
        "max_bins",
        "negative",
        "positive",
        "zero",
    )

    def __init__(self, accuracy: float = RELATIVE_ACCURACY, max_bins: int = MAX_BINS) -> None:
        self.accuracy = accuracy
        self.gamma = (1.0 + accuracy) / (1.0 - accuracy)
        self._log_gamma = math.log(self.gamma)
        self.max_bins = max_bins
        self.positive: dict[int, float] = {}
        self.negative: dict[int, float] = {}
        self.zero = 0.0
        self.count = 0.0

    def _key(self, magnitude: float) -> int:
        return math.ceil(math.log(magnitude) / self._log_gamma)

    def add(self, value: float, weight: float = 1.0) -> None:
        self.count += weight
        if value > _MIN_INDEXABLE:
            store = self.positive
            key = _ceil(_log(value) / self._log_gamma)
        elif value < -_MIN_INDEXABLE:
            store = self.negative
            key = _ceil(_log(-value) / self._log_gamma)
        else:
            self.zero += weight
            return
        if key in store:
            store[key] += weight
            return
        store[key] = 0.0 + weight
        if len(store) > self.max_bins:
            self._collapse(store)

    def add_ones(self, values: Sequence[float]) -> None:
        """``add(value)`` for each value in order, in one loop: the same result."""
        self.count = reduce(add, repeat(1.0, len(values)), self.count)
        log_gamma, positive, negative = self._log_gamma, self.positive, self.negative
        for value in values:
            if value > _MIN_INDEXABLE:
                store = positive
                key = _ceil(_log(value) / log_gamma)
            elif value < -_MIN_INDEXABLE:
                store = negative
                key = _ceil(_log(-value) / log_gamma)
            else:
                self.zero += 1.0
                continue
            if key in store:
                store[key] += 1.0
            else:
                store[key] = 1.0
                if len(store) > self.max_bins:
                    self._collapse(store)

    def _collapse(self, store: dict[int, float]) -> None:
        keys = sorted(store)
        excess = keys[: len(keys) - self.max_bins + 1]
        target = excess[-1]
        store[target] = sum(store.pop(k) for k in excess[:-1]) + store[target]

    def merge(self, other: QuantileSketch) -> None:
        if other.gamma != self.gamma:
            raise ValueError("cannot merge sketches with different accuracy")
        for mine, theirs in ((self.positive, other.positive), (self.negative, other.negative)):
            for key, weight in theirs.items():
                mine[key] = mine.get(key, 0.0) + weight
            while len(mine) > self.max_bins:
                self._collapse(mine)
        self.zero += other.zero
        self.count += other.count

    def _value(self, signed_key: tuple[int, int]) -> float:
        sign, key = signed_key
        if sign == 0:
            return 0.0
        magnitude = 2.0 * self.gamma**key / (self.gamma + 1.0)
        return magnitude if sign > 0 else -magnitude

    def buckets(self) -> Iterator[tuple[tuple[int, int], float]]:
        """(signed key, weight) in increasing value order; signed keys compare across sketches."""
        for key in sorted(self.negative, reverse=True):
            yield (-1, -key), self.negative[key]
        if self.zero:
            yield (0, 0), self.zero
        for key in sorted(self.positive):
            yield (1, key), self.positive[key]

    def quantile(self, q: float) -> float | None:
        if self.count <= 0:
            return None
        rank = q * (self.count - 1)
        seen = 0.0
        last = None
        for signed_key, weight in self.buckets():
            seen += weight
            last = signed_key
            if seen > rank:
                return self._value(signed_key)
        return self._value(last) if last else None

    def fraction_above(self, threshold: float) -> float:
        """Share of the weight in buckets strictly above the bucket holding ``threshold``."""
        if self.count <= 0:
            return 0.0
        bound = self._signed_key(threshold)
        above = sum(weight for signed_key, weight in self.buckets() if signed_key > bound)
        return above / self.count

    def _signed_key(self, value: float) -> tuple[int, int]:
        if value > _MIN_INDEXABLE:
            return (1, self._key(value))
        if value < -_MIN_INDEXABLE:
            return (-1, -self._key(-value))
        return (0, 0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "accuracy": self.accuracy,
            "max_bins": self.max_bins,
            "zero": self.zero,
            "count": self.count,
            "positive": [[k, self.positive[k]] for k in sorted(self.positive)],
            "negative": [[k, self.negative[k]] for k in sorted(self.negative)],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QuantileSketch:
        sketch = cls(float(data["accuracy"]), int(data["max_bins"]))
        sketch.zero = float(data["zero"])
        sketch.count = float(data["count"])
        sketch.positive = {int(k): float(w) for k, w in data["positive"]}
        sketch.negative = {int(k): float(w) for k, w in data["negative"]}
        return sketch


def ks_statistic(a: QuantileSketch, b: QuantileSketch) -> float:
    """Largest gap between the two bucketed CDFs (the two-sample KS statistic)."""
    if a.count <= 0 or b.count <= 0:
        return 0.0
    weights_a = dict(a.buckets())
    weights_b = dict(b.buckets())
    cdf_a = cdf_b = gap = 0.0
    for signed_key in sorted(set(weights_a) | set(weights_b)):
        cdf_a += weights_a.get(signed_key, 0.0) / a.count
        cdf_b += weights_b.get(signed_key, 0.0) / b.count
        gap = max(gap, abs(cdf_a - cdf_b))
    return gap
