"""`mirv extract`: every lesion of one patient → the lesion feature table (+ JSON provenance sidecar)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from MIRVLib.cli_options import cannot_write
from MIRVLib.options import add_engine_option

if TYPE_CHECKING:
    from MIRVLib.extraction import ExtractionResult
    from MIRVLib.lesions import Lesion

log = logging.getLogger(__name__)

PROVENANCE_SUFFIX = ".provenance.json"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "extract",
        help="extract PyRadiomics features for every lesion of one patient",
        description="Extract the preset's PyRadiomics features for every lesion of one patient (one row per "
        "lesion, identical to PyRadiomics' own values). Writes LESIONS.csv and LESIONS.csv.provenance.json.",
    )
    parser.add_argument("-i", "--image", required=True, help="CT image file (NRRD, NIfTI, MHA) or DICOM series folder")
    parser.add_argument("-l", "--lesions", required=True,
                        help="Slicer .seg.nrrd, multi-label labelmap, folder of binary masks (one per lesion), "
                        "or DICOM SEG / RTSTRUCT (file or folder; needs mirv[dicom])")
    parser.add_argument("-p", "--preset", default="MIRV-CT", help="MIRV-CT (default), Henry2022, or a PyRadiomics YAML file")
    add_engine_option(parser)
    parser.add_argument("--patient-id", default=None, help="PatientID column value (default: image file name)")
    parser.add_argument("-j", "--jobs", type=int, default=1,
                        help="processes extracting lesions (this one included), one lesion per task (default 1)")
    parser.add_argument("--split-components", action="store_true",
                        help="one lesion per connected component of each mask")
    parser.add_argument("--min-voxels", type=int, default=10,
                        help="with --split-components: drop components smaller than this (default 10)")
    parser.add_argument("--names", default=None, help="CSV label,name for a labelmap's lesion names")
    parser.add_argument("--sites", default=None, help="CSV LesionID,Site (overrides segment terminology)")
    parser.add_argument("--ith", action="store_true", help="add the intratumoral heterogeneity score (ITHscore)")
    parser.add_argument("-o", "--out", required=True, help="output lesion feature table (CSV)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--dicom-out", metavar="DIR", default=None,
                        help="also write the lesions as a DICOM SEG and their volumes and features as a TID 1500 SR "
                        "into DIR (needs --image to be a DICOM series folder and pip install 'mirv[dicom]')")
    parser.add_argument("--dicom-seed", metavar="TEXT", default=None,
                        help="with --dicom-out: derive the DICOM UIDs from TEXT (reproducible files; default random)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from MIRVLib.worker_processes import capped_jobs, start_fork_server, stop_fork_server

    try:
        args.jobs = capped_jobs(args.jobs, "mirv extract")
    except ValueError as error:
        print(f"mirv extract: {error}", file=sys.stderr)
        return 2
    start_fork_server(args.jobs)  # first: worker imports overlap with this process's imports and reading
    from tqdm import tqdm

    from MIRVLib.extraction import STATUS, PresetError, check_preset, extract_patient, read_patient
    from MIRVLib.lesions import default_patient_id
    from MIRVLib.output_checks import OutputError, check_output_file
    from MIRVLib.provenance import atomic_write_json, provenance_record

    image_path, lesions_path, out = Path(args.image), Path(args.lesions), Path(args.out)
    patient_id = args.patient_id if args.patient_id is not None else default_patient_id(image_path)
    try:
        check_output_file(out, [image_path, lesions_path, args.names, args.sites])
        check_output_file(out.with_name(out.name + PROVENANCE_SUFFIX), [image_path, lesions_path])
        if args.dicom_out:
            check_dicom_out(args.dicom_out, image_path, lesions_path)
        preset = check_preset(args.preset, args.engine)
        prepared, lesions = read_patient(
            image_path, lesions_path, preset, patient_id, args.engine, names_csv=args.names, sites_csv=args.sites,
            split_components=args.split_components, min_voxels=args.min_voxels,
        )
    except (PresetError, OutputError, ImportError) as error:
        print(f"mirv extract: {error}", file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError) as error:
        print(f"mirv extract: patient {patient_id}: {error}", file=sys.stderr)
        return 2
    if not lesions:
        print(f"mirv extract: patient {patient_id}: no lesions in {lesions_path}", file=sys.stderr)
        return 2
    with tqdm(total=len(lesions), unit="lesion", desc=patient_id, disable=args.no_progress, file=sys.stderr) as bar:
        def progress(done: int, total: int, name: str) -> None:
            bar.set_postfix_str(name)
            bar.update(done - bar.n)
        result = extract_patient(prepared, lesions, preset, patient_id, args.jobs, progress, args.ith)
    stop_fork_server()  # workers are done; its shutdown must not delay the end of this command
    try:
        result.write_csv(out)
        dicom = write_dicom(args, lesions, result) if args.dicom_out else None
        record = provenance_record(
            inputs={"lesions": lesions_path, **({"names": args.names} if args.names else {}),
                    **({"sites": args.sites} if args.sites else {})},
            parameter_file=preset.path, preset=preset.name,
            extra={"command": "mirv extract", "arguments": vars(args) | {"func": None}, "output": str(out),
                   "extraction": result.provenance, **({"dicom": dicom} if dicom else {})},
        )
        atomic_write_json(out.with_name(out.name + PROVENANCE_SUFFIX), record)
    except OSError as error:  # e.g. the disk filled up: no partial file, and no table without its provenance
        out.unlink(missing_ok=True)
        print(f"mirv extract: {cannot_write(error, out)}", file=sys.stderr)
        return 1
    except ValueError as error:  # the lesions cannot be written as DICOM (MIRVLib.dicom.DicomError)
        out.unlink(missing_ok=True)
        print(f"mirv extract: patient {patient_id}: --dicom-out: {error}", file=sys.stderr)
        return 2
    failed = result.failed
    for row in failed:
        print(f"mirv extract: patient {patient_id}, lesion '{row['LesionID']}': {row[STATUS]}", file=sys.stderr)
    print(f"{len(result.rows) - len(failed)}/{len(result.rows)} lesions extracted -> {out}", file=sys.stderr)
    return 0 if len(failed) < len(result.rows) else 1


def check_dicom_out(folder: str, image: Path, lesions: Path) -> None:
    """Before any work: the DICOM extra is installed, the image is a DICOM series, ``folder`` is writable."""
    from MIRVLib.dicom import require
    from MIRVLib.dicom.results import require_dicom_image
    from MIRVLib.output_checks import check_output_folder

    require("highdicom")
    require_dicom_image(image)
    check_output_folder(folder, [image, lesions])


def write_dicom(args: argparse.Namespace, lesions: list[Lesion], result: ExtractionResult) -> dict[str, Any]:
    """SEG + SR of the extracted lesions (every feature) into ``--dicom-out``; the provenance entry."""
    import pandas as pd

    from MIRVLib.dicom.results import write_patient_dicom
    from MIRVLib.dicom.series import read_series

    rows = pd.DataFrame(result.rows, columns=result.columns)
    written = write_patient_dicom(args.dicom_out, read_series(args.image), lesions, rows, seed=args.dicom_seed)
    print(f"DICOM SEG -> {written.seg}, SR -> {written.sr}", file=sys.stderr)
    return {**written.record(), "seed": args.dicom_seed}
