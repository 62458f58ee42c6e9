"""`mirv cohort --figures` on the SARC021 lung subset: one figure pair per multi-lesion patient, and a report
whose patient values are those of patients.csv (as a person reads them: flags yes/no, volumes with units)."""

from __future__ import annotations

import html
import re

import matplotlib.image
import pandas as pd
import pytest

from MIRVLib.cli import main
from MIRVLib.file_names import file_stems
from MIRVLib.quantities import human_value


@pytest.fixture(scope="module")
def run(sarc021_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("figures")
    assert main(["cohort", "--features", str(sarc021_dir / "lung_lesion_features.csv.gz"),
                 "--volumes", str(sarc021_dir / "lung_lesion_volumes.csv"), "--model", "SARC021-lung-paper",
                 "--out", str(out), "--figures"]) == 0
    return out, pd.read_csv(out / "patients.csv", dtype={"PatientID": str})


def test_one_figure_pair_per_multi_lesion_patient(run):
    out, patients = run
    multi = patients.loc[patients["NumLesions"] >= 2, "PatientID"].tolist()
    assert len(multi) == 85
    stems = dict(zip(patients["PatientID"], file_stems(patients["PatientID"].tolist())))
    expected = {f"{stems[p]}_{m}.png" for p in multi for m in ("dissimilarity", "distance")}
    assert {p.name for p in (out / "figures").iterdir()} == expected
    pixels = matplotlib.image.imread(out / "figures" / f"{stems[multi[0]]}_dissimilarity.png")
    assert pixels.shape[0] > 400 and pixels[..., :3].std() > 0.1


def test_report_values_equal_patients_csv(run):
    out, patients = run
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
