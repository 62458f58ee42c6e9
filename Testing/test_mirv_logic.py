"""MIRVLogic (the MIRV Slicer module's Qt-free logic) on real MRML (slicer-core), bundled sample patient.

Reference values come from the code paths users run without Slicer: `MIRVLib` reading the same files
(`load_image`/`load_lesions` + `extract_patient`), `mirv cohort` with the same shipped model, and voxel
counts of the lesion masks for the volume response.
"""

from __future__ import annotations

import json

import matplotlib
import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from slicer_env import SAMPLE, load_sample_patient, make_slicer_environment, slicer, write_node  # noqa: F401  (skips without slicer-core)

from MIRVLib.cli import main as mirv_main
from MIRVLib.extraction import extract_patient
from MIRVLib.lesions import load_image, load_lesions

pytestmark = pytest.mark.slicer
MODEL = "SARC021-lung-paper"


def load_patient(scene, timepoint: str = "baseline"):
    volume, segmentation = load_sample_patient(scene, timepoint)
    segmentation.CreateDefaultDisplayNodes()
    return volume, segmentation


@pytest.fixture(scope="module")
def extracted():
    """Extract both time points once per module through the Logic; keep the frames and provenance."""
    env = make_slicer_environment()
    logic = env.logic("mirv")
    frames, attributes, calls = {}, {}, []
    for timepoint in ("baseline", "followup"):
        volume, segmentation = load_patient(env.scene, timepoint)
        node = logic.extractFeatures(volume, segmentation, patientID="SAMPLE",
                                     progressCallback=lambda done, total, name: calls.append((done, total, name)))
        frames[timepoint] = logic.featureFrame(node)
        attributes[timepoint] = {
            "provenance": logic.provenance(node),
            "description": node.GetColumnDescription("original_shape_VoxelVolume"),
            "unit": node.GetColumnUnitLabel("original_shape_VoxelVolume"),
            "rows": node.GetNumberOfRows(),
        }
    env.scene.Clear(1)
    return {"frames": frames, "attributes": attributes, "progress": calls}


def feature_node(logic, frame: pd.DataFrame, name: str = "baseline CT MIRV features"):
    from MIRVLogic.tables import new_table_node

    return new_table_node(logic.scene, name, frame)


@pytest.fixture()
def logic(slicer_env):
    return slicer_env.logic("mirv")


def test_features_equal_mirvlib_on_the_same_files(extracted):
    """Volume/segment nodes → SimpleITK (RAS→LPS, grid) gives exactly the features of the files read by MIRVLib."""
    frame = extracted["frames"]["baseline"]
    image = load_image(SAMPLE / "baseline_CT.nrrd")
    reference = extract_patient(image, load_lesions(SAMPLE / "baseline_lesions.seg.nrrd", image),
                                patient_id="SAMPLE").features
    assert list(frame.columns) == list(reference.columns)
    assert list(frame.columns[:5]) == ["PatientID", "LesionID", "SegmentID", "Site", "Status"]
    assert frame["LesionID"].tolist() == reference["LesionID"].tolist()
    assert frame["Site"].tolist() == ["lung", "lung", "liver", "bone", "lymph node", "soft tissue"]
    assert set(frame["Status"]) == {"ok"}
    features = [c for c in frame.columns if c.startswith(("original_", "wavelet-", "square", "log", "exp", "grad"))]
    assert len(features) > 1000
    np.testing.assert_array_equal(frame[features].to_numpy(float), reference[features].to_numpy(float))
    attributes = extracted["attributes"]["baseline"]
    assert attributes["rows"] == 6 and attributes["unit"] == "mm3" and "shape" in attributes["description"]
    assert attributes["provenance"]["preset"]["name"] == "MIRV-CT"
    assert attributes["provenance"]["engine"]["name"] == "native"  # the Slicer logic's default engine
    baseline_calls = extracted["progress"][:6]
    assert [d for d, _, _ in baseline_calls] == list(range(1, 7)) and {t for _, t, _ in baseline_calls} == {6}
    assert sorted(n for _, _, n in baseline_calls) == sorted(frame["LesionID"])


