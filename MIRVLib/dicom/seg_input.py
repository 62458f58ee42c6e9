"""Lesions from a DICOM SEG: one lesion per segment, its mask on the SEG's own voxel grid.

Each segment's frames are stacked into a regular volume along the slice normal (frames the SEG omits because
they are empty become zeros); that volume is the lesion's source grid, so :func:`MIRVLib.lesions.conform_mask`
cuts it out of the CT grid voxel for voxel when the SEG was made on the CT's frames (the usual case) and
resamples it with a note otherwise. The volume is built here from the frames' functional groups (plane
position and orientation, pixel measures), not with highdicom's ``Segmentation.get_volume``: highdicom 0.22,
the newest on Python 3.9 (Slicer 5.8), has none. highdicom still parses the SEG and its segment descriptions.
Binary and label-map SEGs are read as they are; a FRACTIONAL segment (probability or occupancy) is a lesion
where its value is at least 0.5 (:data:`FRACTIONAL_THRESHOLD`), the rule Slicer's QuantitativeReporting uses
when it turns a fractional SEG into a binary segment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from MIRVLib.dicom import DicomError, require
from MIRVLib.dicom.codes import LESION_CATEGORY, site_from_code
from MIRVLib.dicom.series import ORIENTATION_TOLERANCE, SPACING_TOLERANCE
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
    kind = str(seg.SegmentationType)
    frames = _frames(path, dataset)
    lesions = []
    for number in seg.get_segment_numbers():
        description = seg.get_segment_description(number)
        try:
            grid, voxels = segment_volume(dataset, frames, number, kind)
        except DicomError as error:
            raise DicomError(f"{path}: segment {number} ('{description.segment_label}') does not form a regular "
                             f"volume: {error}") from error
        box = bounding_box_mask(voxels, grid)
        source = SourceGrid(tuple(reversed(voxels.shape)), grid.GetSpacing(), grid.GetOrigin(), grid.GetDirection(),
                            tuple(mask_offset(box, grid)))
        lesions.append(Lesion(str(description.segment_label), box, _site(description), segment_id=str(number),
                              source=source))
    return lesions


def _frames(path: Path, dataset: Any) -> np.ndarray:
    """The SEG's frames as (frame, row, column) stored values (pydicom unpacks 1-bit BINARY frames)."""
    try:
        pixels = np.asarray(dataset.pixel_array)
    except (AttributeError, ValueError, NotImplementedError, RuntimeError) as error:
        raise DicomError(f"{path}: the SEG's pixel data cannot be read: {error}") from error
    return pixels.reshape(-1, int(dataset.Rows), int(dataset.Columns))


def _group(dataset: Any, frame: int, name: str) -> Any:
    """The first item of functional group ``name`` of one frame: per-frame if there, else shared (PS3.3 C.7.6.16)."""
    per_frame = dataset.get("PerFrameFunctionalGroupsSequence") or []
    shared = dataset.get("SharedFunctionalGroupsSequence") or []
    for groups in ([per_frame[frame]] if frame < len(per_frame) else []) + list(shared[:1]):
        items = groups.get(name)
        if items:
            return items[0]
    raise DicomError(f"frame {frame + 1} has no {name}")


def segment_volume(dataset: Any, frames: np.ndarray, number: int, kind: str) -> tuple[sitk.Image, np.ndarray]:
    """A one-voxel image with the geometry of the segment's volume, and its (z, y, x) voxels; z runs along
    row × column direction (the CT's slice normal), slices at whole multiples of the slice spacing."""
    if kind == "LABELMAP":  # pixel value = segment number; every frame holds every segment
        chosen = list(range(len(frames)))
        planes = [frames[i] == number for i in chosen]
    else:
        chosen = [i for i in range(len(frames))
                  if int(_group(dataset, i, "SegmentIdentificationSequence").ReferencedSegmentNumber) == number]
        scale = float(dataset.get("MaximumFractionalValue", 1) or 1) if kind == "FRACTIONAL" else 1.0
        planes = [frames[i] / scale >= FRACTIONAL_THRESHOLD if kind == "FRACTIONAL" else frames[i] != 0 for i in chosen]
    if not chosen:
        raise DicomError("it has no frames (an empty segment)")
    orientations = np.array([[float(v) for v in _group(dataset, i, "PlaneOrientationSequence").ImageOrientationPatient]
                             for i in chosen])
    if not np.allclose(orientations, orientations[0], atol=ORIENTATION_TOLERANCE):
        raise DicomError("its frames have different orientations")
    rows, columns = orientations[0, :3], orientations[0, 3:]
    normal = np.cross(rows, columns)
    positions = np.array([[float(v) for v in _group(dataset, i, "PlanePositionSequence").ImagePositionPatient]
                          for i in chosen])
    measures = _group(dataset, chosen[0], "PixelMeasuresSequence")
    row_spacing, column_spacing = (float(v) for v in measures.PixelSpacing)
    in_plane = positions @ np.column_stack([rows, columns])
    if not np.allclose(in_plane, in_plane[0], atol=SPACING_TOLERANCE * min(row_spacing, column_spacing)):
        raise DicomError("its frames are shifted in-plane against each other")
    heights = positions @ normal
    step = _slice_step(heights, measures)
    index = (heights - heights.min()) / step
    if np.abs(index - np.round(index)).max() > SPACING_TOLERANCE or len(set(np.round(index).astype(int))) < len(index):
        raise DicomError(f"its frames are not at distinct whole multiples of {step:.4g} mm along the slice normal")
    index = np.round(index).astype(int)
    voxels = np.zeros((int(index.max()) + 1, *frames.shape[1:]), dtype=bool)
    for k, plane in zip(index, planes):
        voxels[k] = plane
    grid = sitk.Image([1, 1, 1], sitk.sitkUInt8)
    grid.SetSpacing((column_spacing, row_spacing, step))
    grid.SetOrigin(positions[int(np.argmin(heights))].tolist())
    grid.SetDirection(np.column_stack([rows, columns, normal]).flatten().tolist())
    return grid, voxels


def _slice_step(heights: np.ndarray, measures: Any) -> float:
    """The slice spacing: SpacingBetweenSlices when the frames sit on it, else the smallest step between frames
    (frames of empty slices are omitted), else SliceThickness for a single frame."""
    declared = float(measures.get("SpacingBetweenSlices", 0) or 0)
    steps = np.diff(np.unique(np.round(heights, 6)))
    if declared > 0:
        index = (heights - heights.min()) / declared
        if np.abs(index - np.round(index)).max() <= SPACING_TOLERANCE:
            return declared
    if steps.size:
        return float(steps.min())
    return float(measures.get("SliceThickness", 1) or 1)


def _site(description: Any) -> str | None:
    regions = description.anatomic_regions
    if regions:
        code = regions[0]
        return site_from_code(str(code.value), str(code.scheme_designator), str(code.meaning))
    category, kind = description.segmented_property_category, description.segmented_property_type
    if str(category.value) != LESION_CATEGORY[0]:  # e.g. an organ segment: its property type is the place
        return site_from_code(str(kind.value), str(kind.scheme_designator), str(kind.meaning))
    return None
