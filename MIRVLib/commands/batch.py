"""`mirv batch`: a whole cohort from a manifest — resumable, failure-tolerant, local or on a Dask cluster.

Exit codes: 0 nothing failed; 1 Dask is missing, or its scheduler cannot be reached or has no workers;
2 the manifest, options or ``--out`` are unusable, or another run holds ``--out`` (nothing was run); 3 the
run finished but some patients or lesions failed (listed in ``DIR/failures.csv``).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any, TextIO

from MIRVLib.cli_options import add_renamed, cannot_write
from MIRVLib.options import (
    PRESETS,
    add_dicom_output,
    add_engine_option,
    add_reduction_thresholds,
    add_response_reading,
    reduction_thresholds,
)

if TYPE_CHECKING:
    from tqdm import tqdm

EXIT_NO_ENGINE, EXIT_INVALID = 1, 2
EXIT_NOTHING_WRITTEN = 1  # the cohort outputs could not be written


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "batch",
        help="extract and score a whole cohort from a manifest (resumable; local processes or a Dask cluster)",
        description="Manifest CSV columns: PatientID, Image, Lesions [, FollowUpImage, FollowUpLesions, Sites]; "
        "relative paths resolve against the manifest's folder. Writes DIR/lesions.csv, patients.csv, "
        "failures.csv, matrices/, model.json, provenance.json and one stored result per patient (DIR/patients/). "
        "Exit code 0: nothing failed; 1: Dask missing or scheduler unreachable; 2: invalid manifest or --out, "
        "or another run writing into --out; "
        "3: some patients or lesions failed.",
    )
    parser.add_argument("--manifest", required=True, help="cohort manifest CSV")
    parser.add_argument("-o", "--out", required=True, help="output folder")
    parser.add_argument("-p", "--preset", default="MIRV-CT", help="PyRadiomics preset name or YAML file (default: MIRV-CT)")
    add_engine_option(parser)
    parser.add_argument("--strict", action="store_true",
                        help="with --model: stop (exit 2, patients stay stored for --resume) when the input does not "
                        "fit the model (another extraction preset, lesion sites it was not fitted on) instead of "
                        "warning in patients.csv")
    reduction = parser.add_mutually_exclusive_group()
    reduction.add_argument("--model", help="MIRV model JSON or shipped model name: score with it, fit nothing")
    add_renamed(reduction, "--reduction", old=["--fit"], choices=PRESETS, default="paper",
                help="fit this feature reduction on the cohort's lesions (default: paper)")
    add_reduction_thresholds(parser, "with --reduction")
    add_response_reading(parser)
    engine = parser.add_mutually_exclusive_group()
    engine.add_argument("-j", "--jobs", type=int, default=1,
                        help="local Dask cluster of N single-threaded worker processes (1: in this process)")
    engine.add_argument("--scheduler", help="address of a running dask.distributed scheduler, tcp://HOST:PORT")
    parser.add_argument("--resume", action="store_true",
                        help="reuse patients already stored in DIR with the same settings and inputs")
    parser.add_argument("--retry-failed", action="store_true", help="with --resume: recompute failed patients")
    add_dicom_output(parser)
    parser.set_defaults(func=run)


class ProgressBar:
    """tqdm over patients; the postfix shows lesions done and failures so far."""

    def __init__(self, file: TextIO | None = None, disable: bool | None = None) -> None:
        # the stream is looked up now, not at import: a default of sys.stderr would pin the import-time stream
        self.file, self.disable = file or sys.stderr, disable  # disable=None: only on a terminal
        self.bar: tqdm | None = None
        self.lesions = self.failed_lesions = self.failed_patients = 0

    def __call__(self, event: str, patient_id: str, detail: dict[str, Any]) -> None:
        if event == "start":
            from tqdm import tqdm

            self.bar = tqdm(total=detail["todo"], unit="patient", desc="mirv batch", file=self.file,
                            disable=self.disable, dynamic_ncols=True)
            if detail["reused"]:
                tqdm.write(f"reusing {detail['reused']} stored patient(s)", file=self.file)
        elif event == "lesion":
            self.lesions += 1
            self.failed_lesions += str(detail.get("Status", "ok")) != "ok"
            self._postfix()
        elif event == "patient" and self.bar is not None:
            self.failed_patients += bool(detail["failed"])
            self.bar.update(1)
            self._postfix()
        elif event == "score" and self.bar is not None:
            self.bar.close()

    def _postfix(self) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(f"lesions={self.lesions} failed patients={self.failed_patients} "
                                     f"failed lesions={self.failed_lesions}", refresh=False)


def run(args: argparse.Namespace) -> int:
    from MIRVLib.applicability import ApplicabilityError
    from MIRVLib.batch.manifest import ManifestError
    from MIRVLib.batch.pipeline import run_batch
    from MIRVLib.batch.runner import EngineError
    from MIRVLib.dicom import DicomError, DicomExtraMissing
    from MIRVLib.extraction import PresetError
    from MIRVLib.output_checks import OutputError
    from MIRVLib.reduction import ReductionSettings
    from MIRVLib.worker_processes import capped_jobs

    try:
        fit = ReductionSettings(preset=args.reduction, **reduction_thresholds(args))
        jobs = capped_jobs(args.jobs, "mirv batch")
    except ValueError as error:
        print(f"mirv batch: error: {error}", file=sys.stderr)
        return EXIT_INVALID
    try:
        outcome = run_batch(args.manifest, args.out, preset=args.preset, model=args.model, fit=fit,
                            jobs=jobs, scheduler=args.scheduler, resume=args.resume,
                            retry_failed=args.retry_failed, progress=ProgressBar(), engine=args.engine,
                            strict=args.strict, response_reading=args.response_reading,
                            dicom_out=args.dicom_out, dicom_seed=args.dicom_seed)
    except (ManifestError, PresetError, OutputError, ApplicabilityError, FileNotFoundError, DicomError,
            DicomExtraMissing) as error:
        print(f"mirv batch: error: {error}", file=sys.stderr)
        return EXIT_INVALID
    except EngineError as error:
        print(f"mirv batch: error: {error}", file=sys.stderr)
        return EXIT_NO_ENGINE
    except OSError as error:  # e.g. a full disk: stored patients are complete files, --resume continues
        print(f"mirv batch: error: {cannot_write(error, args.out)}", file=sys.stderr)
        return EXIT_NOTHING_WRITTEN
    failures = outcome.failures
    print(f"{len(outcome.computed)} patient(s) computed, {len(outcome.reused)} reused; "
          f"{failures['PatientID'].nunique() if len(failures) else 0} with failures; wrote {outcome.out}")
    for failure in failures.itertuples(index=False):
        where = f"{failure.PatientID}/{failure.LesionID}" if failure.LesionID else failure.PatientID or "cohort"
        print(f"  failed {where} ({failure.Stage}): {failure.Reason}", file=sys.stderr)
    return outcome.exit_code
