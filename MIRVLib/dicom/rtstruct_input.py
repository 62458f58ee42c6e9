"""Lesions from an RTSTRUCT: one lesion per ROI, its contours rasterised onto the image grid.

The rule (PyRadiomics' and plastimatch's, in effect): each CLOSED_PLANAR contour belongs to the image slice
its points lie on (their mean slice index, rounded; every point within half a slice of it, else the contour is
refused as not axial to the image). A voxel is in the ROI when its centre is inside an odd number of the
ROI's contours on that slice (even-odd rule: a contour inside another is a hole, as RTSTRUCT exporters
write holes). Point-in-polygon is matplotlib's ``Path.contains_points``; a voxel centre lying exactly on
a contour edge may fall either way, so contours traced through voxel centres can differ by one voxel
layer; contours between voxel centres (marching squares, as :mod:`MIRVLib.dicom.sample_study` writes) give
the voxels back exactly. POINT and OPEN_PLANAR contours enclose nothing and are skipped with a note.

An ROI without a closed contour becomes a lesion with ``error`` set naming the ROI: one bad ROI does not
stop the patient's other lesions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from MIRVLib.dicom import DicomError
from MIRVLib.lesions import Lesion, SourceGrid, bounding_box_mask, mask_offset

# Contour points further than this (in slices) from their slice's centre plane are off the image's slices.
OFF_SLICE_TOLERANCE = 0.5


def lesions_from_rtstruct(path: Path, dataset: Any, grid: SourceGrid) -> list[Lesion]:
    """One lesion per StructureSetROI, rasterised on ``grid`` (the image's voxel grid)."""
    names = {int(roi.ROINumber): str(roi.get("ROIName", roi.ROINumber)) for roi in dataset.get("StructureSetROISequence", [])}
    contours = {int(item.ReferencedROINumber): item for item in dataset.get("ROIContourSequence", [])}
    if not names:
        raise DicomError(f"{path}: the RTSTRUCT has no ROI (empty StructureSetROISequence)")
    reference = sitk.Image([1, 1, 1], sitk.sitkUInt8)
    reference.SetSpacing(grid.spacing)
    reference.SetOrigin(grid.origin)
    reference.SetDirection(grid.direction)
    lesions = []
    for number, name in names.items():
        item = contours.get(number)
        color = tuple(int(c) / 255 for c in item.ROIDisplayColor) if item is not None and "ROIDisplayColor" in item else None
        lesion = Lesion(name, bounding_box_mask(np.zeros((1, 1, 1), np.uint8), reference), color=color, segment_id=str(number))
        try:
            voxels, notes = rasterise(item.get("ContourSequence", []) if item is not None else [], grid, name)
        except DicomError as error:
            lesion.error = f"{path}: {error}"
            lesions.append(lesion)
            continue
        lesion.mask = bounding_box_mask(voxels, reference)
        lesion.source = SourceGrid(grid.size, grid.spacing, grid.origin, grid.direction,
                                   tuple(mask_offset(lesion.mask, reference)))
        lesion.notes.extend(f"{path}: {note}" for note in notes)
        lesions.append(lesion)
    return lesions


def rasterise(contours: Any, grid: SourceGrid, name: str) -> tuple[np.ndarray, list[str]]:
    """The (z, y, x) voxels of ``grid`` inside the ROI's closed planar contours (even-odd rule per slice)."""
    from matplotlib.path import Path as Polygon

    to_index = np.linalg.inv(np.array(grid.direction).reshape(3, 3) * np.array(grid.spacing))
    origin = np.array(grid.origin)
    size_x, size_y, size_z = grid.size
    voxels = np.zeros((size_z, size_y, size_x), dtype=bool)
    notes, closed = [], 0
    for contour in contours:
        kind = str(contour.get("ContourGeometricType", "CLOSED_PLANAR"))
        if kind != "CLOSED_PLANAR":
            notes.append(f"ROI '{name}': a {kind} contour encloses no voxels; skipped")
            continue
        points = np.array([float(v) for v in contour.ContourData]).reshape(-1, 3)
        index = (points - origin) @ to_index.T  # continuous (i, j, k)
        k = int(np.round(index[:, 2].mean()))
        if np.abs(index[:, 2] - k).max() > OFF_SLICE_TOLERANCE or len(points) < 3:
            raise DicomError(f"ROI '{name}': a contour is not on one image slice (slice index "
                             f"{index[:, 2].min():.2f}..{index[:, 2].max():.2f}); is it drawn on this image?")
        if not 0 <= k < size_z:
            raise DicomError(f"ROI '{name}': a contour lies outside the image (slice {k}, image has {size_z} slices)")
        closed += 1
        low = np.maximum(np.floor(index[:, :2].min(axis=0)).astype(int), 0)
        high = np.minimum(np.ceil(index[:, :2].max(axis=0)).astype(int), [size_x - 1, size_y - 1])
        if np.any(high < low):
            continue  # entirely beside the image in-plane
        columns, rows = np.meshgrid(np.arange(low[0], high[0] + 1), np.arange(low[1], high[1] + 1))
        inside = Polygon(index[:, :2], closed=False).contains_points(np.column_stack([columns.ravel(), rows.ravel()]))
        voxels[k, low[1]:high[1] + 1, low[0]:high[0] + 1] ^= inside.reshape(columns.shape)
    if not closed:
        raise DicomError(f"ROI '{name}' has no closed contour (empty ROI); it cannot be rasterised")
    return voxels, notes
