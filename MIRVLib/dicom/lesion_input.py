"""Lesions from a DICOM SEG or RTSTRUCT file, or a folder holding one: find the object, check it belongs to the
image, hand it to :mod:`MIRVLib.dicom.seg_input` or :mod:`MIRVLib.dicom.rtstruct_input`.

The image may be a DICOM series folder (then the object must reference its series, or at least its frame of
reference) or any image file (then only the geometry can be checked, which :func:`MIRVLib.lesions.conform_mask`
does).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import SimpleITK as sitk

from MIRVLib.dicom import DicomError, require
from MIRVLib.dicom.series import RT_STRUCTURE_SET, SEGMENTATIONS, read_headers, series_geometry, series_headers
from MIRVLib.lesions import Lesion, SourceGrid


def find_lesion_object(folder: str | os.PathLike[str]) -> Path | None:
    """The one SEG or RTSTRUCT file in ``folder`` (None if it holds neither); several are an error listing them."""
    found = [file for file, header in read_headers(folder) if header.get("SOPClassUID") in (*SEGMENTATIONS, RT_STRUCTURE_SET)]
    if len(found) > 1:
        listed = ", ".join(file.name for file in found)
        raise DicomError(f"{folder}: holds {len(found)} segmentation objects ({listed}); give MIRV one file as --lesions")
    return found[0] if found else None


def read_dicom_lesions(
    path: str | os.PathLike[str], image: str | os.PathLike[str] | None = None, reference_image: sitk.Image | None = None
) -> list[Lesion]:
    """Lesions of a SEG or RTSTRUCT file, checked against ``image`` (path; a DICOM folder gives the UID check).

    An RTSTRUCT is rasterised onto the image grid: ``reference_image`` if given, else the grid of ``image``.
    """
    pydicom = require("pydicom")
    path = Path(path)
    try:
        dataset = pydicom.dcmread(path)
    except (pydicom.errors.InvalidDicomError, OSError) as error:
        raise DicomError(f"{path}: not a readable DICOM file: {error}") from error
    sop_class = dataset.get("SOPClassUID", "")
    if sop_class not in (*SEGMENTATIONS, RT_STRUCTURE_SET):
        raise DicomError(f"{path}: a DICOM {dataset.get('Modality', '?')} object (SOP class {sop_class}); lesions are "
                         "read from a DICOM SEG or RTSTRUCT")
    series = _image_series(image)
    if series is not None:
        check_belongs(path, dataset, Path(image), series[1])
    if sop_class in SEGMENTATIONS:
        from MIRVLib.dicom.seg_input import lesions_from_seg

        return lesions_from_seg(path, dataset)
    from MIRVLib.dicom.rtstruct_input import lesions_from_rtstruct

    grid = SourceGrid.of(reference_image) if reference_image is not None else _grid(image, series, path)
    return lesions_from_rtstruct(path, dataset, grid)


def referenced_series(dataset: Any) -> set[str]:
    """SeriesInstanceUIDs a SEG (ReferencedSeriesSequence) or RTSTRUCT (via its frame of reference) points to."""
    uids = {str(item.SeriesInstanceUID) for item in dataset.get("ReferencedSeriesSequence", [])}
    for frame in dataset.get("ReferencedFrameOfReferenceSequence", []):
        for study in frame.get("RTReferencedStudySequence", []):
            uids |= {str(item.SeriesInstanceUID) for item in study.get("RTReferencedSeriesSequence", [])}
    return uids


def referenced_frames(dataset: Any) -> set[str]:
    uids = {str(dataset.FrameOfReferenceUID)} if dataset.get("FrameOfReferenceUID") else set()
    return uids | {str(f.FrameOfReferenceUID) for f in dataset.get("ReferencedFrameOfReferenceSequence", [])
                   if f.get("FrameOfReferenceUID")}


def check_belongs(path: Path, dataset: Any, image: Path, ct: Sequence[Any]) -> None:
    """A :class:`DicomError` naming both when the SEG/RTSTRUCT at ``path`` was not drawn on the series ``ct``.

    The referenced series decides when the object names any; otherwise the frame of reference.
    """
    series_uid, frame_uid = str(ct[0].SeriesInstanceUID), str(ct[0].get("FrameOfReferenceUID", ""))
    series, frames = referenced_series(dataset), referenced_frames(dataset)
    if series and series_uid not in series:
        raise DicomError(f"{path} references series {', '.join(sorted(series))}, but the image {image} is series "
                         f"{series_uid}: the segmentation does not belong to this image")
    if not series and frames and frame_uid and frame_uid not in frames:
        raise DicomError(f"{path} is in frame of reference {', '.join(sorted(frames))}, but the image {image} is in "
                         f"{frame_uid}: the segmentation does not belong to this image")


def _image_series(image: str | os.PathLike[str] | None) -> tuple[list[Path], list[Any]] | None:
    if image is None or not Path(image).is_dir():
        return None
    return series_headers(image)


def _grid(image: str | os.PathLike[str] | None, series: tuple[list[Path], list[Any]] | None, path: Path) -> SourceGrid:
    """The image's voxel grid, from headers only (the RTSTRUCT is rasterised on it)."""
    if series is not None:
        size, spacing, origin, direction = series_geometry(*series)
        return SourceGrid(size, spacing, origin, direction, (0, 0, 0))
    if image is None:
        raise DicomError(f"{path}: an RTSTRUCT holds contours, not voxels; it needs the image it was drawn on (--image)")
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(image))
    reader.ReadImageInformation()
    return SourceGrid(reader.GetSize(), reader.GetSpacing(), reader.GetOrigin(), reader.GetDirection(), (0, 0, 0))
