#!/usr/bin/env python
"""Draw the MIRV Cohort module icon and the Sample Data thumbnail of the bundled sample patient (run to regenerate).

``MIRVCohort.png``: 128×128, the style of ``MIRV.png`` (dark rounded square, plasma colours) with two
Kaplan–Meier curves. ``MIRVSample.png``: the axial CT slice through the most lesions (then the most lesion voxels),
soft-tissue window, every lesion outlined in its segment colour (Sample Data shows thumbnails of about 260×280).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch

ICONS = Path(__file__).resolve().parent
sys.path.insert(0, str(ICONS.parent.parent))

from MIRVLib.lesions import full_mask, load_image, load_lesions  # noqa: E402

BACKGROUND = "#1f2544"


def cohort_icon(path: Path) -> None:
    figure = Figure(figsize=(1.28, 1.28), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    axes.axis("off")
    axes.add_patch(FancyBboxPatch((0.04, 0.04), 0.92, 0.92, boxstyle="round,pad=0,rounding_size=0.16",
                                  facecolor=BACKGROUND, edgecolor="none"))
    times = np.array([0.16, 0.28, 0.4, 0.52, 0.64, 0.76, 0.86])
    for survival, colour in (([0.78, 0.72, 0.66, 0.6, 0.56, 0.52, 0.5], 0.85), ([0.74, 0.58, 0.46, 0.36, 0.3, 0.24, 0.22], 0.35)):
        steps_x = np.repeat(np.r_[0.14, times], 2)[1:]
        steps_y = np.repeat(np.r_[0.82, survival], 2)[:-1]
        axes.plot(steps_x, steps_y, color=colormaps["plasma"](colour), linewidth=3.2, solid_capstyle="round")
    axes.plot([0.14, 0.14, 0.88], [0.84, 0.14, 0.14], color="#c9cde0", linewidth=2.0)
    figure.savefig(path, transparent=True)


def sample_thumbnail(path: Path) -> None:
    sample = ICONS.parent / "SampleData"
    image = load_image(sample / "baseline_CT.nrrd")
    lesions = load_lesions(sample / "baseline_lesions.seg.nrrd", image)
    masks = [(lesion, sitk.GetArrayFromImage(full_mask(lesion.mask, image)) > 0) for lesion in lesions]
    per_slice = np.array([mask.sum(axis=(1, 2)) for _, mask in masks])  # lesions × slices
    k = max(range(per_slice.shape[1]), key=lambda z: ((per_slice[:, z] > 0).sum(), per_slice[:, z].sum()))
    ct = sitk.GetArrayFromImage(image)[k].astype(float)
    spacing = image.GetSpacing()
    figure = Figure(figsize=(2.6, 2.8), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.axis("off")
    axes.set_facecolor("black")
    axes.imshow(np.clip((ct + 160) / 400, 0, 1), cmap="gray", aspect=spacing[1] / spacing[0])
    for lesion, mask in masks:
        if mask[k].any():
            axes.contour(mask[k].astype(float), levels=[0.5], colors=[lesion.color], linewidths=1.6)
    figure.savefig(path, facecolor="black")


if __name__ == "__main__":
    cohort_icon(ICONS / "MIRVCohort.png")
    sample_thumbnail(ICONS / "MIRVSample.png")
