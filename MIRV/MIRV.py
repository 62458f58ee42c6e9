"""MIRV: how different are one patient's metastases? Per-patient radiomic heterogeneity in 3D Slicer.

Thin GUI over ``MIRVLogic.MIRVLogic`` (Qt-free, tested headless on slicer-core): segments → radiomic features
(``MIRVLib.extraction``, in a background process so Slicer stays responsive) → MIRV with a cohort-fitted model
(``MIRVLib.cohort.score_cohort``, the same code as ``mirv cohort``) → readout, interactive matrix, 3D overlay, the
HTML report and a cohort CSV row.
"""

from __future__ import annotations

import logging
import sys
import tempfile
import unittest
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
# Slicer's "Name (Affiliation)" form. Placeholder until the contributors' names are published with the repository.
CONTRIBUTORS = ("MIRV for 3D Slicer developers (independent)",)
SAMPLE_NAME = "MIRV sample patient"
SAMPLE_FILES = (  # (file in Resources/SampleData, node name)
    ("baseline_CT.nrrd", "MIRV sample baseline CT"),
    ("baseline_lesions.seg.nrrd", "MIRV sample baseline lesions"),
    ("followup_CT.nrrd", "MIRV sample follow-up CT"),
    ("followup_lesions.seg.nrrd", "MIRV sample follow-up lesions"),
)
POLL_MSEC = 200  # how often the GUI looks at a running extraction


#
# Python dependencies
#


def requirementsPath() -> Path:
    path = resources_dir() / "requirements.txt"
    if not path.is_file():
        raise FileNotFoundError(f"MIRV: {path} not found")
    return path


def unmetRequirements() -> list[str]:
    """Requirement lines of ``Resources/requirements.txt`` not met in Slicer's Python (by distribution version)."""
    from MIRVLogic.dependencies import unmet_requirements

    return unmet_requirements(requirementsPath())


def installRequirements(requirements: list[str]) -> None:
    """Install into Slicer's Python. Slicer ≥ 5.12: ``slicer.packaging.pip_ensure`` without its own prompt (the user
    was asked once already; declining a second prompt would raise). Older Slicer: ``slicer.util.pip_install`` with a
    list, because a string is ``shlex``-split and breaks Windows paths with backslashes or spaces."""
    try:
        import slicer.packaging as packaging
    except ImportError:
        with slicer.util.WaitCursor():
            slicer.util.pip_install(list(requirements))
        return
    packaging.pip_ensure(list(requirements), prompt_install=False, requester="MIRV")


def ensureDependencies(ask: bool = True) -> bool:
    """True when MIRV's requirements are met; otherwise, after asking, install them and check again.

    Never installs in testing mode (``--testing``: ctest and CI run without network; Slicer ≥ 5.12 skips installs
    there too), so a test can rely on the answer instead of a half-finished pip run.
    """
    message = _("MIRV needs Python packages that are not installed in Slicer yet. Install them now? "
                "This takes a few minutes.")
    return _ensureRequirements(requirementsPath(), message, ask)


def dicomRequirementsPath() -> Path:
    """The DICOM extra (``mirv[dicom]``: pydicom, highdicom), needed only to export DICOM SEG + SR."""
    return resources_dir() / "requirements-dicom.txt"


def ensureDicomDependencies() -> bool:
    """`ensureDependencies` for the DICOM extra: asked for when the user first exports DICOM, not at start-up."""
    message = _("Writing a DICOM SEG and structured report needs pydicom and highdicom (the mirv[dicom] extra), "
                "which are not installed in Slicer yet. Install them now?")
    return _ensureRequirements(dicomRequirementsPath(), message)


