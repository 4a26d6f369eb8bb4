"""A tiny pytest-benchmark suite whose JSON output is the golden file next to it.

Not collected by the test run (its name does not start with test_); see README.md.
Two sizes of the same work give a latency difference far beyond timing noise.
"""

import random

_DATA_SMALL = [random.Random(1).random() for _ in range(200)]
_DATA_LARGE = [random.Random(2).random() for _ in range(20_000)]


def test_sort_small(benchmark):  # type: ignore[no-untyped-def]
    benchmark.pedantic(sorted, args=(_DATA_SMALL,), rounds=20, iterations=5)


def test_sort_large(benchmark):  # type: ignore[no-untyped-def]
    benchmark.pedantic(sorted, args=(_DATA_LARGE,), rounds=20, iterations=5)
