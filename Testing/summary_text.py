"""Reading a console summary (`MIRVLib.stats.summary.console_block`) back, to compare its numbers with the CSVs."""

from __future__ import annotations


def facts(printed: str) -> dict[str, str]:
    """The ``key = value, ...`` line under the title."""
    line = printed.splitlines()[1]
    return dict(item.split(" = ", 1) for item in line.strip().split(", ") if " = " in item)


def row(printed: str, label: str) -> list[str]:
    """The cells printed after a row label (labels may contain spaces; cells do not, except intervals)."""
    lines = [line.strip() for line in printed.splitlines() if line.strip().startswith(label + " ")]
    assert len(lines) == 1, f"{label!r} printed {len(lines)} times in\n{printed}"
    return lines[0][len(label):].split()


def cells(*values: str) -> list[str]:
    return " ".join(values).split()
