"""The MIRV module's "Export DICOM SEG + SR…" button, driven through the widget harness (`slicer_gui`) on real MRML:
disabled until MIRV is computed, asks for the CT's DICOM series folder when the CT was not loaded from Slicer's
DICOM database, writes what `MIRVLogic.exportDicom` writes (read back with highdicom), and says how to install
pydicom/highdicom when they are missing (installing only after the user agrees)."""

from __future__ import annotations

import pytest
from slicer_env import REPO_ROOT, slicer  # noqa: F401  (skips without slicer-core)
from slicer_gui.harness import installed
from slicer_gui.qt_widgets import QMessageBox

hd = pytest.importorskip("highdicom")
pydicom = pytest.importorskip("pydicom")

from MIRVLib.dicom.sample_study import write_study  # noqa: E402
from MIRVLib.file_names import file_stem  # noqa: E402
from MIRVLib.lesions import load_image, load_lesions  # noqa: E402

pytestmark = pytest.mark.slicer
SAMPLE = REPO_ROOT / "Resources" / "SampleData"


@pytest.fixture()
def gui(slicer_env):
    with installed(slicer_env) as running:
        yield running


@pytest.fixture()
def computed(gui):
    """The sample patient loaded (Sample Data), extracted by the module's logic and MIRV computed by the button."""
    import SampleData

    widget = gui.widget("MIRV")
    gui.startup_completed()
    volume, segmentation, _, _ = SampleData.downloadSamples(gui.module("MIRV").SAMPLE_NAME)
    assert not widget.ui.exportDicomButton.enabled  # no result yet
    assert widget._ensureLogic()
    parameters = widget._parameterNode
    parameters.inputVolume, parameters.lesions = volume, segmentation
    parameters.followUpVolume = parameters.followUpLesions = None
    parameters.featureTable = widget.logic.extractFeatures(volume, segmentation, patientID="SAMPLE")
    widget.ui.computeButton.click()
    assert widget._result is not None and widget.ui.exportDicomButton.enabled
    return widget


def test_export_dicom_asks_for_the_ct_series_and_writes_seg_and_sr(gui, computed, tmp_path):
    image = load_image(SAMPLE / "baseline_CT.nrrd")
    study = write_study(image, load_lesions(SAMPLE / "baseline_lesions.seg.nrrd", reference_image=image),
                        tmp_path / "study")
    ui, result = computed.ui, computed._result
    gui.user.answer("getExistingDirectory", study.ct_folder, tmp_path / "dicom")
    ui.exportDicomButton.click()
    stem = file_stem(result.patientID)
    seg_path, sr_path = tmp_path / "dicom" / f"{stem}_seg.dcm", tmp_path / "dicom" / f"{stem}_sr.dcm"
    assert ui.statusLabel.text == f"DICOM SEG: {seg_path}; structured report: {sr_path}"
    assert gui.user.message_boxes == [] and gui.user.override_cursors == []

    frame = computed.logic.featureFrame(result.featureTableNode).set_index("LesionID")
    content = hd.sr.srread(sr_path).content
    groups = {g.tracking_identifier: g for g in content.get_volumetric_roi_measurement_groups()}
    assert sorted(groups) == sorted(frame.index) and len(groups) == 6
    for name, group in groups.items():
        values = {m.name.meaning: m.value for m in group.get_measurements()}
        assert values["Volume"] == float(frame.loc[name, "original_shape_VoxelVolume"])
    (summary,) = content.get_image_measurement_groups()
    values = {m.name.meaning: m.value for m in summary.get_measurements()}
    assert values["MIRVMaxDissimilarity"] == result.exportRow()["MIRVMaxDissimilarity"]
    ct = pydicom.dcmread(next(study.ct_folder.iterdir()), stop_before_pixels=True)
    assert pydicom.dcmread(seg_path).ReferencedSeriesSequence[0].SeriesInstanceUID == ct.SeriesInstanceUID


def test_cancelling_a_folder_dialog_writes_nothing(gui, computed, tmp_path):
    gui.user.answer("getExistingDirectory", "")
    computed.ui.exportDicomButton.click()
    assert list(tmp_path.iterdir()) == [] and gui.user.message_boxes == []


def test_without_highdicom_the_user_is_asked_and_told_how_to_install(gui, computed, tmp_path, monkeypatch):
    import MIRV

    requirements = tmp_path / "requirements-dicom.txt"
    requirements.write_text("highdicom-not-installed==1.0\n", encoding="utf-8")
    monkeypatch.setattr(MIRV, "dicomRequirementsPath", lambda: requirements)
    installs = []
    monkeypatch.setattr(slicer.util, "pip_install", installs.append, raising=False)
    gui.user.answer("messageBox", QMessageBox.Cancel)
    computed.ui.exportDicomButton.click()
    [question] = gui.user.message_boxes
    assert "needs pydicom and highdicom" in question.text and question.details == "highdicom-not-installed==1.0"
    assert installs == []
    assert computed.ui.statusLabel.text == ("Exporting DICOM needs pydicom and highdicom: install them with pip install "
                                            f"'mirv[dicom]' or PythonSlicer -m pip install -r {requirements}")
