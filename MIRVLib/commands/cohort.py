"""`mirv cohort`: lesion features (+ volumes) in, per-patient MIRV, response, model and matrices out."""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from typing import Any

from MIRVLib.cli_options import PresetOption, add_renamed, cannot_write
from MIRVLib.options import (
    DEFAULT_RESPONSE_THRESHOLD,
    MISSING_FOLLOWUP_POLICIES,
    PRESETS,
    SCALE_MODES,
    add_nonfinite_option,
    add_reduction_thresholds,
    add_response_reading,
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
    parser.add_argument("--reduction", choices=PRESETS, default="paper",
                        help="feature reduction fitted on these lesions (default: paper; a --model carries its own)")
    parser.add_argument("--model", help="MIRV model JSON or shipped model name; skips fitting")
    parser.add_argument("-o", "--out", required=True, help="output folder")
    add_nonfinite_option(parser)
    add_reduction_thresholds(parser)
    parser.add_argument("--restrict-to", metavar="FEATURES",
                        help="fit only on these features (text file, one per line, or CSV with a Feature column), "
                        "e.g. the segmentation-robust list")
    parser.add_argument("--harmonise", metavar="BATCHCOL",
                        help="ComBat-harmonise the lesion features across this batch column (site, scanner; in "
                        "--features or --batch-table) before the reduction; the model keeps the parameters")
    parser.add_argument("--harmonise-covariates", metavar="A,B",
                        help="with --harmonise: columns whose effects ComBat preserves (text columns are categorical)")
    parser.add_argument("--batch-table", metavar="CSV",
                        help="CSV with PatientID, [LesionID,] the batch (and covariate) columns, for --harmonise or a "
                        "--model fitted with harmonisation")
    add_renamed(parser, "-p", "--preset", old=["--extraction-preset"], action=PresetOption,
                help="PyRadiomics preset the features came from (recorded in a fitted model and checked "
                "against --model; default: the one in FEATURES.provenance.json, written by `mirv extract`); "
                "paper or reference here still select --reduction, deprecated")
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
                        help="%% volume change threshold of a responding lesion (default 33; see --response-reading)")
    parser.add_argument("--missing-followup", choices=MISSING_FOLLOWUP_POLICIES, default="unmeasured",
                        help="an empty follow-up volume: 'unmeasured' (as published) or 'disappeared' (-100%%)")
    add_response_reading(parser)
    parser.add_argument("--dicom-out", metavar="DIR",
                        help="also write per patient a DICOM SEG of its lesions and a TID 1500 SR with the selected "
                        "features and MIRV values into DIR (needs --dicom-manifest; pip install 'mirv[dicom]')")
    parser.add_argument("--dicom-manifest", metavar="CSV",
                        help="with --dicom-out: PatientID, Image (DICOM CT series folder), Lesions[, Sites] per patient "
                        "(the `mirv batch` manifest format); the lesions are read as `mirv extract` read them")
    parser.add_argument("--dicom-seed", metavar="TEXT",
                        help="with --dicom-out: derive the DICOM UIDs from TEXT (reproducible files; default random)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from MIRVLib.applicability import sidecar_preset
    from MIRVLib.cohort import cohort_summary, score_cohort, write_cohort
    from MIRVLib.harmonisation import read_lesions_with_batch
    from MIRVLib.lesion_table import LesionTable
    from MIRVLib.output_checks import check_output_folder
    from MIRVLib.reduction import FeatureReduction, ReductionSettings, read_feature_list
    from MIRVLib.response import read_volumes

    try:
        check_output_folder(args.out, [args.features, args.volumes, args.restrict_to, args.model, args.batch_table])
        volumes = read_volumes(args.volumes) if args.volumes else None
        candidates = read_feature_list(args.restrict_to) if args.restrict_to else None
        extraction = extraction_preset_record(args.preset) if args.preset else sidecar_preset(args.features)
        if candidates is not None and args.model:
            raise ValueError("--restrict-to only applies when fitting; it cannot be combined with --model")
        if args.model:
            model_file = model_path(args.model)
            reduction = FeatureReduction.load(model_file)
        else:
            model_file = None
            reduction = FeatureReduction(ReductionSettings(preset=args.reduction, **reduction_thresholds(args)))
            reduction.extraction_preset = args.preset or (extraction or {}).get("name")
        harmonise = cohort_harmonisation(args, reduction)
        combat = harmonise or reduction.harmonisation
        if combat is not None:
            table, batches = read_lesions_with_batch(args.features, [combat.batch, *combat.covariates], args.batch_table,
                                                     nonfinite=args.nonfinite)
        elif args.batch_table:
            raise ValueError("--batch-table is only used with --harmonise or a --model fitted with harmonisation")
        else:
            table, batches = LesionTable.read_csv(args.features, nonfinite=args.nonfinite), None
        dicom_rows = check_dicom_out(args, table.patient_ids) if args.dicom_out or args.dicom_manifest else None
        with tqdm(total=100, unit="%", desc="mirv cohort", disable=None, file=sys.stderr) as bar:
            def progress(fraction: float, message: str) -> None:
                bar.set_postfix_str(message, refresh=False)
                bar.update(round(fraction * 100) - bar.n)

            result = score_cohort(
                table, reduction, volumes, response_threshold=args.response_threshold,
                missing_followup=args.missing_followup, response_reading=args.response_reading,
                candidates=candidates, progress=progress,
                extraction_preset=extraction, strict=args.strict, harmonise=harmonise, batches=batches,
            )
    except (FileNotFoundError, ValueError, ImportError) as error:  # table, volume, model, --out errors: ValueErrors
        print(f"mirv cohort: error: {error}", file=sys.stderr)
        return 2
    try:
        dicom = write_dicom(args, dicom_rows, table, result) if dicom_rows is not None else None
    except (FileNotFoundError, ValueError) as error:  # lesions that do not fit the DICOM CT, unreadable DICOM
        print(f"mirv cohort: error: --dicom-out: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"mirv cohort: error: {cannot_write(error, args.dicom_out)}", file=sys.stderr)
        return 1
    inputs = {"features": args.features}
    inputs.update({name: path for name, path in (("volumes", args.volumes), ("restrictTo", args.restrict_to),
                                                 ("batchTable", args.batch_table)) if path})
    record = provenance_record(
        inputs=inputs,
        preset=reduction.settings.preset,
        parameters={
            "reduction": asdict(reduction.settings),
            "fitted": model_file is None,
            "nonfinite": args.nonfinite,
            "responseThreshold": args.response_threshold,
            "responseReading": args.response_reading,
            "missingFollowUp": args.missing_followup,
            "extractionPreset": reduction.extraction_preset,
            "inputExtractionPreset": extraction,
            "strict": args.strict,
            "harmonisation": ({"method": "ComBat", "batch": combat.batch, "covariates": list(combat.covariates),
                               "batches": combat.batches, "fitted": harmonise is not None} if combat else None),
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
            **({"dicom": dicom} if dicom else {}),
        },
    )
    try:
        out = write_cohort(result, args.out, record)
        if args.figures:
            from MIRVLib.cohort_report import write_figures_and_report

            write_figures_and_report(result, table, out, record, args.colour_scale, model=args.model)
    except OSError as error:  # e.g. a full disk; each file is written atomically
        print(f"mirv cohort: error: {cannot_write(error, args.out)}", file=sys.stderr)
        return 1
    print(cohort_summary(result, args.model))
    print(f"cohort: wrote {out}")
    for patient, lesion, reason in table.failed_lesions:
        print(f"  left out patient {patient} lesion {lesion} (no features: {reason})")
    return 0


def cohort_harmonisation(args: argparse.Namespace, reduction):
    """The ComBat to fit for --harmonise (None without it); refused with a --model, which brings its own."""
    from MIRVLib.harmonisation import ComBat

    if args.harmonise_covariates and not args.harmonise:
        raise ValueError("--harmonise-covariates needs --harmonise BATCHCOL")
    if not args.harmonise:
        return None
    if reduction.is_fitted:
        own = reduction.harmonisation.batch if reduction.harmonisation else None
        if args.harmonise != own:
            raise ValueError(f"--harmonise only applies when fitting; the model harmonises across {own!r}"
                             if own else "--harmonise only applies when fitting; this model was fitted without it")
        return None
    covariates = [c.strip() for c in args.harmonise_covariates.split(",") if c.strip()] if args.harmonise_covariates else []
    return ComBat(args.harmonise, covariates)


def check_dicom_out(args: argparse.Namespace, patient_ids: list[str]) -> list[Any]:
    """Before scoring: --dicom-out and --dicom-manifest together, the DICOM extra installed, the manifest's
    images DICOM series folders of patients in the table, the folder writable."""
    from MIRVLib.dicom import require
    from MIRVLib.dicom.results import check_cohort_manifest
    from MIRVLib.output_checks import check_output_folder

    if not (args.dicom_out and args.dicom_manifest):
        raise ValueError("--dicom-out and --dicom-manifest go together: the manifest says where each patient's "
                         "DICOM CT series and lesions are")
    require("highdicom")
    rows = check_cohort_manifest(args.dicom_manifest, patient_ids)
    check_output_folder(args.dicom_out, [args.features, args.dicom_manifest])
    return rows


def write_dicom(args: argparse.Namespace, rows: list[Any], table: Any, result: Any) -> dict[str, Any]:
    """SEG + SR per manifest patient into --dicom-out; the provenance entry."""
    from MIRVLib.dicom.results import write_cohort_dicom

    written = write_cohort_dicom(args.dicom_out, rows, table.frame, result.reduction.selected, result.patients,
                                 seed=args.dicom_seed)
    print(f"cohort: wrote DICOM SEG + SR for {len(written)} patient(s) -> {args.dicom_out}")
    return {"manifest": str(args.dicom_manifest), "seed": args.dicom_seed, "files": [w.record() for w in written]}


def extraction_preset_record(preset: str) -> dict[str, str]:
    """``{"name", "sha256"}`` of a shipped preset name or YAML file, as the extraction provenance records it."""
    from MIRVLib.resources import preset_path

    path = preset_path(preset)
    return {"name": preset, "sha256": sha256_file(path)}
