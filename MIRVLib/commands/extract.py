"""`mirv extract`: every lesion of one patient → the lesion feature table (+ JSON provenance sidecar)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from MIRVLib.options import add_engine_option

log = logging.getLogger(__name__)

PROVENANCE_SUFFIX = ".provenance.json"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "extract",
        help="extract PyRadiomics features for every lesion of one patient",
        description="Extract the preset's PyRadiomics features for every lesion of one patient (one row per "
        "lesion, identical to PyRadiomics' own values). Writes LESIONS.csv and LESIONS.csv.provenance.json.",
    )
    parser.add_argument("--image", required=True, help="CT image file (NRRD, NIfTI, MHA) or DICOM series folder")
    parser.add_argument("--lesions", required=True,
                        help="Slicer .seg.nrrd, multi-label labelmap, or folder of binary masks (one per lesion)")
    parser.add_argument("--preset", default="MIRV-CT", help="MIRV-CT (default), Henry2022, or a PyRadiomics YAML file")
    add_engine_option(parser)
    parser.add_argument("--patient-id", default=None, help="PatientID column value (default: image file name)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="processes extracting lesions (this one included), one lesion per task (default 1)")
    parser.add_argument("--split-components", action="store_true",
                        help="one lesion per connected component of each mask")
    parser.add_argument("--min-voxels", type=int, default=10,
                        help="with --split-components: drop components smaller than this (default 10)")
    parser.add_argument("--names", default=None, help="CSV label,name for a labelmap's lesion names")
    parser.add_argument("--sites", default=None, help="CSV LesionID,Site (overrides segment terminology)")
    parser.add_argument("--ith", action="store_true", help="add the intratumoral heterogeneity score (ITHscore)")
    parser.add_argument("--out", required=True, help="output lesion feature table (CSV)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
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
        preset = check_preset(args.preset, args.engine)
        prepared, lesions = read_patient(
            image_path, lesions_path, preset, patient_id, args.engine, names_csv=args.names, sites_csv=args.sites,
            split_components=args.split_components, min_voxels=args.min_voxels,
        )
    except (PresetError, OutputError) as error:
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
        record = provenance_record(
            inputs={"lesions": lesions_path, **({"names": args.names} if args.names else {}),
                    **({"sites": args.sites} if args.sites else {})},
            parameter_file=preset.path, preset=preset.name,
            extra={"command": "mirv extract", "arguments": vars(args) | {"func": None}, "output": str(out),
                   "extraction": result.provenance},
        )
        atomic_write_json(out.with_name(out.name + PROVENANCE_SUFFIX), record)
    except OSError as error:  # e.g. the disk filled up: no partial file, and no table without its provenance
        out.unlink(missing_ok=True)
        print(f"mirv extract: cannot write {error.filename or out}: {error.strerror or error}", file=sys.stderr)
        return 1
    failed = result.failed
    for row in failed:
        print(f"mirv extract: patient {patient_id}, lesion '{row['LesionID']}': {row[STATUS]}", file=sys.stderr)
    print(f"{len(result.rows) - len(failed)}/{len(result.rows)} lesions extracted -> {out}", file=sys.stderr)
    return 0 if len(failed) < len(result.rows) else 1
