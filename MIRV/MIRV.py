"""MIRV: how different are one patient's metastases? Per-patient radiomic heterogeneity in 3D Slicer.

Thin GUI over ``MIRVLogic.MIRVLogic`` (Qt-free, tested headless on slicer-core): segments → PyRadiomics
features (``MIRVLib.extraction``) → MIRV with a cohort-fitted model (``MIRVLib.cohort.score_cohort``, the
same code as ``mirv cohort``) → readout, colour-coded matrix, 3D overlay and a cohort CSV row.
"""

from __future__ import annotations

import logging
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import qt
import slicer
import vtk
from slicer import vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode, vtkMRMLTableNode
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.parameterNodeWrapper import WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

MODULE_DIR = Path(__file__).resolve().parent


def _ensureMIRVLibPath() -> None:
    """Development mode ("Add module path" → MIRV/): MIRVLib and Resources live one folder up.

    An extension build installs MIRVLib next to the module, where it imports without help.
    """
    try:
        import MIRVLib  # noqa: F401  (the package itself imports nothing heavy)
    except ImportError:
        sys.path.insert(0, str(MODULE_DIR.parent))


_ensureMIRVLibPath()

from MIRVLib.resources import resources_dir  # noqa: E402  (standard library only; found once the path is set)

PRESETS = ("MIRV-CT", "Henry2022")
MODELS = (("SARC021-lung-paper", "SARC021 lung, paper"), ("SARC021-lung-reference", "SARC021 lung, reference"))
FROM_FILE = "from-file"
DEPENDENCY_MODULES = ("radiomics", "SimpleITK", "pandas", "scipy", "yaml", "matplotlib", "slicerio", "lifelines", "statsmodels", "tqdm")


def requirementsPath() -> Path:
    path = resources_dir() / "requirements.txt"
    if not path.is_file():
        raise FileNotFoundError(f"MIRV: {path} not found")
    return path


def missingDependencies() -> list[str]:
    import importlib.util

    return [name for name in DEPENDENCY_MODULES if importlib.util.find_spec(name) is None]


def ensureDependencies(ask: bool = True) -> bool:
    """Install MIRVLib's dependencies into Slicer's Python on first use, after asking the user."""
    missing = missingDependencies()
    if not missing:
        return True
    message = _("MIRV needs Python packages that are not installed in Slicer yet ({packages}). Install them now? "
                "pyradiomics-bhklab is compiled, which needs a C compiler and takes a few minutes.").format(
        packages=", ".join(missing))
    if ask and not slicer.util.confirmOkCancelDisplay(message):
        return False
    path = requirementsPath()
    packaging = _packagingModule()
    with slicer.util.WaitCursor():
        if packaging is not None:
            packaging.pip_ensure(packaging.load_requirements(str(path)))
        else:
            slicer.util.pip_install(f"-r {path}")
    return not missingDependencies()


