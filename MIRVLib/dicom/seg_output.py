"""The lesions as analysed, written as one binary DICOM SEG on the CT's frames (one segment per lesion).

Each segment carries what MIRV knows of its lesion in the codes Slicer and QuantitativeReporting read: the label
and tracking identifier are the lesion name, the segmented property is "Morphologically Abnormal Structure /
Neoplasm", the anatomic region is the lesion site (:mod:`MIRVLib.dicom.codes`), the display colour the segment
colour. The TID 1500 report (:mod:`MIRVLib.dicom.sr_output`) references the segments by number and tracking UID.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from MIRVLib import __version__
from MIRVLib.dicom import DicomError, file_bytes, require
from MIRVLib.dicom.codes import LESION_CATEGORY, LESION_TYPE, coded, site_code
from MIRVLib.dicom.uids import new_uid
from MIRVLib.lesions import Lesion, MaskGeometryError, conform_mask, mask_offset
from MIRVLib.provenance import atomic_write_bytes

MANUFACTURER = "MIRV"
SERIES_NUMBER = 1001  # after the CT's own series; Slicer lists series by number
SR_SERIES_NUMBER = 1002


def slice_order(ct_datasets: Sequence[Any], image: sitk.Image) -> list[int]:
    """The image's slice index (k) of each CT dataset, found from its Image Position (Patient).

    The SEG's frames follow the source images; this puts them in the order of the image grid the lesion masks
    live on, whatever order the datasets come in. A dataset off the grid (another series, a tilted or missing slice) is an
    error naming its SOP Instance UID.
    """
    rows, columns = image.GetSize()[1], image.GetSize()[0]
    order = []
    for dataset in ct_datasets:
        uid = getattr(dataset, "SOPInstanceUID", "?")
        if (int(dataset.Rows), int(dataset.Columns)) != (rows, columns):
            raise DicomError(f"CT instance {uid}: {dataset.Rows}×{dataset.Columns} pixels, image grid {rows}×{columns}")
        index = np.array(image.TransformPhysicalPointToContinuousIndex([float(v) for v in dataset.ImagePositionPatient]))
        if not np.allclose(index, np.round(index), atol=1e-3) or np.any(np.round(index[:2]) != 0):
            raise DicomError(f"CT instance {uid}: Image Position (Patient) {list(dataset.ImagePositionPatient)} is not "
                             "a slice of the image the lesions were analysed on")
        order.append(int(round(index[2])))
    if sorted(order) != list(range(image.GetSize()[2])):
        raise DicomError(f"the {len(ct_datasets)} CT instances do not cover the image's {image.GetSize()[2]} slices once each")
    return order


def in_slice_order(ct_datasets: Sequence[Any]) -> list[Any]:
    """The CT datasets sorted along their slice normal: references listed the same way whatever the input order."""
    orientation = np.array([float(v) for v in ct_datasets[0].ImageOrientationPatient])
    normal = np.cross(orientation[:3], orientation[3:])
    return sorted(ct_datasets, key=lambda ds: float(np.dot([float(v) for v in ds.ImagePositionPatient], normal)))


def segment_pixels(lesions: Sequence[Lesion], image: sitk.Image) -> np.ndarray:
    """The lesions on the CT grid as highdicom's pixel array, (k, j, i) in image slice order.

    Lesions that do not overlap: one label volume (value = segment number), so memory stays at one CT volume
    however many lesions a thin-slice CT has. Overlapping lesions (rare; the extraction warns about them):
    one binary volume per segment, (k, j, i, segment). Crops are pasted back and other grids conformed as for
    extraction; a lesion that cannot be placed is an error naming it.
    """
    boxes = []  # (index window on the CT grid, lesion voxels in it): bounding boxes only
    for lesion in lesions:
        try:
            mask, _ = conform_mask(lesion.mask, image, lesion.name, lesion.source)
        except MaskGeometryError as error:
            raise DicomError(f"cannot write lesion '{lesion.name}' into a DICOM SEG: {error}") from error
        window = tuple(slice(o, o + n) for o, n in zip(reversed(mask_offset(mask, image)), reversed(mask.GetSize())))
        boxes.append((window, sitk.GetArrayFromImage(mask) != 0))
    shape = tuple(reversed(image.GetSize()))
    labels = np.zeros(shape, dtype=np.uint8 if len(lesions) < 256 else np.uint16)
    for number, (window, inside) in enumerate(boxes, start=1):
        region = labels[window]
        if np.any(region[inside]):  # overlap: a label volume cannot hold both lesions
            stacked = np.zeros((*shape, len(boxes)), dtype=np.uint8)
            for segment, (box_window, box) in enumerate(boxes):
                stacked[(*box_window, segment)] = box
            return stacked
        region[inside] = number
    return labels


def dicom_cielab(rgb: Sequence[float]) -> list[int]:
    """RecommendedDisplayCIELabValue of an sRGB colour with components in 0..1 (Slicer's segment colours).

    sRGB (D65) → XYZ → CIE L*a*b*, scaled to DICOM's 0..65535 (PS3.3 C.10.7.1.1), as pixelmed's
    ColorUtilities and highdicom ≥ 0.23 compute it. Done here because highdicom 0.22 (the newest on Python
    3.9, i.e. Slicer 5.8) has no RGB conversion and no ``display_color`` argument.
    """
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (float(v) for v in rgb[:3])]
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ linear
    f = [t ** (1 / 3) if t >= (6 / 29) ** 3 else t / (3 * (6 / 29) ** 2) + 4 / 29 for t in xyz / [0.95047, 1.0, 1.08883]]
    lab = (116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2]))
    return [round(lab[0] * 0xFFFF / 100), round((lab[1] + 128) * 0xFFFF / 255), round((lab[2] + 128) * 0xFFFF / 255)]


def segment_descriptions(lesions: Sequence[Lesion], tracking_uids: Sequence[str]) -> list[Any]:
    hd = require("highdicom")
    descriptions = []
    for number, (lesion, tracking_uid) in enumerate(zip(lesions, tracking_uids), start=1):
        region = site_code(lesion.site)
        description = hd.seg.SegmentDescription(
            segment_number=number, segment_label=lesion.name[:64],
            segmented_property_category=coded(*LESION_CATEGORY), segmented_property_type=coded(*LESION_TYPE),
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL, tracking_id=lesion.name[:64],
            tracking_uid=tracking_uid, anatomic_regions=[region] if region is not None else None,
        )
        if lesion.color:  # set directly: highdicom 0.22 has no display_color argument (see dicom_cielab)
            description.RecommendedDisplayCIELabValue = dicom_cielab(lesion.color)
        descriptions.append(description)
    return descriptions


def build_seg(
    ct_datasets: Sequence[Any], lesions: Sequence[Lesion], image: sitk.Image, *, seed: str | None = None,
    uid_root: str | None = None, series_number: int = SERIES_NUMBER, series_description: str = "MIRV lesions",
) -> Any:
    """The SEG dataset (``highdicom.seg.Segmentation``) of ``lesions`` on ``ct_datasets``; see :func:`write_seg`."""
    hd = require("highdicom")
    if not ct_datasets:
        raise DicomError("no CT instances to reference in the DICOM SEG")
    usable = [lesion for lesion in lesions if not lesion.error]
    if not usable:
        raise DicomError("no lesion to write into the DICOM SEG (every lesion has an error)")
    order = slice_order(ct_datasets, image)
    ct_datasets = [ct_datasets[i] for i in np.argsort(order)]  # slice order: the same SEG whatever the input order
    pixels = segment_pixels(usable, image)
    series_uid = str(ct_datasets[0].SeriesInstanceUID)
    tracking = [new_uid(seed, "tracking", series_uid, lesion.name, root=uid_root) for lesion in usable]
    created = None if seed is None else creation_stamp(ct_datasets[0])
    seg = hd.seg.Segmentation(
        source_images=list(ct_datasets), pixel_array=pixels, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=segment_descriptions(usable, tracking),
        series_instance_uid=new_uid(seed, "seg-series", series_uid, root=uid_root), series_number=series_number,
        sop_instance_uid=new_uid(seed, "seg-instance", series_uid, root=uid_root), instance_number=1,
        manufacturer=MANUFACTURER, manufacturer_model_name="MIRV", software_versions=str(__version__),
        device_serial_number="0", content_label="LESIONS", content_description="MIRV lesions as analysed",
        series_description=series_description, omit_empty_frames=True,
    )
    if created is not None:
        make_reproducible(seg, created, new_uid(seed, "seg-dimensions", series_uid, root=uid_root))
    return seg


def write_seg(
    ct_datasets: Sequence[Any], lesions: Sequence[Lesion], path: str | os.PathLike[str], image: sitk.Image, *,
    seed: str | None = None, uid_root: str | None = None, series_number: int = SERIES_NUMBER,
    series_description: str = "MIRV lesions",
) -> Path:
    """Write the lesions as one binary DICOM SEG referencing the CT; returns ``path``.

    ``ct_datasets``: the CT series' pydicom datasets (any order; pixel data not needed), ``image``: the CT as
    the sitk image the lesions were read/conformed on (``MIRVLib.dicom.series``), so lesion masks may be
    crops (conformed) or masks on another grid (conformed here, as for extraction). One segment per lesion
    without ``error``, numbered in the given order; label and tracking ID = lesion name, anatomic region =
    site. ``seed`` makes the SEG's UIDs (series, instance, tracking UIDs) and dates reproducible (``uid_root``:
    the UID prefix; default pydicom's). Written atomically.
    """
    seg = build_seg(ct_datasets, lesions, image, seed=seed, uid_root=uid_root, series_number=series_number,
                    series_description=series_description)
    return write_dataset(seg, path)


def write_dataset(dataset: Any, path: str | os.PathLike[str]) -> Path:
    """A DICOM dataset saved atomically (a reader never sees half a file)."""
    return atomic_write_bytes(path, file_bytes(dataset))


def make_reproducible(dataset: Any, created: tuple[str, str], dimension_uid: str | None = None) -> None:
    """Replace what highdicom stamps from the clock or a random UID (content and creation time, its own
    contribution time, the dimension organisation UID), so a seeded object is the same byte for byte.

    Content date and time are set here, not passed to highdicom: 0.22 (Python 3.9, Slicer 5.8) has no
    ``content_date``/``content_time`` arguments."""
    dataset.ContentDate, dataset.ContentTime = created
    dataset.InstanceCreationDate, dataset.InstanceCreationTime = created
    for item in dataset.get("ContributingEquipmentSequence", []):
        if "ContributionDateTime" in item:
            item.ContributionDateTime = "".join(created)
    for sequence in ("DimensionOrganizationSequence", "DimensionIndexSequence") if dimension_uid else ():
        for item in dataset.get(sequence, []):
            item.DimensionOrganizationUID = dimension_uid


def creation_stamp(dataset: Any) -> tuple[str, str]:
    """The CT's series (or study) date and time: the creation stamp of a reproducible derived object."""
    date = getattr(dataset, "SeriesDate", "") or getattr(dataset, "StudyDate", "") or "19700101"
    time = getattr(dataset, "SeriesTime", "") or getattr(dataset, "StudyTime", "") or "000000"
    return str(date), str(time)
