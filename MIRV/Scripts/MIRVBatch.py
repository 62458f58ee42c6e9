#!/usr/bin/env python
"""Headless MIRV through the Slicer module's Logic: one patient (CT + lesion segmentation), or a cohort manifest.

Inside Slicer::

    Slicer --no-main-window --python-script MIRV/Scripts/MIRVBatch.py --image CT.nrrd --lesions L.seg.nrrd --out DIR

and with plain Python where slicer-core is installed (``python MIRV/Scripts/MIRVBatch.py ...``; the scene and
module logics are then set up by ``MIRVLogic.headless``). One patient writes, in ``DIR``: the lesion feature
table(s), ``patients.csv`` (the patient's row appended or replaced, so runs on several patients build a cohort
table), both matrices as CSV and PNG, a 3D render of the overlay, a one-page HTML report and provenance.
``--manifest M.csv`` runs a whole cohort (``MIRVManifest.run_manifest``, the same store and outputs as
``mirv batch``). Images may be DICOM CT series folders and lesions DICOM SEG/RTSTRUCT files (or folders), read by
MIRVLib as ``mirv extract``/``mirv batch`` read them; ``--dicom-out DIR`` adds each patient's DICOM SEG + TID 1500
SR (``<patient>_seg.dcm``, ``<patient>_sr.dcm``, as ``mirv cohort --dicom-out``).
Exit codes: 0 done; 2 bad input; 3 outputs written but some lesion failed; 1 unexpected error
(traceback printed). Failures are never swallowed.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path
from typing import Any

SCRIPTS_DIR = Path(globals().get("__file__", sys.argv[0])).resolve().parent
MODULE_DIR = SCRIPTS_DIR.parent


def _bootstrap_paths() -> None:
    """The module folder (MIRVLogic), this folder (MIRVManifest) and, when MIRVLib is not installed, the repo."""
    for folder in (SCRIPTS_DIR, MODULE_DIR):
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
    try:
        import MIRVLib  # noqa: F401
    except ImportError:
        sys.path.insert(0, str(MODULE_DIR.parent))


_bootstrap_paths()

EXIT_OK, EXIT_ERROR, EXIT_INPUT, EXIT_LESION_FAILED = 0, 1, 2, 3


def build_parser() -> argparse.ArgumentParser:
    from MIRVManifest import add_manifest_arguments

    from MIRVLib.cli_options import finish_parser
    from MIRVLib.options import add_dicom_output, add_response_reading

    parser = argparse.ArgumentParser(
        prog="MIRVBatch.py", description=__doc__.split("\n\n")[0],
        epilog="The MIRV model is chosen with --model (default: the shipped SARC021-lung-paper model).")
    parser.add_argument("-i", "--image", type=Path, help="CT image file (NRRD, NIfTI, MHA, ...) or DICOM series folder")
    parser.add_argument("-l", "--lesions", type=Path,
                        help="lesion segmentation: .seg.nrrd, labelmap, folder of masks, or DICOM SEG / RTSTRUCT")
    parser.add_argument("--sites", type=Path, help="CSV LesionID,Site; overrides the segments' Site tags")
    parser.add_argument("--follow-up-image", type=Path, help="follow-up CT (lesions matched by name)")
    parser.add_argument("--follow-up-lesions", type=Path, help="follow-up lesion segmentation")
    parser.add_argument("--patient-id", help="patient identifier (default: the image file name)")
    parser.add_argument("-p", "--preset", default="MIRV-CT", help="PyRadiomics preset name or YAML file (default MIRV-CT)")
    parser.add_argument("-j", "--jobs", type=int, default=1, help="extraction processes (default 1)")
    parser.add_argument("--no-render", action="store_true", help="skip the 3D overlay render (no OpenGL available)")
    parser.add_argument("--strict", action="store_true",
                        help="one patient: stop (exit 2) when the input does not fit the model (another extraction "
                        "preset, lesion sites the model was not fitted on) instead of warning")
    parser.add_argument("--manifest", type=Path, help="cohort manifest CSV: run every patient (see mirv batch)")
    parser.add_argument("-o", "--out", type=Path, required=True, help="output folder")
    add_response_reading(parser)
    add_dicom_output(parser)
    add_manifest_arguments(parser)
    finish_parser(parser)  # the `mirv` help groups and deprecation-aware help (MIRVLib.cli_options)
    return parser


def slicer_session() -> tuple[Any, Any, Any]:
    """(scene, application logic, MIRVLogic): Slicer's own inside the application, else a headless set-up."""
    import slicer

    if hasattr(slicer, "app"):
        from MIRVLogic import MIRVLogic

        return slicer.mrmlScene, slicer.app.applicationLogic(), MIRVLogic(slicer.mrmlScene)
    from MIRVLogic.headless import make_slicer_environment

    env = make_slicer_environment()
    return env.scene, env.application_logic, env.logic("mirv")


