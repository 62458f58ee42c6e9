"""Console summaries of analyses: a few lines a reader can act on, like lifelines' ``print_summary``.

Every `mirv stats` command and `mirv cohort` print one block: a title, the facts (n, events, settings) and a
small table of the key estimates (estimate, 95 % CI, p, FDR). Numbers are rounded by :func:`format_number`, so a
test can recompute the printed text from the CSV the analysis wrote.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

SIGNIFICANT_DIGITS = 3
MAX_ROWS = 20


def format_number(value: Any, digits: int = SIGNIFICANT_DIGITS) -> str:
    """``value`` to ``digits`` significant digits ('-' for missing); integers and text unchanged."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, (bool, str)):
        return str(value)
    if isinstance(value, int) or (hasattr(value, "is_integer") and float(value).is_integer() and abs(value) < 1e6):
        return str(int(value))
    return f"{float(value):.{digits}g}"


def format_p(value: Any) -> str:
    """A p-value: '<0.001' below a thousandth, else 3 significant digits."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return "<0.001" if float(value) < 0.001 else format_number(value)


def format_interval(lower: Any, upper: Any) -> str:
    return f"[{format_number(lower)}, {format_number(upper)}]"


def console_block(
    title: str,
    facts: Mapping[str, Any] | None = None,
    table: pd.DataFrame | None = None,
    p_columns: Sequence[str] = ("p", "P", "FDR", "PValue", "pFDR"),
    note: str = "",
    max_rows: int = MAX_ROWS,
) -> str:
    """One summary block: title, ``key = value`` facts on one line, then the table (rounded; p-value columns
    with :func:`format_p`); longer tables are cut at ``max_rows`` with a line saying how many were left out."""
    lines = [title]
    if facts:
        lines.append("  " + ", ".join(f"{key} = {format_number(value)}" for key, value in facts.items()))
    if table is not None and len(table):
        shown = table.head(max_rows)
        text = pd.DataFrame({
            column: [format_p(v) if column in p_columns else format_number(v) for v in shown[column]]
            for column in shown.columns
        }, index=[str(i) for i in shown.index])
        rendered = text.to_string(index=not isinstance(table.index, pd.RangeIndex))
        lines.append("  " + "-" * min(max(len(line) for line in rendered.splitlines()), 100))
        lines.extend("  " + line for line in rendered.splitlines())
        if len(table) > max_rows:
            lines.append(f"  ... {len(table) - max_rows} more rows in the CSV")
    if note:
        lines.append("  " + note)
    return "\n".join(lines)
