"""MIRVCohortLogic.runRoc / runModel on real MRML (slicer-core): the same numbers as MIRVLib, as table nodes."""

from __future__ import annotations

import numpy as np
import pytest

slicer = pytest.importorskip("slicer")
pytestmark = pytest.mark.slicer

from MIRVLib.stats.join import prepare_table, read_table  # noqa: E402
from MIRVLib.stats.model_cv import cross_validate  # noqa: E402
from MIRVLib.stats.roc import roc_analysis  # noqa: E402


def _column(node, name: str) -> list[float]:
    index = [node.GetColumnName(i) for i in range(node.GetNumberOfColumns())].index(name)
    return [node.GetTable().GetValue(r, index).ToDouble() for r in range(node.GetNumberOfRows())]


def test_roc_and_model_from_table_nodes_equal_mirvlib(slicer_env, reference_patients, reference_patients_csv,
                                                      sarc021_dir, tmp_path):
    logic = slicer_env.logic("mirvcohort")
    patients = logic.loadTable(reference_patients_csv)
    baseline = logic.loadTable(sarc021_dir / "baseline-all.csv")
    predictors = ["MIRVMaxDissimilarity", "AGE"]
    roc = logic.runRoc([patients, baseline], "CompleteTumorResponse", predictors, tmp_path, idColumn="PatientID,USUBJID")
    joined = prepare_table([reference_patients, read_table(sarc021_dir / "baseline-all.csv")], "PatientID,USUBJID")
    expected = roc_analysis(joined.frame, "CompleteTumorResponse", predictors)
    np.testing.assert_allclose(_column(roc.tableNodes["roc_summary"], "AUC"), expected.summary["AUC"], rtol=1e-14)
    np.testing.assert_allclose(_column(roc.tableNodes["roc_pairs"], "P"), expected.pairs["P"], rtol=1e-12)
    assert roc.figures[0].name == "roc_curves.png"

    sets = {"clinical": ["AGE", "BECOG"], "combined": ["AGE", "BECOG", "MIRVMaxDissimilarity"]}
    model = logic.runModel([patients, baseline], sets, tmp_path, idColumn="PatientID,USUBJID",
                           outcome="CompleteTumorResponse", folds=3, repeats=2, seed=4)
    direct = cross_validate(joined.frame, sets, joined.types, outcome="CompleteTumorResponse", folds=3, repeats=2, seed=4)
    np.testing.assert_allclose(_column(model.tableNodes["model_folds"], "AUC"), direct.folds["AUC"], rtol=1e-12)
    assert model.tableNodes["model_comparison"].GetNumberOfRows() == 1
