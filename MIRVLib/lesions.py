"""A patient's image and lesions, read from the formats users have: one binary mask per lesion.

Inputs: an image file (NRRD, NIfTI, MHA, ...) or a DICOM series folder; lesions from a Slicer ``.seg.nrrd``
(names, colours, overlapping layers, terminology → site), a multi-label labelmap (one label per lesion,
optional label→name CSV) or a folder of binary masks. Every lesion mask ends up on the image grid
(:func:`conform_mask`), because PyRadiomics anchors its resampling grid to the mask's index grid, and as
only its bounding box (:func:`full_mask` gives the whole-image mask back where one is needed).
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from MIRVLib.dicom import is_dicom_file

log = logging.getLogger(__name__)

MASK_SUFFIXES = (".nrrd", ".nhdr", ".nii", ".nii.gz", ".mha", ".mhd")
# Relative tolerance (of the voxel size) below which two grids count as the same grid.
GRID_TOLERANCE = 1e-4
# How far (in voxels) a lesion's voxels may reach outside the image before the geometry is rejected;
# the same tolerance PyRadiomics uses for ``correctMask``.
EXTENT_TOLERANCE = 1e-3
# More distinct labels than this in one labelmap is not a lesion segmentation but an image given as one (a CT
# read as a labelmap has a "lesion" per grey value); no patient in the MIRV cohorts has more than ~60 lesions.
MAX_LABELS = 200


class MaskGeometryError(ValueError):
    """A mask cannot be placed on the image grid (different orientation or outside the image)."""


@dataclass(frozen=True)
class SourceGrid:
    """The voxel grid a lesion's box was cut from (a labelmap's, a segmentation file's) and the box's place in it.

    Readers keep only each lesion's bounding box. When the source grid is not the image grid, the box is put
    back on its source grid before nearest-neighbour resampling, so the result is that of the whole source
    mask: ties at exact half-voxel positions depend on the grid's origin, which a box's own origin (source
    origin + index × spacing, rounded) only approximates.
    """

    size: tuple[int, ...]
    spacing: tuple[float, ...]
    origin: tuple[float, ...]
    direction: tuple[float, ...]
    index: tuple[int, ...]  # (x, y, z) source index of the box's first voxel

    @classmethod
    def of(cls, image: sitk.Image, index: Sequence[int] | None = None) -> SourceGrid:
        index = tuple(int(i) for i in index) if index is not None else (0,) * image.GetDimension()
        return cls(image.GetSize(), image.GetSpacing(), image.GetOrigin(), image.GetDirection(), index)

    def whole(self, box: sitk.Image) -> sitk.Image:
        """``box`` pasted into an empty UInt8 image with this grid (the source mask it was cut from)."""
        whole = sitk.Image(self.size, sitk.sitkUInt8)
        whole.SetSpacing(self.spacing)
        whole.SetOrigin(self.origin)
        whole.SetDirection(self.direction)
        whole[tuple(slice(i, i + n) for i, n in zip(self.index, box.GetSize()))] = sitk.NotEqual(box, 0)  # UInt8 0/1
        return whole


@dataclass
class Lesion:
    """One lesion: a binary (UInt8, 0/1) mask; once through :func:`conform_mask`, the lesion's bounding box
    cut out of the image grid (:func:`full_mask` pastes it back into a whole-image mask where one is needed).

    Keeping only the box matters on thin-slice CT: a 512×512×400 mask is 100 MB per lesion, its box a few
    hundred kB. Readers already cut boxes; ``source`` then says which grid they came from (None once the
    mask is conformed, or when ``mask`` is a whole mask). ``error`` marks a lesion that was read but cannot be
    used (its row gets ``Status = "error: ..."``). Pickling stores only the mask's bounding box, so sending
    lesions to worker processes is cheap.
    """

    name: str
    mask: sitk.Image
    site: str | None = None
    color: tuple[float, ...] | None = None
    segment_id: str | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    source: SourceGrid | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["mask"] = _pack_mask(self.mask)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        state["mask"] = _unpack_mask(state["mask"])
        self.__dict__.update(state)

    @property
    def voxel_count(self) -> int:
        return int(np.count_nonzero(sitk.GetArrayViewFromImage(self.mask)))


def array_bounds(array: np.ndarray) -> tuple[list[int], list[int]] | None:
    """Inclusive lower/upper index per array axis of the nonzero voxels (None if empty).

    Axis projections instead of ``np.nonzero``: the full-size CT mask is scanned once, along the first
    axis (8 voxels per word), and only the slab of slices holding the lesion along the other axes.
    """
    if array.ndim == 0 or array.size == 0:
        return None
    if not array.flags.c_contiguous and array.T.flags.c_contiguous:  # e.g. an (i, j, k) view of (k, j, i) voxels
        bounds = array_bounds(array.T)  # scan in memory order: a reshape would copy the whole volume
        return (bounds[0][::-1], bounds[1][::-1]) if bounds else None
    rows = np.flatnonzero(_rows_with_nonzero(array))
    if not rows.size:
        return None
    slab = array[rows[0]:rows[-1] + 1]
    low, high = [int(rows[0])], [int(rows[-1])]
    for axis in range(1, array.ndim):
        others = tuple(a for a in range(array.ndim) if a != axis)
        hits = np.flatnonzero(slab.any(axis=others))
        low.append(int(hits[0]))
        high.append(int(hits[-1]))
    return low, high


def _rows_with_nonzero(array: np.ndarray) -> np.ndarray:
    """Per index of the first axis: does that slice hold a nonzero voxel?"""
    flat = array.reshape(array.shape[0], -1)
    if flat.dtype.itemsize == 1 and flat.flags.c_contiguous and flat.shape[1] % 8 == 0:
        flat = flat.view(np.uint64)  # a byte mask read as 64-bit words: 8× fewer elements to test
    return flat.any(axis=1)


def image_geometry(image: sitk.Image) -> dict[str, Any]:
    """Size, spacing, origin and direction as JSON-ready lists."""
    return {
        "size": list(image.GetSize()), "spacing": list(image.GetSpacing()),
        "origin": list(image.GetOrigin()), "direction": list(image.GetDirection()),
    }


def _pack_mask(mask: sitk.Image) -> dict[str, Any]:
    array = sitk.GetArrayViewFromImage(mask)
    bounds = array_bounds(array)
    low, high = bounds if bounds else ([0] * array.ndim, [-1] * array.ndim)
    crop = np.array(array[tuple(slice(lo, hi + 1) for lo, hi in zip(low, high))])
    return {"geometry": image_geometry(mask), "low": low, "crop": crop}


def _unpack_mask(packed: dict[str, Any]) -> sitk.Image:
    geometry = packed["geometry"]
    array = np.zeros(tuple(reversed(geometry["size"])), dtype=packed["crop"].dtype)
    region = tuple(slice(lo, lo + n) for lo, n in zip(packed["low"], packed["crop"].shape))
    array[region] = packed["crop"]
    mask = sitk.GetImageFromArray(array)
    mask.SetSpacing(geometry["spacing"])
    mask.SetOrigin(geometry["origin"])
    mask.SetDirection(geometry["direction"])
    return mask


def load_image(path: str | os.PathLike[str]) -> sitk.Image:
    """An image file, or the DICOM series in a folder.

    With the ``mirv[dicom]`` extra, a folder is read by :func:`MIRVLib.dicom.series.read_series` (one series,
    checked slice spacing, clear errors); without it by ITK's GDCM reader (the largest series).
    """
    path = Path(path)
    if path.is_dir():
        from MIRVLib.dicom.series import pydicom_available, read_series

        if pydicom_available():
            return read_series(path).image
        reader = sitk.ImageSeriesReader()
        series = reader.GetGDCMSeriesIDs(str(path))
        if not series:
            raise FileNotFoundError(f"no DICOM series found in folder {path}")
        files = max((reader.GetGDCMSeriesFileNames(str(path), sid) for sid in series), key=len)
        if len(series) > 1:
            log.warning("%s holds %d DICOM series; using the largest (%d files)", path, len(series), len(files))
        reader.SetFileNames(files)
        return reader.Execute()
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as error:
        raise ValueError(f"cannot read image {path}: {str(error).strip().splitlines()[-1]}") from error
    if image.GetDimension() > 3:
        raise ValueError(f"{path}: a {image.GetDimension()}-D image (size {list(image.GetSize())}); MIRV reads "
                         "3-D images: save one time point or channel as its own file")
    return image


def _same_grid(grid: SourceGrid, reference: sitk.Image) -> bool:
    spacing = np.array(grid.spacing)
    return (
        grid.size == reference.GetSize()
        and np.allclose(grid.spacing, reference.GetSpacing(), rtol=GRID_TOLERANCE, atol=0)
        and np.allclose(grid.origin, reference.GetOrigin(), rtol=0, atol=GRID_TOLERANCE * spacing.min())
        and np.allclose(grid.direction, reference.GetDirection(), atol=GRID_TOLERANCE)
    )


def _grid_offset(grid: SourceGrid, reference: sitk.Image) -> np.ndarray:
    """Continuous reference index (x, y, z) of the grid's first voxel."""
    return np.array(reference.TransformPhysicalPointToContinuousIndex(grid.origin))


