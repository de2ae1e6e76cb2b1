"""Run-time settings shared by both backends."""
from __future__ import annotations


class Config:
    """Library-wide settings.

    ``max_bytes``: the largest dense result (or working array) a call may allocate, in bytes
    (default 2 GiB). A call that would need more raises ``ValueError`` naming the size, before
    allocating anything. It must be a positive integer (a whole float such as ``4e9`` is read as
    one); NaN, infinities, zero, negatives and fractions raise ValueError.
    """

    def __init__(self) -> None:
        self._max_bytes: int = 2 * 1024**3

    @property
    def max_bytes(self) -> int:
        return self._max_bytes

    @max_bytes.setter
    def max_bytes(self, value) -> None:
        from ._checks import max_bytes  # all validation lives in _checks, which reads this module

        self._max_bytes = max_bytes(value)

    def __repr__(self) -> str:
        return f"Config(max_bytes={self.max_bytes})"


config = Config()
