"""Write an image and its lesions as a DICOM study: a CT series, a DICOM SEG and an RTSTRUCT.

Used to give the bundled NRRD sample patient a DICOM twin (``Resources/SampleData/make_sample_dicom.py``, the
``make demo-dicom`` target and the DICOM tests). Deterministic: every UID is pydicom's hash-based UID of a seed
and what it names (:func:`MIRVLib.dicom.uids.new_uid`), dates are fixed, so two runs write byte-identical files.

The CT is stored as int16 with RescaleIntercept -1024 (stored value = HU + 1024), so a reader that ignores the
rescale is caught by the round-trip tests. The RTSTRUCT's contours are traced from the masks per slice with
marching squares at level 0.5 on the voxel centres (contourpy, which matplotlib depends on): every contour
passes half-way between an inside and an outside voxel centre, so the point-in-polygon rule of
:mod:`MIRVLib.dicom.rtstruct_input` gives the same voxels back.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from MIRVLib import __version__
from MIRVLib.dicom import require
from MIRVLib.dicom.seg_output import write_dataset, write_seg
from MIRVLib.dicom.series import RT_STRUCTURE_SET
from MIRVLib.dicom.uids import new_uid
from MIRVLib.lesions import Lesion, full_mask

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
STUDY_DATE, STUDY_TIME = "20250101", "090000"
RESCALE_INTERCEPT = -1024


@dataclass(frozen=True)
class Patient:
    """Who the study belongs to (the sample is synthetic: a made-up name and ID)."""

    patient_id: str = "MIRV-SAMPLE"
    name: str = "MIRV^Sample"
    study_id: str = "1"
    accession: str = "MIRV0001"


@dataclass
class SampleStudy:
    """Where the study's objects were written."""

    ct_folder: Path
    seg: Path
    rtstruct: Path


def write_study(
    image: sitk.Image, lesions: Sequence[Lesion], out: str | os.PathLike[str], *, seed: str = "mirv-sample",
    patient: Patient | None = None,
) -> SampleStudy:
    """``out``/CT/CT_0001.dcm ..., ``out``/SEG/lesions.dcm and ``out``/RTSTRUCT/lesions.dcm.

    ``lesions`` must lie on the image grid (conformed). Separate folders, because a folder given as ``--image``
    must hold one image series and one given as ``--lesions`` one segmentation object.
    """
    out = Path(out)
    patient = patient or Patient()
    datasets = write_ct(image, out / "CT", seed=seed, patient=patient)
    seg = write_seg(datasets, lesions, out / "SEG" / "lesions.dcm", image, seed=seed)
    rtstruct = write_rtstruct(datasets, lesions, image, out / "RTSTRUCT" / "lesions.dcm", seed=seed)
    return SampleStudy(out / "CT", seg, rtstruct)


def write_sample(out: str | os.PathLike[str], time_point: str = "baseline") -> SampleStudy:
    """The bundled sample patient's ``time_point`` (baseline or followup) CT and lesions as a DICOM study."""
    from MIRVLib.lesions import load_image, load_lesions
    from MIRVLib.resources import resources_dir

    folder = resources_dir() / "SampleData"
    image = load_image(folder / f"{time_point}_CT.nrrd")
    lesions = load_lesions(folder / f"{time_point}_lesions.seg.nrrd", reference_image=image)
    return write_study(image, lesions, out, seed=f"mirv-sample-{time_point}")


