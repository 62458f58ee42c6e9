"""A CT series from a folder of DICOM files, read with pydicom into a SimpleITK image.

Why not ITK's GDCM reader alone: it silently takes one of several series, sorts by a rule it does not
report and hands back a volume whatever the gaps between slices are. Here the folder must hold one image
series (SEG, RTSTRUCT and SR objects beside it are ignored, so a whole study folder works); slices are
sorted by their position along the slice normal; spacing comes from ImageOrientationPatient and
ImagePositionPatient; and a mixed folder, a multi-frame (enhanced) image, slices that are missing or unevenly
spaced are refused with the folder or file named. Multi-frame images are refused, not supported: MIRV's
cohorts are single-frame CT, and an enhanced CT's per-frame geometry needs its own reader.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from MIRVLib.dicom import DicomError, require

# SOP classes that are not images, though they may sit in a study folder beside the CT.
SEGMENTATION = "1.2.840.10008.5.1.4.1.1.66.4"
LABEL_MAP_SEGMENTATION = "1.2.840.10008.5.1.4.1.1.66.7"  # a SEG whose pixel values are segment numbers (2024)
SEGMENTATIONS = (SEGMENTATION, LABEL_MAP_SEGMENTATION)
RT_STRUCTURE_SET = "1.2.840.10008.5.1.4.1.1.481.3"
NON_IMAGE_MODALITIES = {"SEG", "RTSTRUCT", "SR", "RTPLAN", "RTDOSE", "PR", "KO", "REG"}
# Slices whose spacing differs from the median by more than this fraction are "uneven"; a gap of a whole
# number (≥ 2) of median spacings is reported as missing slices; a step below it as duplicate slices.
SPACING_TOLERANCE = 0.01
# Slices whose direction cosines differ by more than this have different orientations.
ORIENTATION_TOLERANCE = 1e-4


@dataclass
class DicomSeries:
    """The image and the headers (no pixel data) of its slices, in slice order; what SEG, RTSTRUCT and SR
    objects must reference."""

    image: sitk.Image
    datasets: list[Any]  # pydicom Datasets, first slice first
    files: list[Path]
    folder: Path

    @property
    def series_instance_uid(self) -> str:
        return str(self.datasets[0].SeriesInstanceUID)

    @property
    def study_instance_uid(self) -> str:
        return str(self.datasets[0].StudyInstanceUID)

    @property
    def frame_of_reference_uid(self) -> str:
        return str(self.datasets[0].get("FrameOfReferenceUID", ""))

    @property
    def sop_instance_uids(self) -> list[str]:
        return [str(ds.SOPInstanceUID) for ds in self.datasets]


def pydicom_available() -> bool:
    """Whether the ``mirv[dicom]`` extra is installed (without it, DICOM folders are read by ITK's GDCM)."""
    import importlib.util

    return importlib.util.find_spec("pydicom") is not None


def read_headers(folder: str | os.PathLike[str]) -> list[tuple[Path, Any]]:
    """(file, header) of every DICOM file under ``folder``, sorted by path; files that are not DICOM are skipped.

    A folder without any DICOM file raises FileNotFoundError naming it.
    """
    pydicom = require("pydicom")
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"DICOM folder not found: {folder}")
    found = []
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        try:
            found.append((file, pydicom.dcmread(file, stop_before_pixels=True)))
        except (pydicom.errors.InvalidDicomError, OSError):
            continue
    if not found:
        raise FileNotFoundError(f"no DICOM series found in folder {folder} (no DICOM files)")
    return found


def is_image(header: Any) -> bool:
    """A DICOM image instance (has pixel rows, and is not a SEG, RTSTRUCT, SR or other non-image object)."""
    return "Rows" in header and header.get("Modality", "") not in NON_IMAGE_MODALITIES and \
        header.get("SOPClassUID", "") not in SEGMENTATIONS


def read_series(folder: str | os.PathLike[str]) -> DicomSeries:
    """The one image series in ``folder`` as a SimpleITK image in its stored units after rescale (HU for CT).

    Voxels are int16 when the rescaled values are whole numbers that fit (the usual CT), float32 otherwise.
    """
    files, datasets = series_headers(folder)
    voxels = _voxels(files, datasets)
    image = sitk.GetImageFromArray(voxels)
    _, spacing, origin, direction = series_geometry(files, datasets)
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    image.SetDirection(direction)
    return DicomSeries(image, datasets, files, Path(folder))


def series_headers(folder: str | os.PathLike[str]) -> tuple[list[Path], list[Any]]:
    """Files and headers of the one image series in ``folder``, in slice order (checked as :func:`read_series`
    says), without reading pixel data: what a SEG/RTSTRUCT is matched and rasterised against."""
    folder = Path(folder)
    headers = [(file, header) for file, header in read_headers(folder) if is_image(header)]
    if not headers:
        raise DicomError(f"{folder}: no DICOM image files in this folder (only SEG/RTSTRUCT/SR or other objects)")
    _check_one_series(folder, headers)
    for file, header in headers:  # an enhanced image keeps its geometry per frame, in functional groups
        frames = int(header.get("NumberOfFrames", 1) or 1)
        if frames > 1 or "SharedFunctionalGroupsSequence" in header:
            raise DicomError(f"{file}: a multi-frame (enhanced) image with {frames} frame(s); MIRV reads single-frame "
                             "DICOM series only: export single-frame slices, or convert it to NIfTI (e.g. dcm2niix)")
    ordered = _sort_slices(folder, headers)
    return [f for f, _ in ordered], [h for _, h in ordered]


