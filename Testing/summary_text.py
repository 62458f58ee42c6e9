"""Reading a console summary (`MIRVLib.stats.summary.console_block`) back, to compare its numbers with the CSVs."""

from __future__ import annotations

from pathlib import Path

from stats_data import CLINICAL

from MIRVLib.cli import main


def run(capsys, args: list[str]) -> str:
    """``mirv ARGS`` (must succeed); its console output, which must be ASCII."""
    assert main(args) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert out.isascii()  # a Windows console (cp1252) must be able to print every summary
    return out


def table_args(patients_csv: Path, sarc021_dir: Path) -> list[str]:
    """``--table`` for the MIRV patients and each shipped clinical table, joined by ``--id PatientID,USUBJID``."""
    args = ["--table", str(patients_csv)]
    for name in CLINICAL:
        args += ["--table", str(sarc021_dir / name)]
    return [*args, "--id", "PatientID,USUBJID"]


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