def _is_sub_grid(grid: SourceGrid, reference: sitk.Image) -> bool:
    offset = _grid_offset(grid, reference)
    return (
        np.allclose(grid.spacing, reference.GetSpacing(), rtol=GRID_TOLERANCE, atol=0)
        and np.allclose(grid.direction, reference.GetDirection(), atol=GRID_TOLERANCE)
        and np.allclose(offset, np.round(offset), atol=GRID_TOLERANCE * 10)
    )


def mask_offset(mask: sitk.Image, reference: sitk.Image) -> list[int]:
    """Reference index (x, y, z) of the first voxel of a mask that lies on the reference grid (a conformed mask)."""
    return [int(v) for v in np.round(_grid_offset(SourceGrid.of(mask), reference))]


def bounding_box_mask(voxels: np.ndarray, reference: sitk.Image, offset: Sequence[int] | None = None) -> sitk.Image:
    """The bounding box of a (z, y, x) array's nonzero voxels as a binary UInt8 mask on the reference grid.

    ``offset`` is the reference index (x, y, z) of ``voxels[0, 0, 0]`` (default: its first voxel). The origin
    comes from the reference grid itself, so every conformed mask of an image has exactly the geometry a
    crop of that image has. An empty array becomes one zero voxel at the reference's first voxel.
    Public because every lesion reader (these and :mod:`MIRVLib.dicom`'s SEG and RTSTRUCT readers) must build
    its masks this way: the features depend on the mask's grid, so the same voxels give the same features.
    """
    bounds = array_bounds(voxels)
    if bounds is None:
        box, index = np.zeros((1,) * voxels.ndim, np.uint8), [0] * voxels.ndim
    else:
        box = (voxels[tuple(slice(lo, hi + 1) for lo, hi in zip(*bounds))] != 0).astype(np.uint8)
        index = [int(o) + lo for o, lo in zip([0] * voxels.ndim if offset is None else offset, reversed(bounds[0]))]
    mask = sitk.GetImageFromArray(box)
    mask.SetSpacing(reference.GetSpacing())
    mask.SetDirection(reference.GetDirection())
    mask.SetOrigin(reference.TransformIndexToPhysicalPoint(index))
    return mask