def write_ct(image: sitk.Image, folder: Path, *, seed: str, patient: Patient) -> list[Any]:
    """One single-frame CT Image Storage file per slice; returns the datasets in slice order."""
    voxels = sitk.GetArrayViewFromImage(image)
    stored = np.round(voxels).astype(np.int32) - RESCALE_INTERCEPT
    if stored.min() < np.iinfo(np.int16).min or stored.max() > np.iinfo(np.int16).max:
        raise ValueError(f"CT values [{voxels.min()}, {voxels.max()}] do not fit int16 with intercept {RESCALE_INTERCEPT}")
    direction = np.array(image.GetDirection()).reshape(3, 3)
    study_uid = new_uid(seed, "study")
    series_uid = new_uid(seed, "ct-series")
    frame_uid = new_uid(seed, "frame-of-reference")
    datasets = []
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(voxels.shape[0]):
        ds = _base_dataset(CT_IMAGE_STORAGE, new_uid(seed, "ct-instance", str(k)), "CT", patient, study_uid)
        ds.SeriesInstanceUID, ds.SeriesNumber, ds.InstanceNumber = series_uid, 1, k + 1
        ds.SeriesDescription = "MIRV sample CT"
        ds.FrameOfReferenceUID, ds.PositionReferenceIndicator = frame_uid, ""
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        position = image.TransformIndexToPhysicalPoint((0, 0, k))
        ds.ImagePositionPatient = [_ds(v) for v in position]
        ds.ImageOrientationPatient = [_ds(v) for v in (*direction[:, 0], *direction[:, 1])]
        ds.SliceLocation = _ds(float(np.dot(position, np.cross(direction[:, 0], direction[:, 1]))))
        ds.PixelSpacing = [_ds(image.GetSpacing()[1]), _ds(image.GetSpacing()[0])]
        ds.SliceThickness = _ds(image.GetSpacing()[2])
        ds.KVP, ds.PatientPosition, ds.AcquisitionNumber = "120", "HFS", 1
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.Rows, ds.Columns = voxels.shape[1], voxels.shape[2]
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = str(RESCALE_INTERCEPT), "1", "HU"
        ds.WindowCenter, ds.WindowWidth = "40", "400"
        ds.PixelData = stored[k].astype("<i2").tobytes()
        write_dataset(ds, folder / f"CT_{k + 1:04d}.dcm")
        del ds.PixelData  # the SEG/RTSTRUCT writers need headers only
        datasets.append(ds)
    return datasets


