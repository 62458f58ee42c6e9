"""PyRadiomics' pre-processing of an image and its mask, before any filter or feature class.

The functions mirror ``radiomics.imageoperations`` (same arguments, settings, defaults and results):
:func:`get_mask` (``getMask``), :func:`check_mask` (``checkMask`` with ``correctMask``), :func:`crop_to_mask`
(``cropToTumorMask``), :func:`normalize_image` (``normalizeImage``), :func:`resegment_mask`
(``resegmentMask``) and :func:`resample_image` (``resampleImage``). Images are resampled, normalised and
cropped by the same SimpleITK filters, so their voxels are PyRadiomics' bit for bit; what PyRadiomics asks
SimpleITK's statistics filters (labels present, bounding box, voxel count, geometry match) is answered
here from the mask's voxels with NumPy, scanning the mask once.

Every refusal is a ``ValueError`` whose message says what is wrong and, where there is one, which setting
fixes it: it becomes the lesion's ``Status``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import SimpleITK as sitk

from MIRVLib.lesions import array_bounds
from MIRVLib.resampling import grid_at_spacing, interpolator_id, output_spacing, resample_to_grid

log = logging.getLogger(__name__)

# How far (in image voxels) the ROI's outer corners may lie outside the image for correctMask / resampling.
ROI_EXTENT_TOLERANCE = 1e-3

_INTEGER_PIXEL_TYPES = {
    sitk.sitkUInt8, sitk.sitkInt8, sitk.sitkUInt16, sitk.sitkInt16, sitk.sitkUInt32, sitk.sitkInt32,
    sitk.sitkUInt64, sitk.sitkInt64,
}


# ---------------------------------------------------------------- mask and ROI
def get_mask(mask: sitk.Image, **settings: Any) -> sitk.Image:
    """The label map as UInt32, channel ``label_channel`` (default 0) taken from a vector (segmentation) image.

    Refuses an empty mask and one without voxels of value ``label`` (default 1), listing the labels present.
    """
    label = settings.get("label", 1)
    channel = settings.get("label_channel", 0)
    if "vector" in mask.GetPixelIDTypeAsString().lower():
        channels = mask.GetNumberOfComponentsPerPixel()
        if not 0 <= channel < channels:
            raise ValueError(
                f"label_channel {channel} requested, but the segmentation holds {channels} channel(s) "
                f"(label_channel 0 to {channels - 1})"
            )
        selector = sitk.VectorIndexSelectionCastImageFilter()
        selector.SetIndex(int(channel))
        mask = selector.Execute(mask)
    mask = sitk.Cast(mask, sitk.sitkUInt32)
    voxels = sitk.GetArrayViewFromImage(mask)
    if not voxels.any():
        raise ValueError("No labels found in this mask (i.e. nothing is segmented)!")
    if not np.any(voxels == label):
        labels = np.unique(voxels)
        raise ValueError(f"Label ({label:g}) not present in mask. Choose from {labels[labels != 0]}")
    return mask


def _roi_bounds(mask: sitk.Image, label: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Inclusive lower and upper index (x, y, z) of the voxels equal to ``label``; None if there are none."""
    bounds = array_bounds(sitk.GetArrayViewFromImage(mask) == label)
    if bounds is None:
        return None
    low, high = bounds
    return np.array(low[::-1]), np.array(high[::-1])


def _require_label_map(mask: sitk.Image) -> None:
    if mask.GetPixelID() not in _INTEGER_PIXEL_TYPES:
        raise ValueError(
            f"the mask's pixel type ({mask.GetPixelIDTypeAsString()}) is not an integer label map; "
            "read it with get_mask first"
        )


def _tolerances(settings: Mapping[str, Any]) -> tuple[float, float]:
    """Coordinate and direction tolerance of the image/mask geometry check.

    PyRadiomics sets SimpleITK's global defaults to ``geometryTolerance`` when it is given; otherwise the
    global defaults in force (1e-6 unless changed) apply.
    """
    tolerance = settings.get("geometryTolerance")
    if tolerance is not None:
        return float(tolerance), float(tolerance)
    return (
        sitk.ProcessObject.GetGlobalDefaultCoordinateTolerance(),
        sitk.ProcessObject.GetGlobalDefaultDirectionTolerance(),
    )


