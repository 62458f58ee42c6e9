"""Qt-free logic of the MIRV Slicer module: one patient's lesions from MRML nodes to MIRV, overlay and exports.

Nothing scientific happens here: segments become `MIRVLib.lesions.Lesion` masks, features come from
`MIRVLib.extraction.extract_patient`, and the patient is scored by `MIRVLib.cohort.score_cohort` — the same
code path as ``mirv extract`` + ``mirv cohort`` — with a shipped or user-fitted model. This module turns the
results into table nodes, a 3D overlay, and — through `MIRVLib.patient_report`, as ``mirv cohort --figures``
does — matrix PNGs, the readout, the HTML report and the cohort CSV row. It needs only MRML, so it runs and
is tested on slicer-core without the Slicer application.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import slicer

from MIRVLib import matrix_figure, patient_report, quantities
from MIRVLib.cohort import CohortResult, score_cohort
from MIRVLib.colour_scale import ColourScale, colour_scale
from MIRVLib.extraction import extract_patient
from MIRVLib.file_names import file_stem
from MIRVLib.lesion_table import (
    LESION_ID,
    METADATA_COLUMNS,
    PATIENT_ID,
    SEGMENT_ID,
    SITE,
    STATUS,
    STATUS_OK,
    VOLUME_FEATURE,
    LesionTable,
)
from MIRVLib.metrics import PatientMIRV
from MIRVLib.options import DEFAULT_RESPONSE_READING, ResponseReading
from MIRVLib.provenance import atomic_write_csv, atomic_write_json, provenance_record
from MIRVLib.reduction import FeatureReduction
from MIRVLib.resources import model_path
from MIRVLib.response import matched_volumes, volume_response
from MIRVLogic import overlay
from MIRVLogic.extraction_job import ExtractionCancelled, ExtractionJob  # noqa: F401  (MIRVLogic.ExtractionCancelled)
from MIRVLogic.mrml import lesions_from_segmentation, segment_centroids, segment_ids, sitk_image_from_volume
from MIRVLogic.sites import segment_site, set_segment_site
from MIRVLogic.tables import dataframe_from_table_node, result_table_node, update_table_node

DEFAULT_MODEL = "SARC021-lung-paper"
METRICS = {"dissimilarity": "Cosine dissimilarity", "distance": "Euclidean distance"}
TEXT_COLUMNS = tuple(METADATA_COLUMNS)
PROVENANCE_ATTRIBUTE = "MIRV.Provenance"
ProgressCallback = Callable[[int, int, str], None]

COLUMN_DESCRIPTIONS = {
    PATIENT_ID: "Patient identifier",
    LESION_ID: "Lesion name (segment name)",
    SEGMENT_ID: "Segment ID in the segmentation node",
    SITE: "Anatomical site of the lesion (segment tag 'Site')",
    STATUS: "'ok' or the reason the lesion's features could not be computed",
}


def feature_units(name: str) -> str:
    """Units of a PyRadiomics feature column, where it has one (shape features of the original image)."""
    if not name.startswith("original_shape_"):
        return ""
    feature = name.removeprefix("original_shape_")
    if "Volume" in feature:
        return "mm3"
    if feature == "SurfaceArea":
        return "mm2"
    if "Diameter" in feature or "Axis" in feature:
        return "mm"
    return ""


def feature_description(name: str) -> str:
    parts = name.split("_", 2)
    if len(parts) != 3:
        return ""
    image_type, feature_class, feature = parts
    return f"PyRadiomics {feature_class} feature '{feature}' of the {image_type} image"


def _load_model(model: str | os.PathLike[str] | FeatureReduction | None) -> FeatureReduction:
    if isinstance(model, FeatureReduction):
        if not model.is_fitted:
            raise ValueError("the MIRV model must be fitted (a shipped model or a model file from `mirv cohort`)")
        return model
    return FeatureReduction.load(model_path(model or DEFAULT_MODEL))


@dataclass
class MIRVResult:
    """One patient's MIRV: the patients.csv row (``summary``), matrices as table nodes, lesions and sites."""

    patientID: str
    summary: dict[str, Any]
    mirv: PatientMIRV
    cohort: CohortResult
    lesions: pd.DataFrame  # LesionID, SegmentID, Site of the scored lesions (matrix order)
    dissimilarityTableNode: Any
    distanceTableNode: Any
    patientTableNode: Any
    featureTableNode: Any = None
    lesionChanges: pd.DataFrame | None = None
    failedLesions: list[tuple[str, str, str]] = field(default_factory=list)
    model: str = DEFAULT_MODEL  # shipped model name or model file the patient was scored with
    followUpTableNode: Any = None
    colourScaleMode: str = "full"  # one of `MIRVLib.options.SCALE_MODES`

    def matrix(self, metric: str = "dissimilarity") -> pd.DataFrame:
        return self.mirv.frame(metric)

    def matrixTableNode(self, metric: str = "dissimilarity"):
        return self.dissimilarityTableNode if metric == "dissimilarity" else self.distanceTableNode

    def colourScale(self, metric: str = "dissimilarity") -> ColourScale:
        """The fixed colour scale of ``metric`` for this model (`MIRVLib.colour_scale`), shared by the matrix
        PNG, the module's matrix table and the 3D overlay."""
        return colour_scale(metric, self.cohort.reduction, self.colourScaleMode)

    def heatmap(self, metric: str = "dissimilarity") -> matrix_figure.Heatmap:
        """The matrix as coloured, labelled cells (the module's interactive table; same colours as the PNG)."""
        return matrix_figure.heatmap(self.matrix(metric), self.colourScale(metric))

    @property
    def warnings(self) -> list[str]:
        """What the scoring warned about (cohort and patient level), shown under the readout."""
        row = [w for w in str(self.summary.get("Warnings") or "").split(" ; ") if w]
        return list(dict.fromkeys([*self.cohort.warnings, *row, *self.mirv.warnings]))

    def mostDivergentPair(self, metric: str = "dissimilarity") -> tuple[str, str] | None:
        return patient_report.most_divergent_pair(self.summary, metric)

    @property
    def siteCounts(self) -> dict[str, int]:
        return patient_report.site_counts(self.lesions[SITE])

    def exportRow(self, patientID: str | None = None) -> dict[str, Any]:
        """The patients.csv row, as `mirv cohort` writes it (site counts included: the segments carry sites)."""
        return {**self.summary, PATIENT_ID: patientID or self.patientID}

    def readout(self) -> str:
        """The readout panel as text, with units (also what the headless scripts print)."""
        return patient_report.readout(self.patientID, self.summary, self.siteCounts,
                                      len(self.cohort.reduction.selected), self.lesionChanges, self.failedLesions,
                                      self.warnings)