def _packagingModule():
    """Slicer's requirement helpers with ``pip_ensure``/``load_requirements`` (``slicer.packaging`` in 5.12+,
    ``slicer.pydeps`` in 5.11), or None on older Slicer, where ``slicer.util.pip_install`` is used."""
    import importlib

    for name in ("slicer.packaging", "slicer.pydeps"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if hasattr(module, "pip_ensure") and hasattr(module, "load_requirements"):
            return module
    return None


#
# MIRV
#


class MIRV(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("MIRV")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Quantification")]
        self.parent.dependencies = []
        self.parent.contributors = ["MIRV for 3D Slicer developers"]
        self.parent.helpText = _(
            "Measured Intrapatient Radiomic Variability: PyRadiomics features of every lesion of a patient, "
            "reduced with a cohort-fitted model, and the pairwise cosine dissimilarity and Euclidean distance "
            "between the lesions (MIRV = the largest). Shows the colour-coded matrix and a 3D overlay, the "
            "volumetric response when a follow-up is given, and exports the patient's row for cohort analyses "
            "(module MIRV Cohort). Same code and numbers as the <tt>mirv</tt> command line.")
        self.parent.acknowledgementText = _(
            "Method: Geady C, Bannon JJ, et al., Measured intrapatient radiomic variability as a predictor of "
            "treatment response in multi-metastatic soft tissue sarcoma patients, 2025. Features: PyRadiomics.")
        icon = resources_dir() / "Icons" / "MIRV.png"
        if icon.is_file():
            self.parent.icon = qt.QIcon(str(icon))


#
# Parameter node
#


@parameterNodeWrapper
class MIRVParameterNode:
    """GUI state saved with the scene."""

    inputVolume: vtkMRMLScalarVolumeNode
    lesions: vtkMRMLSegmentationNode
    followUpVolume: vtkMRMLScalarVolumeNode
    followUpLesions: vtkMRMLSegmentationNode
    featureTable: vtkMRMLTableNode
    followUpFeatureTable: vtkMRMLTableNode
    patientID: str = ""
    jobs: Annotated[int, WithinRange(1, 64)] = 1


class MIRVModuleLogic(ScriptedLoadableModuleLogic):
    """Slicer's logic object (parameter node); the work is done by the Qt-free ``MIRVLogic``."""

    def getParameterNode(self):
        return MIRVParameterNode(super().getParameterNode())


#
# Widget
#


class MIRVWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self.moduleLogic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._result = None
        self._cancel = False
        self._matrixDir = Path(tempfile.mkdtemp(prefix="MIRV-"))

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(str(resources_dir() / "UI" / "MIRV.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.moduleLogic = MIRVModuleLogic()

        for preset in PRESETS:
            self.ui.presetComboBox.addItem(preset, preset)
        self.ui.presetComboBox.addItem(_("From file…"), FROM_FILE)
        for name, label in MODELS:
            self.ui.modelComboBox.addItem(label, name)
        self.ui.modelComboBox.addItem(_("From file…"), FROM_FILE)
        self.ui.metricComboBox.addItem(_("Cosine dissimilarity"), "dissimilarity")
        self.ui.metricComboBox.addItem(_("Euclidean distance"), "distance")
        self.ui.lesionTableWidget.horizontalHeader().setStretchLastSection(True)

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.ui.segmentationSelector.connect("currentNodeChanged(vtkMRMLNode*)", self.refreshLesionTable)
        self.ui.editLesionsButton.connect("clicked(bool)", self.onEditLesions)
        self.ui.presetComboBox.connect("currentIndexChanged(int)", self.updateGUI)
        self.ui.modelComboBox.connect("currentIndexChanged(int)", self.updateGUI)
        self.ui.extractButton.connect("clicked(bool)", self.onExtract)
        self.ui.cancelButton.connect("clicked(bool)", self.onCancel)
        self.ui.computeButton.connect("clicked(bool)", self.onCompute)
        self.ui.jumpToPairButton.connect("clicked(bool)", self.onJumpToPair)
        self.ui.metricComboBox.connect("currentIndexChanged(int)", self.showResult)
        self.ui.overlayCheckBox.connect("toggled(bool)", self.onOverlayToggled)
        self.ui.exportButton.connect("clicked(bool)", self.onExport)
        self.ui.saveMatrixButton.connect("clicked(bool)", self.onSaveMatrix)
        self.initializeParameterNode()
        self.updateGUI()

    def cleanup(self) -> None:
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()
        self.refreshLesionTable()  # segments may have been added in the Segment Editor

    def exit(self) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None

    def onSceneStartClose(self, caller, event) -> None:
        self.setParameterNode(None)
        self._result = None

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.moduleLogic.getParameterNode())
        if not self._parameterNode.inputVolume:
            self._parameterNode.inputVolume = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
        if not self._parameterNode.lesions:
            self._parameterNode.lesions = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLSegmentationNode")

    def setParameterNode(self, inputParameterNode) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.updateGUI)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.updateGUI)
        self.updateGUI()

    def updateGUI(self, caller=None, event=None) -> None:
        node = self._parameterNode
        ready = bool(node and node.inputVolume and node.lesions)
        self.ui.extractButton.enabled = ready
        self.ui.computeButton.enabled = bool(node and node.featureTable)
        self.ui.presetPathLineEdit.visible = self.ui.presetComboBox.currentData == FROM_FILE
        self.ui.modelPathLineEdit.visible = self.ui.modelComboBox.currentData == FROM_FILE
        hasResult = self._result is not None
        self.ui.exportButton.enabled = hasResult
        self.ui.saveMatrixButton.enabled = hasResult
        self.ui.jumpToPairButton.enabled = hasResult and bool(self._result.mostDivergentPair())

    def _ensureLogic(self) -> bool:
        """Create the Qt-free logic once MIRVLib's dependencies are importable (installed on first use)."""
        if self.logic is not None:
            return True
        if not ensureDependencies():
            self.ui.statusLabel.text = _("MIRV's Python dependencies are missing; see Resources/requirements.txt.")
            return False
        from MIRVLogic import MIRVLogic

        self.logic = MIRVLogic()
        return True

    # ----- lesions -----
    def refreshLesionTable(self, node=None) -> None:
        from MIRVLogic.sites import SITES, segment_site

        table = self.ui.lesionTableWidget
        table.setRowCount(0)
        segmentation = self.ui.segmentationSelector.currentNode()
        if segmentation is None:
            return
        seg = segmentation.GetSegmentation()
        table.setRowCount(seg.GetNumberOfSegments())
        for row in range(seg.GetNumberOfSegments()):
            segmentID = seg.GetNthSegmentID(row)
            table.setItem(row, 0, qt.QTableWidgetItem(seg.GetSegment(segmentID).GetName()))
            combo = qt.QComboBox()
            combo.editable = True
            combo.addItem("")
            combo.addItems(list(SITES))
            combo.currentText = segment_site(segmentation, segmentID)
            combo.connect("currentTextChanged(QString)",
                          lambda text, sid=segmentID: self.onSiteChanged(sid, text))
            table.setCellWidget(row, 1, combo)

    def onSiteChanged(self, segmentID: str, site: str) -> None:
        from MIRVLogic.sites import set_segment_site

        segmentation = self.ui.segmentationSelector.currentNode()
        if segmentation is not None:
            set_segment_site(segmentation, segmentID, site.strip())

    def onEditLesions(self) -> None:
        volume, segmentation = self.ui.volumeSelector.currentNode(), self.ui.segmentationSelector.currentNode()
        if segmentation is None:
            segmentation = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode", _("Lesions"))
            self.ui.segmentationSelector.setCurrentNode(segmentation)
        slicer.util.selectModule("SegmentEditor")
        editor = slicer.modules.segmenteditor.widgetRepresentation().self().editor
        editor.setSegmentationNode(segmentation)
        if volume is not None:
            if hasattr(editor, "setSourceVolumeNode"):
                editor.setSourceVolumeNode(volume)
            else:
                editor.setMasterVolumeNode(volume)

    # ----- extraction -----
    def _preset(self) -> str:
        if self.ui.presetComboBox.currentData == FROM_FILE:
            return self.ui.presetPathLineEdit.currentPath
        return self.ui.presetComboBox.currentData

    def _progress(self, done: int, total: int, name: str) -> None:
        from MIRVLogic import ExtractionCancelled

        self.ui.progressBar.maximum = total
        self.ui.progressBar.value = done
        self.ui.statusLabel.text = _("Extracted {done}/{total}: {name}").format(done=done, total=total, name=name)
        slicer.app.processEvents()
        if self._cancel:
            raise ExtractionCancelled(_("cancelled by the user"))

    def onCancel(self) -> None:
        self._cancel = True

    def onExtract(self) -> None:
        if not self._ensureLogic():
            return
        from MIRVLogic import ExtractionCancelled

        node = self._parameterNode
        self._cancel = False
        self.ui.cancelButton.enabled = True
        self.ui.extractButton.enabled = False
        patientID = node.patientID or node.inputVolume.GetName()
        with slicer.util.tryWithErrorDisplay(_("Feature extraction failed."), waitCursor=True):
            try:  # inside: tryWithErrorDisplay would report a cancel as an error
                node.featureTable = self.logic.extractFeatures(
                    node.inputVolume, node.lesions, preset=self._preset(), jobs=node.jobs,
                    progressCallback=self._progress, patientID=patientID, tableNode=node.featureTable)
                if node.followUpVolume and node.followUpLesions:
                    node.followUpFeatureTable = self.logic.extractFeatures(
                        node.followUpVolume, node.followUpLesions, preset=self._preset(), jobs=node.jobs,
                        progressCallback=self._progress, patientID=patientID, tableNode=node.followUpFeatureTable)
                failed = [s for s in self.logic.featureFrame(node.featureTable)["Status"] if s != "ok"]
                self.ui.statusLabel.text = _("Features extracted; {failed} lesion(s) failed.").format(failed=len(failed))
            except ExtractionCancelled:
                self.ui.statusLabel.text = _("Extraction cancelled.")
            finally:
                self.ui.cancelButton.enabled = False
                self.updateGUI()

    # ----- MIRV -----
    def _model(self) -> str:
        if self.ui.modelComboBox.currentData == FROM_FILE:
            return self.ui.modelPathLineEdit.currentPath
        return self.ui.modelComboBox.currentData

    def onCompute(self) -> None:
        if not self._ensureLogic():
            return
        node = self._parameterNode
        followUp = node.followUpFeatureTable if node.followUpVolume and node.followUpLesions else None
        with slicer.util.tryWithErrorDisplay(_("Computing MIRV failed."), waitCursor=True):
            if self._result is not None and node.lesions:
                self.logic.hideDissimilarityOverlay(node.lesions)
            self._result = self.logic.computeMIRV(node.featureTable, model=self._model(), followUpTableNode=followUp)
            self.ui.readoutLabel.text = self._result.readout()
            self.showResult()
        self.updateGUI()

    def _metric(self) -> str:
        return self.ui.metricComboBox.currentData or "dissimilarity"

    def showResult(self, index=None) -> None:
        if self._result is None:
            return
        path = self.logic.saveMatrixImage(self._result, self._matrixDir / f"matrix_{self._metric()}.png", self._metric())
        pixmap = qt.QPixmap(str(path))
        width = max(200, self.ui.matrixLabel.width)
        self.ui.matrixLabel.setPixmap(pixmap.scaledToWidth(width, qt.Qt.SmoothTransformation))
        if self.ui.overlayCheckBox.checked:
            self.onOverlayToggled(True)

    def onOverlayToggled(self, checked: bool) -> None:
        segmentation = self._parameterNode.lesions if self._parameterNode else None
        if segmentation is None or self.logic is None:
            return
        with slicer.util.tryWithErrorDisplay(_("Showing the overlay failed."), waitCursor=True):
            if checked and self._result is not None:
                self.logic.showDissimilarityOverlay(segmentation, self._result, self._metric())
            else:
                self.logic.hideDissimilarityOverlay(segmentation)

    def onJumpToPair(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Cannot show the lesion pair."), waitCursor=True):
            self.logic.jumpSlicesToPair(self._parameterNode.lesions, self._result, metric=self._metric())

    # ----- export -----
    def onExport(self) -> None:
        path = self.ui.exportPathLineEdit.currentPath
        if not path:
            slicer.util.errorDisplay(_("Choose the cohort CSV file first."))
            return
        node = self._parameterNode
        patientID = node.patientID or self._result.patientID
        table = slicer.mrmlScene.GetFirstNode("MIRV patients", "vtkMRMLTableNode", False) or \
            slicer.mrmlScene.AddNewNodeByClass("vtkMRMLTableNode", "MIRV patients")
        with slicer.util.tryWithErrorDisplay(_("Export failed."), waitCursor=True):
            self.logic.exportPatientRow(self._result, path, patientID, tableNode=table)
            self.ui.exportPathLineEdit.addCurrentPathToHistory()
            self.ui.statusLabel.text = _("Patient {patient} written to {path}").format(patient=patientID, path=path)

    def onSaveMatrix(self) -> None:
        path = qt.QFileDialog.getSaveFileName(None, _("Save matrix image"), f"{self._result.patientID}_{self._metric()}.png",
                                              "PNG (*.png)")
        if path:
            with slicer.util.tryWithErrorDisplay(_("Saving the image failed.")):
                self.logic.saveMatrixImage(self._result, path, self._metric())


#
# Test
#


class MIRVTest(ScriptedLoadableModuleTest):
    """Self-test inside Slicer: the bundled sample patient through the Logic, checked against MIRVLib."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_MIRV_sample_patient()

    def test_MIRV_sample_patient(self):
        self.delayDisplay("Loading the sample patient")
        if not ensureDependencies(ask=False):
            self.skipTest("MIRV dependencies are not installed")
        import numpy as np

        from MIRVLib.cohort import score_cohort
        from MIRVLib.lesion_table import LesionTable
        from MIRVLib.reduction import FeatureReduction
        from MIRVLib.resources import model_path, resources_dir
        from MIRVLogic import MIRVLogic

        sample = resources_dir() / "SampleData"
        volume = slicer.util.loadVolume(str(sample / "baseline_CT.nrrd"))
        segmentation = slicer.util.loadSegmentation(str(sample / "baseline_lesions.seg.nrrd"))
        logic = MIRVLogic()
        self.assertEqual(logic.lesionSites(segmentation)[segmentation.GetSegmentation().GetNthSegmentID(2)], "liver")

        self.delayDisplay("Extracting features (MIRV-CT)")
        table = logic.extractFeatures(volume, segmentation, patientID="SAMPLE")
        self.assertEqual(table.GetNumberOfRows(), 6)
        frame = logic.featureFrame(table)
        self.assertEqual(set(frame["Status"]), {"ok"})

        self.delayDisplay("Computing MIRV with the shipped paper model")
        result = logic.computeMIRV(table, model="SARC021-lung-paper")
        expected = score_cohort(LesionTable.from_frame(frame, nonfinite="drop-lesion"),
                                FeatureReduction.load(model_path("SARC021-lung-paper")))
        self.assertAlmostEqual(result.summary["MIRVMaxDissimilarity"],
                               float(expected.patients["MIRVMaxDissimilarity"].iloc[0]), places=12)

        self.delayDisplay("Overlay on and off")
        seg = segmentation.GetSegmentation()
        original = [seg.GetSegment(seg.GetNthSegmentID(i)).GetColor() for i in range(seg.GetNumberOfSegments())]
        model = logic.showDissimilarityOverlay(segmentation, result)
        self.assertEqual(len(set(np.round(slicer.util.arrayFromModelPointData(model, "PairIndex")))), 15)
        logic.hideDissimilarityOverlay(segmentation)
        self.assertEqual([seg.GetSegment(seg.GetNthSegmentID(i)).GetColor() for i in range(seg.GetNumberOfSegments())],
                         original)
        path = Path(tempfile.mkdtemp()) / "matrix.png"
        logic.saveMatrixImage(result, path)
        self.assertGreater(path.stat().st_size, 1000)
        logging.info(result.readout())
        self.delayDisplay("Test passed")