def geometry_mismatch(image: sitk.Image, mask: sitk.Image, settings: Mapping[str, Any]) -> str | None:
    """Why SimpleITK's two-image filters would refuse this image/mask pair (None if they accept it).

    Same checks, in the same order, as ``LabelStatisticsImageFilter``: dimension, size, then ITK's physical
    space test — origin and spacing may differ by at most ``tolerance * |spacing_x|`` per component, each
    direction cosine by at most the direction tolerance. ITK takes ``spacing_x`` from the first input it
    iterates over, which for this filter is the label image (the mask), not the image.
    """
    if image.GetDimension() != mask.GetDimension():
        return (
            f"Image/Mask dimension mismatch (image {image.GetDimension()}D, mask {mask.GetDimension()}D). "
            "Potential fix: enable correctMask"
        )
    if image.GetSize() != mask.GetSize():
        return (
            f"Image/Mask size mismatch (image size {image.GetSize()}, mask size {mask.GetSize()}). "
            "Potential fix: enable correctMask"
        )
    coordinate_tolerance, direction_tolerance = _tolerances(settings)
    coordinate_tolerance = abs(coordinate_tolerance * mask.GetSpacing()[0])
    differences = []
    for what, tolerance in (("Origin", coordinate_tolerance), ("Spacing", coordinate_tolerance),
                            ("Direction", direction_tolerance)):
        ours, theirs = getattr(image, f"Get{what}")(), getattr(mask, f"Get{what}")()
        if not all(abs(a - b) <= tolerance for a, b in zip(ours, theirs)):
            differences.append(f"{what.lower()}: image {tuple(ours)}, mask {tuple(theirs)} (tolerance {tolerance:g})")
    if differences:
        return (
            "Image/Mask geometry mismatch: " + "; ".join(differences)
            + ". Potential fix: increase the tolerance with geometryTolerance, or enable correctMask"
        )
    return None


def check_roi(image: sitk.Image, mask: sitk.Image, **settings: Any) -> np.ndarray:
    """The ROI's bounding box in the mask's own index space as (lower index..., size...) — ``_checkROI``.

    Refuses a missing label (0 counts as background, as in ``LabelShapeStatisticsImageFilter``) and an ROI
    whose outer voxel corners lie outside the image (more than 1e-3 voxel beyond its edges).
    """
    label = int(settings.get("label", 1))
    _require_label_map(mask)
    if image.GetDimension() != mask.GetDimension():
        raise ValueError(
            f"Image/Mask dimension mismatch (image {image.GetDimension()}D, mask {mask.GetDimension()}D): "
            "the mask cannot be placed in the image"
        )
    bounds = _roi_bounds(mask, label) if label != 0 else None
    if bounds is None:
        raise ValueError(f"Label ({label}) not present in mask")
    low, high = bounds
    box = np.concatenate([low, high - low + 1])
    corners = (
        mask.TransformContinuousIndexToPhysicalPoint((low - 0.5).tolist()),
        mask.TransformContinuousIndexToPhysicalPoint((high + 0.5).tolist()),
    )
    in_image = np.array([image.TransformPhysicalPointToContinuousIndex(corner) for corner in corners])
    if np.any(np.min(in_image, axis=0) < -0.5 - ROI_EXTENT_TOLERANCE) or np.any(
        np.max(in_image, axis=0) > np.array(image.GetSize()) - 0.5 + ROI_EXTENT_TOLERANCE
    ):
        raise ValueError(
            "Bounding box of ROI is larger than image space: ROI bounds (x, y, z image index) "
            f"{in_image[0].tolist()} to {in_image[1].tolist()}, image size {image.GetSize()}"
        )
    return box


def correct_mask(image: sitk.Image, mask: sitk.Image, **settings: Any) -> sitk.Image:
    """The mask resampled (nearest neighbour) onto the image grid, after :func:`check_roi` — ``_correctMask``."""
    check_roi(image, mask, **settings)
    resampler = sitk.ResampleImageFilter()
    resampler.SetReferenceImage(image)
    resampler.SetInterpolator(sitk.sitkNearestNeighbor)
    return resampler.Execute(mask)