def _stem(path: Path) -> str:
    from MIRVLib.lesions import default_patient_id

    name = default_patient_id(path)  # as `mirv extract` names a patient
    return name if name != path.name else path.stem


def load_timepoint(scene, image: Path, lesions: Path, sites: Path | None) -> tuple[Any, Any]:
    """Volume and segmentation nodes; lesion names/sites as MIRVLib reads them (``--sites`` as segment tags).

    A DICOM series folder is read by MIRVLib (`MIRVLib.dicom.series`, the reader of ``mirv batch``) and put in
    the scene voxel for voxel; a DICOM SEG/RTSTRUCT must belong to it (`MIRVLib.dicom.lesion_input`).
    """
    from MIRVManifest import load_segmentation_node, load_volume_node

    from MIRVLib.lesions import load_image, load_lesions
    from MIRVLogic.mrml import volume_from_sitk_image
    from MIRVLogic.sites import set_segment_site

    for path, what in ((image, "image"), (lesions, "lesion segmentation")):
        if not path.exists():
            raise FileNotFoundError(f"{what} not found: {path}")
    reference = load_image(image)  # a DICOM series folder through MIRVLib.dicom.series, as `mirv batch` reads it
    volume = volume_from_sitk_image(scene, reference, image.name) if image.is_dir() else load_volume_node(scene, image)
    found = load_lesions(lesions, reference_image=reference, sites_csv=sites, image=image)  # a DICOM SEG: same series?
    segmentation = load_segmentation_node(scene, lesions, found, volume, reference)
    segmentation.CreateDefaultDisplayNodes()
    by_name = {lesion.name: lesion.site for lesion in found}
    seg = segmentation.GetSegmentation()
    for index in range(seg.GetNumberOfSegments()):
        segment_id = seg.GetNthSegmentID(index)
        site = by_name.get(seg.GetSegment(segment_id).GetName())
        if site:
            set_segment_site(segmentation, segment_id, site)
    return volume, segmentation


