"""`mirv cohort --figures` on the SARC021 lung subset: one figure pair per multi-lesion patient, and a report
whose patient values are those of patients.csv (as a person reads them: flags yes/no, volumes with units), which
opens with the printed cohort summary and folds the long parts (read back with the standard HTML parser)."""

from __future__ import annotations

import contextlib
import html
import io
import re
from collections import Counter

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
import summary_text
from html_outline import Outline

from MIRVLib.cli import main
from MIRVLib.cohort import score_cohort
from MIRVLib.cohort_report import write_figures_and_report
from MIRVLib.file_names import file_stems
from MIRVLib.lesion_columns import STATUS
from MIRVLib.lesion_table import LesionTable, read_lesion_frame
from MIRVLib.quantities import human_value
from MIRVLib.reduction import FeatureReduction
from MIRVLib.report_html import MAX_OPEN_ITEMS, MAX_OPEN_ROWS, list_block, table_block
from MIRVLib.resources import model_path
from MIRVLib.stats.summary import format_interval, format_number

METRICS = ("MIRVMaxDissimilarity", "MIRVMaxDistance", "MIRVMeanDissimilarity", "MIRVMeanDistance")


@pytest.fixture(scope="module")
def run(sarc021_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("figures")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["cohort", "--features", str(sarc021_dir / "lung_lesion_features.csv.gz"),
                     "--volumes", str(sarc021_dir / "lung_lesion_volumes.csv"), "--model", "SARC021-lung-paper",
                     "--out", str(out), "--figures"]) == 0
    return out, pd.read_csv(out / "patients.csv", dtype={"PatientID": str}), printed.getvalue()


def test_one_figure_pair_per_multi_lesion_patient(run):
    out, patients, _ = run
    multi = patients.loc[patients["NumLesions"] >= 2, "PatientID"].tolist()
    assert len(multi) == 85
    stems = dict(zip(patients["PatientID"], file_stems(patients["PatientID"].tolist())))
    expected = {f"{stems[p]}_{m}.png" for p in multi for m in ("dissimilarity", "distance")}
    assert {p.name for p in (out / "figures").iterdir()} == expected
    pixels = matplotlib.image.imread(out / "figures" / f"{stems[multi[0]]}_dissimilarity.png")
    assert pixels.shape[0] > 400 and pixels[..., :3].std() > 0.1


def test_report_values_equal_patients_csv(run):
    out, patients, _ = run
    page = (out / "report.html").read_text(encoding="utf-8")
    sections = dict(re.findall(r'<section id="patient-([^"]+)">(.*?)</section>', page, flags=re.S))
    multi = patients[patients["NumLesions"] >= 2]
    assert list(sections) == multi["PatientID"].tolist()
    assert page.index('<section id="cohort">') < page.index('<section id="patient-')  # summary first
    for row in multi.to_dict("records"):
        cells = dict(re.findall(r'<td data-column="([^"]+)">(.*?)</td>', sections[row["PatientID"]]))
        assert list(cells) == list(patients.columns)
        for column, value in row.items():
            assert html.unescape(cells[column]) == human_value(column, value), (row["PatientID"], column)
        stem = file_stems([row["PatientID"]])[0]
        assert f'src="figures/{stem}_dissimilarity.png"' in sections[row["PatientID"]]
    first = multi.iloc[0]
    section = sections[first["PatientID"]]
    assert f"complete tumour response: {'yes' if first['CompleteTumorResponse'] == 1 else 'no'}" in section
    assert f"total {first['BaselineVolumeTotal']:,.0f} mm³ ({first['BaselineVolumeTotal'] / 1000:.2f} mL)" in section


def test_report_opens_with_the_printed_summary_whose_numbers_are_patients_csv(run):
    out, patients, printed = run
    outline = Outline((out / "report.html").read_text(encoding="utf-8"))
    assert [kind for kind, _, _ in outline.parts[:4]] == ["h1", "section", "h2", "pre"]
    summary, folds = outline.find("pre")[0]
    assert folds == 0 and summary == printed.split("\ncohort: wrote")[0]  # what `mirv cohort` printed
    with_mirv = patients["MIRVMaxDistance"].notna()
    response = patients["CompleteTumorResponse"]
    assert summary_text.facts(summary) == {
        "patients": str(len(patients)), "with >= 2 lesions": str(int((patients["NumLesions"] >= 2).sum())),
        "with MIRV": str(int(with_mirv.sum())),
        "responders": f"{int(response.sum())} of {response.notna().sum()} ({int(response[with_mirv].sum())} of "
                      f"{int(with_mirv.sum())} with MIRV)",
        "warnings": "0", "patients with warnings": str(int(patients["Warnings"].notna().sum()))}
    assert summary_text.facts(summary)["responders"].endswith("(43 of 85 with MIRV)")  # published: 43 of 85 (TSRC)
    for metric in METRICS:
        values = patients[metric].dropna().to_numpy()
        q1, median, q3 = np.percentile(values, [25, 50, 75])
        assert summary_text.row(summary, metric) == summary_text.cells(
            str(len(values)), format_number(median), format_interval(q1, q3), format_number(values.max()))


