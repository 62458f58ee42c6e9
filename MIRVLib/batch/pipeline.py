"""A whole batch run: validate the manifest, extract what is not stored yet, score the cohort, write outputs.

The same function serves `mirv batch` and the headless Slicer script (which passes its own ``extract``
engine built on the MIRV module's Logic). Cohort outputs are always rebuilt from the per-patient store, so a
fresh run, a resumed run and a run resumed after ``kill -9`` write byte-identical tables.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

import pandas as pd
import yaml

from MIRVLib.applicability import ApplicabilityError
from MIRVLib.batch.manifest import ManifestRow, read_manifest
from MIRVLib.batch.runner import failure_reason, run_patients
from MIRVLib.batch.store import FAILURE_COLUMNS, PatientResult, ResultStore
from MIRVLib.cohort import score_cohort, write_cohort
from MIRVLib.lesion_table import VOLUME_FEATURE, LesionTable, LesionTableError
from MIRVLib.options import DEFAULT_ENGINE, DEFAULT_RESPONSE_READING, ResponseReading
from MIRVLib.output_checks import check_output_folder, folder_lock
from MIRVLib.provenance import (
    atomic_write_csv,
    atomic_write_json,
    atomic_write_text,
    hash_settings,
    library_versions,
    provenance_record,
    sha256_file,
)
from MIRVLib.reduction import FeatureReduction, ModelError, ReductionSettings
from MIRVLib.resources import model_path
from MIRVLib.response import FOLLOW_UP, VolumeTableError, matched_volumes

EXIT_OK, EXIT_FAILURES = 0, 3
# A runtime alias: `X | None` would raise TypeError on Python 3.9 (Slicer 5.8), so Optional.
Extractor = Callable[..., Optional[dict[str, Any]]]
# progress(event, patient_id, detail): events "start" (detail=dict of counts), "lesion", "patient", "score"
Progress = Callable[[str, str, dict[str, Any]], None]


@dataclass
class BatchOutcome:
    """What a run did: patients computed now vs. reused from the store, every failure, the exit code."""

    out: Path
    computed: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    failures: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=FAILURE_COLUMNS))
    patients: pd.DataFrame | None = None
    engine: dict[str, Any] | None = None

    @property
    def exit_code(self) -> int:
        """0 when nothing failed, 3 when any patient or lesion failed (documented in the README)."""
        return EXIT_FAILURES if len(self.failures) else EXIT_OK


def follow_up_preset(preset_file: Path, out: Path) -> Path:
    """The preset for follow-up lesions: the same resampling/settings, shape features of the original image
    only — follow-up lesions contribute just their volume, computed exactly as the baseline volume is."""
    settings = yaml.safe_load(preset_file.read_text(encoding="utf-8")) or {}
    derived = {"imageType": {"Original": {}}, "featureClass": {"shape": None}, "setting": settings.get("setting", {})}
    path = out / "follow-up-volume-preset.yaml"
    text = "# Derived by mirv batch from " + preset_file.name + ": volumes of follow-up lesions\n" + yaml.safe_dump(derived)
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        atomic_write_text(path, text)
    return path


def extraction_settings(preset_file: Path, engine: str = DEFAULT_ENGINE) -> dict[str, Any]:
    """What determines a patient's stored features: the preset's content, the feature engine and the library
    versions."""
    versions = {k: v for k, v in library_versions().items() if k != "python"}
    return {"preset": preset_file.name, "presetSha256": sha256_file(preset_file), "engine": engine,
            "versions": versions}


def run_batch(
    manifest: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    preset: str = "MIRV-CT",
    model: str | None = None,
    fit: ReductionSettings | None = None,
    jobs: int = 1,
    scheduler: str | None = None,
    resume: bool = False,
    retry_failed: bool = False,
    progress: Progress | None = None,
    extract: Extractor = run_patients,
    engine: str = DEFAULT_ENGINE,
    strict: bool = False,
    response_reading: ResponseReading = DEFAULT_RESPONSE_READING,
    dicom_out: str | os.PathLike[str] | None = None,
    dicom_seed: str | None = None,
) -> BatchOutcome:
    """Run a cohort; raises `ManifestError` (before any work) when the manifest has bad rows.

    The feature reduction is loaded from ``model`` (file or shipped name) or else fitted on the cohort's
    lesions with ``fit`` (default: the paper preset and thresholds). ``engine`` computes the features; a preset
    it cannot run raises :class:`~MIRVLib.extraction.PresetError` before any patient is read. With ``strict``
    an input that does not fit the model (`MIRVLib.applicability`) raises `ApplicabilityError` once the patients
    are stored (``resume`` reuses them), instead of a warning in patients.csv. ``response_reading`` is the
    complete-tumour-response reading (`MIRVLib.response`). With ``dicom_out`` every scored patient also gets
    a DICOM SEG + TID 1500 SR there, as ``mirv cohort --dicom-out`` writes them (`MIRVLib.dicom.results`;
    every Image must be a DICOM series folder, checked before any work; ``dicom_seed``: reproducible UIDs).
    """
    from MIRVLib.extraction import check_preset

    preset_file = Path(check_preset(preset, engine).path)
    rows = read_manifest(manifest)
    if dicom_out is not None:
        from MIRVLib.dicom.results import check_batch_dicom_out

        dicom_out = check_batch_dicom_out(manifest, rows, dicom_out)
    out = check_output_folder(out, [manifest])
    with folder_lock(out):  # a second run into this folder is refused, not allowed to clean up our files
        settings = extraction_settings(preset_file, engine)
        store = ResultStore(out, hash_settings(settings))
        outcome = BatchOutcome(out)
        transient: dict[str, PatientResult] = {}
        reused: dict[str, PatientResult] = {}

        todo: list[ManifestRow] = []
        for row in rows:
            stored = store.load(row) if resume else None
            if stored is not None and not (retry_failed and stored.failed):
                reused[row.patient_id] = stored
                outcome.reused.append(row.patient_id)
            else:
                todo.append(row)
        notify = progress or (lambda *_: None)
        notify("start", "", {"patients": len(rows), "todo": len(todo), "reused": len(outcome.reused)})

        def on_patient(row: ManifestRow, result: PatientResult) -> None:
            if result.transient:
                transient[row.patient_id] = result
            else:
                store.save(row, result)
            outcome.computed.append(row.patient_id)
            notify("patient", row.patient_id, {"failed": result.failed, "lesions": len(result.lesions)})

        if todo:
            volume_preset = follow_up_preset(preset_file, out) if any(r.follow_up_image for r in todo) else None
            outcome.engine = extract(
                todo, str(preset_file), on_patient=on_patient, jobs=jobs, scheduler=scheduler,
                follow_up_preset=str(volume_preset) if volume_preset else None, engine=engine,
                on_lesion=lambda row: notify("lesion", str(row.get("PatientID", "")), row),
            )
        # Only stored (complete) patients are scored; one cut short by a lost worker only reports its failure.
        # Reused patients were loaded above; the others are read back from the store they were just saved to.
        loaded = (reused.get(row.patient_id) or store.load(row) for row in rows)
        results = [result for result in loaded if result is not None]
        lost = [failure for row in rows if row.patient_id in transient
                for failure in transient[row.patient_id].failures]
        notify("score", "", {})
        write_outputs(out, rows, results, lost, model=model, fit=fit, preset_file=preset_file, settings=settings,
                      outcome=outcome, manifest=Path(manifest), strict=strict, response_reading=response_reading,
                      dicom=(Path(dicom_out), dicom_seed) if dicom_out is not None else None)
        return outcome


def cohort_volumes(results: list[PatientResult]) -> pd.DataFrame | None:
    """Volume table for the response metrics, or None when no patient has a follow-up time point.

    Lesions are matched by name (`MIRVLib.response.matched_volumes`: missing at a time point = volume 0 there,
    the authors' ±100 % rule); a lesion that failed to extract is left unmeasured. Patients without follow-up
    keep their baseline volumes so their baseline metrics are still reported.
    """
    if not any(r.follow_up is not None for r in results):
        return None
    frames = []
    for result in results:
        ok = result.lesions[result.lesions["Status"] == "ok"]
        base = pd.Series(ok[VOLUME_FEATURE].to_numpy(float), index=ok["LesionID"].astype(str))
        follow = None
        if result.follow_up is not None:
            measured = result.follow_up[FOLLOW_UP].where(result.follow_up["Status"] == "ok")
            follow = pd.Series(measured.to_numpy(float), index=result.follow_up["LesionID"].astype(str))
        frames.append(matched_volumes(result.patient_id, base, follow))
    return pd.concat(frames, ignore_index=True)


def write_outputs(
    out: Path, rows: list[ManifestRow], results: list[PatientResult], lost: list[dict[str, str]], *,
    model: str | None,
    fit: ReductionSettings | None,
    preset_file: Path, settings: dict[str, Any], outcome: BatchOutcome, manifest: Path, strict: bool = False,
    response_reading: ResponseReading = DEFAULT_RESPONSE_READING,
    dicom: tuple[Path, str | None] | None = None,
) -> None:
    """lesions.csv, failures.csv and (via `MIRVLib.cohort.write_cohort`) patients.csv, model, matrices,
    provenance — all rebuilt from the stored patients, in manifest order; ``lost`` are the failures of
    patients that could not be completed in this run. ``dicom``: (folder, seed) for the scored patients' SEG + SR."""
    lesions = pd.concat([r.lesions for r in results if len(r.lesions)], ignore_index=True) if results else None
    if lesions is None or lesions.empty:
        lesions = pd.DataFrame(columns=["PatientID", "LesionID", "SegmentID", "Site", "Status"])
    atomic_write_csv(out / "lesions.csv", lesions)
    failures = [f for r in results for f in r.failures] + lost
    scored = None
    try:
        ok = lesions[lesions["Status"] == "ok"].drop(columns=["SegmentID", "Status"])
        table = LesionTable.from_frame(ok, source=str(out / "lesions.csv"), nonfinite="drop-lesion")
        if model:
            model_file = model_path(model)
            reduction = FeatureReduction.load(model_file)
        else:
            model_file = None
            reduction = FeatureReduction(fit or ReductionSettings())
            reduction.extraction_preset = preset_file.stem
        extracted_with = {"name": preset_file.stem, "sha256": settings["presetSha256"]}  # checked against the model
        scored = score_cohort(table, reduction, cohort_volumes(results), extraction_preset=extracted_with,
                              strict=strict, response_reading=response_reading)
    except ApplicabilityError:
        raise  # --strict: the caller stops; the stored patients stay for --resume
    except (LesionTableError, ModelError, VolumeTableError, ValueError, KeyError) as error:
        failures.append({"PatientID": "", "LesionID": "", "Stage": "cohort", "Reason": " ".join(str(error).split())})
    dicom_record = write_dicom(dicom, rows, table.frame, scored, failures) if scored is not None and dicom else None
    outcome.failures = pd.DataFrame(failures, columns=FAILURE_COLUMNS)
    atomic_write_csv(out / "failures.csv", outcome.failures)
    record = provenance_record(
        inputs={"manifest": manifest},
        parameter_file=preset_file,
        preset=preset_file.stem,
        parameters={"extraction": settings,
                    "reduction": {"model": str(model_path(model))} if model else {"fit": asdict(fit or ReductionSettings())},
                    "responseReading": response_reading},
        extra={
            "run": {"computed": outcome.computed, "reused": outcome.reused, "patients": len(rows),
                    "failures": len(outcome.failures), "engine": outcome.engine},
            "patients": {r.patient_id: r.provenance for r in results},
            "stepCounts": scored.reduction.step_counts if scored else None,
            "selectedFeatures": scored.reduction.selected if scored else None,
            **({"dicom": dicom_record} if dicom_record else {}),
        },
    )
    if scored is None:
        atomic_write_json(out / "provenance.json", record)
        (out / "patients.csv").unlink(missing_ok=True)
        return
    write_cohort(scored, out, record)
    outcome.patients = scored.patients


def write_dicom(dicom: tuple[Path, str | None], rows: list[ManifestRow], table: pd.DataFrame, scored: Any,
                failures: list[dict[str, str]]) -> dict[str, Any]:
    """SEG + SR of every scored patient (`MIRVLib.dicom.results.write_cohort_dicom`, as `mirv cohort --dicom-out`);
    a patient whose files cannot be written is a failure (stage "dicom"), not the end of the run."""
    from MIRVLib.dicom.results import write_cohort_dicom

    folder, seed = dicom
    scored_ids = set(scored.patients["PatientID"].astype(str))

    def failed(patient_id: str, error: Exception) -> None:
        failures.append({"PatientID": patient_id, "LesionID": "", "Stage": "dicom", "Reason": failure_reason(error)})

    written = write_cohort_dicom(folder, [row for row in rows if row.patient_id in scored_ids], table,
                                 scored.reduction.selected, scored.patients, seed=seed, on_error=failed)
    return {"folder": str(folder), "seed": seed, "files": [w.record() for w in written]}
