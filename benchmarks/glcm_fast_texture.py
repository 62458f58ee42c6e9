"""Benchmark: PyRadiomics' GLCM vs MIRVLib.fast_texture's, and a whole MIRV-CT extraction with and without it.

Lesions: lung1's tumour plus the synthetic lesions of Testing/pyradiomics_data.py, resampled onto
MIRV-CT's grid the way the engine does (crop, then ``RadiomicsFeatureExtractor`` with resampling off).
Every GLCM input of those extractions (14 image types per lesion) is recorded once, then both GLCM
classes run on it alternately in this one process; the best of a few rounds is printed side by side,
with the machine load and a check that every value is identical. Run:
`.venv/bin/python benchmarks/glcm_fast_texture.py [--rounds 3]`.
"""

from __future__ import annotations

import argparse
import copy
import logging
import math
import sys
import time
from pathlib import Path
from typing import Any

import SimpleITK as sitk
from radiomics import featureextractor, glcm

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "Testing"))
sys.path.insert(0, str(REPO / "benchmarks"))
from machine import load_average  # noqa: E402
from pyradiomics_data import patient_masks  # noqa: E402

from MIRVLib.extraction import load_preset  # noqa: E402
from MIRVLib.fast_texture import FastGLCM, install  # noqa: E402
from MIRVLib.resampling import resample_lesion  # noqa: E402


def _extractor() -> featureextractor.RadiomicsFeatureExtractor:
    extractor = featureextractor.RadiomicsFeatureExtractor(copy.deepcopy(load_preset("MIRV-CT").params))
    extractor.settings.update(additionalInfo=False, resampledPixelSpacing=None, preCrop=False)
    return extractor


class _Recorder(featureextractor.RadiomicsFeatureExtractor):
    """Keeps what would reach the texture classes (filtered crop, mask, settings) and computes nothing."""

    inputs: list[tuple[Any, Any, dict]]

    def computeFeatures(self, image, mask, imageTypeName, **kwargs):
        self.inputs.append((image, mask, kwargs))
        return {}


def _glcm_seconds(cls: type, inputs: list, features: list[str]) -> tuple[float, list[dict]]:
    start = time.perf_counter()
    results = []
    for image, mask, kwargs in inputs:
        instance = cls(image, mask, **kwargs)
        for feature in features:
            instance.enableFeatureByName(feature)
        results.append(instance.execute())
    return time.perf_counter() - start, results


def _identical(a: dict, b: dict) -> bool:
    return list(a) == list(b) and all(a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])) for k in a)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    logging.getLogger("radiomics").setLevel(logging.ERROR)

    image_path, masks = patient_masks("lung1")
    image = sitk.ReadImage(str(image_path))
    settings = load_preset("MIRV-CT").settings
    crops = [resample_lesion(image, mask, settings) for mask in masks.values()]

    recorder = _extractor()
    recorder.__class__ = _Recorder
    recorder.inputs = []
    for crop_image, crop_mask in crops:
        recorder.execute(crop_image, crop_mask, label=1)
    features = recorder.enabledFeatures["glcm"]
    plain, fast = _extractor(), install(_extractor())

    best = {"glcm_old": math.inf, "glcm_new": math.inf, "all_old": math.inf, "all_new": math.inf}
    identical = True
    for _ in range(rounds):
        old, old_values = _glcm_seconds(glcm.RadiomicsGLCM, recorder.inputs, features)
        new, new_values = _glcm_seconds(FastGLCM, recorder.inputs, features)
        identical &= all(_identical(a, b) for a, b in zip(old_values, new_values))
        best["glcm_old"], best["glcm_new"] = min(best["glcm_old"], old), min(best["glcm_new"], new)
        for key, extractor in (("all_old", plain), ("all_new", fast)):
            start = time.perf_counter()
            rows = [extractor.execute(crop_image, crop_mask, label=1) for crop_image, crop_mask in crops]
            best[key] = min(best[key], time.perf_counter() - start)
            if key == "all_old":
                old_rows = rows
        identical &= all(_identical(a, b) for a, b in zip(old_rows, rows))

    print(f"{len(crops)} lesions, {len(recorder.inputs)} GLCM inputs, best of {rounds} rounds; {load_average()}")
    print(f"GLCM only       : PyRadiomics {best['glcm_old']:.3f} s   fast_texture {best['glcm_new']:.3f} s   "
          f"ratio {best['glcm_old'] / best['glcm_new']:.2f}x")
    print(f"whole extraction: PyRadiomics {best['all_old']:.3f} s   fast_texture {best['all_new']:.3f} s   "
          f"ratio {best['all_old'] / best['all_new']:.2f}x")
    print("every value identical:", identical)


if __name__ == "__main__":
    main()
