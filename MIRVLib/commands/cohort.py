"""`mirv cohort`: lesion features (+ volumes) in, per-patient MIRV, response, model and matrices out."""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict

from MIRVLib.options import (
    DEFAULT_RESPONSE_THRESHOLD,
    MISSING_FOLLOWUP_POLICIES,
    NONFINITE_POLICIES,
    PRESETS,
    SCALE_MODES,
    add_reduction_thresholds,
    reduction_thresholds,
)
from MIRVLib.provenance import provenance_record, sha256_file
from MIRVLib.resources import model_path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "cohort",
        help="fit (or apply) the feature reduction and compute MIRV, baseline volumes and response per patient",
        description="Without --model the feature reduction is fitted on the given lesions; with --model it only "
        "transforms them (so one patient can be scored with a shipped model, e.g. SARC021-lung-reference).",
    )
    parser.add_argument("--features", required=True, help="lesion feature CSV: PatientID, LesionID, [Site], features...")
    parser.add_argument("--volumes", help="CSV with PatientID, LesionID, VolumeBaseline, VolumeFollowUp")
    parser.add_argument("--preset", choices=PRESETS, default="paper",
                        help="feature reduction preset when fitting (default: paper; a --model carries its own)")
    parser.add_argument("--model", help="MIRV model JSON or shipped model name; skips fitting")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--nonfinite", choices=NONFINITE_POLICIES, default="drop-lesion",
                        help="what to do with NaN/inf feature values (default: drop-lesion, reported)")
    add_reduction_thresholds(parser)
    parser.add_argument("--restrict-to", metavar="FEATURES",
                        help="fit only on these features (text file, one per line, or CSV with a Feature column), "
                        "e.g. the segmentation-robust list")
    parser.add_argument("--extraction-preset",
                        help="PyRadiomics preset the features came from (recorded in a fitted model and checked "
                        "against --model; default: the one in FEATURES.provenance.json, written by `mirv extract`)")
    parser.add_argument("--figures", action="store_true",
                        help="also write figures/<PatientID>_{dissimilarity,distance}.png for every patient with "
                        ">= 2 lesions and report.html (cohort summary, then one section per patient)")
    parser.add_argument("--colour-scale", choices=SCALE_MODES, default="full",
                        help="matrix colour scale: 'full' (dissimilarity 0-2, distance 0 to the model's "
                        "reference-cohort maximum) or the reference cohort's 5th-95th percentile range")
    parser.add_argument("--strict", action="store_true",
                        help="with --model: stop with an error when the input does not fit the model (another "
                        "extraction preset, lesion sites the model was not fitted on) instead of warning")
    parser.add_argument("--response-threshold", type=float, default=DEFAULT_RESPONSE_THRESHOLD,
                        help="%% volume change below which every lesion counts as responding (default 33)")
    parser.add_argument("--missing-followup", choices=MISSING_FOLLOWUP_POLICIES, default="unmeasured",
                        help="an empty follow-up volume: 'unmeasured' (as published) or 'disappeared' (-100%%)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from MIRVLib.applicability import sidecar_preset
    from MIRVLib.cohort import score_cohort, write_cohort
    from MIRVLib.lesion_table import LesionTable
    from MIRVLib.output_checks import check_output_folder
    from MIRVLib.reduction import FeatureReduction, ReductionSettings, read_feature_list
    from MIRVLib.response import read_volumes

    try:
        check_output_folder(args.out, [args.features, args.volumes, args.restrict_to, args.model])
        table = LesionTable.read_csv(args.features, nonfinite=args.nonfinite)
        volumes = read_volumes(args.volumes) if args.volumes else None
        candidates = read_feature_list(args.restrict_to) if args.restrict_to else None
        extraction = (extraction_preset_record(args.extraction_preset) if args.extraction_preset
                      else sidecar_preset(args.features))
        if candidates is not None and args.model:
            raise ValueError("--restrict-to only applies when fitting; it cannot be combined with --model")
        if args.model:
            model_file = model_path(args.model)
            reduction = FeatureReduction.load(model_file)
        else:
            model_file = None
            reduction = FeatureReduction(ReductionSettings(preset=args.preset, **reduction_thresholds(args)))
            reduction.extraction_preset = args.extraction_preset or (extraction or {}).get("name")
        with tqdm(total=100, unit="%", desc="mirv cohort", disable=None, file=sys.stderr) as bar:
            def progress(fraction: float, message: str) -> None:
                bar.set_postfix_str(message, refresh=False)
                bar.update(round(fraction * 100) - bar.n)

            result = score_cohort(
                table, reduction, volumes, response_threshold=args.response_threshold,
                missing_followup=args.missing_followup, candidates=candidates, progress=progress,
                extraction_preset=extraction, strict=args.strict,
            )
    except (FileNotFoundError, ValueError) as error:  # table, volume, model and --out errors are ValueErrors
        print(f"mirv cohort: error: {error}", file=sys.stderr)
        return 2
    inputs = {"features": args.features}
    inputs.update({name: path for name, path in (("volumes", args.volumes), ("restrictTo", args.restrict_to)) if path})
    record = provenance_record(
        inputs=inputs,
        preset=reduction.settings.preset,
        parameters={
            "reduction": asdict(reduction.settings),
            "fitted": model_file is None,
            "nonfinite": args.nonfinite,
            "responseThreshold": args.response_threshold,
            "missingFollowUp": args.missing_followup,
            "extractionPreset": reduction.extraction_preset,
            "inputExtractionPreset": extraction,
            "strict": args.strict,
        },
        extra={
            "model": {"path": str(model_file), "sha256": sha256_file(model_file)} if model_file else None,
            "stepCounts": reduction.step_counts,
            "selectedFeatures": reduction.selected,
            "cohort": {"patients": len(result.patients), "lesions": table.num_lesions,
                       "patientsWithMIRV": int(result.patients["MIRVMaxDistance"].notna().sum())},
            "nonfiniteValues": [str(v) for v in table.nonfinite],
            "droppedFeatures": list(table.dropped_features),
            "droppedLesions": [f"{p}/{lid}" for p, lid in table.dropped_lesions],
            "failedLesions": [f"{p}/{lid}: {reason}" for p, lid, reason in table.failed_lesions],
        },
    )
    try:
        out = write_cohort(result, args.out, record)
        if args.figures:
            from MIRVLib.cohort_report import write_figures_and_report

            write_figures_and_report(result, table, out, record, args.colour_scale)
    except OSError as error:  # e.g. a full disk; each file is written atomically
        print(f"mirv cohort: error: cannot write {error.filename or args.out}: {error.strerror or error}",
              file=sys.stderr)
        return 1
    counts = " -> ".join(str(reduction.step_counts.get(k, "?")) for k in ("input", "varianceAndVolume", "selected"))
    print(f"features {counts}; {record['cohort']['patientsWithMIRV']} of {len(result.patients)} patients with MIRV; "
          f"wrote {out}")
    for patient, lesion, reason in table.failed_lesions:
        print(f"  left out patient {patient} lesion {lesion} (no features: {reason})")
    return 0


def extraction_preset_record(preset: str) -> dict[str, str]:
    """``{"name", "sha256"}`` of a shipped preset name or YAML file, as the extraction provenance records it."""
    from MIRVLib.resources import preset_path

    path = preset_path(preset)
    return {"name": preset, "sha256": sha256_file(path)}
