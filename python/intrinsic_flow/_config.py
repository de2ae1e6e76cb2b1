"""Run-time settings shared by both backends (defined with their validation in _checks)."""
from ._checks import Config, config

__all__ = ["Config", "config"]
