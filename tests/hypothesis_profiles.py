"""Hypothesis draws the same examples on every run of the suite, and fresh ones on request.

Why: CI runs the suite once per submission, on a fresh clone, and nothing lands unless it
passes. With Hypothesis's default (a new random draw each run) a property that fails on one
input in thousands turns main red by the luck of that run, on a change that has nothing to do
with it; that happened once (the continuous rate search given an empty bitstream, now an
``@example`` in tests/test_properties.py). So the suite runs the ``gate`` profile: examples
drawn from a seed fixed by each test (``derandomize``), the same on every machine for a given
Hypothesis and Python, and no example database.

Looking for new failures is a separate, deliberate run::

    python -m pytest tests/test_properties.py tests/test_codec_options.py \
        --hypothesis-profile=explore [--hypothesis-seed=N]

``explore`` draws fresh examples, ``EXPLORE_EXAMPLES`` per test at least, and prints the
reproduction blob of a failure; a failure found there goes into the test as an ``@example``.
Loaded by tests/conftest.py, before the command line's ``--hypothesis-profile`` (which wins).
"""

from __future__ import annotations

from hypothesis import settings

#: Examples per property in an ``explore`` run (a test's own smaller budget is raised to it).
EXPLORE_EXAMPLES = 2000

settings.register_profile("gate", derandomize=True, database=None, print_blob=True)
settings.register_profile("explore", derandomize=False, max_examples=EXPLORE_EXAMPLES,
                          print_blob=True)
settings.load_profile("gate")


def examples(n: int) -> int:
    """A property's example budget: ``n`` in the suite, the ``explore`` profile's count (if
    larger) when that profile is loaded. A test's own ``max_examples`` overrides any
    profile's, so a test that sets one asks here."""
    return n if settings.default.derandomize else max(n, settings.default.max_examples)
