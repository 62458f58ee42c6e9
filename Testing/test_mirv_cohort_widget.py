"""The MIRV Cohort module's GUI (``MIRVCohort.py``) through the widget harness (`slicer_gui`) on real MRML: tables
loaded from CSV, every analysis tab run from its buttons, results shown as figures and table nodes, the report,
and the parameter node with the bounds Slicer's spin-box connector applies."""

from __future__ import annotations

import html
import json

import pandas as pd
import pytest
from slicer_env import slicer  # noqa: F401  (skips without slicer-core)
from slicer_gui.harness import installed
from slicer_gui.qt_widgets import Qt
from stats_data import CLINICAL, FIGURE_2A

from MIRVLogic.tables import dataframe_from_table_node

pytestmark = pytest.mark.slicer


@pytest.fixture()
def gui(slicer_env):
    with installed(slicer_env) as running:
        yield running


@pytest.fixture()
def loaded(gui, reference_patients_csv, sarc021_dir):
    """The module with the SARC021 patient table and the three clinical tables loaded through "Load CSV…"."""
    widget = gui.widget("MIRVCohort")
    gui.user.answer("getOpenFileNames", [reference_patients_csv, *(sarc021_dir / name for name in CLINICAL)])
    widget.ui.loadTableButton.click()
    return widget


def select(list_widget, names) -> None:
    for index in range(list_widget.count):
        list_widget.item(index).setSelected(list_widget.item(index).text() in names)


def test_setup_connects_every_handler_and_bounds_the_seed(gui):
    widget = gui.widget("MIRVCohort")
    ui = widget.ui
    for button, handler in (("loadTableButton", "onLoadTable"), ("refreshColumnsButton", "refreshColumns"),
                            ("runButton", "onRun"), ("reportButton", "onReport")):
        assert [slot.__name__ for _, slot in getattr(ui, button).connections()] == [handler], button
    assert [slot.__name__ for _, slot in ui.tablesComboBox.connections()] == ["refreshColumns"]
    # Slicer's spin-box connector replaces the .ui range with the parameter's: NumPy rejects negative seeds
    assert (ui.seedSpinBox.minimum, ui.seedSpinBox.maximum) == (0, 2**31 - 1)
    ui.seedSpinBox.value = -5
    assert ui.seedSpinBox.value == 0 and widget._parameterNode.seed == 0
    with pytest.raises(ValueError):
        widget._parameterNode.seed = -1
    assert (ui.simulationsSpinBox.minimum, ui.alphaSpinBox.minimum, ui.penalizerSpinBox.maximum) == (1, 0.001, 10.0)
    assert ui.strategiesLineEdit.text == "random:2,random:3,per-site:2,per-site:3,recist-like,recist"


def test_module_metadata(gui):
    parent = gui.module("MIRVCohort").moduleParent
    assert parent.title == "MIRV Cohort" and parent.categories == ["Quantification"]
    assert parent.contributors == ["MIRV for 3D Slicer developers (independent)"]
    assert parent.icon.path.endswith("MIRVCohort.png") and not parent.icon.isNull()


def test_loaded_tables_are_checked_and_offer_their_columns(loaded, reference_patients):
    ui = loaded.ui
    assert [node.GetName() for node in ui.tablesComboBox.checkedNodes()] == \
        ["patients", "baseline-all", "survival-all", "recist-all"]
    columns = [ui.correlateColumnsList.item(i).text() for i in range(ui.correlateColumnsList.count)]
    assert set(FIGURE_2A) | {"CPCELL", "T_OS", "E_OS", "AGE"} <= set(columns) and "PatientID" not in columns
    assert ui.correlateColumnsList.item(columns.index("CPCELL")).toolTip() == "categorical"
    assert ui.durationComboBox.findText("T_OS") >= 0 and ui.groupByComboBox.itemText(0) == ""
    assert ui.statusLabel.text == f"{len(columns)} columns in the joined table"


