"""The MIRV module's GUI (``MIRV.py``) driven through the widget harness (`slicer_gui`) on real MRML: the sample
patient from the Sample Data module, extraction in the background with progress and Cancel, MIRV with its readout,
the interactive matrix, overlay, exports, the HTML report, and the parameter node saved with the scene."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from slicer_env import REPO_ROOT, slicer  # noqa: F401  (skips without slicer-core)
from slicer_gui.harness import installed
from slicer_gui.qt_widgets import Qt

from MIRVLib.extraction import extract_patient
from MIRVLib.lesions import load_image, load_lesions

pytestmark = pytest.mark.slicer
SAMPLE = REPO_ROOT / "Resources" / "SampleData"
LESIONS = ["Lung primary-like L", "Lung nodule R", "Liver met", "Vertebral met", "Axillary node L", "Paraspinal mass"]


@pytest.fixture()
def gui(slicer_env):
    with installed(slicer_env) as running:
        yield running


@pytest.fixture(scope="module")
def features() -> dict[str, pd.DataFrame]:
    """Both time points' lesion tables, extracted once by MIRVLib from the sample files."""
    frames = {}
    for timepoint in ("baseline", "followup"):
        image = load_image(SAMPLE / f"{timepoint}_CT.nrrd")
        frames[timepoint] = extract_patient(image, load_lesions(SAMPLE / f"{timepoint}_lesions.seg.nrrd", image),
                                            patient_id="SAMPLE").features
    return frames


def load_sample(gui) -> list:
    """What a user does: Sample Data → MIRV sample patient (registered when the application started)."""
    import SampleData

    module = gui.module("MIRV")
    gui.startup_completed()
    return SampleData.downloadSamples(module.SAMPLE_NAME)


def with_features(gui, widget, features) -> list:
    """The sample loaded, its baseline/follow-up feature tables in the parameter node (as an extraction leaves them)."""
    from MIRVLogic.tables import new_table_node

    nodes = load_sample(gui)
    parameters = widget._parameterNode
    parameters.inputVolume, parameters.lesions, parameters.followUpVolume, parameters.followUpLesions = nodes
    parameters.featureTable = new_table_node(slicer.mrmlScene, "baseline features", features["baseline"])
    parameters.followUpFeatureTable = new_table_node(slicer.mrmlScene, "follow-up features", features["followup"])
    return nodes


def test_setup_builds_the_ui_from_the_ui_file_and_connects_every_handler(gui):
    widget = gui.widget("MIRV")
    ui = widget.ui
    handlers = {"extractButton": "onExtract", "cancelButton": "onCancel", "computeButton": "onCompute",
                "jumpToPairButton": "onJumpToPair", "exportButton": "onExport", "saveMatrixButton": "onSaveMatrix",
                "saveReportButton": "onSaveReport", "editLesionsButton": "onEditLesions",
                "exportDicomButton": "onExportDicom"}
    for button, handler in handlers.items():
        assert [slot.__name__ for signal, slot in getattr(ui, button).connections() if signal == "clicked(bool)"] == \
            [handler], button
    assert [s.__name__ for _, s in ui.matrixTableWidget.connections()] == ["onMatrixCellClicked"]
    assert [s.__name__ for _, s in widget._timer.connections()] == ["onPollExtraction"]
    # the .ui file's connections hand the scene to every node selector
    for selector in ("volumeSelector", "segmentationSelector", "followUpVolumeSelector", "featureTableSelector"):
        assert getattr(ui, selector).mrmlScene() is slicer.mrmlScene, selector
    assert [ui.presetComboBox.itemData(i) for i in range(ui.presetComboBox.count)] == ["MIRV-CT", "Henry2022", "from-file"]
    assert ui.modelComboBox.currentData == "SARC021-lung-paper"
    assert (ui.jobsSpinBox.minimum, ui.jobsSpinBox.maximum) == (1, 64)  # the parameter's WithinRange
    assert not ui.extractButton.enabled and not ui.computeButton.enabled and not ui.cancelButton.enabled
    assert not ui.presetPathLineEdit.visible
    ui.presetComboBox.currentIndex = 2
    assert ui.presetPathLineEdit.visible


