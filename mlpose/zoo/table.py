"""Plain-text tables: one line per row (greppable, and a row's failure stays on its line)."""
from __future__ import annotations


def format_row(cells: list[str], widths: list[int]) -> str:
    return "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()


def column_widths(header: list[str], rows: list[list[str]]) -> list[int]:
    return [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]


def format_table(header: list[str], rows: list[list[str]]) -> str:
    """``header`` and ``rows`` as left-aligned columns, two spaces apart, a rule under the header."""
    widths = column_widths(header, rows)
    rule = "  ".join("-" * w for w in widths)
    return "\n".join([format_row(header, widths), rule, *(format_row(r, widths) for r in rows)])
