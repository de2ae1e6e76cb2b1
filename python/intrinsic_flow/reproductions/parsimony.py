"""Reproduction of the parsimony paper: its experiments as report sections."""
from __future__ import annotations

TITLE = "parsimony"
SECTIONS: list = []
