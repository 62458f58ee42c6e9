"""Console summaries of `mirv stats ...` and `mirv cohort` on the shipped SARC021 data: the printed numbers are the
numbers the same run wrote to its CSVs (rounded by ``summary.format_number`` / ``format_p``), plus published values."""

from __future__ import annotations

import html
import json

import numpy as np
import pandas as pd
import pytest
from matplotlib.lines import Line2D
from scipy.stats import false_discovery_control
from stats_data import FIGURE_2A
from summary_text import cells, facts, row, run, table_args

from MIRVLib.stats import figures
from MIRVLib.stats.summary import format_interval, format_number, format_p
from MIRVLib.stats.survival import km_analysis


@pytest.fixture(scope="module")
def tables(reference_patients_csv, sarc021_dir) -> list[str]:
    return table_args(reference_patients_csv, sarc021_dir)


def test_correlate_prints_the_pairs_by_fdr(tmp_path, reference_patients_csv, capsys):
    out = run(capsys, ["stats", "correlate", "--table", str(reference_patients_csv), "--columns", ",".join(FIGURE_2A),
                       "-o", str(tmp_path)])
    pairs = pd.read_csv(tmp_path / "correlate_pairs.csv")
    assert facts(out) == {"n": "85", "missing": "listwise", "pairs": "21", "FDR <= 0.05": str(int((pairs["fdr"] <= 0.05).sum()))}
    shown = pairs.sort_values(["fdr", "p"], kind="stable").head(20)
    for _, pair in shown.iterrows():
        assert row(out, f"{pair['column_a']} | {pair['column_b']}") == [
            format_number(pair["n"]), format_number(pair["rho"]), format_p(pair["p"]), format_p(pair["fdr"])]
    assert "... 1 more rows in the CSV" in out
    # the paper's Figure 2A: ρ(MIRV max dissimilarity, volume change range) = 0.513
    assert row(out, "MIRVMaxDissimilarity | VolumeChangeRange")[1] == "0.513"
    assert (tmp_path / "correlate_summary.txt").read_text(encoding="utf-8") in out + "\n"


def test_cox_prints_hazard_ratios_with_ci(tmp_path, tables, capsys):
    out = run(capsys, ["stats", "cox", *tables, "-o", str(tmp_path), "--duration", "T_OS", "--event", "E_OS",
                       "--covariates", "AGE,MIRVMaxDissimilarity,BaselineVolumeTotal"])
    summary = pd.read_csv(tmp_path / "cox_summary.csv")
    model = pd.read_csv(tmp_path / "cox_model.csv").iloc[0]
    assert facts(out) == {"duration": "T_OS", "n": "85", "events": format_number(model["events"]),
                          "concordance": format_number(model["concordance"])}
    assert model["events"] == 59  # deaths among the 85 multi-lesion patients (km below counts the same)
    for _, term in summary.iterrows():
        assert row(out, term["covariate"]) == cells(format_number(term["coef"]), format_number(term["exp(coef)"]),
                                                    format_interval(term["exp(coef) lower 95%"], term["exp(coef) upper 95%"]),
                                                    format_p(term["p"]))
    assert f"likelihood-ratio test p = {format_p(model['log_likelihood_ratio_test_p'])}" in out
    assert f"smallest p = {format_p(pd.read_csv(tmp_path / 'cox_ph_test.csv')['p'].min())}" in out


def test_km_prints_p_and_fdr_and_names_the_time_unit(tmp_path, tables, capsys):
    out = run(capsys, ["stats", "km", *tables, "-o", str(tmp_path), "--duration", "T_OS", "--event", "E_OS",
                       "--metrics", "MIRVMaxDissimilarity,MIRVMaxDistance", "--group", "CPCELL", "--cox",
                       "--time-unit", "years"])
    logrank = pd.read_csv(tmp_path / "km_logrank.csv")
    tested = logrank["p"].notna()
    assert facts(out) == {"time": "T_OS (years)", "event": "E_OS", "tests": str(int(tested.sum()))}
    # BH adjustment checked against SciPy's own implementation
    np.testing.assert_allclose(logrank.loc[tested, "fdr"], false_discovery_control(logrank.loc[tested, "p"]), rtol=1e-12)
    for _, test in logrank.iterrows():
        interval = format_interval(test["cox_HR_lower_95"], test["cox_HR_upper_95"])
        assert row(out, f"{test['metric']} | {test['subgroup']}") == cells(
            *(format_number(test[c]) for c in ("n", "events", "cutoff", "median_survival_low", "median_survival_high")),
            format_p(test["p"]), format_p(test["fdr"]), format_number(test["cox_HR"]), interval, format_p(test["cox_p"]))
    assert json.loads((tmp_path / "km_provenance.json").read_text(encoding="utf-8"))["parameters"]["time_unit"] == "years"


