"""Reproduction of the symmetries paper: its experiments as report sections."""
from __future__ import annotations

TITLE = "symmetries"
SECTIONS: list = []
