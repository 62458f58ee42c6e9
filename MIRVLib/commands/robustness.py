"""`mirv robustness`: the segmentation-robust feature list (erode/dilate 1 mm, Lin's CCC ≥ 0.8 or an ICC)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from MIRVLib.options import AGREEMENTS, DEFAULT_AGREEMENT_THRESHOLDS, add_engine_option


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "robustness",
        help="list the features robust to segmentation changes (Henry et al. 2022)",
        description="Erode and dilate every lesion by --radius-mm, extract features again and keep the features "
        "whose agreement between original and perturbed values across all lesions (Lin's CCC, or ICC(2,1)/ICC(3,1) "
        "with --agreement) reaches --threshold for both. Writes the list (one feature per line; `mirv cohort "
        "--restrict-to` reads it), an agreement table (OUT stem + .ccc.csv, .icc2.csv or .icc3.csv) and "
        "OUT.provenance.json.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--cases", help="CSV with columns PatientID, Image, Lesions (one patient per row)")
    source.add_argument("-i", "--image", help="CT of a single patient (with --lesions)")
    parser.add_argument("-l", "--lesions", help="lesions of the single patient (.seg.nrrd, labelmap or mask folder)")
    parser.add_argument("--patient-id", default="patient", help="PatientID for --image/--lesions")
    parser.add_argument("-p", "--preset", default="MIRV-CT", help="MIRV-CT (default), Henry2022, or a PyRadiomics YAML")
    add_engine_option(parser)
    parser.add_argument("--radius-mm", type=float, default=1.0, help="erosion/dilation distance (default 1 mm)")
    parser.add_argument("--agreement", choices=AGREEMENTS, default="ccc",
                        help="Lin's CCC (default), ICC(2,1) absolute agreement or ICC(3,1) consistency")
    parser.add_argument("--threshold", "--agreement-threshold", dest="threshold", type=float,
                        help="minimum agreement (default: "
                        + ", ".join(f"{k} {v:g}" for k, v in DEFAULT_AGREEMENT_THRESHOLDS.items())
                        + "; ICC 0.75 = 'good' in Koo & Li 2016)")
    parser.add_argument("-j", "--jobs", type=int, default=1,
                        help="processes extracting lesions (this one included), one lesion per task")
    parser.add_argument("-o", "--out", required=True, help="robust feature list (text, one feature per line)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import pandas as pd
    from tqdm import tqdm

    from MIRVLib.extraction import check_preset
    from MIRVLib.lesions import load_image, load_lesions
    from MIRVLib.output_checks import check_output_file
    from MIRVLib.provenance import atomic_write_csv, atomic_write_json, atomic_write_text, provenance_record
    from MIRVLib.robustness import run_robustness
    from MIRVLib.worker_processes import start_fork_server, stop_fork_server

    threshold = DEFAULT_AGREEMENT_THRESHOLDS[args.agreement] if args.threshold is None else args.threshold
    start_fork_server(args.jobs)  # worker imports overlap with reading the cases
    if args.image and not args.lesions:
        print("mirv robustness: --image needs --lesions", file=sys.stderr)
        return 2
    try:
        preset = check_preset(args.preset, args.engine)
        if args.cases:
            manifest = pd.read_csv(args.cases, dtype=str)
            missing = {"PatientID", "Image", "Lesions"} - set(manifest.columns)
            if missing:
                raise ValueError(f"{args.cases}: missing column(s) {sorted(missing)}")
            rows = list(manifest[["PatientID", "Image", "Lesions"]].itertuples(index=False, name=None))
        else:
            rows = [(args.patient_id, args.image, args.lesions)]
        check_output_file(args.out, [args.cases, *(path for _, *paths in rows for path in paths)])
        cases, inputs = [], {}
        for patient_id, image_path, lesions_path in rows:
            image = load_image(image_path)
            cases.append((patient_id, image, load_lesions(lesions_path, reference_image=image)))
            inputs[f"{patient_id}:image"], inputs[f"{patient_id}:lesions"] = image_path, lesions_path
    except (FileNotFoundError, ValueError) as error:  # PresetError and OutputError included
        print(f"mirv robustness: {error}", file=sys.stderr)
        return 2
    with tqdm(total=len(cases) * 3, unit="extraction", disable=args.no_progress, file=sys.stderr) as bar:
        def progress(done: int, total: int, label: str) -> None:
            bar.set_postfix_str(label)
            bar.update(done - bar.n)

        result = run_robustness(cases, preset, args.radius_mm, threshold, args.jobs, progress, args.engine, args.agreement)
    stop_fork_server()  # workers are done; its shutdown must not delay the end of this command
    out = Path(args.out)
    measure = {"ccc": "Lin's CCC", "icc2": "ICC(2,1)", "icc3": "ICC(3,1)"}[args.agreement]
    header = (f"# {len(result.features)} of {len(result.table)} features with {measure} >= {threshold} after "
              f"{args.radius_mm} mm erosion and dilation ({int(result.table['Lesions'].iloc[0])} lesions, "
              f"preset {preset.name})\n")
    atomic_write_text(out, header + "".join(f"{name}\n" for name in result.features))
    atomic_write_csv(out.with_suffix(f".{args.agreement}.csv"), result.table.reset_index())
    record = provenance_record(
        inputs=inputs, parameter_file=preset.path, preset=preset.name,
        extra={"command": "mirv robustness", "radiusMm": args.radius_mm, "threshold": threshold, "agreement": args.agreement,
               "robustFeatures": len(result.features), "extraction": result.provenance},
    )
    atomic_write_json(out.with_name(out.name + ".provenance.json"), record)
    print(f"{len(result.features)}/{len(result.table)} features robust -> {out}", file=sys.stderr)
    return 0
