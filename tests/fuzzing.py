"""What the fuzz tests of the library share: which exceptions count as a refusal, and how a
random argument is drawn."""
from __future__ import annotations


def refused(error: BaseException, accepted=(ValueError, TypeError)) -> bool:
    """An accepted refusal: one of ``accepted`` (ValueError or TypeError), or a MemoryError that
    names the budget ``config.max_bytes``."""
    if isinstance(error, MemoryError):
        return "max_bytes" in str(error)
    return isinstance(error, accepted)


def pick(rng, good, bad, p_bad=0.25):
    """A good value most of the time (1 - p_bad), else one of the bad ones."""
    return bad[int(rng.integers(len(bad)))] if rng.random() < p_bad else good
