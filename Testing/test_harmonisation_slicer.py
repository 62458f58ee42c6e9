"""MIRVCohortLogic.runCombat on real MRML (slicer-core): table nodes in, the numbers of `mirv stats combat` out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

slicer = pytest.importorskip("slicer")
pytestmark = pytest.mark.slicer

from MIRVLib.harmonisation import ComBat, read_lesions_with_batch  # noqa: E402


def test_combat_from_table_nodes_equals_mirvlib(slicer_env, sarc021_dir, tmp_path):
    from MIRVLogic.tables import new_table_node

    logic = slicer_env.logic("mirvcohort")
    baseline = pd.read_csv(sarc021_dir / "baseline-all.csv", encoding="utf-8-sig")
    batch = baseline.rename(columns={"USUBJID": "PatientID"})[["PatientID", "ARM", "SEX"]]
    batch.to_csv(tmp_path / "batch.csv", index=False)
    features = sarc021_dir / "lung_lesion_features.csv.gz"
    featuresNode = logic.loadTable(features)
    batchNode = new_table_node(logic.scene, "batch", batch.astype({"ARM": str}))

    result = logic.runCombat(featuresNode, "ARM", tmp_path / "out", batchNode=batchNode, covariates=["SEX"])

    table, meta = read_lesions_with_batch(features, ["ARM", "SEX"], tmp_path / "batch.csv")
    expected = ComBat("ARM", ["SEX"]).fit_transform(table.features, meta)
    node = result.tableNodes["combat_features"]
    names = [node.GetColumnName(i) for i in range(node.GetNumberOfColumns())]
    assert names[:4] == ["PatientID", "LesionID", "ARM", "SEX"] and node.GetNumberOfRows() == 362
    for feature in ("original_shape_Sphericity", "wavelet-LLL_firstorder_Mean"):
        column = names.index(feature)
        got = [node.GetTable().GetValue(r, column).ToDouble() for r in range(node.GetNumberOfRows())]
        # the node's CSV reader parses floats its own way: agreement to 1e-10 of the feature's spread
        np.testing.assert_allclose(got, expected[feature].to_numpy(), rtol=0, atol=1e-10 * expected[feature].std())
    assert result.tableNodes["combat_batches"].GetNumberOfRows() == 2
    assert result.figures[0].name == "combat_pca.png" and (tmp_path / "out" / "combat_parameters.json").is_file()