def run_patient(args: argparse.Namespace, scene, application_logic, logic) -> int:
    from MIRVLib.file_names import file_stem
    from MIRVLib.provenance import atomic_write_csv
    from MIRVLogic import DEFAULT_MODEL
    from MIRVLogic.headless import render_3d

    patient_id = args.patient_id or _stem(args.image)
    out: Path = args.out
    if args.dicom_out:  # before any work: the DICOM extra, and a CT the SEG and SR can reference
        from MIRVLib.dicom import require
        from MIRVLib.dicom.results import require_dicom_image

        require("highdicom")
        require_dicom_image(args.image)
    out.mkdir(parents=True, exist_ok=True)
    stem = file_stem(patient_id)

    def progress(done: int, total: int, name: str) -> None:
        print(f"  lesion {done}/{total}: {name}", flush=True)

    print(f"Patient {patient_id}: extracting {args.image.name} + {args.lesions.name} (preset {args.preset})")
    volume, segmentation = load_timepoint(scene, args.image, args.lesions, args.sites)
    table = logic.extractFeatures(volume, segmentation, preset=args.preset, jobs=args.jobs,
                                  progressCallback=progress, patientID=patient_id)
    outputs = [atomic_write_csv(out / f"{stem}_lesions.csv", logic.featureFrame(table))]
    inputs = {"image": args.image, "lesions": args.lesions}
    follow_up_table = None
    if args.follow_up_image:
        print(f"Follow-up: extracting {args.follow_up_image.name} + {args.follow_up_lesions.name}")
        fu_volume, fu_segmentation = load_timepoint(scene, args.follow_up_image, args.follow_up_lesions, args.sites)
        follow_up_table = logic.extractFeatures(fu_volume, fu_segmentation, preset=args.preset, jobs=args.jobs,
                                                progressCallback=progress, patientID=patient_id)
        outputs.append(atomic_write_csv(out / f"{stem}_followup_lesions.csv", logic.featureFrame(follow_up_table)))
        inputs.update(followUpImage=args.follow_up_image, followUpLesions=args.follow_up_lesions)
    result = logic.computeMIRV(table, model=args.cohort_model or DEFAULT_MODEL, followUpTableNode=follow_up_table,
                               strict=args.strict, responseReading=args.response_reading)
    logic.exportPatientRow(result, out / "patients.csv", patient_id)
    outputs.append(out / "patients.csv")
    if args.dicom_out:
        outputs += logic.exportDicom(result, args.dicom_out, ctFolder=args.image, seed=args.dicom_seed)
    pictures = {}
    if not args.no_render and result.mostDivergentPair():
        logic.showDissimilarityOverlay(segmentation, result)
        render_3d(scene, application_logic, out / f"{stem}_overlay3d.png", size=(900, 700), azimuth=-35, elevation=15)
        pictures["3D overlay: tubes coloured and sized by cosine dissimilarity, most divergent pair in cyan"] = \
            out / f"{stem}_overlay3d.png"
    outputs += logic.saveReport(result, out, pictures, inputs, engine="MIRV Slicer module logic (MIRVLogic) via MIRVBatch.py")
    print(result.readout())
    print("Wrote:")
    for path in outputs:
        print(f"  {path}")
    failed = list(result.failedLesions)
    if follow_up_table is not None:
        frame = logic.featureFrame(follow_up_table)
        failed += [(patient_id, r.LesionID, r.Status) for r in frame.itertuples() if r.Status != "ok"]
    for _, lesion_id, reason in failed:
        print(f"MIRVBatch: lesion {lesion_id} failed: {reason}", file=sys.stderr)
    return EXIT_LESION_FAILED if failed else EXIT_OK


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    per_patient = [args.image, args.lesions, args.follow_up_image, args.follow_up_lesions]
    if args.manifest and any(per_patient):
        parser.error("--manifest runs a cohort; it cannot be combined with --image/--lesions/--follow-up-*")
    if not args.manifest and not (args.image and args.lesions):
        parser.error("give --image and --lesions (one patient) or --manifest (a cohort)")
    if bool(args.follow_up_image) != bool(args.follow_up_lesions):
        parser.error("--follow-up-image and --follow-up-lesions go together")
    scene, application_logic, logic = slicer_session()
    if args.manifest:
        from MIRVManifest import run_manifest

        return run_manifest(args, logic, scene)
    try:
        return run_patient(args, scene, application_logic, logic)
    except (FileNotFoundError, ValueError, OSError) as error:
        print(f"MIRVBatch: error: {error}", file=sys.stderr)
        return EXIT_INPUT


def _exit(code: int) -> None:
    import slicer

    if hasattr(slicer, "app"):
        slicer.util.exit(code)
    else:
        sys.exit(code)


if __name__ == "__main__":
    try:
        status = main(sys.argv[1:])
    except SystemExit as stop:  # argparse errors and --help
        status = stop.code if isinstance(stop.code, int) else EXIT_INPUT
    except BaseException:  # noqa: BLE001 - reported with its traceback and a non-zero exit, never swallowed
        traceback.print_exc()
        status = EXIT_ERROR
    _exit(status)