def test_module_metadata_and_sample_data(gui):
    module = gui.module("MIRV")
    parent = module.moduleParent
    assert parent.contributors == ["MIRV for 3D Slicer developers (independent)"]
    assert parent.icon.path.endswith("MIRV.png") and not parent.icon.isNull()
    assert parent.categories == ["Quantification"]
    nodes = load_sample(gui)
    from slicer_gui.sample_data import SOURCES

    [source] = SOURCES["MIRV"]
    assert Path(source["thumbnailFileName"]).read_bytes()[:4] == b"\x89PNG"
    assert [n.GetName() for n in nodes] == [name for _, name in module.SAMPLE_FILES]
    assert [n.GetClassName() for n in nodes] == ["vtkMRMLScalarVolumeNode", "vtkMRMLSegmentationNode"] * 2
    assert nodes[0].GetImageData().GetDimensions() == (240, 216, 61)
    assert nodes[1].GetSegmentation().GetNumberOfSegments() == 6
    widget = gui.widget("MIRV")  # a new user opens MIRV after loading the sample: nothing to select by hand
    assert widget.ui.volumeSelector.currentNode() is nodes[0]
    assert widget.ui.segmentationSelector.currentNode() is nodes[1]
    assert widget.ui.extractButton.enabled
    table = widget.ui.lesionTableWidget
    assert [table.item(row, 0).text() for row in range(table.rowCount)] == LESIONS
    assert [table.cellWidget(row, 1).currentText for row in range(table.rowCount)] == \
        ["lung", "lung", "liver", "bone", "lymph node", "soft tissue"]
    table.cellWidget(2, 1).currentText = "adrenal"  # the user edits a site: stored on the segment
    segmentation = nodes[1].GetSegmentation()
    from MIRVLogic.sites import segment_site

    assert segment_site(nodes[1], segmentation.GetNthSegmentID(2)) == "adrenal"


def test_extraction_runs_in_the_background_then_mirv_fills_readout_matrix_and_layout(gui):
    widget = gui.widget("MIRV")
    baseline_ct, baseline_lesions, followup_ct, followup_lesions = load_sample(gui)
    ui = widget.ui
    ui.followUpVolumeSelector.setCurrentNode(followup_ct)
    ui.followUpSegmentationSelector.setCurrentNode(followup_lesions)
    ui.patientIDLineEdit.text = "SAMPLE"
    started = time.monotonic()
    ui.extractButton.click()
    assert time.monotonic() - started < 3.0, "the click must return while the extraction runs"
    assert widget._job.running and widget._timer.isActive()
    assert not ui.extractButton.enabled and ui.cancelButton.enabled and not ui.computeButton.enabled
    seen = []
    while widget._timer.isActive():
        time.sleep(0.05)
        widget._timer.fire()
        seen.append((ui.progressBar.value, ui.progressBar.maximum))
    values = [value for value, _ in seen]
    restart = next(i for i in range(1, len(values)) if values[i] < values[i - 1])  # the follow-up starts at 0
    assert values[restart - 1] == 6 and values[:restart] == sorted(values[:restart])
    assert values[restart:] == sorted(values[restart:])
    assert values[-1] == 6 and {maximum for _, maximum in seen} == {6}
    assert len(seen) > 10  # the GUI kept running (polling) while both time points were extracted
    assert ui.statusLabel.text == "Features extracted; 0 lesion(s) failed."
    parameters = widget._parameterNode
    for table in (parameters.featureTable, parameters.followUpFeatureTable):
        frame = widget.logic.featureFrame(table)
        assert frame["LesionID"].tolist() == LESIONS and set(frame["Status"]) == {"ok"}
        assert set(frame["PatientID"]) == {"SAMPLE"}
    assert ui.featureTableSelector.currentNode() is parameters.featureTable
    assert ui.extractButton.enabled and not ui.cancelButton.enabled and ui.computeButton.enabled

    ui.computeButton.click()
    result = widget._result
    summary = result.summary
    readout = ui.readoutLabel.text
    assert f"MIRV(max) cosine dissimilarity {summary['MIRVMaxDissimilarity']:.3f}" in readout
    assert f"Euclidean distance {summary['MIRVMaxDistance']:.2f}" in readout
    total = summary['BaselineVolumeTotal']
    assert f"total {total:,.0f} mm³ ({total / 1000:.2f} mL)" in readout and "Δ Volume" not in readout
    assert f"(largest − smallest): {summary['VolumeChangeRange']:.1f} percentage points" in readout
    assert readout == result.readout()
    matrix = result.matrix("dissimilarity")
    table = ui.matrixTableWidget
    assert (table.rowCount, table.columnCount) == (6, 6)
    assert table.headerLabels("horizontal") == table.headerLabels("vertical") == LESIONS
    import matplotlib

    colors = matplotlib.colormaps["plasma"](matrix.to_numpy() / 2.0)[..., :3]  # fixed scale [0, 2]
    for row in range(6):
        for column in range(6):
            item = table.item(row, column)
            value = matrix.iat[row, column]
            assert item.text() == f"{value:.2f}"
            assert item.background().color().getRgb()[:3] == tuple(np.round(colors[row, column] * 255).astype(int))
            dark = value > 0.6 * 2.0  # bright end of the colour map: black text
            assert item.foreground().color().getRgb()[:3] == ((0, 0, 0) if dark else (255, 255, 255))
            assert item.flags() == Qt.ItemIsEnabled | Qt.ItemIsSelectable  # clickable, not editable
            assert item.toolTip() == f"{LESIONS[row]} – {LESIONS[column]}: click to show the pair"
    layout = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLLayoutNode")
    selection = gui.environment.application_logic.GetSelectionNode()
    assert selection.GetActiveTableID() == result.dissimilarityTableNode.GetID()
    if layout is not None:  # slicer-core has none unless a layout manager made it
        assert layout.GetViewArrangement() == slicer.vtkSlicerTablesLogic.GetLayoutWithTable(0)
    ui.metricComboBox.currentIndex = 1  # distance: values above 10, one decimal
    distance = result.matrix("distance")
    assert distance.to_numpy().max() > 10 and table.item(0, 1).text() == f"{distance.iat[0, 1]:.1f}"
    assert selection.GetActiveTableID() == result.distanceTableNode.GetID()