def test_summary_equals_mirv_cohort_with_the_same_model(extracted, logic, tmp_path):
    frame = extracted["frames"]["baseline"]
    result = logic.computeMIRV(feature_node(logic, frame), model=MODEL)
    frame.to_csv(tmp_path / "lesions.csv", index=False)
    assert mirv_main(["cohort", "--features", str(tmp_path / "lesions.csv"), "--model", MODEL,
                      "--out", str(tmp_path / "cohort")]) == 0
    expected = pd.read_csv(tmp_path / "cohort" / "patients.csv", dtype={"PatientID": str}, keep_default_na=False)
    assert len(expected) == 1
    assert list(result.exportRow()) == list(expected.columns)  # the GUI export writes the columns of `mirv cohort`
    assert expected["NumSites"].iloc[0] == 5 and expected["NumLesions_lung"].iloc[0] == 2
    for column in expected.columns:
        want = expected[column].iloc[0]
        got = result.summary[column]
        if isinstance(want, str):
            assert (got or "") == want, column
        else:
            assert got == pytest.approx(want, rel=1e-12), column
    assert result.summary["NumLesions"] == 6
    assert 0 <= result.summary["MIRVMaxDissimilarityPercentile"] <= 100
    matrix = pd.read_csv(tmp_path / "cohort" / "matrices" / "SAMPLE_dissimilarity.csv", index_col=0)
    np.testing.assert_allclose(result.matrix("dissimilarity").to_numpy(), matrix.to_numpy(), rtol=1e-12)
    node = result.dissimilarityTableNode
    assert node.GetNumberOfRows() == 6 and node.GetNumberOfColumns() == 7
    assert result.patientTableNode.GetNumberOfRows() == 1
    assert result.siteCounts == {"bone": 1, "liver": 1, "lung": 2, "lymph node": 1, "soft tissue": 1}


def test_one_table_per_patient(extracted, logic):
    frame = extracted["frames"]["baseline"].copy()
    frame.loc[3:, "PatientID"] = "OTHER"
    with pytest.raises(ValueError, match="one patient"):
        logic.computeMIRV(feature_node(logic, frame))


def test_a_rerun_updates_the_same_result_tables(extracted, logic, slicer_env):
    table = feature_node(logic, extracted["frames"]["baseline"])
    first = logic.computeMIRV(table)
    tables = slicer_env.scene.GetNumberOfNodesByClass("vtkMRMLTableNode")
    again = logic.computeMIRV(table)
    assert slicer_env.scene.GetNumberOfNodesByClass("vtkMRMLTableNode") == tables
    for role in ("dissimilarityTableNode", "distanceTableNode", "patientTableNode"):
        assert getattr(again, role) is getattr(first, role), role