class MIRVLogic:
    """Per-patient MIRV on MRML nodes. No GUI, no Qt: the Widget, the batch script and the tests call this."""

    def __init__(self, scene=None) -> None:
        self._scene = scene

    @property
    def scene(self):
        return self._scene if self._scene is not None else slicer.mrmlScene

    # ----- lesions and sites -----
    @staticmethod
    def lesionSites(segmentationNode) -> dict[str, str]:
        """Segment ID → site (the segment's ``Site`` tag; empty when not set)."""
        return {sid: segment_site(segmentationNode, sid) for sid in segment_ids(segmentationNode)}

    @staticmethod
    def setLesionSite(segmentationNode, segmentID: str, site: str) -> None:
        set_segment_site(segmentationNode, segmentID, site)

    # ----- extraction -----
    def extractFeatures(self, volumeNode, segmentationNode, segmentIDs: Sequence[str] | None = None,
                        preset: str | os.PathLike[str] = "MIRV-CT", jobs: int = 1,
                        progressCallback: ProgressCallback | None = None, patientID: str | None = None,
                        tableNode=None):
        """Radiomic features of every segment, in this process: one table row per lesion (metadata, Status,
        features). Scripts use this; the module's GUI uses `startExtraction` so that Slicer stays responsive.

        ``progressCallback(done, total, lesionName)`` is called after each lesion; raising
        `ExtractionCancelled` from it stops the extraction.
        """
        image, lesions, patient_id = self._extractionInputs(volumeNode, segmentationNode, segmentIDs, patientID)
        result = extract_patient(image, lesions, preset, patient_id, jobs, progressCallback)
        return self._publishFeatures(result.features, result.provenance, volumeNode, segmentationNode, tableNode)

    def startExtraction(self, volumeNode, segmentationNode, segmentIDs: Sequence[str] | None = None,
                        preset: str | os.PathLike[str] = "MIRV-CT", jobs: int = 1, patientID: str | None = None,
                        tableNode=None) -> ExtractionJob:
        """Start `extractFeatures` in a background process and return at once; poll the job, then call
        `finishExtraction` (on this thread: it writes the table node)."""
        image, lesions, patient_id = self._extractionInputs(volumeNode, segmentationNode, segmentIDs, patientID)
        request = {"image": image, "lesions": lesions, "preset": str(preset), "patientID": patient_id, "jobs": jobs}
        target = {"volume": volumeNode.GetID(), "segmentation": segmentationNode.GetID(),
                  "table": tableNode.GetID() if tableNode is not None else ""}
        return ExtractionJob(request, len(lesions), target)

    def finishExtraction(self, job: ExtractionJob):
        """The table node of a finished background extraction (raises `ExtractionCancelled` if it was cancelled)."""
        features, provenance = job.result()
        nodes = {role: self.scene.GetNodeByID(node_id) if node_id else None for role, node_id in job.target.items()}
        if nodes["volume"] is None or nodes["segmentation"] is None:
            raise ValueError("the CT or the segmentation was removed from the scene during the extraction")
        return self._publishFeatures(features, provenance, nodes["volume"], nodes["segmentation"], nodes["table"])

    @staticmethod
    def _extractionInputs(volumeNode, segmentationNode, segmentIDs: Sequence[str] | None,
                          patientID: str | None) -> tuple[Any, list, str]:
        """The CT as a SimpleITK image, one `Lesion` per segment, and the patient ID (default: the CT's name)."""
        if segmentationNode is None:
            raise ValueError("select a lesion segmentation")
        image = sitk_image_from_volume(volumeNode)
        lesions = lesions_from_segmentation(segmentationNode, volumeNode, segmentIDs, reference=image)
        if not lesions:
            raise ValueError(f"segmentation '{segmentationNode.GetName()}' has no segments")
        return image, lesions, patientID if patientID is not None else volumeNode.GetName()

    def _publishFeatures(self, frame: pd.DataFrame, provenance: dict[str, Any], volumeNode, segmentationNode,
                         tableNode):
        """The lesion table as a table node (descriptions, units, provenance and source nodes as attributes)."""
        descriptions = {**COLUMN_DESCRIPTIONS, **{c: feature_description(c) for c in frame.columns
                                                  if c not in COLUMN_DESCRIPTIONS}}
        units = {c: feature_units(c) for c in frame.columns if feature_units(c)}
        if tableNode is None:
            tableNode = self.scene.AddNewNodeByClass("vtkMRMLTableNode", f"{volumeNode.GetName()} MIRV features")
        update_table_node(tableNode, frame, descriptions, units)
        provenance = {**provenance, "volumeNode": volumeNode.GetName(),
                      "segmentationNode": segmentationNode.GetName(),
                      "volumeFile": _storage_file(volumeNode), "segmentationFile": _storage_file(segmentationNode)}
        tableNode.SetAttribute(PROVENANCE_ATTRIBUTE, json.dumps(provenance, default=str))
        tableNode.SetAttribute("MIRV.SegmentationNodeID", segmentationNode.GetID())
        tableNode.SetAttribute("MIRV.VolumeNodeID", volumeNode.GetID())
        return tableNode

    @staticmethod
    def featureFrame(featureTableNode) -> pd.DataFrame:
        """The lesion feature table node as a DataFrame (ids kept as text)."""
        return dataframe_from_table_node(featureTableNode, TEXT_COLUMNS)

    @staticmethod
    def provenance(featureTableNode) -> dict[str, Any]:
        return json.loads(featureTableNode.GetAttribute(PROVENANCE_ATTRIBUTE) or "{}")

    # ----- MIRV -----
    def computeMIRV(self, featureTableNode, model: str | os.PathLike[str] | FeatureReduction | None = None,
                    followUpTableNode=None, strict: bool = False,
                    responseReading: ResponseReading = DEFAULT_RESPONSE_READING) -> MIRVResult:
        """Score the patient with a fitted model (default: the shipped SARC021 ``paper`` model) via `score_cohort`.

        With a follow-up feature table, lesions are matched by name and the volumetric response enters the row
        (``responseReading``: the paper's Methods or Results wording of complete tumour response, `MIRVLib.response`).
        The extraction's preset and the lesion sites are checked against the model (`MIRVLib.applicability`):
        a mismatch is a warning, with ``strict`` an error.
        """
        frame = self.featureFrame(featureTableNode)
        patients = list(dict.fromkeys(frame[PATIENT_ID].astype(str))) if PATIENT_ID in frame else []
        if len(patients) != 1:
            raise ValueError(f"table '{featureTableNode.GetName()}' must hold one patient, found {len(patients)}")
        table = LesionTable.from_frame(frame, source=featureTableNode.GetName(), nonfinite="drop-lesion")
        reduction = _load_model(model)
        volumes = None
        if followUpTableNode is not None:
            volumes = self._volumeTable(frame, self.featureFrame(followUpTableNode))
        cohort = score_cohort(table, reduction, volumes, extraction_preset=self.provenance(featureTableNode).get("preset"),
                              strict=strict, response_reading=responseReading)
        patient = cohort.mirv[0]
        summary = cohort.patients.iloc[0].to_dict()
        summary = {k: (None if isinstance(v, type(pd.NA)) else v) for k, v in summary.items()}
        scored = table.frame.set_index(LESION_ID)
        lesions = pd.DataFrame({
            LESION_ID: list(patient.lesion_ids),
            SEGMENT_ID: [scored[SEGMENT_ID].get(lid, "") if SEGMENT_ID in scored else "" for lid in patient.lesion_ids],
            SITE: [scored[SITE].get(lid, "") if SITE in scored else "" for lid in patient.lesion_ids],
        })
        name = featureTableNode.GetName()
        nodes = {}
        for metric in METRICS:
            matrix = patient.frame(metric).rename_axis(LESION_ID).reset_index()
            nodes[metric] = self._resultNode(f"{name} {metric}", matrix)
        result = MIRVResult(patients[0], summary, patient, cohort, lesions, nodes["dissimilarity"], nodes["distance"],
                            None, featureTableNode, cohort.lesion_changes, list(table.failed_lesions),
                            "(in memory)" if isinstance(model, FeatureReduction) else str(model or DEFAULT_MODEL),
                            followUpTableNode)
        result.patientTableNode = self._resultNode(f"{name} patient", pd.DataFrame([result.exportRow()]))
        return result

    def _resultNode(self, name: str, frame: pd.DataFrame):
        """A result table node, reused on a re-run (by name and MIRV role) so the scene holds one copy."""
        return result_table_node(self.scene, name, frame, "MIRV.Result", "1", quantities.descriptions(frame.columns),
                                 quantities.units(frame.columns))

    # ----- follow-up -----
    @staticmethod
    def _volumeTable(baseline: pd.DataFrame, follow_up: pd.DataFrame) -> pd.DataFrame:
        """PatientID, LesionID, VolumeBaseline, VolumeFollowUp, lesions matched by name as in `mirv batch`
        (`MIRVLib.response.matched_volumes`); a lesion whose extraction failed is unmeasured there."""
        def volumes(frame: pd.DataFrame) -> pd.Series:
            ok = frame[STATUS].fillna(STATUS_OK).astype(str).eq(STATUS_OK) if STATUS in frame else True
            values = pd.to_numeric(frame[VOLUME_FEATURE], errors="coerce").where(ok)
            return pd.Series(values.to_numpy(), index=frame[LESION_ID].astype(str))

        for frame, what in ((baseline, "baseline"), (follow_up, "follow-up")):
            if VOLUME_FEATURE not in frame:
                raise ValueError(f"the {what} feature table has no {VOLUME_FEATURE} column (shape features needed)")
        return matched_volumes(str(baseline[PATIENT_ID].iloc[0]), volumes(baseline), volumes(follow_up))

    def computeResponse(self, baselineTableNode, followUpTableNode) -> dict[str, Any]:
        """Per-lesion % volume change, the spread of those changes, the total-burden change and complete tumour
        response (`MIRVLib.response`)."""
        volumes = self._volumeTable(self.featureFrame(baselineTableNode), self.featureFrame(followUpTableNode))
        changes, patients = volume_response(volumes)
        row = patients.iloc[0]
        node = self._resultNode(f"{baselineTableNode.GetName()} volume change", changes)
        return {
            "lesions": changes,
            "VolumeChangeRange": float(row["VolumeChangeRange"]),
            "TotalBurdenChangePercent": float(row["TotalBurdenChangePercent"]),
            "CompleteTumorResponse": int(row["CompleteTumorResponse"]),
            "BaselineVolumeTotal": float(row["BaselineVolumeTotal"]),
            "FollowUpVolumeTotal": float(row["FollowUpVolumeTotal"]),
            "tableNode": node,
        }

    # ----- overlay -----
    def lesionSegmentIDs(self, segmentationNode, result: MIRVResult) -> list[str]:
        """The segment of each scored lesion: by segment ID when present, else by segment name."""
        segmentation = segmentationNode.GetSegmentation()
        ids = []
        for lesion_id, segment_id in zip(result.lesions[LESION_ID], result.lesions[SEGMENT_ID]):
            if segment_id and segmentation.GetSegment(segment_id) is not None:
                ids.append(segment_id)
                continue
            by_name = segmentation.GetSegmentIdBySegmentName(lesion_id)
            if not by_name:
                raise ValueError(f"segmentation '{segmentationNode.GetName()}' has no segment for lesion '{lesion_id}'")
            ids.append(by_name)
        return ids

    def showDissimilarityOverlay(self, segmentationNode, result: MIRVResult, metric: str = "dissimilarity"):
        """Tubes between lesion centroids coloured and sized by the pairwise value; lesions coloured by their mean."""
        matrix = result.matrix(metric).to_numpy(dtype=float)
        pair = result.mostDivergentPair(metric)
        names = list(result.lesions[LESION_ID])
        most = (names.index(pair[0]), names.index(pair[1])) if pair else None
        return overlay.show_overlay(segmentationNode, self.lesionSegmentIDs(segmentationNode, result), matrix,
                                    METRICS[metric], most, result.colourScale(metric))

    @staticmethod
    def hideDissimilarityOverlay(segmentationNode) -> None:
        """Remove the overlay and restore the segments' original colours and opacity."""
        overlay.hide_overlay(segmentationNode)

    @staticmethod
    def overlayNodes(segmentationNode) -> list:
        return overlay.overlay_nodes(segmentationNode)

    def pairCentroids(self, segmentationNode, result: MIRVResult, pair: tuple[str, str] | None = None,
                      metric: str = "dissimilarity") -> np.ndarray:
        """RAS centroids (2×3) of a lesion pair (default: the most divergent one)."""
        pair = pair or result.mostDivergentPair(metric)
        if not pair:
            raise ValueError("no lesion pair: MIRV is undefined for this patient")
        ids = dict(zip(result.lesions[LESION_ID], self.lesionSegmentIDs(segmentationNode, result)))
        return segment_centroids(segmentationNode, [ids[pair[0]], ids[pair[1]]])

    def jumpSlicesToPair(self, segmentationNode, result: MIRVResult, pair: tuple[str, str] | None = None,
                         metric: str = "dissimilarity") -> np.ndarray:
        """Centre every slice view between the two lesions and zoom out so both are in view; returns the centre."""
        centroids = self.pairCentroids(segmentationNode, result, pair, metric)
        centre = centroids.mean(axis=0)
        span = float(np.linalg.norm(centroids[1] - centroids[0]))
        for index in range(self.scene.GetNumberOfNodesByClass("vtkMRMLSliceNode")):
            node = self.scene.GetNthNodeByClass(index, "vtkMRMLSliceNode")
            node.JumpSliceByCentering(*centre)
            fov = node.GetFieldOfView()
            height = max(1.6 * span, 80.0)
            aspect = fov[0] / fov[1] if fov[1] else 1.0
            node.SetFieldOfView(height * aspect, height, fov[2])
        return centre

    def highlightPair(self, segmentationNode, result: MIRVResult, pair: tuple[str, str]):
        """Show one lesion pair in 3D: a white tube between the two lesions (replaces the previous pair)."""
        ids = dict(zip(result.lesions[LESION_ID], self.lesionSegmentIDs(segmentationNode, result)))
        return overlay.highlight_pair(segmentationNode, (ids[pair[0]], ids[pair[1]]), f"{pair[0]} – {pair[1]}")

    def showTableInLayout(self, tableNode, applicationLogic) -> None:
        """Switch to a layout with a table view and show ``tableNode`` in it, as Segment Statistics does — through
        the scene's layout and selection nodes, which the application's layout manager follows."""
        layout = self.scene.GetFirstNodeByClass("vtkMRMLLayoutNode")
        if layout is not None:
            layout.SetViewArrangement(slicer.vtkSlicerTablesLogic.GetLayoutWithTable(layout.GetViewArrangement()))
        applicationLogic.GetSelectionNode().SetActiveTableID(tableNode.GetID())
        applicationLogic.PropagateTableSelection()

    # ----- exports -----
    def saveReport(self, result: MIRVResult, folder: str | os.PathLike[str],
                   pictures: Mapping[str, str | os.PathLike[str]] | None = None,
                   inputs: Mapping[str, str | os.PathLike[str]] | None = None,
                   engine: str = "MIRV Slicer module") -> list[Path]:
        """The patient's report as ``MIRVBatch.py`` writes it: both matrices (CSV, PNG), the volume changes, a
        provenance JSON and the one-page HTML report (``<patient>_report.html``, the last path returned).

        ``pictures`` (caption → PNG, e.g. the 3D overlay) are embedded in the report; ``inputs`` (role → file) are
        hashed into the provenance, by default the files the CT(s) and segmentation(s) were loaded from.
        """
        out = Path(folder)
        stem = file_stem(result.patientID)
        extraction = self.provenance(result.featureTableNode)
        follow_up = self.provenance(result.followUpTableNode) if result.followUpTableNode is not None else None
        if inputs is None:
            inputs = {"image": extraction.get("volumeFile"), "lesions": extraction.get("segmentationFile")}
            if follow_up is not None:
                inputs.update(followUpImage=follow_up.get("volumeFile"), followUpLesions=follow_up.get("segmentationFile"))
        inputs = {role: Path(path) for role, path in inputs.items() if path and Path(path).is_file()}
        written = [atomic_write_csv(out / f"{stem}_{metric}.csv", result.matrix(metric).rename_axis(LESION_ID),
                                    index=True) for metric in METRICS]
        images = patient_report.save_matrix_figures(out, stem, result.mirv, result.cohort.reduction,
                                                    self._lesionSites(result), result.summary, result.colourScaleMode)
        if result.lesionChanges is not None:
            written.append(atomic_write_csv(out / f"{stem}_volume_changes.csv", result.lesionChanges))
        images.update({caption: Path(path) for caption, path in (pictures or {}).items()})
        try:
            model = {"name": result.model, "path": str(model_path(result.model))}
        except FileNotFoundError:  # a model passed in memory has no file
            model = {"name": result.model}
        provenance = provenance_record(inputs=inputs, preset=str(extraction.get("preset", {}).get("name", "")), extra={
            "patientID": result.patientID, "model": model, "engine": engine, "extraction": extraction,
            "followUpExtraction": follow_up, "summary": result.summary, "warnings": result.warnings,
        })
        written.append(atomic_write_json(out / f"{stem}_provenance.json", provenance))
        written += list(images.values())
        lesions = result.lesions.copy()
        if result.lesionChanges is not None:
            changes = result.lesionChanges.set_index(LESION_ID)[["PercentChange", "Status"]]
            lesions = lesions.join(changes.rename(columns={"Status": "FollowUp"}), on=LESION_ID)
        section = patient_report.patient_section(result.patientID, result.readout(), images, lesions,
                                                 result.exportRow())
        written.append(patient_report.write_report(out / f"{stem}_report.html", f"MIRV — patient {result.patientID}",
                                                   "", [section], provenance))
        return written

    @staticmethod
    def _lesionSites(result: MIRVResult) -> dict[str, str]:
        return dict(zip(result.lesions[LESION_ID], result.lesions[SITE]))

    def saveMatrixImage(self, result: MIRVResult, path: str | os.PathLike[str], metric: str = "dissimilarity") -> Path:
        """The N×N matrix as a colour-coded, value-annotated PNG on the fixed colour scale (most divergent pair
        outlined) — the figure `mirv cohort --figures` writes."""
        return patient_report.save_matrix_figure(path, result.mirv, metric, result.cohort.reduction,
                                                 self._lesionSites(result), result.summary, result.colourScaleMode)

    def dicomSeriesFolder(self, result: MIRVResult) -> Path | None:
        """The folder of the result's CT series in Slicer's DICOM database, or None for a CT not loaded from DICOM
        (`exportDicom` then needs ``ctFolder``); the GUI asks the user for the folder only in that case."""
        volumeNode, _ = self._resultNodes(result)
        return _dicom_series_folder(volumeNode) if volumeNode.GetAttribute("DICOM.instanceUIDs") else None

    def _resultNodes(self, result: MIRVResult) -> tuple[Any, Any]:
        """(volume, segmentation) the result was extracted from; an error when either has left the scene."""
        table = result.featureTableNode
        volumeNode = self.scene.GetNodeByID(table.GetAttribute("MIRV.VolumeNodeID") or "") if table else None
        segmentationNode = self.scene.GetNodeByID(table.GetAttribute("MIRV.SegmentationNodeID") or "") if table else None
        if volumeNode is None or segmentationNode is None:
            raise ValueError("the CT or the lesion segmentation of this result is no longer in the scene")
        return volumeNode, segmentationNode

    def exportDicom(self, result: MIRVResult, folder: str | os.PathLike[str],
                    ctFolder: str | os.PathLike[str] | None = None, seed: str | None = None) -> list[Path]:
        """The lesions as a DICOM SEG and the patient's TID 1500 SR (selected features, MIRV values), as
        `mirv cohort --dicom-out` writes them (`MIRVLib.dicom.results`): ``<patient>_seg.dcm``, ``<patient>_sr.dcm``.

        Both reference the CT's DICOM instances: ``ctFolder`` is the CT series folder; by default the folder of
        the volume's files in Slicer's DICOM database (a volume loaded from DICOM). ``seed``: reproducible UIDs.
        """
        from MIRVLib.dicom.results import write_patient_dicom
        from MIRVLib.dicom.series import read_series

        volumeNode, segmentationNode = self._resultNodes(result)
        series = read_series(ctFolder if ctFolder is not None else _dicom_series_folder(volumeNode))
        frame = self.featureFrame(result.featureTableNode)
        lesions = lesions_from_segmentation(segmentationNode, volumeNode, list(frame[SEGMENT_ID].astype(str)))
        written = write_patient_dicom(folder, series, lesions, frame, result.cohort.reduction.selected,
                                      result.exportRow(), stem=file_stem(result.patientID), seed=seed)
        return [written.seg, written.sr]

    def exportPatientRow(self, result: MIRVResult, csvPath: str | os.PathLike[str], patientID: str | None = None,
                         tableNode=None) -> pd.DataFrame:
        """Append the patient's row to a cohort CSV, or replace the row of the same PatientID (atomic write).

        Columns: the patients.csv columns, then NumSites and NumLesions_<site>; columns the CSV has and the
        row has not stay empty for this patient. With ``tableNode`` the same upsert is done on that table.
        """
        row = pd.DataFrame([result.exportRow(patientID)])
        path = Path(csvPath)
        cohort = pd.read_csv(path, dtype={PATIENT_ID: str}) if path.is_file() and path.stat().st_size else None
        merged = _upsert(cohort, row)
        atomic_write_csv(path, merged)
        if tableNode is not None:
            existing = self.featureFrame(tableNode) if tableNode.GetNumberOfColumns() else None
            update_table_node(tableNode, _upsert(existing, row))
        return merged