def test_report_folds_the_patients_table_and_each_patient_section(run):
    out, patients, _ = run
    outline = Outline((out / "report.html").read_text(encoding="utf-8"))
    multi = patients[patients["NumLesions"] >= 2]
    visible = [text for text, folds in outline.find("summary") if folds == 0]
    assert visible == [f"Patients ({len(patients)} rows)"] + [
        f"Patient {r.PatientID}: {r.NumLesions} lesions; MIRV(max) dissimilarity "
        f"{format_number(r.MIRVMaxDissimilarity)}, distance {format_number(r.MIRVMaxDistance)}"
        for r in multi.itertuples()]
    # the patients table and each lesion table behind one fold, each patient row behind two
    assert Counter(folds for _, folds in outline.find("table")) == {1: 1 + len(multi), 2: len(multi)}
    assert len(outline.find("img")) == 2 * len(multi) and all(folds == 1 for _, folds in outline.find("img"))
    rows = [text for text, folds in outline.find("summary") if folds == 1]
    assert rows == [f"Patient row (patients.csv, {len(patients.columns)} columns)"] * len(multi)
    assert [text for text, _ in outline.find("h2")][-2:] == ["Method", "Provenance"]  # after the numbers


def _failed_lesions_report(sarc021_dir, folder, patients: int) -> tuple[Outline, list[tuple[str, str, str]]]:
    """The first ``patients`` SARC021 lung patients with >= 3 lesions, each with one lesion's extraction failed."""
    frame = read_lesion_frame(sarc021_dir / "lung_lesion_features.csv.gz")
    counts = frame["PatientID"].value_counts(sort=False)
    chosen = counts[counts >= 3].index[:patients]
    frame = frame[frame["PatientID"].isin(chosen)].reset_index(drop=True)
    failed = frame.groupby("PatientID", sort=False).head(1).index
    frame[STATUS] = "ok"
    frame.loc[failed, STATUS] = "error: empty segment"
    table = LesionTable.from_frame(frame, source="lesions.csv")
    result = score_cohort(table, FeatureReduction.load(model_path("SARC021-lung-paper")))
    write_figures_and_report(result, table, folder, {}, model="SARC021-lung-paper")
    expected = [(p, lesion, "error: empty segment") for p, lesion in frame.loc[failed, ["PatientID", "LesionID"]].to_numpy()]
    return Outline((folder / "report.html").read_text(encoding="utf-8")), expected


def test_left_out_lesions_are_listed_and_folded_beyond_the_limit(sarc021_dir, tmp_path):
    outline, failed = _failed_lesions_report(sarc021_dir, tmp_path, MAX_OPEN_ITEMS + 1)
    listed = [f"patient {p} lesion {lesion}: no features ({reason})" for p, lesion, reason in failed]
    label = f"Lesions left out ({len(failed)})"
    assert (label, 0) in outline.find("summary")
    assert all(folds == 1 for _, folds in outline.find("section")[1:])  # > MAX_OPEN_ITEMS patients: folded
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    items = re.findall(r"<li>(.*?)</li>", page.split(label)[1].split("</details>")[0])
    assert [html.unescape(item) for item in items] == listed


def test_a_small_cohort_shows_sections_and_left_out_lesions_open(sarc021_dir, tmp_path):
    outline, failed = _failed_lesions_report(sarc021_dir, tmp_path, 2)
    assert ("Lesions left out", 0) in outline.find("h3")
    assert [(kind, folds) for kind, _, folds in outline.parts if kind == "section"] == [("section", 0)] * 3
    assert not any(text.startswith("Patient ") and not text.startswith("Patient row") for text, _ in outline.find("summary"))


def test_blocks_fold_past_their_limits():
    assert list_block("Warnings", []) == ""
    items = MAX_OPEN_ITEMS
    assert list_block("Warnings", ["a < b"] * items) == "<h3>Warnings</h3><ul>" + "<li>a &lt; b</li>" * items + "</ul>"
    assert list_block("Warnings", ["x"] * (items + 1)).startswith(f"<details><summary>Warnings ({items + 1})</summary><ul>")
    assert table_block("T", "<table/>", MAX_OPEN_ROWS) == "<h3>T</h3><table/>"
    assert table_block("T", "<table/>", MAX_OPEN_ROWS + 1) == \
        f"<details><summary>T ({MAX_OPEN_ROWS + 1} rows)</summary><table/></details>"
    assert table_block("T", "<table/>", 1, main=False) == "<details><summary>T (1 rows)</summary><table/></details>"