def test_response_by_hand_from_the_volume_features(extracted, logic):
    """% volume change per lesion, their spread, the total-burden change and TSRC recomputed by hand from the two
    VoxelVolume columns; units in the table nodes and the readout."""
    baseline, follow_up = extracted["frames"]["baseline"], extracted["frames"]["followup"]
    response = logic.computeResponse(feature_node(logic, baseline), feature_node(logic, follow_up, "follow-up"))
    volume = {name: dict(zip(frame["LesionID"], frame["original_shape_VoxelVolume"]))
              for name, frame in (("baseline", baseline), ("followup", follow_up))}
    change = {name: (volume["followup"][name] - v) / v * 100 for name, v in volume["baseline"].items()}
    assert change["Liver met"] > 50 and change["Lung nodule R"] < -50  # the sample's designed growth/shrinkage
    lesions = response["lesions"].set_index("LesionID")
    for name, value in change.items():
        assert lesions.loc[name, "PercentChange"] == pytest.approx(value, rel=1e-9)
    assert response["VolumeChangeRange"] == pytest.approx(max(change.values()) - min(change.values()), rel=1e-9)
    assert response["CompleteTumorResponse"] == int(all(v < 33 for v in change.values())) == 0
    result = logic.computeMIRV(feature_node(logic, baseline), followUpTableNode=feature_node(logic, follow_up, "f2"))
    assert result.summary["VolumeChangeRange"] == pytest.approx(response["VolumeChangeRange"], rel=1e-12)
    burden = sum(volume["followup"].values()) / sum(volume["baseline"].values()) * 100 - 100
    assert result.summary["TotalBurdenChangePercent"] == pytest.approx(burden, rel=1e-9)
    assert response["TotalBurdenChangePercent"] == pytest.approx(burden, rel=1e-9)
    readout = result.readout()
    total = sum(volume["followup"].values())
    assert f"Follow-up tumour burden: total {total:,.0f} mm³ ({total / 1000:.2f} mL)" in readout
    assert f"total-burden change {burden:.1f} %" in readout and "Δ Volume" not in readout
    assert "complete tumour response: no" in readout
    node = result.patientTableNode
    assert node.GetColumnUnitLabel("BaselineVolumeTotal") == "mm3"
    assert node.GetColumnUnitLabel("TotalBurdenChangePercent") == "%"
    assert node.GetColumnUnitLabel("VolumeChangeRange") == "percentage points"
    assert node.GetColumnDescription("VolumeChangeRange").startswith("Spread of per-lesion volume changes")
    assert response["tableNode"].GetColumnUnitLabel("VolumeBaseline") == "mm3"


def _tubes(model, value_name):
    polydata = model.GetPolyData()
    from vtk.util.numpy_support import vtk_to_numpy

    points = vtk_to_numpy(polydata.GetPoints().GetData())
    values = vtk_to_numpy(polydata.GetPointData().GetArray(value_name))
    pairs = vtk_to_numpy(polydata.GetPointData().GetArray("PairIndex")).astype(int)
    return points, values, pairs


def _mask_centroids_ras(names):
    """Physical centre of mass of each lesion mask (MIRVLib reader, LPS) converted to RAS."""
    image = load_image(SAMPLE / "baseline_CT.nrrd")
    lesions = {lesion.name: lesion for lesion in load_lesions(SAMPLE / "baseline_lesions.seg.nrrd", image)}
    centroids = []
    for name in names:
        mask = lesions[name].mask
        k, j, i = np.nonzero(sitk.GetArrayViewFromImage(mask))
        lps = mask.TransformContinuousIndexToPhysicalPoint([float(i.mean()), float(j.mean()), float(k.mean())])
        centroids.append([-lps[0], -lps[1], lps[2]])
    return np.array(centroids)


def test_overlay_one_tube_per_pair_with_the_matrix_values(extracted, logic, slicer_env):
    _, segmentation = load_patient(slicer_env.scene)
    result = logic.computeMIRV(feature_node(logic, extracted["frames"]["baseline"]))
    model = logic.showDissimilarityOverlay(segmentation, result)
    points, values, pairs = _tubes(model, "Cosine dissimilarity")
    matrix = result.matrix("dissimilarity").to_numpy()
    upper_i, upper_j = np.triu_indices(6, k=1)
    assert sorted(set(pairs)) == list(range(15))
    centroids = _mask_centroids_ras(result.lesions["LesionID"])
    for index, (i, j) in enumerate(zip(upper_i, upper_j)):
        tube = pairs == index
        assert np.all(values[tube] == matrix[i, j])
        # a capped tube is symmetric about its middle: its points average to the midpoint of the two centroids
        np.testing.assert_allclose(points[tube].mean(axis=0), (centroids[i] + centroids[j]) / 2, atol=1e-3)
    display = model.GetDisplayNode()
    assert display.GetColorNode().IsA("vtkMRMLColorTableNode") and display.GetScalarVisibility()
    assert display.GetActiveScalarName() == "Cosine dissimilarity"
    assert display.GetScalarRange() == pytest.approx((0.0, 2.0))  # the fixed scale of the matrix PNG, not the max
    legend = slicer.modules.colors.logic().GetColorLegendDisplayNode(model)
    assert legend.GetTitleText() == "Cosine dissimilarity\nfixed scale 0–2"
    assert slicer.modules.colors.logic().GetColorLegendDisplayNode(model) is not None
    halo = [n for n in logic.overlayNodes(segmentation) if n is not model]
    assert len(halo) == 1
    a, b = (list(result.lesions["LesionID"]).index(n) for n in result.mostDivergentPair())
    halo_points = _tubes(halo[0], "Cosine dissimilarity")[0]
    np.testing.assert_allclose(halo_points.mean(axis=0), (centroids[a] + centroids[b]) / 2, atol=1e-3)
    distance = logic.showDissimilarityOverlay(segmentation, result, metric="distance")
    _, distance_values, distance_pairs = _tubes(distance, "Euclidean distance")
    assert distance_values[distance_pairs == 0][0] == result.matrix("distance").iat[0, 1]
    reference_max = max(result.cohort.reduction.reference["MIRVMaxDistance"])
    assert distance.GetDisplayNode().GetScalarRange() == pytest.approx((0.0, reference_max))
    assert slicer_env.scene.GetNodesByClassByName("vtkMRMLModelNode", model.GetName()).GetNumberOfItems() == 0


