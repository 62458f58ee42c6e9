"""Manifest mode of the headless batch script: a whole cohort through the MIRV module's Logic (MRML nodes).

``MIRVBatch.py --manifest M.csv --out DIR`` calls :func:`run_manifest`. Manifest validation, the resumable
per-patient store, failure records, cohort scoring and every output file are `MIRVLib.batch`'s — the same
code as ``mirv batch`` — so both write identical ``patients.csv``. Only the per-patient extraction differs:
each patient's image and lesions are loaded into MRML nodes and extracted by ``MIRVLogic.extractFeatures``,
as in the Slicer module. Runs inside Slicer (``--no-main-window --python-script``) and with plain Python on
slicer-core (scene and module logics set up by ``MIRVLogic.headless``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Callable

import SimpleITK as sitk
import slicer

from MIRVLib.batch.manifest import ManifestError, ManifestRow
from MIRVLib.batch.pipeline import run_batch
from MIRVLib.batch.runner import failure_reason, patient_result
from MIRVLib.batch.store import PatientResult
from MIRVLib.cli_options import add_renamed
from MIRVLib.dicom import DicomError, DicomExtraMissing
from MIRVLib.lesions import Lesion, full_mask
from MIRVLib.options import DEFAULT_RESPONSE_READING, PRESETS, add_reduction_thresholds, reduction_thresholds
from MIRVLib.output_checks import OutputError
from MIRVLib.reduction import ReductionSettings


def add_manifest_arguments(parser: argparse.ArgumentParser) -> None:
    """The cohort options of ``MIRVBatch.py`` (``--manifest``/``--out`` are the script's)."""
    group = parser.add_argument_group("cohort (with --manifest)")
    reduction = group.add_mutually_exclusive_group()
    reduction.add_argument("--model", dest="cohort_model", help="MIRV model JSON or shipped name: score with it")
    add_renamed(reduction, "--reduction", old=["--fit"], choices=PRESETS, default="paper",
                help="fit this feature reduction on the cohort (default: paper)")
    add_reduction_thresholds(group, "with --reduction")
    group.add_argument("--resume", action="store_true", help="reuse patients already stored in --out")
    group.add_argument("--retry-failed", action="store_true", help="with --resume: recompute failed patients")


def run_manifest(args: argparse.Namespace, logic: Any, scene: Any | None = None) -> int:
    """Run the cohort of ``args.manifest`` through ``logic``; the exit code of ``mirv batch`` (0, 2 or 3).
    ``args.response_reading`` (MIRVBatch.py's ``--response-reading``) defaults to the Methods' reading."""
    scene = scene or slicer.mrmlScene
    fit = ReductionSettings(preset=args.reduction, **reduction_thresholds(args))

    def progress(event: str, patient_id: str, detail: dict[str, Any]) -> None:
        if event == "patient":
            print(f"patient {patient_id}: {detail['lesions']} lesion(s){' — FAILED' if detail['failed'] else ''}",
                  flush=True)

    try:
        outcome = run_batch(args.manifest, args.out, preset=args.preset, model=args.cohort_model, fit=fit,
                            jobs=getattr(args, "jobs", 1), resume=args.resume, retry_failed=args.retry_failed,
                            progress=progress, extract=logic_extractor(logic, scene),
                            response_reading=getattr(args, "response_reading", DEFAULT_RESPONSE_READING),
                            dicom_out=getattr(args, "dicom_out", None), dicom_seed=getattr(args, "dicom_seed", None))
    except (ManifestError, FileNotFoundError, OutputError, DicomError, DicomExtraMissing) as error:
        print(f"MIRVBatch: error: {error}", file=sys.stderr)
        return 2
    for failure in outcome.failures.itertuples(index=False):
        print(f"failed {failure.PatientID}/{failure.LesionID} ({failure.Stage}): {failure.Reason}", file=sys.stderr)
    print(f"{len(outcome.computed)} patient(s) computed, {len(outcome.reused)} reused; wrote {outcome.out}")
    return outcome.exit_code


def logic_extractor(logic: Any, scene: Any) -> Callable[..., dict[str, Any]]:
    """An extraction engine for `run_batch`: one patient at a time through ``logic.extractFeatures`` (whose
    ``jobs`` processes share the patient's lesions); ``--scheduler`` has no meaning here and is ignored."""

    def extract(rows: list[ManifestRow], preset: str, *, on_patient: Callable[[ManifestRow, PatientResult], None],
                jobs: int = 1, follow_up_preset: str | None = None,
                on_lesion: Callable[[dict[str, Any]], None] | None = None, **_: Any) -> dict[str, Any]:
        for row in rows:
            failures: list[dict[str, str]] = []
            provenance: dict[str, Any] = {"engine": "MIRVLogic.extractFeatures"}
            baseline = _timepoint(logic, scene, row, row.image, row.lesions, preset, jobs, "image", failures,
                                  provenance)
            follow_up: list[dict[str, Any]] = []
            if row.follow_up_image and row.follow_up_lesions and follow_up_preset:
                follow_up = _timepoint(logic, scene, row, row.follow_up_image, row.follow_up_lesions,
                                       follow_up_preset, jobs, "follow-up", failures, provenance)
            for lesion in baseline:
                if on_lesion:
                    on_lesion(lesion)
            on_patient(row, patient_result(row.patient_id, baseline, follow_up, failures, provenance))
        return {"engine": "slicer-logic", "workers": jobs}

    return extract


def _timepoint(logic: Any, scene: Any, row: ManifestRow, image: Path, lesions: Path, preset: str, jobs: int,
               stage: str, failures: list[dict[str, str]], provenance: dict[str, Any]) -> list[dict[str, Any]]:
    """Lesion rows of one time point; a patient that cannot be loaded or extracted becomes a failure.

    Loading is the script's own (`MIRVBatch.load_timepoint`: lesion names and sites as MIRVLib reads them,
    sites stored as segment tags), so a manifest patient is exactly a one-patient run. Every node the patient
    added is removed afterwards: the scene (and memory) holds one patient at a time.
    """
    from MIRVBatch import load_timepoint

    before = {scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())}
    try:
        volume, segmentation = load_timepoint(scene, image, lesions, row.sites)
        table = logic.extractFeatures(volume, segmentation, preset=preset, jobs=jobs, patientID=row.patient_id)
        provenance[stage] = logic.provenance(table)
        return logic.featureFrame(table).to_dict("records")
    except Exception as error:  # noqa: BLE001 - one patient never stops the cohort
        failures.append({"PatientID": row.patient_id, "LesionID": "", "Stage": stage, "Reason": failure_reason(error)})
        return []
    finally:
        added = [scene.GetNthNode(i) for i in range(scene.GetNumberOfNodes())]
        for node in added:
            if node.GetID() not in before:
                scene.RemoveNode(node)


