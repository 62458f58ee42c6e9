"""File names from IDs: safe, collision-free, length-bounded, stable (issue 14 §2), and end to end: KM
subgroups that sanitise alike and a patient ID longer than the file system's name limit."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd

from MIRVLib.cli import main
from MIRVLib.file_names import MAX_STEM, file_name_record, file_stem


def _h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def test_safe_ids_pass_through_and_unsafe_ones_get_a_hash_of_the_id():
    assert file_stem("TH-CR-040601") == "TH-CR-040601"
    assert file_stem("LMS/uterine") == f"LMS_uterine-{_h('LMS/uterine')}"
    assert file_stem("LMS uterine") == f"LMS_uterine-{_h('LMS uterine')}"
    assert file_stem("///") == _h("///")
    assert file_stem("") == _h("")
    assert file_name_record(["B", "A/1"]) == {"A/1": f"A_1-{_h('A/1')}"}


def test_long_ids_are_bounded_and_stay_distinct():
    a, b = "P" * 300 + "1", "P" * 300 + "2"
    assert file_stem(a) == "P" * (MAX_STEM - 9) + "-" + _h(a)
    assert len(file_stem(a)) == MAX_STEM and file_stem(a) != file_stem(b)


def test_km_subgroups_that_sanitise_alike_write_every_figure(tmp_path, capsys):
    rng = np.random.default_rng(1)
    n = 40
    frame = pd.DataFrame({
        "PatientID": [f"P{i}" for i in range(n)], "T": rng.uniform(1, 30, n), "E": rng.integers(0, 2, n),
        "M": rng.normal(size=n), "Histology": ["LMS/uterine", "LMS uterine"] * (n // 2),
    })
    table = tmp_path / "t.csv"
    frame.to_csv(table, index=False)
    out = tmp_path / "km"
    assert main(["stats", "km", "--table", str(table), "--id", "PatientID", "--duration", "T", "--event", "E",
                 "--metrics", "M", "--group-by", "Histology", "--out", str(out)]) == 0
    figures = sorted(p.name for p in out.glob("*.png"))
    assert f"km_M_LMS_uterine-{_h('LMS/uterine')}.png" in figures
    assert f"km_M_LMS_uterine-{_h('LMS uterine')}.png" in figures
    provenance = json.loads((out / "km_provenance.json").read_text(encoding="utf-8"))
    assert sorted(provenance["figures"]) == figures
    said = capsys.readouterr().out
    assert f"wrote {len(figures) + len(list(out.glob('*.csv')))} files" in said


def test_patient_id_longer_than_the_name_limit_gets_its_matrices(tmp_path):
    long_id = "X" * 300
    rows = ["PatientID,LesionID,a,original_shape_VoxelVolume,b"]
    values = [(1, 10, 5), (2, 20, 3), (3, 30, 9), (4, 15, 1)]
    ids = [long_id, long_id, "P1", "P1"]
    rows += [f"{pid},L{i % 2},{a},{v},{b}" for i, (pid, (a, v, b)) in enumerate(zip(ids, values))]
    features = tmp_path / "lesions.csv"
    features.write_text("\n".join(rows) + "\n")
    out = tmp_path / "o"
    assert main(["cohort", "--features", str(features), "--variance-quantile", "0", "--volume-correlation", "1",
                 "--out", str(out)]) == 0
    stem = "X" * (MAX_STEM - 9) + "-" + _h(long_id)
    assert (out / "matrices" / f"{stem}_distance.csv").is_file() and (out / "matrices" / "P1_distance.csv").is_file()
    assert json.loads((out / "provenance.json").read_text(encoding="utf-8"))["fileNames"] == {long_id: stem}
