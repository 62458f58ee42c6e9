"""`mirv stats ...` end to end on the shipped SARC021 files: tables named per analysis, figures, report."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from stats_data import CLINICAL, FIGURE_2A

from MIRVLib.cli import main
from MIRVLib.lesion_table import LesionTable
from MIRVLib.reduction import FeatureReduction
from MIRVLib.resources import model_path
from MIRVLib.stats.analyses import simulation_inputs
from MIRVLib.stats.join import read_table
from MIRVLib.stats.simulate import simulate_sampling

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def out(tmp_path_factory, reference_patients_csv, sarc021_dir):
    """Run every analysis once into one folder (the tests below read what was written)."""
    folder = tmp_path_factory.mktemp("stats_cli")
    tables = ["--table", str(reference_patients_csv)]
    for name in CLINICAL:
        tables += ["--table", str(sarc021_dir / name)]
    common = [*tables, "--id", "PatientID,USUBJID", "--out", str(folder)]
    assert main(["stats", "correlate", "--table", str(reference_patients_csv), "--columns", ",".join(FIGURE_2A),
                 "--out", str(folder)]) == 0
    assert main(["stats", "cox", *common, "--duration", "T_OS", "--event", "E_OS", "--derive", "AGE>=65",
                 "--derive", "HighVolume=BaselineVolumeTotal>=median",
                 "--covariates", "AGE>=65,BECOG,CPCELL,MIRVMaxDissimilarity,MIRVMaxDistance,HighVolume",
                 "--interactions", "CPCELL:MIRVMaxDissimilarity", "--categorical", "CPCELL,BECOG", "--penalizer", "0.1"]) == 0
    assert main(["stats", "km", *common, "--duration", "T_OS", "--event", "E_OS",
                 "--metrics", "MIRVMaxDissimilarity,MIRVMaxDistance", "--group-by", "CPCELL", "--cox"]) == 0
    assert main(["stats", "compare", *common, "--metrics", "MIRVMaxDissimilarity,MIRVMaxDistance", "--group", "CPCELL"]) == 0
    assert main(["stats", "simulate", "--features", str(sarc021_dir / "lung_lesion_features.csv.gz"),
                 "--model", "SARC021-lung-reference", "--simulations", "40", "--max-k", "6", "--out", str(folder)]) == 0
    assert main(["stats", "report", "--out", str(folder)]) == 0
    return folder


def test_correlate_tables_pin_figure_2a(out):
    rho = pd.read_csv(out / "correlate_rho.csv", index_col="column")
    assert rho.loc["MIRVMaxDissimilarity", "VolumeChangeRange"] == pytest.approx(0.513, abs=5e-4)
    fdr = pd.read_csv(out / "correlate_fdr.csv", index_col="column")
    assert list(fdr.columns) == FIGURE_2A and (out / "correlate_circles.png").read_bytes()[:8] == PNG
    record = json.loads((out / "correlate_provenance.json").read_text(encoding="utf-8"))
    assert record["n"] == 85 and record["parameters"]["columns"] == FIGURE_2A and "versions" in record


def test_cox_summary_has_lifelines_columns_and_values(out, reference_patients, sarc021_dir):
    summary = pd.read_csv(out / "cox_summary.csv")
    assert list(summary.columns) == ["covariate", "coef", "exp(coef)", "se(coef)", "coef lower 95%", "coef upper 95%",
                                     "exp(coef) lower 95%", "exp(coef) upper 95%", "cmp to", "z", "p", "-log2(p)"]
    clinical = read_table(sarc021_dir / "baseline-all.csv").rename(columns={"USUBJID": "PatientID"})
    survival = read_table(sarc021_dir / "survival-all.csv")[["USUBJID", "T_OS", "E_OS"]].rename(columns={"USUBJID": "PatientID"})
    recist = read_table(sarc021_dir / "recist-all.csv").rename(columns={"USUBJID": "PatientID"})[["PatientID"]]
    data = reference_patients.merge(clinical, on="PatientID").merge(survival, on="PatientID").merge(recist, on="PatientID")
    data["OLD"] = (data["AGE"] >= 65).astype(float)
    # derived columns are computed on the joined table (134 patients), before each analysis drops missing rows
    data["HV"] = (data["BaselineVolumeTotal"] >= data["BaselineVolumeTotal"].median()).astype(float)
    data = data.dropna(subset=["MIRVMaxDissimilarity"])
    direct = CoxPHFitter(penalizer=0.1).fit(
        data[["T_OS", "E_OS", "OLD", "BECOG", "CPCELL", "MIRVMaxDissimilarity", "MIRVMaxDistance", "HV"]], "T_OS", "E_OS",
        formula="OLD + C(BECOG) + C(CPCELL) + MIRVMaxDissimilarity + MIRVMaxDistance + HV + C(CPCELL):MIRVMaxDissimilarity")
    assert len(summary) == len(direct.summary) == 11  # 1 age + 1 ECOG + 3 histology + 2 MIRV + 1 volume + 3 interactions
    np.testing.assert_allclose(np.sort(summary["coef"]), np.sort(direct.summary["coef"]), rtol=1e-6)
    model = pd.read_csv(out / "cox_model.csv").iloc[0]
    assert model["n"] == len(data) == 85 and model["concordance"] == pytest.approx(direct.concordance_index_)
    assert set(pd.read_csv(out / "cox_ph_test.csv")["covariate"]) == set(summary["covariate"])
    assert (out / "cox_forest.png").read_bytes()[:8] == PNG


def test_km_compare_simulate_outputs(out, sarc021_dir):
    logrank = pd.read_csv(out / "km_logrank.csv")
    assert set(logrank["metric"]) == {"MIRVMaxDissimilarity", "MIRVMaxDistance"}
    assert {"All", "Leiomyosarcoma"} <= set(logrank["subgroup"]) and logrank["fdr"].notna().any()
    assert (out / "km_MIRVMaxDissimilarity_Leiomyosarcoma.png").read_bytes()[:8] == PNG
    assert pd.read_csv(out / "compare_kruskal.csv")["n"].tolist() == [85, 85]
    summary = pd.read_csv(out / "simulate_summary.csv")
    assert len(summary) == 6 * 2 and summary["mean"].between(0, 100).all()
    # the same numbers as the library called directly with the shipped model and the command's settings
    lesions = LesionTable.read_csv(sarc021_dir / "lung_lesion_features.csv.gz")
    vectors, sites = simulation_inputs(lesions, FeatureReduction.load(model_path("SARC021-lung-reference")))
    direct = simulate_sampling(vectors, sites, simulations=40, curve_k=range(2, 7))
    np.testing.assert_allclose(summary[["mean", "lower_95", "upper_95"]], direct.summary[["mean", "lower_95", "upper_95"]],
                               rtol=1e-12)
    assert pd.read_csv(out / "simulate_curve.csv")["k"].max() == 6
    record = json.loads((out / "simulate_provenance.json").read_text(encoding="utf-8"))
    assert record["parameters"]["patients_included"] == 85 and len(record["reduction"]["selectedFeatures"]) == 16


def test_report_embeds_every_analysis(out):
    page = (out / "report.html").read_text(encoding="utf-8")
    for section in ("correlate", "cox", "km", "compare", "simulate"):
        assert f'id="{section}"' in page
    assert page.count("data:image/png;base64,") >= 5 and "cox_summary" in page


def test_issue_usage_with_a_prejoined_clinical_table(tmp_path, reference_patients_csv, sarc021_dir, capsys):
    survival = read_table(sarc021_dir / "survival-all.csv")[["USUBJID", "T_OS", "E_OS"]]
    clinical = read_table(sarc021_dir / "baseline-all.csv").merge(survival, on="USUBJID").rename(columns={"USUBJID": "PatientID"})
    clinical.to_csv(tmp_path / "clinical.csv", index=False)
    args = ["stats", "cox", "--table", str(reference_patients_csv), "--table", str(tmp_path / "clinical.csv"),
            "--id", "PatientID", "--duration", "T_OS", "--event", "E_OS",
            "--covariates", "AGE,BECOG,CPCELL,MIRVMaxDissimilarity", "--interactions", "CPCELL:MIRVMaxDissimilarity",
            "--categorical", "CPCELL", "--out", str(tmp_path / "out")]
    # one lung patient has 'Other' histology: its dummy and interaction are collinear — a clear error, exit 1
    assert main(args) == 1
    assert "CPCELL[T.Other]" in capsys.readouterr().err
    assert main([*args, "--penalizer", "0.05"]) == 0
    assert (tmp_path / "out" / "cox_summary.csv").is_file()


def test_bad_column_is_a_one_line_error(tmp_path, reference_patients_csv, capsys):
    assert main(["stats", "correlate", "--table", str(reference_patients_csv), "--columns", "NumLesions,Nope",
                 "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "mirv stats correlate: error" in err and "['Nope']" in err
