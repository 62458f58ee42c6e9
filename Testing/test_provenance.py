"""Atomic writes and provenance records: readers never see partial files, records say what made an output."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pandas as pd
import pytest

from MIRVLib import provenance


def test_atomic_csv_round_trips_full_precision_and_uses_dot_decimals(tmp_path):
    frame = pd.DataFrame({"PatientID": ["p1"], "x": [0.1 + 0.2], "y": [1e-300]})
    path = provenance.atomic_write_csv(tmp_path / "sub" / "t.csv", frame)
    text = path.read_text(encoding="utf-8")
    assert "0.30000000000000004" in text and "1e-300" in text
    assert pd.read_csv(path, float_precision="round_trip")["x"].iloc[0] == 0.1 + 0.2


def test_rows_writer_gives_the_bytes_pandas_writes(tmp_path):
    """`mirv extract` writes its table without pandas; the file must not change because of that."""
    rng = np.random.default_rng(7)
    values = [0.1 + 0.2, 1e-300, -0.0, 1e16, 123456789.0, 1e-5, 0.0001, float("inf"), -float("inf"), 2.5, 3.0,
              *rng.normal(0, 1e3, 20), *np.exp(rng.normal(0, 40, 20))]
    rows = [
        {"PatientID": "p,1", "LesionID": 'say "hi"', "Status": "ok", **{f"f{i}": v for i, v in enumerate(values)}},
        {"PatientID": "p2", "LesionID": "", "Status": "error: empty\nsegment"},  # no features: NaN in pandas
        {"PatientID": "p3", "LesionID": "ü", "Status": "ok", "f0": float("nan"), "f1": np.float64(7.25)},
    ]
    columns = list(dict.fromkeys(column for row in rows for column in row))
    ours = provenance.atomic_write_rows(tmp_path / "rows.csv", columns, rows).read_bytes()
    expected = provenance.atomic_write_csv(tmp_path / "frame.csv", pd.DataFrame(rows)).read_bytes()
    assert ours == expected


def test_atomic_write_leaves_no_temporary_files_and_respects_umask(tmp_path):
    path = provenance.atomic_write_text(tmp_path / "a.txt", "hello")
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask


def test_failed_write_keeps_the_previous_file(tmp_path):
    path = provenance.atomic_write_text(tmp_path / "a.json", "old")
    with pytest.raises(TypeError):
        provenance.atomic_write_bytes(path, "not bytes")  # type: ignore[arg-type]
    assert path.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_file_hash_matches_sha256_and_folder_hash_depends_on_names(tmp_path):
    import hashlib

    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "1.dcm").write_bytes(b"abc")
    assert provenance.sha256_file(tmp_path / "s" / "1.dcm") == hashlib.sha256(b"abc").hexdigest()
    before = provenance.sha256_file(tmp_path / "s")
    (tmp_path / "s" / "1.dcm").rename(tmp_path / "s" / "2.dcm")
    assert provenance.sha256_file(tmp_path / "s") != before


def test_record_holds_versions_parameter_hash_and_inputs(tmp_path):
    import hashlib

    params = tmp_path / "p.yaml"
    params.write_text("setting: {}\n")
    record = provenance.provenance_record(inputs={"image": params}, parameter_file=params, preset="MIRV-CT")
    json.dumps(record)
    assert record["preset"] == "MIRV-CT"
    assert record["parameterFile"]["sha256"] == hashlib.sha256(params.read_bytes()).hexdigest()
    assert record["inputs"]["image"]["sha256"] == record["parameterFile"]["sha256"]
    assert {"mirv", "numpy", "pyradiomics-bhklab"} <= set(record["versions"])


def test_settings_hash_ignores_key_order():
    assert provenance.hash_settings({"a": 1, "b": [1, 2]}) == provenance.hash_settings({"b": [1, 2], "a": 1})
    assert provenance.hash_settings({"a": 1}) != provenance.hash_settings({"a": 2})
