"""MIRVCohort: cohort statistics on MIRV patient tables and clinical tables inside 3D Slicer.

Thin GUI over ``MIRVLogic.cohort.MIRVCohortLogic`` (Qt-free, tested headless), which calls the same
``MIRVLib.stats`` functions as ``mirv stats``: results are identical to the command line.
"""

from __future__ import annotations

import html
import logging
from pathlib import Path
from typing import Annotated

import qt
import slicer
from slicer import vtkMRMLTableNode
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

from MIRV import (  # importing MIRV also puts MIRVLib on sys.path in development mode
    CONTRIBUTORS,
    ensureDependenciesOrExplain,
    moduleIcon,
    runTests,
    skipUnlessDependencies,
)
from MIRVLib.options import DEFAULT_STRATEGIES as SIMULATED_STRATEGIES  # standard library only

DEFAULT_STRATEGIES = ",".join(SIMULATED_STRATEGIES)  # the parameter node stores them as one text field


class MIRVCohort(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("MIRV Cohort")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Quantification")]
        self.parent.dependencies = []
        self.parent.contributors = list(CONTRIBUTORS)
        self.parent.helpText = _(
            "Cohort statistics on MIRV patient tables joined to clinical tables: Spearman correlations with "
            "BH-FDR, Cox proportional hazards, Kaplan–Meier with log-rank tests, Kruskal–Wallis comparisons and "
            "the lesion-subsampling simulation of Henry et al. 2022. Same code and numbers as <tt>mirv stats</tt>.")
        self.parent.acknowledgementText = _(
            "Methods: Geady et al. 2025 (MIRV, SARC021) and Henry et al. 2022. Statistics: lifelines, scipy, statsmodels.")
        icon = moduleIcon("MIRVCohort")
        if icon is not None:
            self.parent.icon = icon


def _names(text: str, separator: str = ",") -> list[str]:
    return [item.strip() for item in (text or "").split(separator) if item.strip()]


@parameterNodeWrapper
class MIRVCohortParameterNode:
    """GUI state saved with the scene; column choices live in the lists and are read at run time."""

    idColumn: str = "PatientID,USUBJID"
    derive: str = ""
    alpha: Annotated[float, WithinRange(0.001, 1.0)] = 0.05
    pairwise: bool = False
    interactions: str = ""
    categorical: str = ""
    penalizer: Annotated[float, WithinRange(0.0, 10.0)] = 0.0
    standardize: bool = False
    cutoff: str = ""
    timeUnit: str = ""  # of the Duration column, for the Kaplan–Meier axis and median survival times
    univariableCox: bool = False
    featuresTable: vtkMRMLTableNode
    model: str = ""
    strategies: str = DEFAULT_STRATEGIES
    simulations: Annotated[int, WithinRange(1, 100000)] = 500
    # Bounded: without a range Slicer's spin-box connector opens the box to -2**31, and NumPy rejects negative seeds.
    seed: Annotated[int, WithinRange(0, 2**31 - 1)] = 0


class MIRVCohortWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self.cohort = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._result = None

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        from MIRVLib.resources import resources_dir

        uiWidget = slicer.util.loadUI(str(resources_dir() / "UI" / "MIRVCohort.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = MIRVCohortModuleLogic()

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.ui.loadTableButton.connect("clicked(bool)", self.onLoadTable)
        self.ui.refreshColumnsButton.connect("clicked(bool)", self.refreshColumns)
        self.ui.tablesComboBox.connect("checkedNodesChanged()", self.refreshColumns)
        self.ui.runButton.connect("clicked(bool)", self.onRun)
        self.ui.reportButton.connect("clicked(bool)", self.onReport)
        self.ui.figureComboBox.connect("currentIndexChanged(int)", self.showFigure)
        self.ui.tableComboBox.connect("currentIndexChanged(int)", self.showTable)
        self.initializeParameterNode()

    def cleanup(self) -> None:
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None

    def onSceneStartClose(self, caller, event) -> None:
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())

    def setParameterNode(self, parameterNode) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
        self._parameterNode = parameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)

    def _ensureCohortLogic(self) -> bool:
        """The Qt-free logic needs MIRVLib's dependencies (lifelines, statsmodels, ...): installed on first use."""
        if self.cohort is None:
            if not ensureDependenciesOrExplain(self.ui.statusLabel):
                return False
            from MIRVLogic.cohort import MIRVCohortLogic

            self.cohort = MIRVCohortLogic(slicer.mrmlScene)
        self.cohort.scene = slicer.mrmlScene
        return True

    # ----- inputs -----
    def _tables(self) -> list:
        return list(self.ui.tablesComboBox.checkedNodes())

    def _derive(self) -> list[str]:
        return _names(self._parameterNode.derive, ";")

    def onLoadTable(self) -> None:
        if not self._ensureCohortLogic():
            return
        paths = qt.QFileDialog.getOpenFileNames(slicer.util.mainWindow(), _("Load patient or clinical CSV"), "",
                                                "CSV (*.csv *.csv.gz *.txt)")
        with slicer.util.tryWithErrorDisplay(_("Failed to load the table."), waitCursor=True):
            for path in paths:
                node = self.cohort.loadTable(path)
                self.ui.tablesComboBox.setCheckState(node, qt.Qt.Checked)
        self.refreshColumns()

    def refreshColumns(self) -> None:
        """Offer the joined table's columns in every list and combo box (types shown as tooltips)."""
        tables = self._tables()
        if not tables or not self._parameterNode or not self._ensureCohortLogic():
            return
        try:
            types = self.cohort.columnTypes(tables, self._parameterNode.idColumn, self._derive())
        except ValueError as error:
            self.ui.statusLabel.text = str(error)
            return
        self.ui.statusLabel.text = _("{count} columns in the joined table").format(count=len(types))
        for widget in (self.ui.correlateColumnsList, self.ui.covariatesList, self.ui.kmMetricsList, self.ui.compareMetricsList):
            selected = {item.text() for item in widget.selectedItems()}
            widget.clear()
            for name, kind in types.items():
                item = qt.QListWidgetItem(name)
                item.setToolTip(kind)
                widget.addItem(item)
                item.setSelected(name in selected)
        for combo, optional in ((self.ui.durationComboBox, False), (self.ui.eventComboBox, False),
                                (self.ui.groupByComboBox, True), (self.ui.compareGroupComboBox, False)):
            current = combo.currentText
            combo.clear()
            if optional:
                combo.addItem("")
            combo.addItems(list(types))
            combo.setCurrentText(current)

    @staticmethod
    def _selected(widget) -> list[str]:
        return [widget.item(i).text() for i in range(widget.count) if widget.item(i).isSelected()]

    # ----- run -----
    def onRun(self) -> None:
        if not self._ensureCohortLogic():
            return
        with slicer.util.tryWithErrorDisplay(_("Analysis failed."), waitCursor=True):
            p = self._parameterNode
            cohort = self.cohort
            common = {"idColumn": p.idColumn, "derive": self._derive()}
            out = self.ui.outputPathLineEdit.currentPath or None
            tab = self.ui.analysisTabWidget.currentWidget().objectName
            if tab == "correlateTab":
                result = cohort.runCorrelate(self._tables(), self._selected(self.ui.correlateColumnsList), out, **common,
                                             missing="pairwise" if p.pairwise else "listwise", alpha=p.alpha)
            elif tab == "coxTab":
                result = cohort.runCox(self._tables(), self.ui.durationComboBox.currentText, self.ui.eventComboBox.currentText,
                                       self._selected(self.ui.covariatesList), out, **common,
                                       interactions=_names(p.interactions), categorical=_names(p.categorical),
                                       standardize=p.standardize, penalizer=p.penalizer)
            elif tab == "kmTab":
                result = cohort.runKaplanMeier(self._tables(), self.ui.durationComboBox.currentText,
                                               self.ui.eventComboBox.currentText, self._selected(self.ui.kmMetricsList), out,
                                               **common, groupBy=self.ui.groupByComboBox.currentText or None,
                                               cutoff=float(p.cutoff) if p.cutoff.strip() else None,
                                               univariableCox=p.univariableCox, timeUnit=p.timeUnit or None)
            elif tab == "compareTab":
                result = cohort.runCompare(self._tables(), self._selected(self.ui.compareMetricsList),
                                           self.ui.compareGroupComboBox.currentText, out, **common)
            else:
                if not p.featuresTable:
                    raise ValueError(_("Select the lesion feature table."))
                result = cohort.runSimulate(p.featuresTable, out, model=p.model.strip() or None,
                                            strategies=_names(p.strategies), simulations=p.simulations, seed=p.seed,
                                            progress=self._progress)
            self.showResult(result)

    def _progress(self, fraction: float, message: str) -> None:
        self.ui.statusLabel.text = f"{fraction:.0%} {message}"
        slicer.app.processEvents()

    def showResult(self, result) -> None:
        self._result = result
        wrote = _("Wrote {n} tables and {m} figures to {folder}").format(
            n=len(result.tableNodes), m=len(result.figures), folder=result.output.out_dir)
        # rich text (the <br> makes QLabel detect it): the summary's columns stay aligned in <pre>
        self.ui.statusLabel.text = f"{html.escape(wrote)}<br><pre>{html.escape(result.summary)}</pre>"
        self.ui.figureComboBox.clear()
        self.ui.figureComboBox.addItems([path.name for path in result.figures])
        self.ui.tableComboBox.clear()
        self.ui.tableComboBox.addItems(list(result.tableNodes))

    def showFigure(self, index: int) -> None:
        if self._result is None or not 0 <= index < len(self._result.figures):
            self.ui.figureLabel.clear()
            return
        pixmap = qt.QPixmap(str(self._result.figures[index]))
        width = max(self.ui.figureLabel.width, 300)
        self.ui.figureLabel.setPixmap(pixmap.scaledToWidth(width, qt.Qt.SmoothTransformation))
        self.ui.figureLabel.toolTip = str(self._result.figures[index])

    def showTable(self, index: int) -> None:
        if self._result is None or index < 0:
            return
        node = self._result.tableNodes.get(self.ui.tableComboBox.itemText(index))
        self.ui.tableView.setMRMLTableNode(node)

    def onReport(self) -> None:
        if not self._ensureCohortLogic():
            return
        with slicer.util.tryWithErrorDisplay(_("Could not build the report."), waitCursor=True):
            path = self.cohort.buildReport(self.ui.outputPathLineEdit.currentPath or None)
            self.ui.statusLabel.text = _("Report: {path}").format(path=path)
            qt.QDesktopServices.openUrl(qt.QUrl.fromLocalFile(str(path)))


class MIRVCohortModuleLogic(ScriptedLoadableModuleLogic):
    """Slicer's logic for the parameter node; the analyses are in the Qt-free ``MIRVLogic.cohort.MIRVCohortLogic``."""

    def getParameterNode(self):
        return MIRVCohortParameterNode(super().getParameterNode())


class MIRVCohortTest(ScriptedLoadableModuleTest):
    """Runs in Slicer (ctest ``py_MIRVCohort``, Reload & Test). The parameter test needs only Slicer; the analyses
    need MIRV's Python packages (pandas, lifelines, statsmodels) and are skipped, saying how to install them, where
    they are missing — a fresh Slicer bundles only numpy, scipy and SimpleITK."""

    def setUp(self) -> None:
        slicer.mrmlScene.Clear(0)

    def runTest(self) -> None:
        runTests(self, (self.test_parameters_reject_what_the_analyses_cannot_use,
                        self.test_correlate_and_compare_from_table_nodes))

    def test_parameters_reject_what_the_analyses_cannot_use(self) -> None:
        parameters = MIRVCohortModuleLogic().getParameterNode()
        self.assertEqual((parameters.seed, parameters.simulations, parameters.alpha), (0, 500, 0.05))
        for name, value in (("seed", -1), ("simulations", 0), ("alpha", 0.0)):
            with self.assertRaises(ValueError):
                setattr(parameters, name, value)

    def test_correlate_and_compare_from_table_nodes(self) -> None:
        skipUnlessDependencies(self)
        import tempfile

        import numpy as np
        import pandas as pd
        from scipy.stats import kruskal, spearmanr

        from MIRVLogic.cohort import MIRVCohortLogic
        from MIRVLogic.tables import update_table_node

        rng = np.random.default_rng(1)
        n = 40
        mirv = rng.uniform(0, 2, n)
        patients = pd.DataFrame({"PatientID": [f"P{i:03d}" for i in range(n)], "MIRVMaxDissimilarity": mirv,
                                 "VolumeChangeRange": mirv * 50 + rng.normal(0, 30, n)})
        clinical = pd.DataFrame({"USUBJID": patients["PatientID"], "CPCELL": rng.choice(["LMS", "LPS", "UPS"], n)})
        nodes = []
        for name, frame in (("patients", patients), ("clinical", clinical)):
            node = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLTableNode", name)
            update_table_node(node, frame)
            nodes.append(node)
        logic = MIRVCohortLogic(slicer.mrmlScene)
        out = Path(tempfile.mkdtemp(prefix="MIRVCohortTest-"))
        result = logic.runCorrelate(nodes, ["MIRVMaxDissimilarity", "VolumeChangeRange"], out, idColumn="PatientID,USUBJID")
        expected = spearmanr(patients["MIRVMaxDissimilarity"], patients["VolumeChangeRange"]).statistic
        rho = result.tableNodes["correlate_rho"].GetTable().GetValue(1, 1).ToDouble()
        self.assertAlmostEqual(rho, expected, places=12)
        compare = logic.runCompare(nodes, ["MIRVMaxDissimilarity"], "CPCELL", out, idColumn="PatientID,USUBJID")
        groups = [mirv[clinical["CPCELL"] == level] for level in sorted(set(clinical["CPCELL"]))]
        p_column = [compare.tableNodes["compare_kruskal"].GetColumnName(i)
                    for i in range(compare.tableNodes["compare_kruskal"].GetNumberOfColumns())].index("p")
        p = compare.tableNodes["compare_kruskal"].GetTable().GetValue(0, p_column).ToDouble()
        self.assertAlmostEqual(p, kruskal(*groups).pvalue, places=12)
        self.assertTrue(logic.buildReport(out).is_file())
        logging.info("MIRVCohort test passed")