def test_hiding_restores_segment_colours_and_opacity(extracted, logic, slicer_env):
    _, segmentation = load_patient(slicer_env.scene)
    seg = segmentation.GetSegmentation()
    ids = [seg.GetNthSegmentID(i) for i in range(seg.GetNumberOfSegments())]
    original = {sid: seg.GetSegment(sid).GetColor() for sid in ids}
    opacity = segmentation.GetDisplayNode().GetOpacity3D()
    result = logic.computeMIRV(feature_node(logic, extracted["frames"]["baseline"]))
    logic.showDissimilarityOverlay(segmentation, result)
    logic.showDissimilarityOverlay(segmentation, result)  # shown twice: the originals must not be overwritten
    matrix = result.matrix().to_numpy().copy()
    np.fill_diagonal(matrix, np.nan)
    expected = matplotlib.colormaps["plasma"](np.nanmean(matrix, axis=1) / 2.0)[:, :3]  # fixed scale [0, 2]
    np.testing.assert_allclose([seg.GetSegment(sid).GetColor() for sid in ids], expected, atol=1e-6)
    models = slicer_env.scene.GetNumberOfNodesByClass("vtkMRMLModelNode")
    logic.hideDissimilarityOverlay(segmentation)
    assert {sid: seg.GetSegment(sid).GetColor() for sid in ids} == original
    assert segmentation.GetDisplayNode().GetOpacity3D() == opacity
    assert slicer_env.scene.GetNumberOfNodesByClass("vtkMRMLModelNode") == models - 2
    assert slicer_env.scene.GetNumberOfNodesByClass("vtkMRMLColorLegendDisplayNode") == 0
    assert segmentation.GetAttribute("MIRV.OriginalSegmentColors") is None


def test_sites_survive_a_seg_nrrd_round_trip(logic, slicer_env, tmp_path):
    _, segmentation = load_patient(slicer_env.scene)
    sites = logic.lesionSites(segmentation)
    assert list(sites.values()) == ["lung", "lung", "liver", "bone", "lymph node", "soft tissue"]
    first, second = list(sites)[:2]
    logic.setLesionSite(segmentation, first, "adrenal")
    logic.setLesionSite(segmentation, second, "")
    path = write_node(slicer_env.scene, segmentation, tmp_path / "edited.seg.nrrd")
    reloaded = slicer_env.scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    storage = slicer_env.scene.AddNewNodeByClass("vtkMRMLSegmentationStorageNode")
    storage.SetFileName(str(path))
    assert storage.ReadData(reloaded)
    back = logic.lesionSites(reloaded)
    assert back[first] == "adrenal" and back[second] == "" and list(back.values())[2:] == list(sites.values())[2:]
    read_by_mirvlib = {lesion.segment_id: lesion.site for lesion in load_lesions(path)}
    assert read_by_mirvlib[first] == "adrenal" and read_by_mirvlib[second] is None


