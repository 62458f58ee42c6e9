"""Segmentation-robustness filter (Henry et al. 2022; docs/methods.md, Segmentation robustness).

A feature is kept only if it barely changes when the contour does: every lesion mask is eroded and
dilated by 1 mm, features are extracted again, and Lin's concordance correlation coefficient (CCC)
between original and perturbed values across all lesions must reach the threshold (0.8) for both
perturbations. The intraclass correlation ICC(2,1) or ICC(3,1) can replace the CCC (``kind``); its default
threshold, 0.75, is the lower bound of "good" reliability (Koo & Li 2016). The list restricts the feature
reduction (``mirv cohort --restrict-to``).

Erosion/dilation use exact physical distances (Euclidean distance transform with the voxel spacing), so
1 mm means 1 mm on anisotropic CT: with 5 mm slices only the in-plane contour moves.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import SimpleITK as sitk
from scipy import ndimage

from MIRVLib.extraction import (
    DEFAULT_ENGINE,
    LESION_ID,
    METADATA_COLUMNS,
    PATIENT_ID,
    STATUS,
    STATUS_OK,
    Preset,
    extract_patient,
    prepare_image,
)
from MIRVLib.lesions import Lesion, SourceGrid, array_bounds, conform_lesions, conform_mask, mask_offset
from MIRVLib.options import AGREEMENTS, DEFAULT_AGREEMENT_THRESHOLDS
from MIRVLib.stats.icc import icc_pair

PERTURBATIONS = ("erode", "dilate")
DEFAULT_THRESHOLD = DEFAULT_AGREEMENT_THRESHOLDS["ccc"]


def perturb_mask(mask: sitk.Image, radius_mm: float, mode: str) -> sitk.Image:
    """The mask eroded (voxels deeper than ``radius_mm`` inside) or dilated (within ``radius_mm`` outside)."""
    if mode not in PERTURBATIONS:
        raise ValueError(f"perturbation must be one of {PERTURBATIONS}, got {mode!r}")
    array = sitk.GetArrayViewFromImage(mask) != 0
    spacing = np.array(list(reversed(mask.GetSpacing())))  # array (z, y, x) order
    bounds = array_bounds(array)
    result = np.zeros(array.shape, np.uint8)
    if bounds is not None:
        reach = np.ceil(radius_mm / spacing).astype(int) + 1
        low = np.maximum(np.array(bounds[0]) - reach, 0)
        high = np.minimum(np.array(bounds[1]) + reach + 1, array.shape)
        region = tuple(slice(lo, hi) for lo, hi in zip(low, high))
        # pad so that the image border counts as outside for erosion, as a missing neighbour would
        crop = np.pad(array[region], 1, constant_values=False)
        if mode == "erode":
            changed = ndimage.distance_transform_edt(crop, sampling=spacing) > radius_mm
        else:
            changed = ndimage.distance_transform_edt(~crop, sampling=spacing) <= radius_mm
        result[region] = changed[(slice(1, -1),) * changed.ndim]
    perturbed = sitk.GetImageFromArray(result)
    perturbed.CopyInformation(mask)
    return perturbed


def perturbed_lesions(lesions: Sequence[Lesion], radius_mm: float, mode: str, image: sitk.Image) -> list[Lesion]:
    """Each conformed lesion eroded or dilated on the image grid (a dilation may grow past the lesion's box).

    The box is widened by the perturbation's reach (within the image), not pasted into a whole-image mask:
    :func:`perturb_mask` looks no further than that, so the result is the same at a box's cost.
    """
    reach = np.ceil(radius_mm / np.array(image.GetSpacing())).astype(int) + 1  # as perturb_mask, (x, y, z)

    def perturbed(lesion: Lesion) -> sitk.Image:
        if lesion.error:  # not on the image grid; its row fails anyway
            return lesion.mask
        offset = np.array(mask_offset(lesion.mask, image))
        low = np.maximum(offset - reach, 0)
        high = np.minimum(offset + np.array(lesion.mask.GetSize()) + reach, image.GetSize())
        widened = SourceGrid(tuple((high - low).tolist()), image.GetSpacing(),
                             image.TransformIndexToPhysicalPoint(low.tolist()), image.GetDirection(),
                             tuple((offset - low).tolist()))
        return conform_mask(perturb_mask(widened.whole(lesion.mask), radius_mm, mode), image, lesion.name)[0]

    return [Lesion(les.name, perturbed(les), les.site, les.color, les.segment_id, les.error) for les in lesions]


def lins_ccc(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> float:
    """Lin's concordance correlation coefficient: 2·cov / (var_x + var_y + (mean_x − mean_y)²).

    Population (1/n) moments, as in Lin (1989).
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    mx, my = x.mean(), y.mean()
    denominator = x.var() + y.var() + (mx - my) ** 2
    if denominator == 0:
        return 1.0 if np.array_equal(x, y) else float("nan")
    return float(2.0 * np.mean((x - mx) * (y - my)) / denominator)


def agreement(x: np.ndarray, y: np.ndarray, kind: str = "ccc") -> float:
    """Agreement of two measurements of the same lesions: Lin's CCC, ICC(2,1) or ICC(3,1)."""
    if kind == "ccc":
        return lins_ccc(x, y)
    if kind in AGREEMENTS:
        return icc_pair(x, y, kind)
    raise ValueError(f"agreement must be one of {AGREEMENTS}, got {kind!r}")


def concordance_table(original: pd.DataFrame, perturbed: Mapping[str, pd.DataFrame], kind: str = "ccc") -> pd.DataFrame:
    """Agreement per feature (rows) and perturbation (columns ``CCC_erode``, ... or ``ICC2_erode``, ... by
    ``kind``), plus ``CCC_min`` (``ICC2_min``, ...) and ``Lesions``.

    Lesions are matched by (PatientID, LesionID); a lesion enters a perturbation's CCC only if it was
    extracted (Status ok) both originally and perturbed (erosion can remove a tiny lesion entirely).
    """
    key = [PATIENT_ID, LESION_ID]
    base = original[original[STATUS] == STATUS_OK].set_index(key)
    features = [c for c in base.columns if c not in METADATA_COLUMNS]
    table = pd.DataFrame(index=pd.Index(features, name="Feature"))
    counts = []
    for name, frame in perturbed.items():
        other = frame[frame[STATUS] == STATUS_OK].set_index(key)
        common = base.index.intersection(other.index)
        counts.append(len(common))
        a = base.loc[common, features].to_numpy(dtype=float)
        b = other.loc[common, features].to_numpy(dtype=float)
        enough = len(common) >= 2
        table[f"{kind.upper()}_{name}"] = [agreement(a[:, i], b[:, i], kind) if enough else np.nan
                                           for i in range(len(features))]
    table[f"{kind.upper()}_min"] = table.min(axis=1, skipna=False)
    table["Lesions"] = min(counts) if counts else 0
    return table


def robust_features(table: pd.DataFrame, threshold: float = DEFAULT_THRESHOLD, kind: str = "ccc") -> list[str]:
    """Features whose agreement (``kind``) reaches the threshold under every perturbation (NaN never passes)."""
    return [str(f) for f in table.index[table[f"{kind.upper()}_min"].to_numpy() >= threshold]]


@dataclass
class RobustnessResult:
    table: pd.DataFrame
    features: list[str]
    extracted: dict[str, pd.DataFrame] = field(default_factory=dict)  # "original", "erode", "dilate"
    provenance: dict[str, Any] = field(default_factory=dict)


Case = tuple[str, "sitk.Image | str | os.PathLike[str]", Sequence[Lesion]]


def run_robustness(
    cases: Sequence[Case],
    preset: str | os.PathLike[str] | Preset = "MIRV-CT",
    radius_mm: float = 1.0,
    threshold: float = DEFAULT_THRESHOLD,
    jobs: int = 1,
    progress: Callable[[int, int, str], None] | None = None,
    engine: str = DEFAULT_ENGINE,
    kind: str = "ccc",
) -> RobustnessResult:
    """Extract original, eroded and dilated lesions of every case; agreement (``kind``) per feature; the robust list."""
    if kind not in AGREEMENTS:
        raise ValueError(f"agreement must be one of {AGREEMENTS}, got {kind!r}")
    frames: dict[str, list[pd.DataFrame]] = {"original": [], **{m: [] for m in PERTURBATIONS}}
    provenance: dict[str, Any] = {"radiusMm": radius_mm, "threshold": threshold, "agreement": kind, "cases": []}
    total, done = len(cases) * 3, 0
    for patient_id, image, lesions in cases:
        prepared = prepare_image(image, preset, patient_id, engine)  # read and hash once for the three variants
        conform_lesions(lesions, prepared.image)  # masks onto the image grid before they are perturbed
        variants = {"original": list(lesions),
                    **{m: perturbed_lesions(lesions, radius_mm, m, prepared.image) for m in PERTURBATIONS}}
        for name, variant in variants.items():
            result = extract_patient(prepared, variant, jobs=jobs)
            frames[name].append(result.features)
            if name == "original":
                provenance["cases"].append(result.provenance)
            done += 1
            if progress:
                progress(done, total, f"{patient_id} {name}")
    extracted = {name: pd.concat(parts, ignore_index=True) for name, parts in frames.items()}
    table = concordance_table(extracted["original"], {m: extracted[m] for m in PERTURBATIONS}, kind)
    return RobustnessResult(table, robust_features(table, threshold, kind), extracted, provenance)