def test_cancel_stops_within_one_lesion_and_writes_nothing(gui):
    widget = gui.widget("MIRV")
    load_sample(gui)
    ui = widget.ui
    tables = slicer.mrmlScene.GetNumberOfNodesByClass("vtkMRMLTableNode")
    ui.extractButton.click()
    job = widget._job
    while job.progress().done < 1:
        time.sleep(0.02)
    ui.cancelButton.click()
    done_at_cancel = job.progress().done
    assert not ui.cancelButton.enabled
    gui.wait_for(widget._timer, lambda: not widget._timer.isActive())
    assert job.progress().done <= done_at_cancel + 1 < 6
    assert ui.statusLabel.text == "Extraction cancelled."
    assert slicer.mrmlScene.GetNumberOfNodesByClass("vtkMRMLTableNode") == tables
    assert widget._parameterNode.featureTable is None
    assert ui.extractButton.enabled and not ui.cancelButton.enabled and not job.folder.exists()


def test_matrix_cell_jumps_to_the_pair_and_shows_it_in_3d(gui, features):
    widget = gui.widget("MIRV")
    _, lesions, _, _ = with_features(gui, widget, features)
    red = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSliceNode")
    red.SetOrientationToAxial()
    ui = widget.ui
    ui.computeButton.click()
    result = widget._result
    ui.matrixTableWidget.clickCell(0, 2)
    centroids = widget.logic.pairCentroids(lesions, result, (LESIONS[0], LESIONS[2]))
    slice_to_ras = red.GetSliceToRAS()
    np.testing.assert_allclose([slice_to_ras.GetElement(r, 3) for r in range(3)], centroids.mean(axis=0), atol=1e-6)
    pair = slicer.mrmlScene.GetFirstNodeByName(f"MIRV selected pair: {LESIONS[0]} – {LESIONS[2]}")
    assert pair is not None and pair.GetDisplayNode().GetColor() == (1.0, 1.0, 1.0)
    points = slicer.util.arrayFromModelPoints(pair)
    np.testing.assert_allclose(points.mean(axis=0), centroids.mean(axis=0), atol=1e-3)
    assert ui.statusLabel.text == f"{LESIONS[0]} – {LESIONS[2]}: {result.matrix().iat[0, 2]:.3f}"
    ui.matrixTableWidget.clickCell(1, 3)  # the next pair replaces the previous one
    assert slicer.mrmlScene.GetFirstNodeByName(f"MIRV selected pair: {LESIONS[0]} – {LESIONS[2]}") is None
    ui.jumpToPairButton.click()
    most = result.mostDivergentPair()
    centre = widget.logic.pairCentroids(lesions, result, most).mean(axis=0)
    np.testing.assert_allclose([red.GetSliceToRAS().GetElement(r, 3) for r in range(3)], centre, atol=1e-6)
    seg = lesions.GetSegmentation()
    original = [seg.GetSegment(seg.GetNthSegmentID(i)).GetColor() for i in range(6)]
    ui.overlayCheckBox.click()
    tubes = slicer.mrmlScene.GetFirstNodeByName("MIRV Cosine dissimilarity overlay")
    assert tubes is not None and len(widget.logic.overlayNodes(lesions)) == 2  # tubes and the halo
    assert [seg.GetSegment(seg.GetNthSegmentID(i)).GetColor() for i in range(6)] != original
    ui.overlayCheckBox.click()
    assert widget.logic.overlayNodes(lesions) == []
    assert [seg.GetSegment(seg.GetNthSegmentID(i)).GetColor() for i in range(6)] == original


