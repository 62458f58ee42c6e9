"""Benchmark: one multi-lesion patient through the PyRadiomics CLI batch vs `mirv extract` (jobs 1 and 2).

The patient is PyRadiomics' lung1 sample CT with its tumour plus synthetic lesions in other tissue
(heart, lung, chest wall, vertebra, aorta): ≥ 6 lesions, MIRV-CT preset (1218 features). PyRadiomics
runs as its users run it — `pyradiomics cases.csv -p MIRV-CT.yaml -o out.csv -f csv`, one row per lesion,
one mask file per lesion — and MIRV reads the same lesions from one Slicer .seg.nrrd. All runs happen
side by side in this one process; the script prints wall times, speed ratios, the machine load and the
largest relative feature difference. Run: `.venv/bin/python benchmarks/extract_vs_pyradiomics.py`.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "Testing"))
from pyradiomics_data import patient_masks, write_seg_nrrd  # noqa: E402

BIN = Path(sys.executable).parent


def _load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def _timed(command: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"command failed ({done.returncode}): {' '.join(command)}\n{done.stderr[-2000:]}")
    return elapsed


def _max_relative_difference(ours: pd.DataFrame, reference: pd.DataFrame) -> tuple[float, str]:
    columns = [c for c in reference.columns if not c.startswith("diagnostics_") and c not in ("Image", "Mask")]
    a = ours[columns].to_numpy(dtype=float)
    b = reference[columns].to_numpy(dtype=float)
    scale = np.maximum(np.abs(b), 1e-3)  # relative, absolute near zero
    diff = np.where(np.isnan(a) & np.isnan(b), 0.0, np.abs(a - b) / scale)
    worst = np.unravel_index(np.nanargmax(diff), diff.shape)
    return float(diff[worst]), columns[worst[1]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs per tool; the fastest counts (default 1)")
    parser.add_argument("--keep", type=Path, default=None, help="keep the working folder here")
    args = parser.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="mirv-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    image_path, masks = patient_masks("lung1")
    cases = work / "cases.csv"
    with open(cases, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Image", "Mask"])
        for name, mask in masks.items():
            mask_path = work / f"{name}.nrrd"
            sitk.WriteImage(mask, str(mask_path), True)
            writer.writerow([str(image_path), str(mask_path)])
    seg = write_seg_nrrd(masks, work / "lesions.seg.nrrd")
    preset = REPO / "Resources" / "Presets" / "MIRV-CT.yaml"
    print(f"patient: lung1 CT {sitk.ReadImage(str(image_path)).GetSize()}, {len(masks)} lesions "
          f"({', '.join(masks)}), preset MIRV-CT; CPUs {os.cpu_count()}, load before: {_load()}")

    runs = {
        "pyradiomics batch": [str(BIN / "pyradiomics"), str(cases), "-p", str(preset), "-o", str(work / "pyrad.csv"), "-f", "csv"],
        "mirv --jobs 1": [str(BIN / "mirv"), "extract", "--image", str(image_path), "--lesions", str(seg),
                          "--out", str(work / "mirv1.csv"), "--jobs", "1", "--no-progress"],
        "mirv --jobs 2": [str(BIN / "mirv"), "extract", "--image", str(image_path), "--lesions", str(seg),
                          "--out", str(work / "mirv2.csv"), "--jobs", "2", "--no-progress"],
    }
    times: dict[str, float] = {name: float("inf") for name in runs}
    for _ in range(args.repeat):
        for name, command in runs.items():  # interleaved, so load changes hit all tools alike
            if name.startswith("pyradiomics"):
                (work / "pyrad.csv").unlink(missing_ok=True)  # its CLI appends to an existing file
            times[name] = min(times[name], _timed(command))
    startup = min(_timed([str(BIN / "mirv"), "--version"]) for _ in range(max(args.repeat, 2)))
    for name, seconds in times.items():
        print(f"{name:>18}: {seconds:7.2f} s  ({seconds / len(masks):.2f} s/lesion)")
    print(f"speed-up mirv --jobs 1 vs PyRadiomics batch: {times['pyradiomics batch'] / times['mirv --jobs 1']:.2f}x "
          "(target >= 5x)")
    print(f"speed-up mirv --jobs 2 vs --jobs 1:          {times['mirv --jobs 1'] / times['mirv --jobs 2']:.2f}x "
          "(target >= 1.7x)")
    print(f"speed-up mirv --jobs 2 vs PyRadiomics batch: {times['pyradiomics batch'] / times['mirv --jobs 2']:.2f}x")
    print(f"of which `mirv --version` (interpreter + importing every sub-command): {startup:.2f} s")

    reference = pd.read_csv(work / "pyrad.csv", float_precision="round_trip")
    for label, file in (("--jobs 1", "mirv1.csv"), ("--jobs 2", "mirv2.csv")):
        ours = pd.read_csv(work / file, float_precision="round_trip")
        assert (ours["Status"] == "ok").all(), ours["Status"].tolist()
        worst, feature = _max_relative_difference(ours, reference)
        print(f"max relative feature difference mirv {label} vs PyRadiomics: {worst:.3g} ({feature}); "
              f"{len(reference.columns) - sum(c.startswith('diagnostics_') for c in reference.columns) - 2} features x "
              f"{len(reference)} lesions")
    print(f"load after: {_load()}; working folder: {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