def full_mask(mask: sitk.Image, reference: sitk.Image) -> sitk.Image:
    """A conformed mask pasted into an empty UInt8 image with the reference's size and geometry.

    For what needs the whole grid: PyRadiomics' nearest-neighbour mask resampling (whose ties at exact
    half-voxel positions depend on the input origin) and Slicer segments on the volume's geometry.
    """
    offset = mask_offset(mask, reference)
    inside = all(0 <= o and o + n <= size for o, n, size in zip(offset, mask.GetSize(), reference.GetSize()))
    if not (inside and _is_sub_grid(SourceGrid.of(mask), reference)):
        raise MaskGeometryError("the mask is not a part of the image grid; conform it first (conform_mask)")
    return SourceGrid.of(reference, offset).whole(mask)


def conform_mask(
    mask: sitk.Image, reference: sitk.Image, name: str = "", source: SourceGrid | None = None
) -> tuple[sitk.Image, str | None]:
    """The lesion's bounding box on the reference grid as a binary UInt8 mask, and a note when it had to be resampled.

    ``source``: the grid ``mask`` (a box) was cut from (:attr:`Lesion.source`); without it ``mask`` is its own
    grid. Same grid (within rounding), or part of it (a Slicer segmentation cropped to its segments' extent, or
    an already conformed mask): the box is cut out exactly. Same orientation, lesion inside the image, other
    voxel grid: the whole source mask is resampled onto the image grid with nearest neighbour (with a note).
    Anything else raises :class:`MaskGeometryError` naming the lesion.
    """
    label = f"lesion '{name}'" if name else "mask"
    if mask.GetNumberOfComponentsPerPixel() != 1:
        components = mask.GetNumberOfComponentsPerPixel()
        raise MaskGeometryError(f"{label}: expected a scalar mask, got {components} components")
    if mask.GetDimension() != reference.GetDimension():
        raise MaskGeometryError(f"{label}: mask is {mask.GetDimension()}D, image is {reference.GetDimension()}D")
    grid = source or SourceGrid.of(mask)
    voxels = sitk.GetArrayViewFromImage(mask)
    if _same_grid(grid, reference):
        return bounding_box_mask(voxels, reference, grid.index), None
    if not np.allclose(grid.direction, reference.GetDirection(), atol=1e-3):
        raise MaskGeometryError(
            f"{label}: mask orientation {np.round(grid.direction, 4).tolist()} differs from the image "
            f"orientation {np.round(reference.GetDirection(), 4).tolist()}"
        )
    bounds = array_bounds(voxels)
    if bounds is None:
        return bounding_box_mask(voxels, reference), None
    corners = []
    for index in ([lo - 0.5 for lo in reversed(bounds[0])], [hi + 0.5 for hi in reversed(bounds[1])]):
        point = mask.TransformContinuousIndexToPhysicalPoint(index)
        corners.append(reference.TransformPhysicalPointToContinuousIndex(point))
    low, high = np.min(corners, axis=0), np.max(corners, axis=0)
    limit = np.array(reference.GetSize()) - 0.5 + EXTENT_TOLERANCE
    if np.any(low < -0.5 - EXTENT_TOLERANCE) or np.any(high > limit):
        raise MaskGeometryError(
            f"{label}: the segmented voxels reach outside the image (continuous index {np.round(low, 2).tolist()}"
            f" .. {np.round(high, 2).tolist()}, image size {list(reference.GetSize())})"
        )
    if _is_sub_grid(grid, reference):
        offset = [int(o) + i for o, i in zip(np.round(_grid_offset(grid, reference)), grid.index)]
        return bounding_box_mask(voxels, reference, offset), None
    whole = mask if source is None else source.whole(mask)
    binary = sitk.Cast(sitk.NotEqual(whole, 0), sitk.sitkUInt8)
    resampled = sitk.Resample(binary, reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    note = (
        f"{label}: mask grid (size {list(grid.size)}, spacing {np.round(grid.spacing, 4).tolist()}) "
        "differs from the image grid; resampled with nearest neighbour"
    )
    return bounding_box_mask(sitk.GetArrayViewFromImage(resampled), reference), note


def _read_key_value_csv(path: str | os.PathLike[str], what: str) -> dict[str, str]:
    """First column → second column of a CSV with a header row (e.g. ``Label,LesionID`` or ``LesionID,Site``)."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = [row for row in csv.reader(handle) if any(cell.strip() for cell in row)]
    header = rows[0] if rows else []
    if len(header) < 2:
        raise ValueError(f"{path}: a {what} CSV needs two columns (key, value), found {header}")
    return {row[0].strip(): (row[1] if len(row) > 1 else "").strip() for row in rows[1:]}


def _site_from_segment(segment: dict[str, Any]) -> str | None:
    tags = segment.get("tags", {})
    for key in ("Site", "site", "MIRV.Site"):
        if tags.get(key):
            return tags[key]
    region = segment.get("terminology", {}).get("anatomicRegion")
    if region and len(region) > 2 and region[2]:
        return region[2]
    return None


def _grid_from_ijk(ijk_to_lps: np.ndarray) -> sitk.Image:
    """A one-voxel image carrying the geometry of a 4×4 IJK→LPS matrix (slicerio's layout): the grid's
    index↔physical arithmetic, done by ITK as for any image."""
    matrix = np.asarray(ijk_to_lps, dtype=float)
    spacing = np.linalg.norm(matrix[:3, :3], axis=0)
    grid = sitk.Image([1, 1, 1], sitk.sitkUInt8)
    grid.SetSpacing(spacing.tolist())
    grid.SetOrigin(matrix[:3, 3].tolist())
    grid.SetDirection((matrix[:3, :3] / spacing).flatten().tolist())
    return grid


def _lesions_from_seg_nrrd(path: Path) -> list[Lesion]:
    import slicerio

    segmentation = slicerio.read_segmentation(str(path))
    grid = _grid_from_ijk(segmentation["ijkToLPS"])
    lesions = []
    for segment in segmentation["segments"]:
        voxels = slicerio.segment_mask(segmentation, segment)  # (i, j, k)
        box = bounding_box_mask(np.transpose(voxels, (2, 1, 0)), grid)  # a (k, j, i) view: no copy of the volume
        source = SourceGrid(tuple(voxels.shape), grid.GetSpacing(), grid.GetOrigin(), grid.GetDirection(),
                            tuple(mask_offset(box, grid)))
        color = tuple(float(c) for c in segment["color"]) if "color" in segment else None
        name = segment.get("name", segment["id"])
        lesions.append(Lesion(name, box, _site_from_segment(segment), color, segment["id"], source=source))
    return lesions


def check_label_values(array: np.ndarray, path: str | os.PathLike[str]) -> np.ndarray:
    """The nonzero label values of a labelmap or mask file, after the rules of what a labelmap may be.

    Labels are integers, or floats that are exactly integers (many tools save masks as float); background is
    0. Anything else is refused with a ValueError naming the file, because reading it as labels would be
    wrong without a word: truncating 0.5 to 0 loses a lesion, and a CT given as a labelmap becomes one
    "lesion" per grey value. Hence also the plausibility rules: no negative labels (Hounsfield units are
    negative, labels are not) and at most :data:`MAX_LABELS` distinct labels.
    """
    values = np.unique(array)
    if values.dtype.kind == "f":
        bad = values[~np.isfinite(values) | (values != np.round(values))]
        if bad.size:
            shown = ", ".join(f"{v:g}" for v in bad[:5]) + (", ..." if bad.size > 5 else "")
            raise ValueError(f"{path}: not a labelmap: {bad.size} value(s) are not whole numbers ({shown}); "
                             "labels must be integers (or floats that are exactly integers)")
    if values.size and values[0] < 0:
        raise ValueError(f"{path}: not a labelmap: negative values (down to {values[0]:g}); is this the image "
                         "rather than the lesion segmentation?")
    labels = values[values != 0]
    if labels.size > MAX_LABELS:
        raise ValueError(f"{path}: not a labelmap: {labels.size} distinct labels (at most {MAX_LABELS} are "
                         "plausible lesions); is this the image rather than the lesion segmentation?")
    return labels


def _lesions_from_labelmap(path: Path, names: dict[str, str] | None) -> list[Lesion]:
    labelmap = load_image(path)
    if labelmap.GetNumberOfComponentsPerPixel() != 1:
        raise ValueError(f"{path}: a labelmap must be scalar; for a multi-layer segmentation use a .seg.nrrd")
    array = sitk.GetArrayViewFromImage(labelmap)
    labels = [int(v) for v in check_label_values(array, path)]
    if not labels:
        log.warning("%s: the labelmap contains no lesion (all voxels are 0)", path)
    lesions = []
    for value in labels:
        box = bounding_box_mask(array == value, labelmap)
        name = (names or {}).get(str(value), str(value))
        lesions.append(Lesion(name, box, segment_id=str(value), source=SourceGrid.of(labelmap, mask_offset(box, labelmap))))
    if names:
        unused = sorted(set(names) - {str(v) for v in labels})
        if unused:
            log.warning("%s: labels %s from the names CSV are not in the labelmap", path, unused)
    return lesions


def strip_suffix(name: str, suffixes: Sequence[str] = MASK_SUFFIXES) -> str:
    """``name`` without the longest of ``suffixes`` it ends with (case-insensitive)."""
    for suffix in sorted(suffixes, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def default_patient_id(image: str | os.PathLike[str]) -> str:
    """The PatientID of a patient given by its image file only: the file name without its image suffix."""
    return strip_suffix(Path(image).name, (".seg.nrrd", *MASK_SUFFIXES))


def _lesions_from_folder(path: Path, image: str | os.PathLike[str] | None, reference: sitk.Image | None) -> list[Lesion]:
    files = sorted(p for p in path.iterdir() if p.is_file() and p.name.lower().endswith(MASK_SUFFIXES))
    if not files and any(is_dicom_file(p) for p in path.rglob("*") if p.is_file()):
        from MIRVLib.dicom.lesion_input import find_lesion_object, read_dicom_lesions

        found = find_lesion_object(path)
        if found is None:
            raise FileNotFoundError(f"no DICOM SEG or RTSTRUCT in folder {path}")
        return read_dicom_lesions(found, image, reference)
    if not files:
        raise FileNotFoundError(f"no mask files ({', '.join(MASK_SUFFIXES)}) or DICOM SEG/RTSTRUCT in folder {path}")
    lesions = []
    for file in files:
        mask = load_image(file)
        if mask.GetNumberOfComponentsPerPixel() == 1:  # a vector mask is refused, naming the lesion, when conformed
            check_label_values(sitk.GetArrayViewFromImage(mask), file)
        lesions.append(Lesion(strip_suffix(file.name), mask, segment_id=file.name))
    return lesions


def split_connected_components(lesion: Lesion, min_voxels: int = 1) -> list[Lesion]:
    """One lesion per connected component (26-connected), largest first; smaller than ``min_voxels`` dropped."""
    binary = sitk.Cast(sitk.NotEqual(lesion.mask, 0), sitk.sitkUInt8)
    components = sitk.RelabelComponent(sitk.ConnectedComponent(binary, True), sortByObjectSize=True)
    array = sitk.GetArrayViewFromImage(components)
    counts = np.bincount(array.ravel())[1:]
    kept = [label for label, count in enumerate(counts, start=1) if count >= min_voxels]
    if len(kept) < len(counts):
        dropped = len(counts) - len(kept)
        log.info("lesion '%s': %d component(s) below %d voxels dropped", lesion.name, dropped, min_voxels)
    base = lesion.source or SourceGrid.of(lesion.mask)  # the grid the lesion's mask is indexed on
    parts = []
    for label in kept:
        box = bounding_box_mask(array == label, lesion.mask)
        index = tuple(b + i for b, i in zip(base.index, mask_offset(box, lesion.mask)))
        name = lesion.name if len(kept) == 1 else f"{lesion.name}-{label}"
        segment_id = lesion.segment_id if len(kept) == 1 else f"{lesion.segment_id or lesion.name}#{label}"
        parts.append(Lesion(name, box, lesion.site, lesion.color, segment_id, source=replace(base, index=index)))
    return parts


def load_lesions(
    path: str | os.PathLike[str],
    reference_image: sitk.Image | None = None,
    names_csv: str | os.PathLike[str] | None = None,
    sites_csv: str | os.PathLike[str] | None = None,
    split_components: bool = False,
    min_voxels: int = 10,
    image: str | os.PathLike[str] | None = None,
) -> list[Lesion]:
    """Lesions from a ``.seg.nrrd``, a labelmap file, a folder of binary masks, or a DICOM SEG or RTSTRUCT
    (file, or a folder holding one: :mod:`MIRVLib.dicom.lesion_input`).

    ``names_csv`` maps label values to lesion names (labelmaps); ``sites_csv`` maps lesion names to sites
    and overrides sites from segment terminology. With ``reference_image`` every mask is put on the image
    grid; a mask that cannot be becomes a lesion with ``error`` set instead of stopping the patient.
    ``image`` (the image's path) lets a DICOM SEG/RTSTRUCT be checked against its series and an RTSTRUCT be
    rasterised on its grid before the image itself is read.
    """
    path = Path(path)
    names = _read_key_value_csv(names_csv, "label→name") if names_csv else None
    if path.is_dir():
        lesions = _lesions_from_folder(path, image, reference_image)
    elif not path.is_file():
        raise FileNotFoundError(f"lesion segmentation not found: {path}")
    elif path.name.lower().endswith(".seg.nrrd"):
        lesions = _lesions_from_seg_nrrd(path)
    elif is_dicom_file(path):
        from MIRVLib.dicom.lesion_input import read_dicom_lesions

        lesions = read_dicom_lesions(path, image, reference_image)
    else:
        lesions = _lesions_from_labelmap(path, names)
    if split_components:
        lesions = [part for lesion in lesions for part in split_connected_components(lesion, min_voxels)]
    if sites_csv:
        sites = _read_key_value_csv(sites_csv, "lesion→site")
        for lesion in lesions:
            lesion.site = sites.get(lesion.name, lesion.site)
    _make_names_unique(lesions, path)
    if reference_image is not None:
        conform_lesions(lesions, reference_image, path)
    return lesions


def conform_lesions(
    lesions: Sequence[Lesion], reference: sitk.Image, source: str | os.PathLike[str] | None = None
) -> None:
    """Put every lesion mask on the image grid (:func:`conform_mask`, its note added to ``notes``); one that
    cannot be, or whose image voxels are not all finite (:func:`nonfinite_voxels`), gets ``error`` set
    (prefixed with ``source``, the file the lesions were read from, if given). Lesions already with an
    ``error`` are left as they are."""
    for lesion in lesions:
        if lesion.error:
            continue
        try:
            lesion.mask, note = conform_mask(lesion.mask, reference, lesion.name, lesion.source)
            lesion.source = None
            nonfinite = nonfinite_voxels(lesion.mask, reference)
            if nonfinite:
                raise MaskGeometryError(f"lesion '{lesion.name}': {nonfinite} image voxel(s) inside the lesion "
                                        "are NaN or infinite; features cannot be computed from them")
        except MaskGeometryError as error:
            lesion.error = f"{source}: {error}" if source is not None else str(error)
            log.warning("%s", lesion.error)
            continue
        if note:
            lesion.notes.append(note)


def nonfinite_voxels(mask: sitk.Image, reference: sitk.Image) -> int:
    """How many image voxels under a conformed mask are NaN or ±inf (0 for integer images).

    The engine's discretisation divides the intensity range into bins; a NaN or inf there ends in a NumPy
    error ("arange: cannot compute length") that does not say what is wrong, so it is caught here.
    """
    if reference.GetPixelID() not in (sitk.sitkFloat32, sitk.sitkFloat64):
        return 0
    offset = mask_offset(mask, reference)
    window = tuple(slice(o, o + n) for o, n in zip(reversed(offset), reversed(mask.GetSize())))
    voxels = sitk.GetArrayViewFromImage(reference)[window]
    return int(np.count_nonzero(~np.isfinite(voxels[sitk.GetArrayViewFromImage(mask) != 0])))


def _make_names_unique(lesions: list[Lesion], source: Path) -> None:
    seen: dict[str, int] = {}
    for lesion in lesions:
        if lesion.name in seen:
            seen[lesion.name] += 1
            new = f"{lesion.name}_{seen[lesion.name]}"
            log.warning("%s: duplicate lesion name '%s' renamed to '%s'", source, lesion.name, new)
            lesion.name = new
        else:
            seen[lesion.name] = 1