def test_export_matrix_png_and_report(gui, features, tmp_path):
    widget = gui.widget("MIRV")
    with_features(gui, widget, features)
    ui = widget.ui
    assert not ui.saveReportButton.enabled
    ui.computeButton.click()
    result = widget._result
    ui.exportPathLineEdit.currentPath = str(tmp_path / "cohort.csv")
    ui.exportButton.click()
    cohort = pd.read_csv(tmp_path / "cohort.csv", dtype={"PatientID": str})
    assert cohort["PatientID"].tolist() == ["SAMPLE"]
    assert cohort["MIRVMaxDissimilarity"].iloc[0] == pytest.approx(result.summary["MIRVMaxDissimilarity"], rel=1e-12)
    assert slicer.mrmlScene.GetFirstNodeByName("MIRV patients").GetNumberOfRows() == 1
    assert ui.exportPathLineEdit.history == [str(tmp_path / "cohort.csv")]
    gui.user.answer("getSaveFileName", tmp_path / "matrix.png")
    ui.saveMatrixButton.click()
    assert (tmp_path / "matrix.png").read_bytes()[:4] == b"\x89PNG"
    gui.user.answer("getExistingDirectory", tmp_path / "report")
    ui.saveReportButton.click()
    report = tmp_path / "report" / "SAMPLE_report.html"
    assert gui.user.opened_urls == [report.as_uri()]
    html = report.read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") == 3  # both matrices and the 3D view
    assert "3D view as shown in Slicer" in html and "Spread of per-lesion volume changes" in html
    assert {p.name for p in (tmp_path / "report").iterdir()} == {
        "SAMPLE_dissimilarity.csv", "SAMPLE_distance.csv", "SAMPLE_dissimilarity.png", "SAMPLE_distance.png",
        "SAMPLE_volume_changes.csv", "SAMPLE_provenance.json", "SAMPLE_view3d.png", "SAMPLE_report.html"}
    assert gui.user.message_boxes == [] and gui.user.override_cursors == []


def test_edit_lesions_opens_the_segment_editor_on_this_ct(gui):
    widget = gui.widget("MIRV")
    ct, lesions, _, _ = load_sample(gui)
    widget.ui.editLesionsButton.click()
    editor = slicer.modules.segmenteditor.editor
    assert gui.user.selected_modules == ["SegmentEditor"]
    assert editor.segmentationNode is lesions and editor.sourceVolumeNode is ct


def test_parameter_node_round_trips_through_the_saved_scene(gui):
    widget = gui.widget("MIRV")
    ct, lesions, followup_ct, followup_lesions = load_sample(gui)
    ui = widget.ui
    ui.patientIDLineEdit.text = "P 7"
    ui.jobsSpinBox.value = 3
    ui.jobsSpinBox.value = 99  # clamped to the parameter's range
    ui.followUpVolumeSelector.setCurrentNode(followup_ct)
    node = widget._parameterNode.parameterNode
    assert (node.GetParameter("patientID"), node.GetParameter("jobs")) == ("P 7", "64")
    assert node.GetNodeReferenceID("followUpVolume") == followup_ct.GetID()
    scene = slicer.mrmlScene
    scene.SetSaveToXMLString(1)
    scene.Commit()
    xml = scene.GetSceneXMLString()
    widget.exit()
    widget.cleanup()
    scene.Clear(0)  # as File → Close Scene: the singleton parameter node stays, emptied
    assert node.GetParameter("patientID") == "" and node.GetNodeReference("followUpVolume") is None
    scene.SetLoadFromXMLString(1)
    scene.SetSceneXMLString(xml)
    scene.Import()
    reopened = gui.widget("MIRV")
    assert reopened.ui.patientIDLineEdit.text == "P 7" and reopened.ui.jobsSpinBox.value == 64
    assert reopened.ui.followUpVolumeSelector.currentNode().GetName() == followup_ct.GetName()
    assert reopened.ui.volumeSelector.currentNode().GetName() == ct.GetName()
    assert reopened.ui.segmentationSelector.currentNode().GetName() == lesions.GetName()


def test_closing_the_scene_stops_a_running_extraction(gui):
    widget = gui.widget("MIRV")
    load_sample(gui)
    widget.ui.extractButton.click()
    job = widget._job
    slicer.mrmlScene.Clear(0)
    assert widget._job is None and not widget._timer.isActive()
    assert not job.running and not job.folder.exists()  # the worker was stopped and its files removed
    assert (widget.ui.matrixTableWidget.rowCount, widget.ui.readoutLabel.text) == (0, "")
    assert not widget.ui.extractButton.enabled  # nothing selected any more
