"""Long computations as steps: a generator that yields every few milliseconds of work and returns its
result. An editor runs one a slice at a time between turns of its event loop, so a 5,000-node graph's
validation or layout never freezes the window; anything else runs it to the end with `run_steps`.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TypeVar

T = TypeVar("T")

Steps = Generator[None, None, T]


def run_steps(steps: Steps[T]) -> T:
    """Run a stepped computation to its end and return its result."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value
