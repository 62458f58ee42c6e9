"""MIRVCohortLogic on real MRML (slicer-core): ICC, |CV| tests, cluster selection and ordinal Cox from table nodes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

slicer = pytest.importorskip("slicer")
pytestmark = pytest.mark.slicer

from stats_data import CLINICAL  # noqa: E402

from MIRVLib.cohort import score_cohort  # noqa: E402
from MIRVLib.feature_clusters import ClusterSelection  # noqa: E402
from MIRVLib.lesion_table import LesionTable  # noqa: E402
from MIRVLib.reduction import FeatureReduction, ReductionSettings  # noqa: E402
from MIRVLib.stats.icc import icc_table  # noqa: E402
from MIRVLib.stats.variation import lesion_groups, variation_tests  # noqa: E402


@pytest.fixture()
def logic(slicer_env):
    return slicer_env.logic("mirvcohort")


def _column(node, name: str, numbers: bool = False) -> list:
    names = [node.GetColumnName(i) for i in range(node.GetNumberOfColumns())]
    values = [node.GetTable().GetValue(r, names.index(name)) for r in range(node.GetNumberOfRows())]
    return [v.ToDouble() if numbers else v.ToString() for v in values]


def test_icc_from_a_long_table_node(logic, tmp_path):
    from MIRVLogic.tables import new_table_node

    rng = np.random.default_rng(5)
    first = pd.DataFrame({"PatientID": ["001", "001", "002", "003", "004"], "LesionID": ["1", "2", "1", "1", "1"],
                          "Reader": "A", "Volume": rng.lognormal(2, 1, 5)})
    long = pd.concat([first, first.assign(Reader="B", Volume=first["Volume"] * rng.normal(1, 0.1, 5))], ignore_index=True)
    result = logic.runIcc(new_table_node(logic.scene, "readers", long), "Reader", tmp_path, threshold=0.75)
    expected = icc_table(long, "Reader").iloc[0]
    node = result.tableNodes["icc_summary"]
    assert _column(node, "ICC2", True)[0] == pytest.approx(expected["ICC2"], rel=1e-12)
    assert _column(node, "ICC3_CIUpper", True)[0] == pytest.approx(expected["ICC3_CIUpper"], rel=1e-12)
    assert result.figures[0].name == "icc.png" and (tmp_path / "icc_provenance.json").is_file()


def test_variation_and_clusters_from_nodes(logic, sarc021_dir, tmp_path):
    from MIRVLogic.tables import new_table_node

    table = LesionTable.read_csv(sarc021_dir / "lung_lesion_features.csv.gz")
    cohort = score_cohort(table, FeatureReduction(ReductionSettings(preset="reference")))
    features = cohort.reduction.selected
    variation = cohort.variation[features].reset_index()
    variation_node = new_table_node(logic.scene, "feature_variation", variation)
    patients_node = new_table_node(logic.scene, "patients", cohort.patients)
    result = logic.runVariation(variation_node, tmp_path, patientsNode=patients_node, threshold=0.3)
    expected = variation_tests(cohort.variation[features], 0.3, groups=lesion_groups(cohort.patients)).tests
    np.testing.assert_allclose(_column(result.tableNodes["variation_tests"], "PGroups", True),
                               expected["PGroups"], rtol=1e-12)

    features_node = logic.loadTable(sarc021_dir / "lung_lesion_features.csv.gz")
    clusters = logic.runClusterFeatures(features_node, tmp_path, representative="central", features=features)
    kept = _column(clusters.tableNodes["cluster_selected"], "Feature")
    assert kept == ClusterSelection(representative="central").fit(table.frame, features).selected


def test_cox_with_ordinal_histology(logic, reference_patients_csv, sarc021_dir, tmp_path):
    patients = logic.loadTable(reference_patients_csv)
    clinical = [logic.loadTable(sarc021_dir / name) for name in CLINICAL]
    histology = ["Leiomyosarcoma", "Liposarcoma", "Undifferentiated Pleomorphic Sarcoma", "Other"]
    cox = logic.runCox([patients, *clinical], "T_OS", "E_OS", ["AGE", "CPCELL", "MIRVMaxDissimilarity"], tmp_path,
                       idColumn="PatientID,USUBJID", ordinal={"CPCELL": histology})
    assert _column(cox.tableNodes["cox_summary"], "covariate") == ["AGE", "CPCELL", "MIRVMaxDissimilarity"]
