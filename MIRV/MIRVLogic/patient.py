"""Qt-free logic of the MIRV Slicer module: one patient's lesions from MRML nodes to MIRV, overlay and exports.

Nothing scientific happens here: segments become `MIRVLib.lesions.Lesion` masks, features come from
`MIRVLib.extraction.extract_patient`, and the patient is scored by `MIRVLib.cohort.score_cohort` — the same
code path as ``mirv extract`` + ``mirv cohort`` — with a shipped or user-fitted model. This module turns the
results into table nodes, a 3D overlay, a matrix PNG and a cohort CSV row. It needs only MRML, so it runs and
is tested on slicer-core without the Slicer application.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import slicer

from MIRVLib.cohort import CohortResult, score_cohort
from MIRVLib.extraction import extract_patient
from MIRVLib.lesion_table import LESION_ID, METADATA_COLUMNS, PATIENT_ID, SEGMENT_ID, SITE, STATUS, STATUS_OK, \
    VOLUME_FEATURE, LesionTable
from MIRVLib.metrics import PAIR_SEPARATOR, PatientMIRV
from MIRVLib.provenance import atomic_write_csv
from MIRVLib.reduction import FeatureReduction
from MIRVLib.resources import model_path
from MIRVLib.response import FOLLOW_UP, matched_volumes, volume_response
from MIRVLogic import figures, overlay
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


class ExtractionCancelled(Exception):
    """Raised by a progress callback to stop an extraction (the GUI's Cancel button)."""


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


def _safe_site(site: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", site.strip()).strip("_") or "unknown"


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

    def matrix(self, metric: str = "dissimilarity") -> pd.DataFrame:
        return self.mirv.frame(metric)

    def mostDivergentPair(self, metric: str = "dissimilarity") -> tuple[str, str] | None:
        pair = self.summary.get(f"MostDivergentPair{metric.capitalize()}") or ""
        return tuple(pair.split(PAIR_SEPARATOR, 1)) if pair else None

    @property
    def siteCounts(self) -> dict[str, int]:
        sites = self.lesions[SITE].fillna("").replace("", "unknown")
        return {site: int(count) for site, count in sites.value_counts().sort_index().items()}

    def exportRow(self, patientID: str | None = None) -> dict[str, Any]:
        """The patients.csv row plus the number of sites and lesions per site."""
        row = dict(self.summary)
        row[PATIENT_ID] = patientID or self.patientID
        counts = self.siteCounts
        row["NumSites"] = len([s for s in counts if s != "unknown"])
        for site, count in counts.items():
            row[f"NumLesions_{_safe_site(site)}"] = count
        return row

    def readout(self) -> str:
        """The readout panel as text (also what the headless scripts print)."""
        s = self.summary

        def number(key: str, digits: int = 3) -> str:
            value = s.get(key)
            return "n/a" if value is None or pd.isna(value) else f"{float(value):.{digits}f}"

        lines = [f"Patient {self.patientID}: {s['NumLesions']} lesions in {len(self.siteCounts)} site(s) "
                 f"({', '.join(f'{k} {v}' for k, v in self.siteCounts.items())})"]
        if s.get("MIRVUndefinedReason"):
            lines.append(f"MIRV undefined: {s['MIRVUndefinedReason']}")
        lines += [
            f"MIRV(max) cosine dissimilarity {number('MIRVMaxDissimilarity')} "
            f"(mean {number('MIRVMeanDissimilarity')}); percentile in the model's reference cohort "
            f"{number('MIRVMaxDissimilarityPercentile', 0)}",
            f"MIRV(max) Euclidean distance {number('MIRVMaxDistance', 2)} (mean {number('MIRVMeanDistance', 2)}); "
            f"percentile {number('MIRVMaxDistancePercentile', 0)}",
            f"Most divergent pair: {s.get('MostDivergentPairDissimilarity') or 'n/a'} (dissimilarity), "
            f"{s.get('MostDivergentPairDistance') or 'n/a'} (distance)",
        ]
        if self.lesionChanges is not None:
            lines.append(f"Follow-up: Δ Volume {number('VolumeChangeRange', 1)} %, complete tumour response "
                         f"{'yes' if s.get('CompleteTumorResponse') == 1 else 'no'}")
            for change in self.lesionChanges.itertuples(index=False):
                value = "n/a" if pd.isna(change.PercentChange) else f"{change.PercentChange:+.1f} %"
                lines.append(f"  {change.LesionID}: {value} ({change.Status})")
        for patient_id, lesion_id, reason in self.failedLesions:
            lines.append(f"Lesion {lesion_id} left out: {reason}")
        return "\n".join(lines)


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
        """PyRadiomics features of every segment: one table row per lesion (metadata, Status, features).

        ``progressCallback(done, total, lesionName)`` is called after each lesion; raising
        `ExtractionCancelled` from it stops the extraction.
        """
        if segmentationNode is None:
            raise ValueError("select a lesion segmentation")
        patient_id = patientID if patientID is not None else volumeNode.GetName()
        image = sitk_image_from_volume(volumeNode)
        lesions = lesions_from_segmentation(segmentationNode, volumeNode, segmentIDs, reference=image)
        if not lesions:
            raise ValueError(f"segmentation '{segmentationNode.GetName()}' has no segments")
        result = extract_patient(image, lesions, preset, patient_id, jobs, progressCallback)
        frame = result.features
        descriptions = {**COLUMN_DESCRIPTIONS, **{c: feature_description(c) for c in frame.columns
                                                  if c not in COLUMN_DESCRIPTIONS}}
        units = {c: feature_units(c) for c in frame.columns if feature_units(c)}
        if tableNode is None:
            tableNode = self.scene.AddNewNodeByClass("vtkMRMLTableNode", f"{volumeNode.GetName()} MIRV features")
        update_table_node(tableNode, frame, descriptions, units)
        provenance = {**result.provenance, "volumeNode": volumeNode.GetName(),
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
                    followUpTableNode=None) -> MIRVResult:
        """Score the patient with a fitted model (default: the shipped SARC021 ``paper`` model) via `score_cohort`.

        With a follow-up feature table, lesions are matched by name and the volumetric response enters the row.
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
        cohort = score_cohort(table, reduction, volumes)
        patient = cohort.mirv[0]
        summary = cohort.patients.iloc[0].to_dict()
        summary = {k: (None if isinstance(v, type(pd.NA)) else v) for k, v in summary.items()}
        scored = table.frame.set_index(LESION_ID)
        lesions = pd.DataFrame({
            LESION_ID: list(patient.lesion_ids),
            SEGMENT_ID: [scored[SEGMENT_ID].get(l, "") if SEGMENT_ID in scored else "" for l in patient.lesion_ids],
            SITE: [scored[SITE].get(l, "") if SITE in scored else "" for l in patient.lesion_ids],
        })
        name = featureTableNode.GetName()
        nodes = {}
        for metric in METRICS:
            matrix = patient.frame(metric).rename_axis(LESION_ID).reset_index()
            nodes[metric] = self._resultNode(f"{name} {metric}", matrix)
        result = MIRVResult(patients[0], summary, patient, cohort, lesions, nodes["dissimilarity"], nodes["distance"],
                            None, featureTableNode, cohort.lesion_changes, list(table.failed_lesions))
        result.patientTableNode = self._resultNode(f"{name} patient", pd.DataFrame([result.exportRow()]))
        return result

    def _resultNode(self, name: str, frame: pd.DataFrame):
        """A result table node, reused on a re-run (by name and MIRV role) so the scene holds one copy."""
        return result_table_node(self.scene, name, frame, "MIRV.Result", "1")

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
        """Per-lesion % volume change, Δ Volume and complete tumour response (`MIRVLib.response`)."""
        volumes = self._volumeTable(self.featureFrame(baselineTableNode), self.featureFrame(followUpTableNode))
        changes, patients = volume_response(volumes)
        row = patients.iloc[0]
        node = self._resultNode(f"{baselineTableNode.GetName()} volume change", changes)
        return {
            "lesions": changes,
            "VolumeChangeRange": float(row["VolumeChangeRange"]),
            "CompleteTumorResponse": int(row["CompleteTumorResponse"]),
            "BaselineVolumeTotal": float(row["BaselineVolumeTotal"]),
            "FollowUpVolumeTotal": float(np.nansum(volumes[FOLLOW_UP])),
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
                                    METRICS[metric], most)

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

    # ----- exports -----
    def saveMatrixImage(self, result: MIRVResult, path: str | os.PathLike[str], metric: str = "dissimilarity") -> Path:
        """The N×N matrix as a colour-coded, value-annotated PNG (most divergent pair outlined)."""
        sites = dict(zip(result.lesions[LESION_ID], result.lesions[SITE]))
        label = METRICS[metric]
        title = f"Patient {result.patientID}: pairwise {label.lower()}"
        return figures.save_matrix_png(path, result.matrix(metric), title, label, sites,
                                       result.mostDivergentPair(metric))

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