def _upsert(cohort: pd.DataFrame | None, row: pd.DataFrame) -> pd.DataFrame:
    if cohort is None or cohort.empty and not len(cohort.columns):
        return row
    if PATIENT_ID not in cohort:
        raise ValueError(f"the cohort table has no {PATIENT_ID} column")
    patient = str(row[PATIENT_ID].iloc[0])
    kept = cohort[cohort[PATIENT_ID].astype(str) != patient]
    columns = list(cohort.columns) + [c for c in row.columns if c not in cohort.columns]
    return pd.concat([kept, row], ignore_index=True).reindex(columns=columns)


def _storage_file(node) -> str:
    storage = node.GetStorageNode()
    return (storage.GetFileName() or "") if storage is not None else ""


def _dicom_series_folder(volumeNode) -> Path:
    """The folder holding a DICOM-loaded volume's files (Slicer's DICOM database keeps one series per folder)."""
    uids = (volumeNode.GetAttribute("DICOM.instanceUIDs") or "").split()
    database = getattr(slicer, "dicomDatabase", None)
    files = [database.fileForInstance(uid) for uid in uids] if uids and database is not None else []
    if not files or not all(files):
        raise ValueError(f"volume '{volumeNode.GetName()}' was not loaded from Slicer's DICOM database; "
                         "give the folder of its DICOM CT series")
    folders = {Path(f).parent for f in files}
    if len(folders) != 1:
        raise ValueError(f"the DICOM files of volume '{volumeNode.GetName()}' are in {len(folders)} folders; "
                         "give the folder of its DICOM CT series")
    return folders.pop()
