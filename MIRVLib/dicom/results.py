"""One patient's results as DICOM (SEG of the lesions + TID 1500 SR referencing it), for `mirv extract`,
`mirv cohort` and the Slicer module alike.

Both objects reference the patient's CT series, so they can only be written for a patient whose image is a
DICOM series (``MIRVLib.dicom.series``); the SEG holds the lesions that have a row in the lesion table (those
analysed), the SR their measurements.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from MIRVLib.dicom import DicomError, file_bytes, require
from MIRVLib.dicom.seg_output import build_seg, write_dataset
from MIRVLib.dicom.series import DicomSeries
from MIRVLib.dicom.sr_output import build_measurement_report
from MIRVLib.file_names import file_stems
from MIRVLib.lesion_columns import LESION_ID, PATIENT_ID, STATUS, STATUS_OK
from MIRVLib.lesions import Lesion

SEG_SUFFIX = "_seg.dcm"
SR_SUFFIX = "_sr.dcm"


@dataclass(frozen=True)
class DicomResults:
    """The files written for one patient."""

    patient_id: str
    seg: Path
    sr: Path

    def record(self) -> dict[str, str]:
        return {"PatientID": self.patient_id, "seg": str(self.seg), "sr": str(self.sr)}


def analysed_lesions(lesions: Sequence[Lesion], rows: pd.DataFrame, patient_id: str) -> list[Lesion]:
    """The lesions whose table row is ok, in table order; a row without a lesion mask is an error naming it."""
    by_name = {lesion.name: lesion for lesion in lesions}
    ok = rows[rows[STATUS].astype(str) == STATUS_OK] if STATUS in rows else rows
    missing = [str(name) for name in ok[LESION_ID] if str(name) not in by_name]
    if missing:
        raise DicomError(f"patient {patient_id}: lesion(s) {missing} of the lesion table are not in the lesion "
                         f"segmentation (its lesions: {sorted(by_name)})")
    chosen = [by_name[str(name)] for name in ok[LESION_ID]]
    broken = [f"{lesion.name}: {lesion.error}" for lesion in chosen if lesion.error]
    if broken:
        raise DicomError(f"patient {patient_id}: cannot place lesion(s) on the CT: {'; '.join(broken)}")
    return chosen


def write_patient_dicom(
    out_dir: str | os.PathLike[str], series: DicomSeries, lesions: Sequence[Lesion], rows: pd.DataFrame,
    features: Sequence[str] | None = None, patient: Mapping[str, Any] | None = None, *, stem: str | None = None,
    seed: str | None = None,
) -> DicomResults:
    """Write ``<stem>_seg.dcm`` and ``<stem>_sr.dcm`` for one patient into ``out_dir``.

    ``rows``: the patient's lesion-table rows; ``features``: the feature columns for the SR (default all);
    ``patient``: its patients.csv row (MIRV values), if any; ``seed``: reproducible UIDs (recorded by the
    caller). The SR references the SEG just built, which references the CT instances of ``series``.
    """
    pydicom = require("pydicom")
    patient_id = str(rows[PATIENT_ID].iloc[0]) if PATIENT_ID in rows and len(rows) else "patient"
    stem = stem or file_stems([patient_id])[0]
    seg = build_seg(series.datasets, analysed_lesions(lesions, rows, patient_id), series.image, seed=seed)
    seg_dataset = pydicom.dcmread(io.BytesIO(file_bytes(seg)))  # the SEG as stored: what the SR must reference
    sr = build_measurement_report(series.datasets, seg_dataset, rows, features, patient, seed=seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return DicomResults(patient_id, write_dataset(seg, out / f"{stem}{SEG_SUFFIX}"),
                        write_dataset(sr, out / f"{stem}{SR_SUFFIX}"))


def require_dicom_image(image: str | os.PathLike[str], option: str = "--image") -> Path:
    """The image as a DICOM series folder, or a DicomError saying why DICOM results need one."""
    path = Path(image)
    if not path.is_dir():
        raise DicomError(f"{option} {path}: DICOM results (SEG, SR) reference the CT's DICOM instances, so the image "
                         "must be a DICOM series folder, not an image file")
    return path


def check_cohort_manifest(manifest: str | os.PathLike[str], patient_ids: Sequence[str]) -> list[Any]:
    """The manifest rows (``mirv batch`` format: PatientID, Image, Lesions[, Sites]) of the cohort's patients,
    checked before any work: every Image a DICOM series folder, every manifest patient in the lesion table."""
    from MIRVLib.batch.manifest import read_manifest

    rows = read_manifest(manifest, check_images=False)
    known = set(map(str, patient_ids))
    unknown = [row.patient_id for row in rows if row.patient_id not in known]
    if unknown:
        raise DicomError(f"manifest {manifest}: patient(s) {unknown} are not in the lesion table")
    check_dicom_images(manifest, rows)
    return rows


def check_dicom_images(manifest: str | os.PathLike[str], rows: Sequence[Any]) -> None:
    """Every manifest row's Image a DICOM series folder (its SEG and SR reference the CT's instances)."""
    for row in rows:
        require_dicom_image(row.image, f"manifest {manifest}, line {row.line}, patient {row.patient_id}: Image")


def check_batch_dicom_out(manifest: str | os.PathLike[str], rows: Sequence[Any], folder: str | os.PathLike[str]) -> Path:
    """Before a batch run's work (`MIRVLib.batch.pipeline.run_batch`): the DICOM extra installed, every Image a
    DICOM series folder, ``folder`` writable; the folder."""
    from MIRVLib.output_checks import check_output_folder

    require("highdicom")
    check_dicom_images(manifest, rows)
    return check_output_folder(folder, [manifest])


def write_cohort_dicom(
    out_dir: str | os.PathLike[str], manifest_rows: Sequence[Any], table: pd.DataFrame, features: Sequence[str],
    patients: pd.DataFrame, *, seed: str | None = None, on_error: Callable[[str, Exception], None] | None = None,
) -> list[DicomResults]:
    """SEG + SR per manifest patient: its CT series and lesions (read as ``mirv extract`` reads them) with the
    lesion-table values of ``features`` (the selected features) and its ``patients`` row (MIRV values).

    With ``on_error`` (``mirv batch``: one patient never stops the cohort) a patient whose files cannot be
    written is passed to it with the error and skipped; without, the error is raised (``mirv cohort``: exit 2).
    """
    from MIRVLib.dicom.series import read_series
    from MIRVLib.lesions import load_lesions

    by_patient = patients.set_index(PATIENT_ID, drop=False)
    stems = dict(zip((row.patient_id for row in manifest_rows), file_stems(row.patient_id for row in manifest_rows)))
    written = []
    for row in manifest_rows:
        try:
            series = read_series(row.image)
            lesions = load_lesions(row.lesions, reference_image=series.image, sites_csv=row.sites)
            rows = table[table[PATIENT_ID].astype(str) == row.patient_id]
            patient = by_patient.loc[row.patient_id].to_dict() if row.patient_id in by_patient.index else None
            written.append(write_patient_dicom(out_dir, series, lesions, rows, features, patient,
                                               stem=stems[row.patient_id], seed=seed))
        except (ValueError, OSError) as error:  # DicomError is a ValueError
            if on_error is None:
                raise
            on_error(row.patient_id, error)
    return written
