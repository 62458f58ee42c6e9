"""HTML building blocks shared by the reports (`mirv stats report`, `mirv cohort --figures`, a patient's report).

One rule for every page: what a reader wants first (the summary, the main table) is open; long tables and lists
(hundreds of unmatched IDs, per-patient sections, warnings) sit in a closed ``<details>`` whose label says how many
rows or items it holds, so a page never opens with a wall of detail.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

MAX_OPEN_ROWS = 30  # longer tables are folded even when they are the section's main table
MAX_OPEN_ITEMS = 10  # longer lists (warnings, left-out lesions, patient sections) are folded


def folded(label: str, body: str) -> str:
    """``body`` in a closed ``<details>`` labelled ``label`` (plain text, escaped here)."""
    return f"<details><summary>{html.escape(label)}</summary>{body}</details>"


def is_folded(part: str) -> bool:
    """Whether ``part`` is a block made by :func:`folded` (used to put open parts before folded ones)."""
    return part.startswith("<details>")


def table_block(title: str, table_html: str, rows: int, main: bool = True) -> str:
    """A main table of at most MAX_OPEN_ROWS rows under a heading; any other table folded, its row count shown."""
    if main and rows <= MAX_OPEN_ROWS:
        return f"<h3>{html.escape(title)}</h3>{table_html}"
    return folded(f"{title} ({rows} rows)", table_html)


def list_block(title: str, items: Sequence[str]) -> str:
    """A bulleted list (items plain text) under a heading, folded beyond MAX_OPEN_ITEMS; nothing when empty."""
    if not items:
        return ""
    body = "<ul>" + "".join(f"<li>{html.escape(item)}</li>" for item in items) + "</ul>"
    if len(items) <= MAX_OPEN_ITEMS:
        return f"<h3>{html.escape(title)}</h3>{body}"
    return folded(f"{title} ({len(items)})", body)


def preformatted(text: str, css_class: str = "summary") -> str:
    """Console text (a summary, a readout) as ``<pre>``, so its columns stay aligned."""
    return f'<pre class="{css_class}">{html.escape(text)}</pre>'
