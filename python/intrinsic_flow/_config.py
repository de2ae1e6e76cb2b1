"""Run-time settings shared by both backends."""
from __future__ import annotations


class Config:
    """Library-wide settings.

    ``max_bytes``: the largest dense result (or working array) a call may allocate, in bytes
    (default 2 GiB). A call that would need more raises ``ValueError`` naming the size, before
    allocating anything.
    """

    def __init__(self) -> None:
        self.max_bytes: int = 2 * 1024**3

    def __repr__(self) -> str:
        return f"Config(max_bytes={self.max_bytes})"


config = Config()
