"""The small batch-test cohort (`batch_cohort`) as DICOM: per patient a CT series with its lesions as a DICOM
SEG (odd patients) or RTSTRUCT (even patients), written by `MIRVLib.dicom.sample_study`, and manifests for both
the NRRD and the DICOM copy, so a DICOM run can be compared with the NRRD run of the same voxels."""

from __future__ import annotations

from pathlib import Path

from batch_cohort import make_cohort

from MIRVLib.batch.manifest import read_manifest
from MIRVLib.dicom.sample_study import Patient, write_study
from MIRVLib.lesions import load_image, load_lesions


def make_dicom_cohort(root: Path, n_patients: int = 4) -> tuple[Path, Path]:
    """(NRRD manifest, DICOM manifest) of the same ``n_patients`` patients; DICOM paths relative, as users write them."""
    nrrd = make_cohort(root, n_patients, corrupt=None, empty_lesion=None)
    lines = ["PatientID,Image,Lesions"]
    for number, row in enumerate(read_manifest(nrrd), start=1):
        image = load_image(row.image)
        lesions = load_lesions(row.lesions, reference_image=image)
        study = write_study(image, lesions, root / row.patient_id / "dicom", seed=f"cohort-{row.patient_id}",
                            patient=Patient(patient_id=row.patient_id, name=f"Test^{row.patient_id}"))
        objects = study.seg if number % 2 else study.rtstruct.parent  # a SEG file, an RTSTRUCT folder
        lines.append(f"{row.patient_id},{study.ct_folder.relative_to(root)},{objects.relative_to(root)}")
    dicom = root / "dicom_manifest.csv"
    dicom.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return nrrd, dicom