def test_km_plot_has_unit_censor_ticks_at_risk_table_and_fdr():
    survival = pd.DataFrame({"T": [5, 8, 12, 3, 9, 15, 7, 11], "E": [1, 0, 1, 1, 1, 0, 1, 0],
                             "M": [1, 2, 3, 4, 5, 6, 7, 8], "G": list("aabbaabb")})
    result = km_analysis(survival, "T", "E", ["M"], group_by="G")
    curve = result.curves[0]
    assert curve.fdr == pytest.approx(result.table.loc[0, "fdr"]) and curve.fdr > curve.p
    figure = figures.km_plot(curve, figures.time_label("T", "months"))
    axis = figure.axes[0]
    assert axis.get_xlabel() == "T (months)"
    assert axis.get_title().endswith(f"log-rank p = {curve.p:.3g}, FDR = {curve.fdr:.3g}")
    censor_marks = [line for line in axis.get_lines() if isinstance(line, Line2D) and line.get_marker() == "|"]
    assert len(censor_marks) == 2  # one set of ticks per curve (3 patients censored)
    assert sum(len(line.get_xdata()) for line in censor_marks) == 3
    assert len(figure.axes) >= 2  # lifelines' at-risk table sits on its own axis under the plot
    assert figures.time_label("T_OS") == "T_OS (unit not given)"


def test_compare_prints_kruskal_wallis(tmp_path, tables, capsys):
    out = run(capsys, ["stats", "compare", *tables, "-o", str(tmp_path),
                       "--metrics", "MIRVMaxDissimilarity,MIRVMaxDistance", "--group", "CPCELL"])
    for _, test in pd.read_csv(tmp_path / "compare_kruskal.csv").iterrows():
        assert row(out, test["metric"]) == [format_number(test["levels"]), format_number(test["n"]), format_number(test["H"]),
                                            format_p(test["p"]), format_p(test["fdr"])]
    assert facts(out) == {"metrics": "2"}


def test_simulate_prints_recovery_and_lesions_needed(tmp_path, sarc021_dir, capsys):
    out = run(capsys, ["stats", "simulate", "--features", str(sarc021_dir / "lung_lesion_features.csv.gz"),
                       "--model", "SARC021-lung-reference", "--simulations", "20", "--max-k", "4", "-o", str(tmp_path)])
    assert facts(out) == {"patients": "85 of 135", "simulations": "20", "seed": "0"}
    for _, strategy in pd.read_csv(tmp_path / "simulate_summary.csv").iterrows():
        assert row(out, f"{strategy['strategy']} | {strategy['index']}") == cells(
            format_number(strategy["mean"]), format_interval(strategy["lower_95"], strategy["upper_95"]))
    needed = pd.read_csv(tmp_path / "simulate_lesions_needed.csv")
    expected = [f"{r['index']} k = {format_number(r['lesions_needed'])}" if pd.notna(r["lesions_needed"])
                else f"{r['index']} not reached" for _, r in needed.iterrows()]
    target = format_number(needed["target_percent"].iloc[0])
    assert f"random lesions needed for {target} %: {', '.join(expected)}" in out


def test_report_leads_with_the_summaries_and_folds_long_lists(tmp_path, tables, reference_patients_csv, capsys):
    run(capsys, ["stats", "correlate", "--table", str(reference_patients_csv), "--columns", ",".join(FIGURE_2A),
                 "-o", str(tmp_path)])
    run(capsys, ["stats", "compare", *tables, "-o", str(tmp_path), "--metrics", "MIRVMaxDissimilarity", "--group", "CPCELL"])
    out = run(capsys, ["stats", "report", "--in", str(tmp_path)])
    assert facts(out) == {"analyses": "2"}
    assert row(out, "correlate") == ["85", "1", "6"] and row(out, "compare") == ["-", "1", "4"]
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    first_figure = page.index("<img")
    for name in ("correlate", "compare"):
        text = html.escape((tmp_path / f"{name}_summary.txt").read_text(encoding="utf-8").rstrip())
        assert page.index(text) < first_figure  # the summaries come before any figure
    unmatched = len(pd.read_csv(tmp_path / "compare_unmatched.csv"))
    assert unmatched > 100 and f"<details><summary>compare_unmatched ({unmatched} rows)</summary>" in page
    assert "<details><summary>correlate_rho (7 rows)</summary>" in page and "<h3>compare_kruskal</h3>" in page


def test_cohort_prints_patients_mirv_distribution_and_responders(tmp_path, sarc021_dir, capsys):
    out = run(capsys, ["cohort", "--features", str(sarc021_dir / "lung_lesion_features.csv.gz"),
                       "--volumes", str(sarc021_dir / "lung_lesion_volumes.csv"), "--reduction", "reference",
                       "-o", str(tmp_path)])
    patients = pd.read_csv(tmp_path / "patients.csv")
    # published: 135 lung-subset patients, 85 with two or more lesions, 43 of them responders (TSRC)
    assert facts(out) == {"patients": "135", "with >= 2 lesions": "85", "with MIRV": "85",
                          "responders": f"{int(patients['CompleteTumorResponse'].sum())} of 135 (43 of 85 with MIRV)",
                          "warnings": "0", "patients with warnings": "0"}
    for metric in ("MIRVMaxDissimilarity", "MIRVMaxDistance", "MIRVMeanDissimilarity", "MIRVMeanDistance"):
        values = patients[metric].dropna().to_numpy()
        q1, median, q3 = np.percentile(values, [25, 50, 75])
        assert row(out, metric) == cells(str(len(values)), format_number(median), format_interval(q1, q3),
                                         format_number(values.max()))
    steps = json.loads((tmp_path / "provenance.json").read_text(encoding="utf-8"))["stepCounts"]
    assert (f"reduction: reference (fitted on this cohort); features {steps['input']} -> {steps['varianceAndVolume']} -> "
            f"{steps['selected']}") in out
    assert "response: methods reading, every lesion's volume change < +33 %" in out  # the rule behind "responders"