def check_mask(image: sitk.Image, mask: sitk.Image, **settings: Any) -> tuple[np.ndarray, sitk.Image | None]:
    """``(bounding box, corrected mask or None)`` of the ROI ``label`` — ``checkMask``.

    The bounding box is ``LabelStatisticsImageFilter``'s: ``(L_x, U_x, L_y, U_y, L_z, U_z)``, inclusive. When
    the mask does not share the image's geometry (:func:`geometry_mismatch`), ``correctMask`` resamples it
    onto the image grid (returned as the corrected mask). Refuses a missing label, a single voxel, an ROI
    spanning fewer than ``minimumROIDimensions`` (default 2) axes and, when ``minimumROISize`` is set, an
    ROI of at most that many voxels.
    """
    label = int(settings.get("label", 1))
    minimum_dimensions = settings.get("minimumROIDimensions", 2)
    minimum_size = settings.get("minimumROISize")
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise ValueError(f"the image's pixel type ({image.GetPixelIDTypeAsString()}) is not a scalar image")
    _require_label_map(mask)

    corrected = None
    mismatch = geometry_mismatch(image, mask, settings)
    if mismatch is not None:
        if not settings.get("correctMask", False):
            raise ValueError(mismatch)
        log.warning("%s; resampling the mask onto the image grid (correctMask)", mismatch)
        corrected = mask = correct_mask(image, mask, **settings)
    bounds = _roi_bounds(mask, label)
    if bounds is None:
        if corrected is not None:
            raise ValueError(f"Label ({label}) not present in the mask once resampled onto the image (correctMask)")
        raise ValueError(f"Label ({label}) not present in mask")
    low, high = bounds
    box = np.empty(2 * len(low), dtype=np.int64)
    box[0::2], box[1::2] = low, high

    dimensions = int(np.sum(high - low + 1 > 1))
    if dimensions == 0:
        raise ValueError("mask only contains 1 segmented voxel! Cannot extract features for a single voxel.")
    if dimensions < minimum_dimensions:
        raise ValueError(
            f"mask has too few dimensions (number of dimensions {dimensions}, minimum required {minimum_dimensions})"
        )
    if minimum_size is not None:
        size = int(np.count_nonzero(sitk.GetArrayViewFromImage(mask) == label))
        if size <= minimum_size:
            raise ValueError(f"Size of the ROI is too small (minimum size: {minimum_size:g}, ROI size: {size})")
    return box, corrected


def _whole_number(value: Any, name: str) -> int:
    if float(value) != int(value):
        raise ValueError(f"{name} must be a whole number of voxels (got {value!r})")
    return int(value)


def crop_to_mask(
    image: sitk.Image, mask: sitk.Image, bounding_box: Sequence[int], **settings: Any
) -> tuple[sitk.Image, sitk.Image]:
    """Image and mask cropped to the bounding box (:func:`check_mask`'s layout) plus ``padDistance`` voxels
    (default 0) per side, never beyond the mask's extent — ``cropToTumorMask``."""
    pad = _whole_number(settings.get("padDistance", 0), "padDistance")
    box = np.asarray(bounding_box, dtype=np.int64)
    size = np.array(mask.GetSize())
    lower = np.maximum(box[0::2] - pad, 0)
    upper = np.maximum(size - box[1::2] - pad - 1, 0)
    cropper = sitk.CropImageFilter()
    cropper.SetLowerBoundaryCropSize(lower.tolist())
    cropper.SetUpperBoundaryCropSize(upper.tolist())
    return cropper.Execute(image), cropper.Execute(mask)


# ---------------------------------------------------------------- intensities
def normalize_image(image: sitk.Image, **settings: Any) -> sitk.Image:
    """``normalizeScale * (x - mean) / std`` over the whole image — ``normalizeImage``.

    With ``removeOutliers`` = n, normalised values beyond ±n are clipped to ±n before scaling.
    """
    scale = settings.get("normalizeScale", 1)
    outliers = settings.get("removeOutliers")
    image = sitk.Normalize(image)
    if outliers is not None:
        voxels = sitk.GetArrayFromImage(image)
        # same order as PyRadiomics (upper limit first, so a negative n leaves every voxel at -n); out= keeps
        # the pixel type, as PyRadiomics' in-place assignment does
        np.minimum(voxels, outliers, out=voxels)
        np.maximum(voxels, -outliers, out=voxels)
        clipped = sitk.GetImageFromArray(voxels)
        clipped.CopyInformation(image)
        image = clipped
    image *= scale
    return image