def load_volume_node(scene: Any, path: Path) -> Any:
    volume = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", path.stem)
    storage = scene.AddNewNodeByClass("vtkMRMLVolumeArchetypeStorageNode")
    storage.SetFileName(str(path))
    if not storage.ReadData(volume) or volume.GetImageData() is None:
        raise OSError(f"cannot read image {path}")
    return volume


def load_segmentation_node(scene: Any, path: Path, lesions: list[Lesion], volume: Any, reference: sitk.Image) -> Any:
    """A ``.seg.nrrd`` through Slicer's own reader; a labelmap or mask folder as one segment per lesion.

    ``lesions`` are conformed to ``reference`` (the volume's image as MIRVLib reads it).
    """
    segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", path.name)
    if path.name.lower().endswith(".seg.nrrd"):
        storage = scene.AddNewNodeByClass("vtkMRMLSegmentationStorageNode")
        storage.SetFileName(str(path))
        if not storage.ReadData(segmentation):
            raise OSError(f"cannot read segmentation {path}")
        return segmentation
    segmentation.SetReferenceImageGeometryParameterFromVolumeNode(volume)
    for lesion in lesions:
        segment_id = segmentation.GetSegmentation().AddEmptySegment(lesion.name, lesion.name)
        if lesion.error is None:  # a mask off the image grid stays empty; the Logic reports it
            voxels = sitk.GetArrayFromImage(full_mask(lesion.mask, reference))
            slicer.util.updateSegmentBinaryLabelmapFromArray(voxels, segmentation, segment_id, volume)
    return segmentation
