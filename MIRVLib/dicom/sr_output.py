"""A patient's MIRV results as a DICOM TID 1500 Measurement Report (Comprehensive 3D SR), as QuantitativeReporting
writes them.

Layout (documented in ``docs/dicom.md``): the image library lists the CT instances; one volumetric ROI group
(TID 1411) per lesion, tracking identifier = lesion name and tracking UID = its SEG segment's, referencing
that segment of the SEG (and through it the CT frames), finding "Neoplasm", finding site = lesion site, with
the measurements "Volume" (SCT 118565006, mm3 = the lesion table's ``original_shape_VoxelVolume``) and each
feature (private code ``99MIRV``, code value = feature name); and one measurement group (TID 1501) with
tracking identifier ``patient`` holding the patient's MIRV values (``99MIRV``, code value = patients.csv
column). Evidence lists the CT series and the SEG.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from MIRVLib import __version__
from MIRVLib.dicom import DicomError, require
from MIRVLib.dicom.codes import CUBIC_MILLIMETER, LESION_TYPE, NO_UNITS, VOLUME, coded, private_code, site_code
from MIRVLib.dicom.seg_output import (
    MANUFACTURER,
    SR_SERIES_NUMBER,
    creation_stamp,
    in_slice_order,
    make_reproducible,
    write_dataset,
)
from MIRVLib.dicom.uids import new_uid
from MIRVLib.lesion_columns import LESION_ID, METADATA_COLUMNS, PATIENT_ID, SITE, STATUS, STATUS_OK
from MIRVLib.lesion_table import VOLUME_FEATURE
from MIRVLib.quantities import QUANTITIES

PATIENT_TRACKING_ID = "patient"
PATIENT_FINDING = "MIRV patient summary"
# quantities.py unit → UCUM (code value, meaning); unknown units and features are written dimensionless ("1").
UCUM_UNITS: dict[str, tuple[str, str]] = {
    "mm3": CUBIC_MILLIMETER[::2],
    "%": ("%", "percent"),
    "percentage points": ("%", "percent"),
    "SD units": ("{SD}", "standard deviation units"),
}
# Shape features carry a length, area or volume; every other feature is written dimensionless ("1").
SHAPE_UNITS: dict[str, tuple[str, str]] = {
    "MeshVolume": CUBIC_MILLIMETER[::2], "VoxelVolume": CUBIC_MILLIMETER[::2], "SurfaceArea": ("mm2", "square millimeter"),
    "SurfaceVolumeRatio": ("/mm", "per millimeter"), "Maximum3DDiameter": ("mm", "millimeter"),
    "Maximum2DDiameterSlice": ("mm", "millimeter"), "Maximum2DDiameterRow": ("mm", "millimeter"),
    "Maximum2DDiameterColumn": ("mm", "millimeter"), "MajorAxisLength": ("mm", "millimeter"),
    "MinorAxisLength": ("mm", "millimeter"), "LeastAxisLength": ("mm", "millimeter"),
}


def _ucum(value: str, meaning: str) -> Any:
    return coded(value, "UCUM", meaning)


def feature_unit(feature: str) -> Any:
    """UCUM unit of a PyRadiomics feature column: shape lengths/areas/volumes in mm, everything else "1"."""
    if "_shape" in feature:
        unit = SHAPE_UNITS.get(feature.rsplit("_", 1)[-1])
        if unit:
            return _ucum(*unit)
    return _ucum(NO_UNITS[0], NO_UNITS[2])


def patient_unit(column: str) -> Any:
    unit = UCUM_UNITS.get(QUANTITIES.get(column, ("", ""))[1])
    return _ucum(*unit) if unit else _ucum(NO_UNITS[0], NO_UNITS[2])


def _finite(value: Any) -> float | None:
    """The value as a float, or None for missing, NaN, infinite or text (SR numeric items hold finite numbers)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def _segments(seg: Any) -> dict[str, tuple[int, str]]:
    """SEG segment label → (segment number, tracking UID)."""
    found = {}
    for item in seg.SegmentSequence:
        found[str(item.SegmentLabel)] = (int(item.SegmentNumber), str(item.get("TrackingUID", "")))
    return found


def lesion_group(row: Mapping[str, Any], features: Sequence[str], seg: Any, number: int, tracking_uid: str) -> Any:
    """TID 1411 group of one lesion: its SEG segment, site, volume and features."""
    hd = require("highdicom")
    name = str(row[LESION_ID])
    measurements = []
    volume = _finite(row.get(VOLUME_FEATURE))
    if volume is not None:
        measurements.append(hd.sr.Measurement(name=coded(*VOLUME), value=volume, unit=coded(*CUBIC_MILLIMETER)))
    for feature in features:
        value = _finite(row.get(feature))
        if value is not None:
            measurements.append(hd.sr.Measurement(name=private_code(feature), value=value, unit=feature_unit(feature)))
    site = site_code(row.get(SITE) if isinstance(row.get(SITE), str) else None)
    return hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=tracking_uid, identifier=name[:64]),
        referenced_segment=hd.sr.ReferencedSegment.from_segmentation(seg, number),
        finding_type=coded(*LESION_TYPE), finding_sites=[hd.sr.FindingSite(site)] if site is not None else None,
        measurements=measurements or None,
    )


