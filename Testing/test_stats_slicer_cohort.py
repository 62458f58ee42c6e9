"""MIRVCohortLogic on real MRML (slicer-core): table nodes in, the same numbers as `mirv stats`, table nodes out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

slicer = pytest.importorskip("slicer")
pytestmark = pytest.mark.slicer

from stats_data import CLINICAL, FIGURE_2A  # noqa: E402

from MIRVLib.stats.correlate import spearman_matrix  # noqa: E402
from MIRVLib.stats.join import prepare_table, read_table  # noqa: E402
from MIRVLib.stats.survival import km_analysis  # noqa: E402


@pytest.fixture()
def logic(slicer_env):
    """The module logic as Slicer registers it (slicer.modules.mirvcohort), on the fixture's fresh scene."""
    cohort = slicer_env.logic("mirvcohort")
    assert cohort.scene is slicer.mrmlScene
    return cohort


def test_table_node_round_trip_keeps_types_and_missing_values(logic):
    from MIRVLogic.tables import dataframe_from_table_node, update_table_node

    frame = pd.DataFrame({"PatientID": ["a", "b", "c"], "x": [1.5, np.nan, 3.0], "n": [1, 2, 3], "h": ["LMS", None, "UPS"]})
    node = logic.scene.AddNewNodeByClass("vtkMRMLTableNode")
    update_table_node(node, frame)
    back = dataframe_from_table_node(node)
    assert back["PatientID"].tolist() == ["a", "b", "c"] and back["h"].tolist()[::2] == ["LMS", "UPS"]
    assert pd.isna(back["h"][1]) and np.isnan(back["x"][1]) and back["n"].tolist() == [1.0, 2.0, 3.0]


def test_text_table_from_a_storage_node_is_typed_back(logic, reference_patients_csv):
    """A CSV read by Slicer's own table storage node holds text columns; numbers must come back numeric."""
    from MIRVLogic.tables import dataframe_from_table_node

    node = logic.scene.AddNewNodeByClass("vtkMRMLTableNode", "patients")
    storage = logic.scene.AddNewNodeByClass("vtkMRMLTableStorageNode")
    storage.SetFileName(str(reference_patients_csv))
    assert storage.ReadData(node)
    frame = dataframe_from_table_node(node)
    expected = pd.read_csv(reference_patients_csv)
    np.testing.assert_allclose(frame["MIRVMaxDissimilarity"].astype(float), expected["MIRVMaxDissimilarity"], equal_nan=True)


def test_correlate_and_km_from_table_nodes_equal_mirvlib(
    logic, reference_patients_csv, reference_patients, sarc021_dir, tmp_path
):
    patients = logic.loadTable(reference_patients_csv)
    clinical = [logic.loadTable(sarc021_dir / name) for name in CLINICAL]
    assert clinical[0].GetColumnName(0) == "USUBJID"  # BOM stripped

    result = logic.runCorrelate([patients], FIGURE_2A, tmp_path)
    rho = result.tableNodes["correlate_rho"]
    direct = spearman_matrix(reference_patients, FIGURE_2A).rho
    row = FIGURE_2A.index("MIRVMaxDissimilarity")
    column = 1 + FIGURE_2A.index("VolumeChangeRange")
    value = rho.GetTable().GetValue(row, column).ToDouble()
    assert value == pytest.approx(direct.loc["MIRVMaxDissimilarity", "VolumeChangeRange"], rel=1e-14)
    assert value == pytest.approx(0.513, abs=5e-4)
    assert (tmp_path / "correlate_rho.csv").is_file() and result.figures[0].name == "correlate_circles.png"

    km = logic.runKaplanMeier([patients, *clinical], "T_OS", "E_OS", ["MIRVMaxDissimilarity"], tmp_path,
                              idColumn="PatientID,USUBJID", groupBy="CPCELL")
    joined = prepare_table([reference_patients, *(read_table(sarc021_dir / n) for n in CLINICAL)], "PatientID,USUBJID").frame
    expected = km_analysis(joined, "T_OS", "E_OS", ["MIRVMaxDissimilarity"], group_by="CPCELL").table
    node = km.tableNodes["km_logrank"]
    p_column = [node.GetColumnName(i) for i in range(node.GetNumberOfColumns())].index("p")
    got = [node.GetTable().GetValue(r, p_column).ToDouble() for r in range(node.GetNumberOfRows())]
    np.testing.assert_allclose(got, expected["p"], rtol=1e-12, equal_nan=True)

    again = logic.runCorrelate([patients], FIGURE_2A, tmp_path)  # a re-run updates the same nodes
    assert again.tableNodes["correlate_rho"] is rho
    assert logic.buildReport(tmp_path).is_file()


def test_cox_compare_simulate_from_nodes(logic, reference_patients_csv, sarc021_dir, tmp_path):
    patients = logic.loadTable(reference_patients_csv)
    clinical = [logic.loadTable(sarc021_dir / name) for name in CLINICAL]
    types = logic.columnTypes([patients, *clinical], "PatientID,USUBJID")
    assert types["CPCELL"] == "categorical" and types["E_OS"] == "binary" and types["MIRVMaxDistance"] == "continuous"
    cox = logic.runCox([patients, *clinical], "T_OS", "E_OS", ["AGE", "BECOG", "MIRVMaxDissimilarity"], tmp_path,
                       idColumn="PatientID,USUBJID")
    assert cox.tableNodes["cox_summary"].GetNumberOfRows() == 3
    compare = logic.runCompare([patients, *clinical], ["MIRVMaxDistance"], "CPCELL", tmp_path, idColumn="PatientID,USUBJID")
    assert compare.tableNodes["compare_kruskal"].GetNumberOfRows() == 1
    features = logic.loadTable(sarc021_dir / "lung_lesion_features.csv.gz")
    steps = []
    simulation = logic.runSimulate(features, tmp_path, model="SARC021-lung-reference", simulations=20, maxK=4,
                                   progress=lambda fraction, message: steps.append(fraction))
    assert simulation.tableNodes["simulate_summary"].GetNumberOfRows() == 12 and steps[-1] == 1.0


def test_zero_padded_ids_stay_text_through_table_nodes(logic):
    from MIRVLogic.tables import new_table_node

    patients = new_table_node(logic.scene, "patients", pd.DataFrame({"PatientID": ["001", "002", "010"], "M": [0.1, 0.5, 0.9]}))
    clinical = new_table_node(logic.scene, "clinical", pd.DataFrame({"USUBJID": ["010", "001", "002"], "AGE": [70, 50, 60]}))
    table = logic.analysisTable([patients, clinical], "PatientID,USUBJID")
    assert table.frame["PatientID"].tolist() == ["001", "002", "010"]
    assert table.frame["AGE"].tolist() == [50, 60, 70] and len(table.unmatched) == 0
