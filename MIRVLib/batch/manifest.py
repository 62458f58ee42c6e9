"""Cohort manifest: which image and lesions belong to which patient.

A manifest is a CSV with the columns ``PatientID, Image, Lesions`` and optionally ``FollowUpImage,
FollowUpLesions, Sites`` (a lesion→site CSV). Relative paths resolve against the manifest's folder so a
cohort folder can be moved or shared as a whole. Every row is checked before any work starts and all
problems are reported together: a cohort of hundreds of patients should fail once, not once per bad row.

Only image *headers* are read here (cheap); a file whose header is fine but whose voxel data is damaged is
found during extraction and recorded as that patient's failure without stopping the run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import SimpleITK as sitk

from MIRVLib.lesion_table import nul_lines

REQUIRED_COLUMNS = ("PatientID", "Image", "Lesions")
OPTIONAL_COLUMNS = ("FollowUpImage", "FollowUpLesions", "Sites")


class ManifestError(ValueError):
    """The manifest cannot be run; ``problems`` lists every bad row (``line N, patient X: reason``)."""

    def __init__(self, path: str | os.PathLike[str], problems: list[str]):
        self.path = Path(path)
        self.problems = problems
        listing = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"manifest {self.path}: {len(problems)} problem(s)\n{listing}")


@dataclass(frozen=True)
class ManifestRow:
    """One patient of the cohort, with absolute paths."""

    patient_id: str
    image: Path
    lesions: Path
    follow_up_image: Path | None = None
    follow_up_lesions: Path | None = None
    sites: Path | None = None
    line: int = 0

    def input_paths(self) -> dict[str, Path]:
        """Every input file of the patient by manifest column name (provenance and change detection)."""
        paths = {"Image": self.image, "Lesions": self.lesions, "FollowUpImage": self.follow_up_image,
                 "FollowUpLesions": self.follow_up_lesions, "Sites": self.sites}
        return {name: path for name, path in paths.items() if path is not None}


def read_manifest(path: str | os.PathLike[str], *, check_images: bool = True) -> list[ManifestRow]:
    """Read and validate a manifest; raise `ManifestError` naming every bad row."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(path, [f"file not found: {path}"])
    nul = nul_lines(path)
    if nul:
        raise ManifestError(path, [f"line {line}: NUL character (IDs and paths would be cut at it)" for line in nul])
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise ManifestError(path, [f"not a readable CSV: {error}"]) from error
    table.columns = [str(c).strip() for c in table.columns]
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise ManifestError(path, [f"missing column(s) {', '.join(missing)}; found {', '.join(table.columns)}"])
    unknown = [c for c in table.columns if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if unknown:
        raise ManifestError(path, [f"unknown column(s) {', '.join(unknown)}; allowed: "
                                   f"{', '.join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)}"])
    if table.empty:
        raise ManifestError(path, ["no patients"])

    base = path.resolve().parent
    rows: list[ManifestRow] = []
    problems: list[str] = []
    first_line: dict[str, int] = {}
    for position, record in enumerate(table.to_dict("records")):
        line = position + 2  # header is line 1
        values = {k: str(v).strip() for k, v in record.items()}
        patient = values["PatientID"]
        where = f"line {line}, patient {patient or '?'}"
        row_problems: list[str] = []
        if not patient:
            row_problems.append("empty PatientID")
        elif patient in first_line:
            row_problems.append(f"duplicate PatientID (first on line {first_line[patient]})")
        else:
            first_line[patient] = line
        paths: dict[str, Path | None] = {}
        for column in REQUIRED_COLUMNS[1:] + OPTIONAL_COLUMNS:
            value = values.get(column, "")
            if not value:
                if column in REQUIRED_COLUMNS:
                    row_problems.append(f"empty {column}")
                paths[column] = None
                continue
            resolved = Path(value) if Path(value).is_absolute() else base / value
            paths[column] = resolved
            if not resolved.exists():
                row_problems.append(f"{column} not found: {resolved}")
            elif check_images and column in ("Image", "FollowUpImage"):
                reason = image_header_problem(resolved)
                if reason:
                    row_problems.append(f"{column} unreadable: {resolved}: {reason}")
        if bool(paths["FollowUpImage"]) != bool(paths["FollowUpLesions"]):
            row_problems.append("FollowUpImage and FollowUpLesions must be given together")
        problems += [f"{where}: {p}" for p in row_problems]
        if not row_problems:
            rows.append(ManifestRow(patient, paths["Image"], paths["Lesions"], paths["FollowUpImage"],
                                    paths["FollowUpLesions"], paths["Sites"], line))
    if problems:
        raise ManifestError(path, problems)
    return rows


def image_header_problem(path: Path) -> str | None:
    """Why the image at ``path`` (file or DICOM folder) cannot be opened, or None; reads headers only."""
    try:
        if path.is_dir():
            series = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(path))
            return None if series else "no DICOM series in folder"
        reader = sitk.ImageFileReader()
        reader.SetFileName(str(path))
        reader.ReadImageInformation()
    except RuntimeError as error:
        return str(error).strip().splitlines()[-1] if str(error).strip() else "unreadable"
    return None