def write_rtstruct(
    ct_datasets: Sequence[Any], lesions: Sequence[Lesion], image: sitk.Image, path: Path, *, seed: str
) -> Path:
    """An RT Structure Set with one ROI per lesion, contours traced per slice (see the module docstring)."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence

    first = ct_datasets[0]
    ds = _base_dataset(RT_STRUCTURE_SET, new_uid(seed, "rtstruct-instance"), "RTSTRUCT", None, first.StudyInstanceUID)
    for keyword in ("PatientID", "PatientName", "PatientBirthDate", "PatientSex", "StudyID", "AccessionNumber",
                    "ReferringPhysicianName", "StudyDate", "StudyTime"):
        setattr(ds, keyword, first.get(keyword, ""))
    ds.SeriesInstanceUID, ds.SeriesNumber, ds.InstanceNumber = new_uid(seed, "rtstruct-series"), 1003, 1
    ds.SeriesDescription, ds.OperatorsName = "MIRV lesions (RTSTRUCT)", ""
    ds.StructureSetLabel, ds.StructureSetName = "LESIONS", "MIRV lesions"
    ds.StructureSetDate, ds.StructureSetTime = STUDY_DATE, STUDY_TIME

    def image_reference(dataset: Any) -> Dataset:
        item = Dataset()
        item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = dataset.SOPClassUID, dataset.SOPInstanceUID
        return item

    series = Dataset()
    series.SeriesInstanceUID = first.SeriesInstanceUID
    series.ContourImageSequence = DicomSequence([image_reference(d) for d in ct_datasets])
    study = Dataset()
    study.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"  # Detached Study Management (as the standard lists)
    study.ReferencedSOPInstanceUID = first.StudyInstanceUID
    study.RTReferencedSeriesSequence = DicomSequence([series])
    frame = Dataset()
    frame.FrameOfReferenceUID = first.FrameOfReferenceUID
    frame.RTReferencedStudySequence = DicomSequence([study])
    ds.ReferencedFrameOfReferenceSequence = DicomSequence([frame])

    rois, contours, observations = [], [], []
    for number, lesion in enumerate((lesion for lesion in lesions if not lesion.error), start=1):
        roi = Dataset()
        roi.ROINumber, roi.ReferencedFrameOfReferenceUID = number, first.FrameOfReferenceUID
        roi.ROIName, roi.ROIGenerationAlgorithm = lesion.name, "MANUAL"
        rois.append(roi)
        item = Dataset()
        item.ReferencedROINumber = number
        item.ROIDisplayColor = [int(round(255 * c)) for c in (lesion.color or (1.0, 0.0, 0.0))]
        item.ContourSequence = DicomSequence(
            _contour_item(points, image_reference(ct_datasets[k]), image, k)
            for k, points in trace_contours(full_mask(lesion.mask, image))
        )
        contours.append(item)
        observation = Dataset()
        observation.ObservationNumber, observation.ReferencedROINumber = number, number
        observation.RTROIInterpretedType, observation.ROIInterpreter = "GTV", ""
        observations.append(observation)
    ds.StructureSetROISequence = DicomSequence(rois)
    ds.ROIContourSequence = DicomSequence(contours)
    ds.RTROIObservationsSequence = DicomSequence(observations)
    return write_dataset(ds, path)


def trace_contours(mask: sitk.Image) -> list[tuple[int, np.ndarray]]:
    """(slice k, closed polygon as (n, 2) continuous (i, j) indices) of every contour of a binary mask.

    Marching squares at 0.5 on a one-voxel zero border, so every contour is closed; holes come out as their
    own contours, which the even-odd rule of the reader subtracts.
    """
    import contourpy

    voxels = sitk.GetArrayViewFromImage(mask)
    traced = []
    for k in np.flatnonzero(voxels.reshape(voxels.shape[0], -1).any(axis=1)):
        padded = np.pad(voxels[k].astype(np.float64), 1)
        generator = contourpy.contour_generator(z=padded, line_type=contourpy.LineType.Separate)
        for line in generator.lines(0.5):
            points = np.asarray(line)[:-1] - 1.0  # drop the repeated closing point; undo the border
            traced.append((int(k), points))
    return traced


def _contour_item(points: np.ndarray, reference: Any, image: sitk.Image, k: int) -> Any:
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence

    item = Dataset()
    item.ContourImageSequence = DicomSequence([reference])
    item.ContourGeometricType = "CLOSED_PLANAR"
    item.NumberOfContourPoints = len(points)
    physical = [image.TransformContinuousIndexToPhysicalPoint((float(i), float(j), float(k))) for i, j in points]
    item.ContourData = [_ds(v) for point in physical for v in point]
    return item


def _base_dataset(sop_class: str, sop_instance: str, modality: str, patient: Patient | None, study_uid: str) -> Any:
    pydicom = require("pydicom")
    from pydicom.dataset import Dataset, FileMetaDataset

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = sop_class, sop_instance
    meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    meta.ImplementationClassUID = pydicom.uid.PYDICOM_IMPLEMENTATION_UID
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = sop_class, sop_instance, modality
    ds.StudyInstanceUID = study_uid
    ds.InstanceCreationDate, ds.InstanceCreationTime = STUDY_DATE, STUDY_TIME
    ds.SeriesDate, ds.SeriesTime = STUDY_DATE, STUDY_TIME
    ds.Manufacturer, ds.ManufacturerModelName, ds.SoftwareVersions = "MIRV", "MIRV sample study", str(__version__)
    if patient is not None:
        ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = patient.name, patient.patient_id, "", "O"
        ds.StudyDate, ds.StudyTime, ds.StudyID = STUDY_DATE, STUDY_TIME, patient.study_id
        ds.AccessionNumber, ds.ReferringPhysicianName = patient.accession, ""
        ds.ContentDate, ds.ContentTime = STUDY_DATE, STUDY_TIME
    return ds


def _ds(value: float) -> str:
    """The most precise decimal string DICOM accepts (DS: at most 16 characters), so geometry survives."""
    value = float(value)
    for digits in range(17, 0, -1):
        text = f"{value:.{digits}g}"
        if len(text) <= 16:
            return text
    raise ValueError(f"{value} cannot be written as a DICOM decimal string")
