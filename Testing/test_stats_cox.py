"""Cox models equal direct lifelines fits (formula interface) on SARC021 clinical data joined to lung MIRV."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from lifelines.statistics import proportional_hazard_test
from stats_data import CLINICAL

from MIRVLib.stats.cox import build_design, fit_cox
from MIRVLib.stats.join import prepare_table, read_table

LIFELINES_COLUMNS = ["covariate", "coef", "exp(coef)", "se(coef)", "coef lower 95%", "coef upper 95%",
                     "exp(coef) lower 95%", "exp(coef) upper 95%", "cmp to", "z", "p", "-log2(p)"]


@pytest.fixture(scope="module")
def lung(reference_patients, sarc021_dir) -> pd.DataFrame:
    """The 85 lung-subset patients with MIRV, joined to the clinical files as shipped (BOM, USUBJID)."""
    tables = [reference_patients, *(read_table(sarc021_dir / name) for name in CLINICAL)]
    frame = prepare_table(tables, "PatientID,USUBJID", ["AGE>=65", "HighVolume=BaselineVolumeTotal>=median"]).frame
    return frame.dropna(subset=["MIRVMaxDissimilarity"]).reset_index(drop=True)


def _renamed(summary: pd.DataFrame) -> pd.Series:
    """formulaic writes C(X)[T.level]; ours is X[T.level]."""
    return summary["coef"].rename(lambda name: name.replace("C(", "").replace(")[", "["))


def test_lung_subset_has_85_patients(lung):
    assert len(lung) == 85


def test_main_effects_and_interaction_equal_lifelines_formula(lung):
    covariates = ["AGE", "BECOG", "CPCELL", "MIRVMaxDissimilarity", "MIRVMaxDistance", "BaselineVolumeTotal"]
    ours = fit_cox(lung, "T_OS", "E_OS", covariates, ["CPCELL:MIRVMaxDissimilarity"], penalizer=0.1)
    direct = CoxPHFitter(penalizer=0.1).fit(
        lung[["T_OS", "E_OS", *covariates]], "T_OS", "E_OS",
        formula="AGE + BECOG + C(CPCELL) + MIRVMaxDissimilarity + MIRVMaxDistance + BaselineVolumeTotal"
                " + C(CPCELL):MIRVMaxDissimilarity")
    expected = _renamed(direct.summary)
    got = ours.summary.set_index("covariate")["coef"]
    assert sorted(got.index) == sorted(expected.index)
    np.testing.assert_allclose(got[expected.index].to_numpy(), expected.to_numpy(), rtol=1e-6, atol=1e-9)
    assert ours.model["concordance"] == pytest.approx(direct.concordance_index_, rel=1e-12)
    assert list(ours.summary.columns) == LIFELINES_COLUMNS
    assert ours.model["n"] == 85 and ours.model["events"] == int(lung["E_OS"].sum())


def test_categorical_numeric_code_reference_level_and_ph_test(lung):
    frame = lung.assign(ECOG=lung["BECOG"])
    ours = fit_cox(frame, "T_OS", "E_OS", ["AGE>=65", "ECOG", "RECIST"], categorical=["ECOG"], reference={"RECIST": "SD"})
    names = ours.summary["covariate"].tolist()
    assert names == ["AGE>=65", "ECOG[T.1]", "RECIST[T.NE]", "RECIST[T.PD]", "RECIST[T.PR]"]
    assert "RECIST[T.SD]" not in names and ours.model["encoding"]["RECIST"]["reference"] == "SD"
    design = ours.design.frame
    direct = CoxPHFitter().fit(design, "T_OS", "E_OS")
    ph = proportional_hazard_test(direct, design, time_transform="rank").summary
    np.testing.assert_allclose(ours.ph_test.set_index("covariate").loc[ph.index, "p"], ph["p"], rtol=1e-10)


def test_standardisation_gives_hazard_ratio_per_sd(lung):
    ours = fit_cox(lung, "T_OS", "E_OS", ["MIRVMaxDistance", "AGE"], standardize=True)
    z = lung[["T_OS", "E_OS", "MIRVMaxDistance", "AGE"]].copy()
    for column in ("MIRVMaxDistance", "AGE"):
        z[column] = (z[column] - z[column].mean()) / z[column].std(ddof=1)
    direct = CoxPHFitter().fit(z, "T_OS", "E_OS")
    np.testing.assert_allclose(ours.summary.set_index("covariate")["exp(coef)"], direct.summary["exp(coef)"], rtol=1e-8)
    raw = fit_cox(lung, "T_OS", "E_OS", ["MIRVMaxDistance", "AGE"])
    sd = lung["MIRVMaxDistance"].std(ddof=1)
    assert ours.summary["coef"].iloc[0] == pytest.approx(raw.summary["coef"].iloc[0] * sd, rel=1e-6)


def test_listwise_deletion_counts_the_one_lesion_patients(reference_patients, sarc021_dir):
    tables = [reference_patients, *(read_table(sarc021_dir / name) for name in CLINICAL)]
    frame = prepare_table(tables, "PatientID,USUBJID").frame
    result = fit_cox(frame, "T_OS", "E_OS", ["MIRVMaxDissimilarity"], ph_test=False)
    assert result.model["n"] == 85
    assert result.model["excluded_missing"] == len(frame) - 85


def test_bad_input_errors_are_specific(lung):
    with pytest.raises(ValueError, match="interaction 'CPCELL' must name two"):
        build_design(lung, "T_OS", "E_OS", ["AGE"], ["CPCELL"])
    with pytest.raises(ValueError, match=r"column\(s\) \['NOPE'\] not in the table"):
        build_design(lung, "T_OS", "E_OS", ["NOPE"])
    with pytest.raises(ValueError, match="event column 'T_OS' must be 0/1"):
        build_design(lung, "E_OS", "T_OS", ["AGE"])
    with pytest.raises(ValueError, match="reference level 'XYZ' not found in 'CPCELL'"):
        build_design(lung, "T_OS", "E_OS", ["CPCELL"], reference={"CPCELL": "XYZ"})
    # 'Other' histology has a single lung patient: its dummy and interaction are collinear
    with pytest.raises(ValueError, match=r"did not converge.*CPCELL\[T.Other\]"):
        fit_cox(lung, "T_OS", "E_OS", ["CPCELL", "MIRVMaxDissimilarity"], ["CPCELL:MIRVMaxDissimilarity"])