def test_render_changes_where_the_tubes_are(extracted, logic, slicer_env, tmp_path):
    _, segmentation = load_patient(slicer_env.scene)
    segmentation.CreateClosedSurfaceRepresentation()
    result = logic.computeMIRV(feature_node(logic, extracted["frames"]["baseline"]))
    centroids = logic.pairCentroids(segmentation, result)  # most divergent pair
    seg_ids = logic.lesionSegmentIDs(segmentation, result)
    from MIRVLogic.mrml import segment_centroids

    every = segment_centroids(segmentation, seg_ids)
    bounds = np.ravel(np.column_stack([every.min(axis=0) - 60, every.max(axis=0) + 60]))
    i, j = np.triu_indices(len(every), k=1)
    midpoints = (every[i] + every[j]) / 2
    before = slicer_env.render(tmp_path / "without.png", bounds=bounds, points=midpoints)
    logic.showDissimilarityOverlay(segmentation, result)
    after = slicer_env.render(tmp_path / "with.png", bounds=bounds, points=midpoints)
    np.testing.assert_allclose(before.points, after.points)
    changed = np.any(before.pixels != after.pixels, axis=-1)
    at_tubes = [changed[int(round(y)), int(round(x))] for x, y in after.points]
    assert np.mean(at_tubes) >= 0.8, f"{np.mean(at_tubes):.2f} of the tube midpoints changed"
    assert 0.005 < changed.mean() < 0.5
    assert centroids.shape == (2, 3)
    logic.hideDissimilarityOverlay(segmentation)
    hidden = slicer_env.render(tmp_path / "hidden.png", bounds=bounds)
    np.testing.assert_array_equal(hidden.pixels, before.pixels)


def test_matrix_png_and_patient_row(extracted, logic, tmp_path):
    import matplotlib.image

    result = logic.computeMIRV(feature_node(logic, extracted["frames"]["baseline"]))
    for metric in ("dissimilarity", "distance"):
        path = logic.saveMatrixImage(result, tmp_path / f"{metric}.png", metric)
        pixels = matplotlib.image.imread(path)
        assert pixels.shape[0] > 400 and pixels.shape[1] > 400 and pixels[..., :3].std() > 0.1
    csv = tmp_path / "cohort.csv"
    pd.DataFrame({"PatientID": ["001", "P9"], "MIRVMaxDissimilarity": [0.5, 0.7], "Extra": ["x", "y"]}).to_csv(csv, index=False)
    logic.exportPatientRow(result, csv, "P9")
    logic.exportPatientRow(result, csv, "P9")  # replaced, not appended twice
    table = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLTableNode")
    logic.exportPatientRow(result, csv, "NEW", tableNode=table)
    cohort = pd.read_csv(csv, dtype={"PatientID": str})
    assert cohort["PatientID"].tolist() == ["001", "P9", "NEW"]
    assert list(cohort.columns[:3]) == ["PatientID", "MIRVMaxDissimilarity", "Extra"]
    row = cohort.set_index("PatientID").loc["P9"]
    assert row["MIRVMaxDissimilarity"] == pytest.approx(result.summary["MIRVMaxDissimilarity"], rel=1e-12)
    assert pd.isna(row["Extra"]) and row["NumSites"] == 5 and row["NumLesions_lung"] == 2
    assert row["NumLesions_lymph_node"] == 1
    # the sample patient has lesions outside the lung; the shipped model saw lung lesions only
    site_warning = ("lesion site(s) bone, liver, lymph node, soft tissue not in the model's fitting cohort "
                    "(lung 362 lesions)")
    assert row["Warnings"] == site_warning
    assert f"Warning: {site_warning}" in result.readout()
    assert table.GetNumberOfRows() == 1 and table.GetCellText(0, 0) == "NEW"


