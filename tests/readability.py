"""Checks that a report is readable as a person sees it: every Markdown table well formed, every
figure's text large enough at the width the HTML page shows it."""
from __future__ import annotations

import re

PAGE_PX = 990  # the report's HTML column (62em)
MIN_PX = 9.5  # smallest text, in screen pixels, after the page scales the figure down


def table_blocks(markdown: str) -> list:
    """The pipe tables of ``markdown``: lists of rows, each a list of cells (\\| does not split)."""
    blocks, current = [], []
    for line in markdown.splitlines() + [""]:
        if line.startswith("|"):
            current.append([c for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]])
        elif current:
            blocks.append(current)
            current = []
    return blocks


def assert_tables_well_formed(markdown: str) -> int:
    """Every table has a header, a separator of the same width and rows of that width; returns the count."""
    blocks = table_blocks(markdown)
    for rows in blocks:
        width = len(rows[0])
        assert len(rows) >= 2 and all(set(c.strip()) <= set("-:") and c.strip() for c in rows[1]), rows[:2]
        for row in rows:
            assert len(row) == width, f"row of {len(row)} cells in a table of {width}: {'|'.join(row)}"
    return len(blocks)


def smallest_text_px(figure, dpi: float = 90) -> float:
    """The smallest font of ``figure`` in screen pixels once the page scales it to PAGE_PX."""
    figure.canvas.draw()  # lays out ticks and legends
    width_px = figure.get_size_inches()[0] * dpi
    scale = min(1.0, PAGE_PX / width_px)
    sizes = [t.get_fontsize() for t in figure.findobj(lambda a: hasattr(a, "get_fontsize") and hasattr(a, "get_text"))
             if t.get_visible() and t.get_text().strip()]
    return min(sizes) * dpi / 72 * scale if sizes else float("inf")


def assert_readable(figure) -> None:
    px = smallest_text_px(figure)
    assert px >= MIN_PX, f"smallest text of the figure is {px:.1f} px on the page (at least {MIN_PX})"