def resegment_mask(image: sitk.Image, mask: sitk.Image, **settings: Any) -> sitk.Image:
    """The ROI restricted to voxels within ``resegmentRange`` — ``resegmentMask``.

    One threshold keeps voxels ``>=`` it; two keep the closed range. ``resegmentMode``: ``absolute``
    (default, gray values), ``relative`` (fractions of the ROI's maximum) or ``sigma`` (standard deviations
    from the ROI's mean). The result is an Int64 label map (``label`` inside) with the mask's geometry;
    fewer than two voxels left is refused.
    """
    limits = settings.get("resegmentRange")
    mode = settings.get("resegmentMode", "absolute")
    label = settings.get("label", 1)
    if limits is None:
        raise ValueError("resegmentRange is None.")
    if len(limits) == 0 or len(limits) > 2:
        raise ValueError(f"Length {len(limits)} is not allowed for resegmentRange (give 1 or 2 thresholds)")

    voxels = sitk.GetArrayFromImage(image)
    roi = sitk.GetArrayFromImage(mask) == label
    values = voxels[roi]
    if mode == "absolute":
        thresholds = sorted(limits)
    elif mode == "relative":
        maximum = np.max(values)
        thresholds = [maximum * limit for limit in sorted(limits)]
    elif mode == "sigma":
        mean, deviation = np.mean(values), np.std(values)
        thresholds = [mean + deviation * limit for limit in sorted(limits)]
    else:
        raise ValueError(f"Resegment mode {mode} not recognized (use 'absolute', 'relative' or 'sigma').")

    keep = values >= thresholds[0]
    if len(thresholds) == 2:
        keep &= values <= thresholds[1]
    kept = int(np.count_nonzero(keep))
    if kept <= 1:
        raise ValueError(
            f"Resegmentation excluded too many voxels with label {label} (retained {kept} voxel(s))! Cannot extract features"
        )
    resegmented = np.zeros(roi.shape, dtype=int)
    roi[roi] = keep
    resegmented[roi] = label
    result = sitk.GetImageFromArray(resegmented)
    result.CopyInformation(mask)
    return result


# ---------------------------------------------------------------- resampling
def resample_image(image: sitk.Image, mask: sitk.Image, **settings: Any) -> tuple[sitk.Image, sitk.Image]:
    """Image and mask on ``resampledPixelSpacing``, cropped around the ROI plus ``padDistance`` — ``resampleImage``.

    A target spacing of 0 keeps the mask's spacing on that axis, as does an axis on which the ROI is one
    voxel thick. The output grid is anchored to the mask's index grid (:func:`MIRVLib.resampling.grid_at_spacing`).
    The image is interpolated with ``interpolator`` (name or number, default B-spline) keeping its pixel type,
    the mask with nearest neighbour. When the target equals the image's spacing nothing is interpolated: the
    mask is put on the image grid and both are cropped (:func:`crop_to_mask`, whose ``padDistance`` default
    is 0).
    """
    if image is None or mask is None:
        raise ValueError("Requires both image and mask to resample")
    target = settings.get("resampledPixelSpacing")
    if target is None:
        raise ValueError("resampledPixelSpacing is not set")
    ndim = mask.GetDimension()
    if len(target) != ndim:
        raise ValueError(f"Wrong dimensionality ({len(target)}-D) of resampledPixelSpacing!, {ndim}-D required")
    label = int(settings.get("label", 1))
    box = check_roi(image, mask, **settings)
    spacing = output_spacing(mask, settings, box)

    if np.allclose(np.array(image.GetSpacing()), spacing):
        log.info("resampled spacing equals the image spacing: only the mask is put on the image grid")
        resampler = sitk.ResampleImageFilter()
        resampler.SetReferenceImage(image)
        resampler.SetInterpolator(sitk.sitkNearestNeighbor)
        mask = resampler.Execute(mask)
        bounds = _roi_bounds(mask, label)
        if bounds is None:
            raise ValueError(f"Label ({label}) not present in the mask once put on the image grid")
        low_up = np.empty(2 * ndim, dtype=int)
        low_up[0::2], low_up[1::2] = bounds
        return crop_to_mask(image, mask, low_up, **settings)

    grid = grid_at_spacing(mask, spacing, settings, box)  # PyRadiomics compares with the image's spacing (above)
    interpolator = interpolator_id(settings.get("interpolator", sitk.sitkBSpline))
    resampled_image = resample_to_grid(image, grid, interpolator, image.GetPixelID())
    resampled_mask = resample_to_grid(mask, grid, sitk.sitkNearestNeighbor, mask.GetPixelID())
    return resampled_image, resampled_mask