def _ensureRequirements(path: Path, message: str, ask: bool = True) -> bool:
    """The requirements of ``path`` met, after asking (``message``) and installing if needed; never in testing mode."""
    from MIRVLogic.dependencies import unmet_requirements

    unmet = unmet_requirements(path)
    if not unmet:
        return True
    if slicer.app.testingEnabled():
        logging.warning("MIRV: testing mode, not installing %s", ", ".join(unmet))
        return False
    if ask and not slicer.util.confirmOkCancelDisplay(message, detailedText="\n".join(unmet)):
        return False
    installRequirements(unmet)
    return not unmet_requirements(path)


def ensureDependenciesOrExplain(statusLabel) -> bool:
    """What a widget does before creating its Qt-free logic: `ensureDependencies`, an install failure shown as an
    error, and what is still missing written to ``statusLabel``."""
    with slicer.util.tryWithErrorDisplay(_("Installing MIRV's Python packages failed.")):
        installed = ensureDependencies()
    if not installed:
        statusLabel.text = _("MIRV needs Python packages that are not installed: {packages}.").format(
            packages=", ".join(unmetRequirements()))
    return installed


def skipUnlessDependencies(testCase: unittest.TestCase) -> None:
    """Skip a self-test whose packages are missing, saying how to install them (Reload & Test asks first)."""
    if not ensureDependencies():
        testCase.skipTest(_("MIRV's Python packages are not installed; install them with: "
                            "PythonSlicer -m pip install -r {path}").format(path=requirementsPath()))


def runTests(testCase: ScriptedLoadableModuleTest, tests) -> None:
    """What Reload & Test runs (it calls ``runTest`` directly, outside unittest): every test after ``setUp``; a
    skipped test is reported as skipped instead of surfacing as "Reload and Test failed"."""
    for test in tests:
        testCase.setUp()
        try:
            test()
        except unittest.SkipTest as reason:
            testCase.delayDisplay(_("{test} skipped: {reason}").format(test=test.__name__, reason=reason))


#
# Module metadata and sample data
#


def moduleIcon(moduleName: str):
    """``Resources/Icons/<module>.png`` as a QIcon, wherever Resources is (development or installed layout)."""
    icon = resources_dir() / "Icons" / f"{moduleName}.png"
    return qt.QIcon(str(icon)) if icon.is_file() else None


def registerSampleData() -> None:
    """The bundled sample patient in the Sample Data module (category MIRV), so a new user tries MIRV in two clicks.

    The files are local: ``file://`` URIs, which Sample Data's downloader (urllib) copies into Slicer's cache; the
    SHA-256 checksums make it replace a cached copy left by another MIRV version.
    """
    import SampleData

    from MIRVLib.provenance import sha256_file  # standard library only

    folder = resources_dir() / "SampleData"
    SampleData.SampleDataLogic.registerCustomSampleDataSource(
        category="MIRV",
        sampleName=SAMPLE_NAME,
        thumbnailFileName=str(resources_dir() / "Icons" / "MIRVSample.png"),
        uris=[(folder / name).as_uri() for name, _ in SAMPLE_FILES],
        fileNames=[name for name, _ in SAMPLE_FILES],
        nodeNames=[node for _, node in SAMPLE_FILES],
        checksums=[f"SHA256:{sha256_file(folder / name)}" for name, _ in SAMPLE_FILES],
    )