def patient_group(values: Mapping[str, Any], tracking_uid: str) -> Any | None:
    """TID 1501 group ``patient``: every finite numeric value of the patient's patients.csv row (not the
    PatientID, even when it is a number)."""
    hd = require("highdicom")
    measurements = [
        hd.sr.Measurement(name=private_code(str(column)), value=number, unit=patient_unit(str(column)))
        for column, value in values.items() if column != PATIENT_ID and (number := _finite(value)) is not None
    ]
    if not measurements:
        return None
    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=tracking_uid, identifier=PATIENT_TRACKING_ID),
        finding_type=private_code(PATIENT_FINDING), measurements=measurements,
    )


def image_library_headers(ct_datasets: Sequence[Any]) -> list[Any]:
    """Copies of the (slice-ordered) CT headers for the SR's image library, SpacingBetweenSlices filled in from
    the slice positions where the CT omits it (a Type 3 attribute most CTs leave out): highdicom 0.22, the newest
    on Python 3.9 (Slicer 5.8), reads it unconditionally for the library's TID 1604 descriptors."""
    import copy

    headers = [copy.deepcopy(ds) for ds in ct_datasets]
    if len(headers) > 1 and any("SpacingBetweenSlices" not in ds for ds in headers):
        orientation = np.array([float(v) for v in headers[0].ImageOrientationPatient])
        normal = np.cross(orientation[:3], orientation[3:])
        heights = [float(np.dot([float(v) for v in ds.ImagePositionPatient], normal)) for ds in headers]
        spacing = (heights[-1] - heights[0]) / (len(heights) - 1)
        for ds in headers:
            if "SpacingBetweenSlices" not in ds:
                ds.SpacingBetweenSlices = f"{spacing:.6g}"
    return headers


def build_measurement_report(
    ct_datasets: Sequence[Any], seg: Any, lesions: pd.DataFrame, features: Sequence[str] | None = None,
    patient: Mapping[str, Any] | None = None, *, seed: str | None = None, uid_root: str | None = None,
    series_number: int = SR_SERIES_NUMBER,
) -> Any:
    """The ``highdicom.sr.Comprehensive3DSR`` of one patient; see :func:`write_measurement_report`."""
    hd = require("highdicom")
    codes = require("pydicom.sr.codedict").codes
    features = [c for c in lesions.columns if c not in METADATA_COLUMNS] if features is None else list(features)
    missing = [f for f in features if f not in lesions.columns]
    if missing:
        raise DicomError(f"feature(s) {missing[:5]} are not columns of the lesion table")
    segments = _segments(seg)
    ok = lesions[lesions[STATUS].astype(str) == STATUS_OK] if STATUS in lesions else lesions
    unknown = [str(name) for name in ok[LESION_ID] if str(name) not in segments]
    if unknown:
        raise DicomError(f"lesion(s) {unknown} have no segment in the DICOM SEG {seg.SOPInstanceUID} "
                         f"(its segments: {sorted(segments)})")
    ct_datasets = in_slice_order(ct_datasets)
    series_uid = str(ct_datasets[0].SeriesInstanceUID)
    groups = [lesion_group(row, features, seg, *segments[str(row[LESION_ID])]) for _, row in ok.iterrows()]
    summary = patient_group(patient or {}, new_uid(seed, "patient-tracking", series_uid, root=uid_root))
    if summary is not None:
        groups.append(summary)
    device = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=new_uid(seed, "device", root=uid_root), name="MIRV", manufacturer_name=MANUFACTURER,
            model_name=f"MIRV {__version__}"),
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=device),
        procedure_reported=codes.LN.CTUnspecifiedBodyRegion, imaging_measurements=groups,
        referenced_images=image_library_headers(ct_datasets),
    )
    created = None if seed is None else creation_stamp(ct_datasets[0])
    sr = hd.sr.Comprehensive3DSR(
        evidence=[*ct_datasets, seg], content=report[0],
        series_instance_uid=new_uid(seed, "sr-series", series_uid, root=uid_root), series_number=series_number,
        sop_instance_uid=new_uid(seed, "sr-instance", series_uid, root=uid_root), instance_number=1,
        manufacturer=MANUFACTURER, is_complete=True, series_description="MIRV measurements",
    )
    if created is not None:
        make_reproducible(sr, created)
    return sr


def write_measurement_report(
    path: str | os.PathLike[str], ct_datasets: Sequence[Any], seg: Any, lesions: pd.DataFrame,
    features: Sequence[str] | None = None, patient: Mapping[str, Any] | None = None, *, seed: str | None = None,
    uid_root: str | None = None, series_number: int = SR_SERIES_NUMBER,
) -> Path:
    """Write one patient's TID 1500 Measurement Report; returns ``path``.

    ``ct_datasets``: the CT series (headers suffice); ``seg``: the SEG dataset of the lesions
    (:func:`MIRVLib.dicom.seg_output.write_seg`, read back with pydicom), whose segment labels are the lesion
    names; ``lesions``: the patient's rows of the lesion table (lesions.csv; rows whose Status is not ok are
    left out); ``features``: the feature columns to report (default every feature column; for a cohort run the
    selected features); ``patient``: the patient's patients.csv row (its finite numeric values are written).
    ``seed`` makes UIDs and dates reproducible. Written atomically.
    """
    sr = build_measurement_report(ct_datasets, seg, lesions, features, patient, seed=seed, uid_root=uid_root,
                                  series_number=series_number)
    return write_dataset(sr, path)
