"""Throughput of `mirv batch` at --jobs 1 (in-process) and --jobs 2 (local Dask cluster) on one cohort.

Prints lesions/s for both, their ratio (target >= 1.7 on 2 cores), the peak resident memory of every
worker, and the machine load before and after (the numbers mean little on a busy machine). The first
ratio is for the whole command (Dask cluster start-up, extraction, cohort scoring, writing), the second
for the extraction phase alone (what grows with the cohort).

    .venv/bin/python benchmarks/batch_scaling.py [--patients 40] [--preset MIRV-CT] [--real] [--repeat 2]

``--real`` uses PyRadiomics' sample lung CTs (512×512×48 voxels; the real tumour plus synthetic lesions in
other tissue, from ``Testing/pyradiomics_data.py``) as the patients, to measure memory on full-size CTs.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "Testing"))
from batch_cohort import make_cohort, write_small_preset  # noqa: E402
from machine import load_average, two_process_speedup  # noqa: E402

from MIRVLib.batch.pipeline import run_batch  # noqa: E402
from MIRVLib.reduction import ReductionSettings  # noqa: E402


def real_cohort(root: Path, patients: int) -> Path:
    """Patients alternating between the lung1 and lung2 sample CTs, each with its lesion masks."""
    import SimpleITK as sitk
    from pyradiomics_data import patient_masks

    lines = ["PatientID,Image,Lesions"]
    for case in ("lung1", "lung2"):
        image, masks = patient_masks(case)
        (root / case).mkdir()
        for name, mask in masks.items():
            sitk.WriteImage(mask, str(root / case / f"{name}.nrrd"), True)
        lines += [f"{case}-{i:02d},{image},{root / case}" for i in range(patients // 2)]
    manifest = root / "manifest.csv"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=40)
    parser.add_argument("--preset", default="MIRV-CT", help="MIRV-CT (scored with the shipped model) or 'small'")
    parser.add_argument("--real", action="store_true", help="patients = PyRadiomics' lung1/lung2 CTs, alternating")
    parser.add_argument("--repeat", type=int, default=2, help="rounds of (--jobs 1, --jobs 2); the best of each counts")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        manifest = real_cohort(root, args.patients) if args.real else make_cohort(root, args.patients, corrupt=None,
                                                                                   empty_lesion=None)
        if args.preset == "small":
            preset, scoring = str(write_small_preset(root)), {"fit": ReductionSettings(
                feature_correlation=0.9, volume_correlation=0.2)}
        else:
            preset, scoring = args.preset, {"model": "SARC021-lung-paper"}
        print(f"cohort: {args.patients} patients, preset {args.preset}, {os.cpu_count()} CPUs; before: {load_average()}; "
              f"2-process speed-up of plain CPU-bound Python now: {two_process_speedup():.2f}x")
        best: dict[int, tuple[float, float]] = {}
        for round_ in range(1, args.repeat + 1):
            for jobs in (1, 2):  # side by side in every round, so a burst of outside load hits both
                out = root / f"out{jobs}"
                start = time.perf_counter()
                outcome = run_batch(manifest, out, preset=preset, jobs=jobs, **scoring)
                seconds = time.perf_counter() - start
                lesions = len(pd.read_csv(out / "lesions.csv"))
                extract = outcome.engine["extractSeconds"]
                rate = (lesions / seconds, lesions / extract)
                best[jobs] = max(best.get(jobs, rate), rate)
                print(f"round {round_} --jobs {jobs}: {lesions} lesions in {seconds:5.1f} s = {rate[0]:5.2f} lesions/s "
                      f"(extraction alone {extract:5.1f} s = {rate[1]:5.2f} lesions/s, "
                      f"engine start {outcome.engine['startSeconds']:.1f} s); engine {outcome.engine['engine']}, "
                      f"peak RSS per worker {', '.join(f'{v:.0f} MiB' for v in outcome.engine['workerPeakRssMiB'])}; "
                      f"{load_average()}")
        results = best
        identical = all((root / "out1" / f).read_bytes() == (root / "out2" / f).read_bytes()
                        for f in ("patients.csv", "lesions.csv"))
        print(f"best of {args.repeat}: --jobs 1 {results[1][1]:.2f}, --jobs 2 {results[2][1]:.2f} lesions/s (extraction)")
        print(f"speed-up --jobs 2 / --jobs 1: {results[2][0] / results[1][0]:.2f}x whole command, "
              f"{results[2][1] / results[1][1]:.2f}x extraction alone (target >= 1.7 on 2 idle cores); "
              f"outputs identical: {identical}")
        print(f"after: {load_average()}; 2-process speed-up of plain CPU-bound Python now: {two_process_speedup():.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
