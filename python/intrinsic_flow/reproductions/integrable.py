"""Reproduction of the integrable paper: its experiments as report sections."""
from __future__ import annotations

TITLE = "integrable"
SECTIONS: list = []
