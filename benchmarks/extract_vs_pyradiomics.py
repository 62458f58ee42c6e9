"""Benchmark: one multi-lesion patient through the PyRadiomics CLI batch vs `mirv extract`, both engines.

The patient is PyRadiomics' lung1 sample CT with its tumour plus synthetic lesions in other tissue
(heart, lung, chest wall, vertebra, aorta): 6 lesions, MIRV-CT preset (1218 features). PyRadiomics
runs as its users run it — `pyradiomics cases.csv -p MIRV-CT.yaml -o out.csv -f csv`, one row per lesion,
one mask file per lesion — and MIRV reads the same lesions from one Slicer .seg.nrrd, with the native
engine (default) and with `--engine pyradiomics`. All runs happen side by side in this one process,
interleaved; the script prints wall times, speed ratios, peak memory (max RSS, GNU time), the native
engine's time per stage, the machine load and the largest relative feature difference against PyRadiomics.
Run: `.venv/bin/python benchmarks/extract_vs_pyradiomics.py [--repeat 3] [--slice-mm 1.25]`.
"""

from __future__ import annotations

import argparse
import csv
import json
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

sys.path.insert(0, str(REPO / "benchmarks"))
from machine import load_average, two_process_speedup  # noqa: E402

BIN = Path(sys.executable).parent
GNU_TIME = Path("/usr/bin/time").exists()  # GNU time reports the peak resident memory


def _timed(command: list[str]) -> tuple[float, float | None]:
    """Wall seconds and peak resident memory (MiB, largest process of the run) of one command."""
    wrapped = ["/usr/bin/time", "-f", "MAXRSS_KB %M", *command] if GNU_TIME else command
    start = time.perf_counter()
    done = subprocess.run(wrapped, capture_output=True, text=True, encoding="utf-8")
    elapsed = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"command failed ({done.returncode}): {' '.join(command)}\n{done.stderr[-2000:]}")
    peaks = [line.split()[1] for line in done.stderr.splitlines() if line.startswith("MAXRSS_KB ")]
    return elapsed, (int(peaks[-1]) / 1024 if peaks else None)


# Runs in a fresh process: the native engine in a warm process (image read once, modules imported), with
# each stage's time summed over lesions by wrapping the functions that do it.
STAGE_SCRIPT = r"""
import collections, json, sys, time
from MIRVLib import extraction
from MIRVLib.engine import filters, params
from MIRVLib.lesions import load_lesions

seconds = collections.Counter()

def timed(owner, name, stage):
    function = getattr(owner, name)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            seconds[stage] += time.perf_counter() - start
    setattr(owner, name, wrapper)

def timed_generator(name):
    generator = filters.IMAGE_TYPES[name]
    def wrapper(*args, **kwargs):
        outputs = generator(*args, **kwargs)
        while True:
            start = time.perf_counter()
            try:
                item = next(outputs)
            except StopIteration:
                return
            finally:
                seconds["filter"] += time.perf_counter() - start
            yield item
    filters.IMAGE_TYPES[name] = wrapper

if __name__ == "__main__":
    image, lesions_file, out, repeat = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    start = time.perf_counter()
    prepared = extraction.prepare_image(image)
    lesions = load_lesions(lesions_file, reference_image=prepared.image)
    seconds["read"] = time.perf_counter() - start
    extraction.extract_patient(prepared, lesions, jobs=1)  # warm-up (imports, caches)
    timed(extraction, "resample_lesion", "resample")
    for name in list(filters.IMAGE_TYPES):
        timed_generator(name)
    # the function of each texture class that builds its matrix (the rest of compute() is features)
    builders = {"glcm": "_glcm", "glrlm": "_direction_counts", "glszm": "size_zone_matrix",
                "gldm": "dependence_matrix", "ngtdm": "build_matrix"}
    for name in params.FEATURE_CLASS_MODULES:
        module = params.feature_class_module(name)
        if name in builders:
            timed(module, builders[name], "matrices")
        timed(module, "compute", "classes")
    best, timings = float("inf"), {}
    for _ in range(repeat):
        read = seconds["read"]
        seconds.clear()
        seconds["read"] = read
        start = time.perf_counter()
        result = extraction.extract_patient(prepared, lesions, jobs=1)
        total = time.perf_counter() - start
        start = time.perf_counter()
        result.write_csv(out)
        seconds["write"] = time.perf_counter() - start
        if total < best:
            best, timings = total, dict(seconds)
    timings["features"] = timings.pop("classes", 0.0) - timings.get("matrices", 0.0)
    # resampling runs in a helper thread, overlapped with the previous lesion's features: not on this sum
    timings["other"] = best - sum(timings.get(k, 0.0) for k in ("filter", "matrices", "features"))
    timings["engine"] = best
    print(json.dumps(timings))
"""