class MIRV(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("MIRV")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Quantification")]
        self.parent.dependencies = []
        self.parent.contributors = list(CONTRIBUTORS)
        self.parent.helpText = _(
            "Measured Intrapatient Radiomic Variability: radiomic features of every lesion of a patient, reduced "
            "with a cohort-fitted model, and the pairwise cosine dissimilarity and Euclidean distance between the "
            "lesions (MIRV = the largest). Shows the matrix (click a cell to see the pair), a 3D overlay, the "
            "volumetric response when a follow-up is given, saves the HTML report and exports the patient's row "
            "for cohort analyses (module MIRV Cohort). Same code and numbers as the <tt>mirv</tt> command line. "
            "Try it on Sample Data → MIRV → MIRV sample patient.")
        self.parent.acknowledgementText = _(
            "Method: Geady C, Bannon JJ, et al., Measured intrapatient radiomic variability as a predictor of "
            "treatment response in multi-metastatic soft tissue sarcoma patients, 2025. Features: PyRadiomics' "
            "definitions. Sample patient: PyRadiomics' lung2 CT (BSD 3-Clause) with synthetic lesions.")
        icon = moduleIcon("MIRV")
        if icon is not None:
            self.parent.icon = icon
        slicer.app.connect("startupCompleted()", registerSampleData)


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
        self._job = None  # the running background extraction
        self._jobField = ""  # the parameter node field its table goes to
        self._queue = []  # (volume, segmentation, field) still to extract: baseline, then follow-up
        self._timer = None

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
        self._timer = qt.QTimer()
        self._timer.setInterval(POLL_MSEC)

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.ui.segmentationSelector.connect("currentNodeChanged(vtkMRMLNode*)", self.refreshLesionTable)
        self.ui.editLesionsButton.connect("clicked(bool)", self.onEditLesions)
        self.ui.presetComboBox.connect("currentIndexChanged(int)", self.updateGUI)
        self.ui.modelComboBox.connect("currentIndexChanged(int)", self.updateGUI)
        self.ui.extractButton.connect("clicked(bool)", self.onExtract)
        self.ui.cancelButton.connect("clicked(bool)", self.onCancel)
        self._timer.connect("timeout()", self.onPollExtraction)
        self.ui.computeButton.connect("clicked(bool)", self.onCompute)
        self.ui.jumpToPairButton.connect("clicked(bool)", self.onJumpToPair)
        self.ui.metricComboBox.connect("currentIndexChanged(int)", self.showResult)
        self.ui.matrixTableWidget.connect("cellClicked(int,int)", self.onMatrixCellClicked)
        self.ui.overlayCheckBox.connect("toggled(bool)", self.onOverlayToggled)
        self.ui.exportButton.connect("clicked(bool)", self.onExport)
        self.ui.saveMatrixButton.connect("clicked(bool)", self.onSaveMatrix)
        self.ui.saveReportButton.connect("clicked(bool)", self.onSaveReport)
        self.ui.exportDicomButton.connect("clicked(bool)", self.onExportDicom)
        self.initializeParameterNode()
        self.updateGUI()

    def cleanup(self) -> None:
        self._stopExtraction()
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()
        self.refreshLesionTable()  # segments may have been added in the Segment Editor

    def exit(self) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None

    def onSceneStartClose(self, caller, event) -> None:
        self._stopExtraction()  # its nodes are about to go
        self.setParameterNode(None)
        self._result = None
        self.ui.matrixTableWidget.setRowCount(0)
        self.ui.matrixTableWidget.setColumnCount(0)
        self.ui.readoutLabel.text = ""

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
        extracting = self._job is not None
        self.ui.extractButton.enabled = bool(node and node.inputVolume and node.lesions) and not extracting
        self.ui.cancelButton.enabled = extracting and not self._job.cancelled
        self.ui.computeButton.enabled = bool(node and node.featureTable) and not extracting
        self.ui.presetPathLineEdit.visible = self.ui.presetComboBox.currentData == FROM_FILE
        self.ui.modelPathLineEdit.visible = self.ui.modelComboBox.currentData == FROM_FILE
        hasResult = self._result is not None
        self.ui.exportButton.enabled = hasResult
        self.ui.saveMatrixButton.enabled = hasResult
        self.ui.saveReportButton.enabled = hasResult
        self.ui.exportDicomButton.enabled = hasResult
        self.ui.jumpToPairButton.enabled = hasResult and bool(self._result.mostDivergentPair())

    def _ensureLogic(self) -> bool:
        """Create the Qt-free logic once MIRVLib's dependencies are importable (installed on first use)."""
        if self.logic is not None:
            return True
        if not ensureDependenciesOrExplain(self.ui.statusLabel):
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

    # ----- extraction (a background process the timer polls) -----
    def _preset(self) -> str:
        if self.ui.presetComboBox.currentData == FROM_FILE:
            return self.ui.presetPathLineEdit.currentPath
        return self.ui.presetComboBox.currentData

    def onExtract(self) -> None:
        if not self._ensureLogic():
            return
        node = self._parameterNode
        self._queue = [(node.inputVolume, node.lesions, "featureTable")]
        if node.followUpVolume and node.followUpLesions:
            self._queue.append((node.followUpVolume, node.followUpLesions, "followUpFeatureTable"))
        self._startNextExtraction()

    def _startNextExtraction(self) -> None:
        node = self._parameterNode
        volume, segmentation, field = self._queue.pop(0)
        try:
            with slicer.util.tryWithErrorDisplay(_("Feature extraction failed."), waitCursor=True):
                self._job = self.logic.startExtraction(
                    volume, segmentation, preset=self._preset(), jobs=node.jobs,
                    patientID=node.patientID or node.inputVolume.GetName(), tableNode=getattr(node, field))
        finally:
            self.updateGUI()
        self._jobField = field
        self.ui.progressBar.maximum = self._job.total
        self.ui.progressBar.value = 0
        self.ui.statusLabel.text = _("Extracting the features of {volume}…").format(volume=volume.GetName())
        self._timer.start()

    def onPollExtraction(self) -> None:
        job = self._job
        if job is None:
            self._timer.stop()
            return
        progress = job.progress()
        self.ui.progressBar.maximum = progress.total
        self.ui.progressBar.value = progress.done
        if job.running:
            if job.cancelled:
                self.ui.statusLabel.text = _("Cancelling after the current lesion…")
            elif progress.done:
                self.ui.statusLabel.text = _("Extracted {done}/{total}: {name}").format(
                    done=progress.done, total=progress.total, name=progress.lesion)
            return
        self._timer.stop()
        self._job = None
        try:
            self._finishExtraction(job)
        finally:
            self.updateGUI()

    def _finishExtraction(self, job) -> None:
        from MIRVLogic import ExtractionCancelled

        with slicer.util.tryWithErrorDisplay(_("Feature extraction failed.")):
            try:
                table = self.logic.finishExtraction(job)
            except ExtractionCancelled:
                self._queue = []
                self.ui.statusLabel.text = _("Extraction cancelled.")
                return
            setattr(self._parameterNode, self._jobField, table)
            if self._queue:
                self._startNextExtraction()
                return
            failed = [s for s in self.logic.featureFrame(self._parameterNode.featureTable)["Status"] if s != "ok"]
            self.ui.statusLabel.text = _("Features extracted; {failed} lesion(s) failed.").format(failed=len(failed))

    def onCancel(self) -> None:
        """Stop after the lesion being extracted; nothing is written to the scene."""
        if self._job is not None:
            self._job.cancel()
            self._queue = []
            self.ui.statusLabel.text = _("Cancelling after the current lesion…")
        self.updateGUI()

    def _stopExtraction(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        if self._job is not None:
            self._job.discard()
            self._job = None
        self._queue = []

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
        try:
            with slicer.util.tryWithErrorDisplay(_("Computing MIRV failed."), waitCursor=True):
                if self._result is not None and node.lesions:
                    self.logic.hideDissimilarityOverlay(node.lesions)
                self._result = self.logic.computeMIRV(node.featureTable, model=self._model(),
                                                      followUpTableNode=followUp)
                self.ui.readoutLabel.text = self._result.readout()
                self.showResult()
        finally:
            self.updateGUI()

    def _metric(self) -> str:
        return self.ui.metricComboBox.currentData or "dissimilarity"

    def showResult(self, index=None) -> None:
        """The chosen matrix as a coloured table here and in the view layout, and the overlay if it is on."""
        if self._result is None:
            return
        metric = self._metric()
        heatmap = self._result.heatmap(metric)
        table = self.ui.matrixTableWidget
        table.clear()
        table.setRowCount(len(heatmap.labels))
        table.setColumnCount(len(heatmap.labels))
        table.setHorizontalHeaderLabels(heatmap.labels)
        table.setVerticalHeaderLabels(heatmap.labels)
        white, black = qt.QColor(255, 255, 255), qt.QColor(0, 0, 0)
        tooltip = _("{a} – {b}: click to show the pair")  # translated once, not once per cell
        for row, first in enumerate(heatmap.labels):
            for column, second in enumerate(heatmap.labels):
                item = qt.QTableWidgetItem(heatmap.text[row][column])
                red, green, blue = (int(c) for c in heatmap.colors[row, column])
                item.setBackground(qt.QBrush(qt.QColor(red, green, blue)))
                item.setForeground(qt.QBrush(black if heatmap.dark[row, column] else white))
                item.setToolTip(tooltip.format(a=first, b=second))
                item.setFlags(qt.Qt.ItemIsEnabled | qt.Qt.ItemIsSelectable)
                table.setItem(row, column, item)
        self.logic.showTableInLayout(self._result.matrixTableNode(metric), slicer.app.applicationLogic())
        if self.ui.overlayCheckBox.checked:
            self.onOverlayToggled(True)

    def onMatrixCellClicked(self, row: int, column: int) -> None:
        """A matrix cell: the slice views jump to the two lesions, which are joined by a white tube in 3D."""
        if self._result is None or row == column:
            return
        labels = list(self._result.matrix(self._metric()).index)
        self._showPair((str(labels[row]), str(labels[column])))

    def onJumpToPair(self) -> None:
        self._showPair(self._result.mostDivergentPair(self._metric()))

    def _showPair(self, pair: tuple[str, str]) -> None:
        segmentation = self._parameterNode.lesions
        with slicer.util.tryWithErrorDisplay(_("Cannot show the lesion pair."), waitCursor=True):
            self.logic.jumpSlicesToPair(segmentation, self._result, pair, self._metric())
            self.logic.highlightPair(segmentation, self._result, pair)
            value = self._result.matrix(self._metric()).loc[pair[0], pair[1]]
            self.ui.statusLabel.text = _("{a} – {b}: {value:.3f}").format(a=pair[0], b=pair[1], value=value)

    def onOverlayToggled(self, checked: bool) -> None:
        segmentation = self._parameterNode.lesions if self._parameterNode else None
        if segmentation is None or self.logic is None:
            return
        with slicer.util.tryWithErrorDisplay(_("Showing the overlay failed."), waitCursor=True):
            if checked and self._result is not None:
                self.logic.showDissimilarityOverlay(segmentation, self._result, self._metric())
            else:
                self.logic.hideDissimilarityOverlay(segmentation)

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

    def onSaveReport(self) -> None:
        """The HTML report ``MIRVBatch.py`` writes, with the first 3D view as it is shown now."""
        folder = qt.QFileDialog.getExistingDirectory(slicer.util.mainWindow(), _("Folder for the MIRV report"))
        if not folder:
            return
        with slicer.util.tryWithErrorDisplay(_("Saving the report failed."), waitCursor=True):
            report = self.logic.saveReport(self._result, folder, self._threeDViewPicture(Path(folder)))[-1]
            self.ui.statusLabel.text = _("Report: {path}").format(path=report)
            qt.QDesktopServices.openUrl(qt.QUrl.fromLocalFile(str(report)))

    def onExportDicom(self) -> None:
        """The lesions as a DICOM SEG and the patient's TID 1500 SR (`MIRVLogic.exportDicom`): the CT's series
        folder from Slicer's DICOM database, else asked for; then the folder to write into."""
        with slicer.util.tryWithErrorDisplay(_("Installing pydicom and highdicom failed.")):
            installed = ensureDicomDependencies()
        if not installed:
            self.ui.statusLabel.text = _("Exporting DICOM needs pydicom and highdicom: install them with "
                                         "pip install 'mirv[dicom]' or PythonSlicer -m pip install -r {path}").format(
                path=dicomRequirementsPath())
            return
        with slicer.util.tryWithErrorDisplay(_("Exporting DICOM failed."), waitCursor=True):
            ctFolder = self.logic.dicomSeriesFolder(self._result)
        if ctFolder is None:
            ctFolder = qt.QFileDialog.getExistingDirectory(
                slicer.util.mainWindow(), _("Folder of the CT's DICOM series (the SEG and SR reference its files)"))
            if not ctFolder:
                return
        folder = qt.QFileDialog.getExistingDirectory(slicer.util.mainWindow(), _("Folder for the DICOM SEG and SR"))
        if not folder:
            return
        with slicer.util.tryWithErrorDisplay(_("Exporting DICOM failed."), waitCursor=True):
            seg, sr = self.logic.exportDicom(self._result, folder, ctFolder=ctFolder)
            self.ui.statusLabel.text = _("DICOM SEG: {seg}; structured report: {sr}").format(seg=seg, sr=sr)

    def _threeDViewPicture(self, folder: Path) -> dict[str, Path]:
        from MIRVLib.file_names import file_stem
        from MIRVLogic.headless import write_window_png

        layoutManager = slicer.app.layoutManager()
        widget = layoutManager.threeDWidget(0) if layoutManager is not None else None
        if widget is None:
            return {}
        view = widget.threeDView()
        view.forceRender()
        path = folder / f"{file_stem(self._result.patientID)}_view3d.png"
        write_window_png(view.renderWindow(), path)
        return {_("3D view as shown in Slicer"): path}


#
# Test
#


class MIRVTest(ScriptedLoadableModuleTest):
    """Self-test in Slicer (ctest ``py_MIRV``, Reload & Test): the bundled sample patient through the module.

    Loading the sample needs only Slicer; the pipeline needs MIRV's Python packages and is skipped, with the
    command that installs them, where they are missing (``--testing`` never installs: ctest runs offline).
    """

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        runTests(self, (self.test_MIRV_sample_data, self.test_MIRV_sample_patient))

    def _loadSample(self) -> list:
        import SampleData

        registerSampleData()
        return SampleData.downloadSamples(SAMPLE_NAME)

    def test_MIRV_sample_data(self):
        """Sample Data → MIRV sample patient: four nodes; lesion sites are read from the segments' Site tags."""
        from MIRVLogic.sites import segment_site

        self.delayDisplay("Loading the sample patient from the Sample Data module")
        nodes = self._loadSample()
        self.assertEqual([node.GetName() for node in nodes], [name for _, name in SAMPLE_FILES])
        segmentation = nodes[1]
        seg = segmentation.GetSegmentation()
        sites = [segment_site(segmentation, seg.GetNthSegmentID(i)) for i in range(seg.GetNumberOfSegments())]
        self.assertEqual(sites, ["lung", "lung", "liver", "bone", "lymph node", "soft tissue"])

    def test_MIRV_sample_patient(self):
        """Features (background process), MIRV with the shipped model checked against MIRVLib, overlay on and off."""
        skipUnlessDependencies(self)
        import time

        import numpy as np

        from MIRVLib.cohort import score_cohort
        from MIRVLib.lesion_table import LesionTable
        from MIRVLib.reduction import FeatureReduction
        from MIRVLib.resources import model_path
        from MIRVLogic import MIRVLogic

        volume, segmentation = self._loadSample()[:2]
        logic = MIRVLogic()
        self.delayDisplay("Extracting features (MIRV-CT) in the background")
        job = logic.startExtraction(volume, segmentation, patientID="SAMPLE")
        while job.running:
            slicer.app.processEvents()
            time.sleep(0.1)
        table = logic.finishExtraction(job)
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
        report = logic.saveReport(result, tempfile.mkdtemp(prefix="MIRVTest-"))[-1]
        self.assertIn("MIRV — patient SAMPLE", report.read_text(encoding="utf-8"))
        logging.info(result.readout())
        self.delayDisplay("Test passed")
