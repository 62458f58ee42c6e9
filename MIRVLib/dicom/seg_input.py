"""Lesions from a DICOM SEG: one lesion per segment, its mask on the SEG's own voxel grid.

highdicom assembles each segment's frames into a regular volume (frames the SEG omits because they are empty
become zeros); that volume is the lesion's source grid, so :func:`MIRVLib.lesions.conform_mask` cuts it out of
the CT grid voxel for voxel when the SEG was made on the CT's frames (the usual case) and resamples it with a
note otherwise. Binary and label-map SEGs are read as they are; a FRACTIONAL segment (probability or
occupancy) is a lesion where its value is at least 0.5 (:data:`FRACTIONAL_THRESHOLD`), the rule Slicer's
QuantitativeReporting uses when it turns a fractional SEG into a binary segment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from MIRVLib.dicom import DicomError, require
from MIRVLib.dicom.codes import LESION_CATEGORY, site_from_code
from MIRVLib.lesions import Lesion, SourceGrid, bounding_box_mask, mask_offset

FRACTIONAL_THRESHOLD = 0.5


def lesions_from_seg(path: Path, dataset: Any) -> list[Lesion]:
    """One :class:`~MIRVLib.lesions.Lesion` per segment: name = SegmentLabel, site from the anatomic region
    (or from the segmented property type when that names an anatomical structure), segment_id = segment number."""
    hd = require("highdicom")
    try:
        seg = hd.seg.Segmentation.from_dataset(dataset, copy=False)
    except (AttributeError, ValueError, KeyError) as error:
        raise DicomError(f"{path}: not a DICOM SEG highdicom can read: {error}") from error
    fractional = str(seg.SegmentationType) == "FRACTIONAL"
    lesions = []
    for number in seg.get_segment_numbers():
        description = seg.get_segment_description(number)
        try:
            volume = seg.get_volume(segment_numbers=[number], combine_segments=False, rescale_fractional=True)
        except (RuntimeError, ValueError) as error:
            raise DicomError(f"{path}: segment {number} ('{description.segment_label}') does not form a regular "
                             f"volume: {error}") from error
        voxels = np.asarray(volume.array)[..., 0] if volume.array.ndim == 4 else np.asarray(volume.array)
        voxels = voxels >= FRACTIONAL_THRESHOLD if fractional else voxels != 0
        grid, voxels = _grid(volume, voxels)
        box = bounding_box_mask(voxels, grid)
        source = SourceGrid(tuple(reversed(voxels.shape)), grid.GetSpacing(), grid.GetOrigin(), grid.GetDirection(),
                            tuple(mask_offset(box, grid)))
        lesions.append(Lesion(str(description.segment_label), box, _site(description), segment_id=str(number),
                              source=source))
    return lesions


def _grid(volume: Any, voxels: np.ndarray) -> tuple[sitk.Image, np.ndarray]:
    """A one-voxel image with the geometry of highdicom's (slice, row, column) volume, and the voxels in
    SimpleITK's (z, y, x) order with z along row × column (the CT's slice normal), flipping slices if needed."""
    affine = np.asarray(volume.affine, dtype=float)
    slice_step, row_step, column_step = affine[:3, 0], affine[:3, 1], affine[:3, 2]
    origin = affine[:3, 3]
    normal = np.cross(column_step, row_step)
    if float(np.dot(slice_step, normal)) < 0:  # slices stored top-down: put the first slice at the low end
        origin = origin + slice_step * (voxels.shape[0] - 1)
        slice_step = -slice_step
        voxels = voxels[::-1]
    steps = np.column_stack([column_step, row_step, slice_step])
    spacing = np.linalg.norm(steps, axis=0)
    grid = sitk.Image([1, 1, 1], sitk.sitkUInt8)
    grid.SetSpacing(spacing.tolist())
    grid.SetOrigin(origin.tolist())
    grid.SetDirection((steps / spacing).flatten().tolist())
    return grid, voxels


def _site(description: Any) -> str | None:
    regions = description.anatomic_regions
    if regions:
        code = regions[0]
        return site_from_code(str(code.value), str(code.scheme_designator), str(code.meaning))
    category, kind = description.segmented_property_category, description.segmented_property_type
    if str(category.value) != LESION_CATEGORY[0]:  # e.g. an organ segment: its property type is the place
        return site_from_code(str(kind.value), str(kind.scheme_designator), str(kind.meaning))
    return None