def _stage_times(image: Path, seg: Path, repeat: int, work: Path) -> dict[str, float]:
    script = work / "stage_timing.py"
    script.write_text(STAGE_SCRIPT)
    done = subprocess.run([sys.executable, str(script), str(image), str(seg), str(work / "stages.csv"), str(repeat)],
                          capture_output=True, text=True, encoding="utf-8",
                          env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    if done.returncode:
        raise SystemExit(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def _max_relative_difference(ours: pd.DataFrame, reference: pd.DataFrame) -> tuple[float, str]:
    """Largest |ours - reference| / |reference| over all features and lesions (absolute below 1e-12)."""
    columns = [c for c in reference.columns if not c.startswith("diagnostics_") and c not in ("Image", "Mask")]
    a = ours[columns].to_numpy(dtype=float)
    b = reference[columns].to_numpy(dtype=float)
    scale = np.where(np.abs(b) < 1e-12, 1.0, np.abs(b))
    diff = np.where(np.isnan(a) & np.isnan(b), 0.0, np.abs(a - b) / scale)
    worst = np.unravel_index(np.nanargmax(diff), diff.shape)
    return float(diff[worst]), columns[worst[1]]


def _thinner_slices(image_path: Path, masks: dict[str, sitk.Image], slice_mm: float, work: Path):
    image = sitk.ReadImage(str(image_path))
    spacing = (*image.GetSpacing()[:2], slice_mm)
    size = (*image.GetSize()[:2], int(round(image.GetSize()[2] * image.GetSpacing()[2] / slice_mm)))

    def resample(volume: sitk.Image, interpolator: int) -> sitk.Image:
        return sitk.Resample(volume, size, sitk.Transform(), interpolator, image.GetOrigin(), spacing,
                             image.GetDirection(), 0, volume.GetPixelID())

    path = work / f"lung1_{slice_mm:g}mm.nrrd"
    sitk.WriteImage(resample(image, sitk.sitkBSpline), str(path), True)
    return path, {name: resample(mask, sitk.sitkNearestNeighbor) for name, mask in masks.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs per tool; the fastest counts (default 1)")
    parser.add_argument("--keep", type=Path, default=None, help="keep the working folder here")
    parser.add_argument("--slice-mm", type=float, default=None,
                        help="resample the CT (B-spline) and masks (nearest neighbour) to this slice spacing first, "
                        "e.g. 1.25 for the size of a thin-slice diagnostic chest CT (lung1 has 5 mm slices)")
    args = parser.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="mirv-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    image_path, masks = patient_masks("lung1")
    if args.slice_mm:
        image_path, masks = _thinner_slices(image_path, masks, args.slice_mm, work)
    cases = work / "cases.csv"
    with open(cases, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Image", "Mask"])
        for name, mask in masks.items():
            mask_path = work / f"{name}.nrrd"
            sitk.WriteImage(mask, str(mask_path), True)
            writer.writerow([str(image_path), str(mask_path)])
    seg = write_seg_nrrd(masks, work / "lesions.seg.nrrd")
    preset = REPO / "Resources" / "Presets" / "MIRV-CT.yaml"
    print(f"patient: {image_path.name} {sitk.ReadImage(str(image_path)).GetSize()}, {len(masks)} lesions "
          f"({', '.join(masks)}), preset MIRV-CT; CPUs {os.cpu_count()}, load before: {load_average()}")

    def mirv(out: str, *options: str) -> list[str]:
        return [str(BIN / "mirv"), "extract", "--image", str(image_path), "--lesions", str(seg),
                "--out", str(work / out), "--no-progress", *options]

    runs = {
        "pyradiomics batch": [str(BIN / "pyradiomics"), str(cases), "-p", str(preset), "-o", str(work / "pyrad.csv"),
                              "-f", "csv"],
        "mirv pyradiomics --jobs 1": mirv("engine-pyradiomics.csv", "--engine", "pyradiomics", "--jobs", "1"),
        "mirv native --jobs 1": mirv("native1.csv", "--jobs", "1"),
        "mirv native --jobs 2": mirv("native2.csv", "--jobs", "2"),
    }
    times: dict[str, float] = {name: float("inf") for name in runs}
    memory: dict[str, float | None] = {name: None for name in runs}
    for _ in range(args.repeat):
        for name, command in runs.items():  # interleaved, so load changes hit all tools alike
            if name.startswith("pyradiomics"):
                (work / "pyrad.csv").unlink(missing_ok=True)  # its CLI appends to an existing file
            seconds, peak = _timed(command)
            times[name] = min(times[name], seconds)
            memory[name] = max(memory[name] or 0.0, peak) if peak is not None else None
    reference_time = times["pyradiomics batch"]
    for name, seconds in times.items():
        peak = f"{memory[name]:6.0f} MiB peak" if memory[name] else "peak n/a"
        ratio = f"{reference_time / seconds:5.2f}x" if name != "pyradiomics batch" else "   1x"
        print(f"{name:>26}: {seconds:6.2f} s  ({seconds / len(masks):.2f} s/lesion)  {ratio} PyRadiomics  {peak}")
    print(f"speed-up native --jobs 1 vs PyRadiomics batch: {reference_time / times['mirv native --jobs 1']:.2f}x "
          "(target >= 12x)")
    print(f"speed-up native --jobs 2 vs --jobs 1:          "
          f"{times['mirv native --jobs 1'] / times['mirv native --jobs 2']:.2f}x")
    print(f"machine check: 2 processes vs 1 on a pure CPU loop: {two_process_speedup():.2f}x (2.0 on two idle cores)")

    stages = _stage_times(image_path, seg, max(args.repeat, 2), work)
    print("native engine per stage (warm process, --jobs 1, summed over lesions): " + ", ".join(
        f"{name} {stages.get(name, 0.0) * 1000:.0f} ms"
        for name in ("read", "resample", "filter", "matrices", "features", "other", "write")))
    print("   (resample runs in a helper thread while the previous lesion's features are computed; 'other' is the "
          "rest of the engine's time, waiting for that thread included)")
    rest = max(times["mirv native --jobs 1"] - stages["engine"] - stages["read"] - stages["write"], 0)
    print(f"   engine total {stages['engine'] * 1000:.0f} ms; the rest of `mirv extract --jobs 1` (interpreter, "
          f"imports, exit): {rest * 1000:.0f} ms")

    reference = pd.read_csv(work / "pyrad.csv", float_precision="round_trip")
    for label, file in (("native --jobs 1", "native1.csv"), ("native --jobs 2", "native2.csv"),
                        ("--engine pyradiomics", "engine-pyradiomics.csv")):
        ours = pd.read_csv(work / file, float_precision="round_trip")
        assert (ours["Status"] == "ok").all(), ours["Status"].tolist()
        worst, feature = _max_relative_difference(ours, reference)
        print(f"max relative feature difference mirv {label} vs PyRadiomics: {worst:.3g} ({feature}); "
              f"{len(reference.columns) - sum(c.startswith('diagnostics_') for c in reference.columns) - 2} features x "
              f"{len(reference)} lesions")
    print(f"load after: {load_average()}; working folder: {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