def _check_one_series(folder: Path, headers: Sequence[tuple[Path, Any]]) -> None:
    counts: dict[str, int] = {}
    for _, header in headers:
        uid = str(header.get("SeriesInstanceUID", "?"))
        counts[uid] = counts.get(uid, 0) + 1
    if len(counts) > 1:
        listed = "; ".join(f"{uid} ({n} files)" for uid, n in sorted(counts.items()))
        raise DicomError(f"{folder}: holds {len(counts)} image series (SeriesInstanceUID: {listed}); "
                         "put each series in its own folder and give MIRV that folder")


def _geometry(file: Path, header: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row direction, column direction, position) of one slice."""
    try:
        orientation = np.array([float(v) for v in header.ImageOrientationPatient])
        position = np.array([float(v) for v in header.ImagePositionPatient])
    except AttributeError as error:
        raise DicomError(f"{file}: no ImageOrientationPatient/ImagePositionPatient; the slice cannot be placed "
                         "in space") from error
    return orientation[:3], orientation[3:], position


def _sort_slices(folder: Path, headers: Sequence[tuple[Path, Any]]) -> list[tuple[Path, Any]]:
    """Slices ordered along the normal of their common orientation; uneven or missing slices refused."""
    geometries = [_geometry(file, header) for file, header in headers]
    rows, columns, _ = geometries[0]
    normal = np.cross(rows, columns)
    for (file, header), (other_rows, other_columns, _) in zip(headers, geometries):
        if not (np.allclose(other_rows, rows, atol=ORIENTATION_TOLERANCE)
                and np.allclose(other_columns, columns, atol=ORIENTATION_TOLERANCE)):
            raise DicomError(f"{file}: orientation {list(header.ImageOrientationPatient)} differs from "
                             f"{headers[0][0].name}'s; a series must have one orientation")
    positions = np.array([float(np.dot(position, normal)) for _, _, position in geometries])
    order = np.argsort(positions, kind="stable")
    ordered = [headers[i] for i in order]
    steps = np.diff(positions[order])
    if steps.size == 0:
        return ordered
    typical = float(np.median(steps))
    for i, step in enumerate(steps):
        if step < SPACING_TOLERANCE * max(typical, 1e-6):
            raise DicomError(f"{folder}: {ordered[i][0].name} and {ordered[i + 1][0].name} are at the same position "
                             f"({positions[order][i]:.3f} mm along the slice normal); duplicate slices")
        if abs(step - typical) > SPACING_TOLERANCE * typical:
            ratio = step / typical
            if abs(ratio - round(ratio)) <= SPACING_TOLERANCE and round(ratio) >= 2:
                raise DicomError(f"{folder}: {round(ratio) - 1} slice(s) missing between {ordered[i][0].name} and "
                                 f"{ordered[i + 1][0].name} (gap {step:.3f} mm, slice spacing {typical:.3f} mm)")
            raise DicomError(f"{folder}: non-uniform slice spacing: {step:.3f} mm between {ordered[i][0].name} and "
                             f"{ordered[i + 1][0].name}, {typical:.3f} mm elsewhere; MIRV needs evenly spaced slices")
    return ordered


def series_geometry(
    files: Sequence[Path], headers: Sequence[Any]
) -> tuple[tuple[int, int, int], tuple[float, float, float], tuple[float, ...], tuple[float, ...]]:
    """(size, spacing, origin, direction) in SimpleITK's (x, y, z) convention of sorted slices."""
    first = headers[0]
    rows, columns, origin = _geometry(files[0], first)
    normal = np.cross(rows, columns)
    if len(headers) > 1:
        step = (_geometry(files[-1], headers[-1])[2] - origin) / (len(headers) - 1)
        slice_spacing = float(np.dot(step, normal))
    else:
        slice_spacing = float(first.get("SpacingBetweenSlices", first.get("SliceThickness", 1)) or 1)
    row_spacing, column_spacing = (float(v) for v in first.PixelSpacing)  # between rows (y), between columns (x)
    size = (int(first.Columns), int(first.Rows), len(headers))
    direction = tuple(np.column_stack([rows, columns, normal]).flatten().tolist())
    return size, (column_spacing, row_spacing, slice_spacing), tuple(origin.tolist()), direction


def _voxels(files: Sequence[Path], headers: Sequence[Any]) -> np.ndarray:
    """The (z, y, x) voxels after rescale: int16 when whole numbers that fit, else float32."""
    pydicom = require("pydicom")
    shape = (int(headers[0].Rows), int(headers[0].Columns))
    slices = []
    for file, header in zip(files, headers):
        if (int(header.Rows), int(header.Columns)) != shape:
            raise DicomError(f"{file}: {header.Rows}×{header.Columns} pixels, {files[0].name} has "
                             f"{shape[0]}×{shape[1]}; a series must have one slice size")
        pixels = pydicom.dcmread(file).pixel_array
        slope, intercept = float(header.get("RescaleSlope", 1) or 1), float(header.get("RescaleIntercept", 0) or 0)
        slices.append(pixels * slope + intercept)
    volume = np.stack(slices)
    info = np.iinfo(np.int16)
    whole = np.array_equal(volume, np.round(volume)) and volume.min() >= info.min and volume.max() <= info.max
    return volume.astype(np.int16 if whole else np.float32)