def test_each_analysis_tab_runs_and_shows_its_results(loaded, gui, sarc021_dir, tmp_path):
    ui = loaded.ui
    ui.outputPathLineEdit.currentPath = str(tmp_path)
    tabs = {ui.analysisTabWidget.widget(i).objectName: i for i in range(ui.analysisTabWidget.count)}

    clinical = ui.tablesComboBox.checkedNodes()[1:]
    for node in clinical:  # the paper's Figure 2A: the patient table alone
        ui.tablesComboBox.setCheckState(node, Qt.Unchecked)
    select(ui.correlateColumnsList, FIGURE_2A)
    ui.runButton.click()
    rho = dataframe_from_table_node(slicer.mrmlScene.GetFirstNodeByName("MIRVCohort correlate_rho"))
    rho = rho.set_index(rho.columns[0])
    assert sorted(rho.index) == sorted(FIGURE_2A)
    assert rho.loc["MIRVMaxDissimilarity", "VolumeChangeRange"] == pytest.approx(0.513, abs=5e-4)  # the paper's
    # the status area shows what `mirv stats correlate` prints, aligned in <pre> (rich text, detected by the <br>)
    printed = (tmp_path / "correlate_summary.txt").read_text(encoding="utf-8").rstrip()
    assert ui.statusLabel.text.endswith(f"<br><pre>{html.escape(printed)}</pre>") and "n = 85" in printed
    for node in clinical:
        ui.tablesComboBox.setCheckState(node, Qt.Checked)
    assert ui.figureComboBox.itemText(0) == "correlate_circles.png" and not ui.figureLabel.pixmap().isNull()
    assert ui.tableView.mrmlTableNode() is slicer.mrmlScene.GetFirstNodeByName(f"MIRVCohort {ui.tableComboBox.itemText(0)}")

    ui.durationComboBox.currentText = "T_OS"
    ui.eventComboBox.currentText = "E_OS"
    ui.analysisTabWidget.currentIndex = tabs["coxTab"]
    select(ui.covariatesList, ["AGE", "BECOG", "MIRVMaxDissimilarity"])
    ui.runButton.click()
    assert slicer.mrmlScene.GetFirstNodeByName("MIRVCohort cox_summary").GetNumberOfRows() == 3

    ui.analysisTabWidget.currentIndex = tabs["kmTab"]
    select(ui.kmMetricsList, ["MIRVMaxDissimilarity"])
    ui.groupByComboBox.currentText = "CPCELL"
    assert ui.timeUnitLineEdit.placeholderText == "e.g. months"
    ui.timeUnitLineEdit.text = "years"  # SARC021: T_OS is in years (OS 134 days = 0.367)
    ui.runButton.click()
    logrank = pd.read_csv(tmp_path / "km_logrank.csv")
    assert slicer.mrmlScene.GetFirstNodeByName("MIRVCohort km_logrank").GetNumberOfRows() == len(logrank) > 1
    km = json.loads((tmp_path / "km_provenance.json").read_text(encoding="utf-8"))
    assert km["parameters"]["time_unit"] == "years" and "time = T_OS (years)" in km["summary"]
    assert html.escape(km["summary"]) in ui.statusLabel.text

    ui.analysisTabWidget.currentIndex = tabs["compareTab"]
    select(ui.compareMetricsList, ["MIRVMaxDistance"])
    ui.compareGroupComboBox.currentText = "CPCELL"
    ui.runButton.click()
    assert slicer.mrmlScene.GetFirstNodeByName("MIRVCohort compare_kruskal").GetNumberOfRows() == 1

    gui.user.answer("getOpenFileNames", [sarc021_dir / "lung_lesion_features.csv.gz"])
    ui.loadTableButton.click()
    ui.analysisTabWidget.currentIndex = tabs["simulateTab"]
    ui.featuresNodeComboBox.setCurrentNode(slicer.mrmlScene.GetFirstNodeByName("lung_lesion_features.csv"))
    ui.modelLineEdit.text = "SARC021-lung-reference"
    ui.strategiesLineEdit.text = "random:2,recist"
    ui.simulationsSpinBox.value = 20
    ui.runButton.click()
    summary = pd.read_csv(tmp_path / "simulate_summary.csv")
    assert len(summary) == slicer.mrmlScene.GetFirstNodeByName("MIRVCohort simulate_summary").GetNumberOfRows() == 4
    assert ui.statusLabel.text.startswith("Wrote ") and str(tmp_path) in ui.statusLabel.text

    ui.reportButton.click()
    assert gui.user.opened_urls == [(tmp_path / "report.html").as_uri()]
    assert gui.user.message_boxes == [] and gui.user.override_cursors == []


def test_a_failing_analysis_is_shown_as_an_error(loaded, gui):
    ui = loaded.ui
    ui.analysisTabWidget.currentIndex = 4  # Simulate, no feature table chosen
    with pytest.raises(ValueError):
        ui.runButton.click()
    [box] = gui.user.message_boxes
    assert box.text.startswith("Analysis failed.") and "Select the lesion feature table." in box.text


def test_parameter_node_round_trips_to_a_new_widget(gui):
    first = gui.widget("MIRVCohort")
    ui = first.ui
    ui.alphaSpinBox.value = 0.1
    ui.pairwiseCheckBox.click()
    ui.deriveLineEdit.text = "AGE>=65"
    ui.seedSpinBox.value = 42
    ui.timeUnitLineEdit.text = "months"
    node = first._parameterNode.parameterNode
    assert [node.GetParameter(n) for n in ("alpha", "pairwise", "derive", "seed", "timeUnit")] == \
        ["0.1", "True", "AGE>=65", "42", "months"]
    first.exit()
    again = gui.widget("MIRVCohort").ui
    assert (again.alphaSpinBox.value, again.pairwiseCheckBox.checked, again.deriveLineEdit.text,
            again.seedSpinBox.value, again.timeUnitLineEdit.text) == (0.1, True, "AGE>=65", 42, "months")