def test_jump_slices_to_the_most_divergent_pair(extracted, logic, slicer_env):
    _, segmentation = load_patient(slicer_env.scene)
    result = logic.computeMIRV(feature_node(logic, extracted["frames"]["baseline"]))
    red = slicer_env.scene.AddNewNodeByClass("vtkMRMLSliceNode")
    red.SetOrientationToAxial()
    red.SetFieldOfView(250, 250, 1)
    centre = logic.jumpSlicesToPair(segmentation, result)
    centroids = logic.pairCentroids(segmentation, result)
    np.testing.assert_allclose(centre, centroids.mean(axis=0))
    slice_to_ras = red.GetSliceToRAS()
    np.testing.assert_allclose([slice_to_ras.GetElement(r, 3) for r in range(3)], centre, atol=1e-6)
    assert red.GetFieldOfView()[1] >= np.linalg.norm(centroids[1] - centroids[0])
    assert json.loads(segmentation.GetAttribute("MIRV.OverlayNodeIDs") or "[]") == []


def test_oblique_volume_and_masks_match_the_files_slicer_writes(slicer_env, tmp_path):
    """RAS→LPS on a rotated, anisotropic grid: the in-memory image and masks equal what ITK/MIRVLib read from
    the files Slicer's own storage nodes write."""
    import vtk

    from MIRVLogic.mrml import lesions_from_segmentation, sitk_image_from_volume

    rng = np.random.default_rng(11)
    voxels = rng.integers(-1000, 1000, size=(12, 20, 16)).astype(np.int16)
    volume = slicer.util.addVolumeFromArray(voxels, name="oblique")
    matrix = vtk.vtkMatrix4x4()
    transform = vtk.vtkTransform()
    transform.RotateWXYZ(25, 0.3, 0.5, 0.8)
    transform.Scale(0.7, 0.9, 2.5)
    transform.GetMatrix(matrix)
    for row, value in enumerate((-12.5, 40.25, -80.0)):
        matrix.SetElement(row, 3, value)
    volume.SetIJKToRASMatrix(matrix)
    segmentation = slicer_env.scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    segmentation.SetReferenceImageGeometryParameterFromVolumeNode(volume)
    k, j, i = np.indices(voxels.shape)
    for name, mask in (("a", (k - 5) ** 2 + (j - 6) ** 2 + (i - 5) ** 2 < 12), ("b", (j > 12) & (i > 10) & (k < 4))):
        segment_id = segmentation.GetSegmentation().AddEmptySegment(name, name)
        slicer.util.updateSegmentBinaryLabelmapFromArray(mask.astype(np.uint8), segmentation, segment_id, volume)
    write_node(slicer_env.scene, volume, tmp_path / "ct.nrrd")
    write_node(slicer_env.scene, segmentation, tmp_path / "lesions.seg.nrrd")
    image = sitk_image_from_volume(volume)
    reference = sitk.ReadImage(str(tmp_path / "ct.nrrd"))
    np.testing.assert_allclose(image.GetOrigin(), reference.GetOrigin(), atol=1e-9)
    np.testing.assert_allclose(image.GetSpacing(), reference.GetSpacing(), rtol=1e-9)
    np.testing.assert_allclose(image.GetDirection(), reference.GetDirection(), atol=1e-9)
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(image), sitk.GetArrayViewFromImage(reference))
    assert abs(np.linalg.det(np.reshape(image.GetDirection(), (3, 3))) - 1) < 1e-9
    ours = {lesion.name: sitk.GetArrayFromImage(lesion.mask) for lesion in lesions_from_segmentation(segmentation, volume)}
    theirs = {lesion.name: sitk.GetArrayFromImage(lesion.mask)
              for lesion in load_lesions(tmp_path / "lesions.seg.nrrd", reference)}
    assert set(ours) == set(theirs) == {"a", "b"}
    for name in ours:  # both the segment's box on the same grid
        assert ours[name].sum() > 5
        np.testing.assert_array_equal(ours[name], theirs[name])
