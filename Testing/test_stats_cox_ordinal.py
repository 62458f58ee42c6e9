"""Ordinal coding of Cox covariates (one HR per step, the MIRV paper's Table S3 style) equals lifelines on hand codes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from stats_data import CLINICAL

from MIRVLib.cli import main
from MIRVLib.stats.cox import build_design, fit_cox, ordinal_codes
from MIRVLib.stats.join import prepare_table, read_table

HISTOLOGY = ["Leiomyosarcoma", "Liposarcoma", "Undifferentiated Pleomorphic Sarcoma", "Other"]
RECIST = ["PD", "SD", "PR", "CR"]
COVARIATES = ["AGE>=65", "BECOG", "CPCELL", "MIRVMaxDissimilarity", "BaselineVolumeTotal", "RECIST"]


@pytest.fixture(scope="module")
def lung(reference_patients, sarc021_dir) -> pd.DataFrame:
    """Lung-subset patients with MIRV joined to the shipped clinical files; RECIST 'NE' (not evaluable) left out."""
    tables = [reference_patients, *(read_table(sarc021_dir / name) for name in CLINICAL)]
    frame = prepare_table(tables, "PatientID,USUBJID", ["AGE>=65"]).frame
    return frame[frame["RECIST"] != "NE"].dropna(subset=["MIRVMaxDissimilarity", "RECIST"]).reset_index(drop=True)


def test_single_hr_per_histology_and_recist_equals_lifelines(lung):
    ours = fit_cox(lung, "T_OS", "E_OS", COVARIATES, ordinal={"CPCELL": HISTOLOGY, "RECIST": RECIST})
    hand = lung[["T_OS", "E_OS", *COVARIATES]].copy()
    hand["CPCELL"] = hand["CPCELL"].map({level: i for i, level in enumerate(HISTOLOGY)})
    hand["RECIST"] = hand["RECIST"].map({level: i for i, level in enumerate(RECIST)})
    direct = CoxPHFitter().fit(hand.dropna(), "T_OS", "E_OS")
    summary = ours.summary.set_index("covariate")
    assert list(summary.index) == COVARIATES  # one row (one HR) per variable, as in Table S3
    np.testing.assert_allclose(summary["exp(coef)"], direct.summary.loc[COVARIATES, "exp(coef)"], rtol=1e-7)
    np.testing.assert_allclose(summary["p"], direct.summary.loc[COVARIATES, "p"], rtol=1e-6)
    assert ours.model["encoding"]["RECIST"] == {"type": "ordinal", "levels": RECIST}
    # the paper's direction (Table S3): histology step HR > 1, better RECIST response HR < 1
    assert summary.loc["CPCELL", "exp(coef)"] > 1 > summary.loc["RECIST", "exp(coef)"]
    assert summary.loc["RECIST", "p"] < 0.005
    dummy = fit_cox(lung, "T_OS", "E_OS", COVARIATES).summary  # dummy coding stays the default
    assert "CPCELL[T.Liposarcoma]" in set(dummy["covariate"]) and "RECIST[T.PR]" in set(dummy["covariate"])


def test_ordinal_levels_match_numbers_and_unknown_levels_are_named():
    codes = ordinal_codes(pd.Series([0.0, 2.0, 1.0]), ["0", "1", "2"], "BECOG")
    assert codes.tolist() == [0.0, 2.0, 1.0]
    with pytest.raises(ValueError, match=r"--ordinal RECIST: value\(s\) \['NE'\] not among the given levels"):
        ordinal_codes(pd.Series(["PD", "NE"]), RECIST, "RECIST")
    frame = pd.DataFrame({"t": [1.0, 2, 3, 4], "e": [1, 0, 1, 1], "g": ["a", "b", "c", "a"]})
    with pytest.raises(ValueError, match=r"ordinal column\(s\) \['h'\] are not covariates"):
        build_design(frame, "t", "e", ["g"], ordinal={"h": ["a", "b"]})
    with pytest.raises(ValueError, match="repeated level"):
        build_design(frame, "t", "e", ["g"], ordinal={"g": ["a", "b", "a"]})


def test_cli_ordinal(lung, reference_patients_csv, sarc021_dir, tmp_path, capsys):
    recist = read_table(sarc021_dir / "recist-all.csv")
    recist[recist["RECIST"] != "NE"].to_csv(tmp_path / "recist.csv", index=False)
    tables = [reference_patients_csv, sarc021_dir / "baseline-all.csv", sarc021_dir / "survival-all.csv", tmp_path / "recist.csv"]
    common = ["stats", "cox", *(a for t in tables for a in ("--table", str(t))), "--id", "PatientID,USUBJID",
              "--duration", "T_OS", "--event", "E_OS", "--derive", "AGE>=65", "--covariates", ",".join(COVARIATES),
              "--bootstrap", "20", "--out", str(tmp_path / "cox")]
    assert main([*common, "--ordinal", "CPCELL=" + ",".join(HISTOLOGY), "--ordinal", "RECIST=" + ",".join(RECIST)]) == 0
    written = pd.read_csv(tmp_path / "cox" / "cox_summary.csv").set_index("covariate")
    expected = fit_cox(lung, "T_OS", "E_OS", COVARIATES, ordinal={"CPCELL": HISTOLOGY, "RECIST": RECIST}).summary
    np.testing.assert_allclose(written.loc[COVARIATES, "exp(coef)"], expected.set_index("covariate")["exp(coef)"], rtol=1e-9)
    provenance = json.loads((tmp_path / "cox" / "cox_provenance.json").read_text(encoding="utf-8"))
    assert provenance["parameters"]["ordinal"]["RECIST"] == RECIST and "CPCELL" not in provenance["parameters"]["categorical"]
    capsys.readouterr()
    assert main([*common, "--ordinal", "RECIST=PD,SD"]) == 2
    assert "value(s) ['PR'] not among the given levels ['PD', 'SD']" in capsys.readouterr().err
    assert main([*common, "--ordinal", "RECIST"]) == 2
