"""`mirv extract`: table + provenance sidecar from a labelmap / .seg.nrrd; same values as the library."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from fresh_interpreter import modules_loaded_by
from pyradiomics_data import ball_mask, light_preset, synthetic_ct, write_labelmap, write_seg_nrrd

from MIRVLib.cli import main
from MIRVLib.extraction import extract_patient, load_preset
from MIRVLib.lesions import Lesion
from MIRVLib.provenance import sha256_file


@pytest.fixture()
def patient(tmp_path):
    ct = synthetic_ct()
    sitk.WriteImage(ct, str(tmp_path / "P7_ct.nrrd"))
    masks = {"first": ball_mask(ct, (30, 32, 10), 6), "second": ball_mask(ct, (20, 40, 8), 5),
             "empty": sitk.Image(ct.GetSize(), sitk.sitkUInt8)}
    masks["empty"].CopyInformation(ct)
    return tmp_path, ct, masks


def test_cli_writes_table_and_provenance(patient, capsys):
    folder, ct, masks = patient
    write_seg_nrrd(masks, folder / "P7.seg.nrrd", sites={"second": "Lung"})
    preset = light_preset(folder)
    out = folder / "out" / "lesions.csv"
    code = main(["extract", "--image", str(folder / "P7_ct.nrrd"), "--lesions", str(folder / "P7.seg.nrrd"),
                 "--preset", str(preset), "--jobs", "2", "--ith", "--out", str(out), "--no-progress"])
    assert code == 0
    table = pd.read_csv(out, dtype={"Site": str}, float_precision="round_trip")
    assert list(table.columns[:5]) == ["PatientID", "LesionID", "SegmentID", "Site", "Status"]
    assert table["PatientID"].tolist() == ["P7_ct"] * 3
    assert table["LesionID"].tolist() == ["first", "second", "empty"]
    assert table["Site"].fillna("").tolist() == ["", "Lung", ""]
    assert table["Status"].tolist() == ["ok", "ok", "error: empty segment (no voxels)"]
    assert table["ITHscore"].iloc[:2].between(0, 1).all()
    assert "lesion 'empty': error: empty segment" in capsys.readouterr().err
    # the same values as the library, exactly (full float precision in the CSV)
    direct = extract_patient(ct, [Lesion(n, m) for n, m in masks.items()], preset).features
    features = [c for c in direct.columns if c.startswith("original_")]
    np.testing.assert_array_equal(table.loc[:1, features].to_numpy(), direct.loc[:1, features].to_numpy(dtype=float))
    record = json.loads((folder / "out" / "lesions.csv.provenance.json").read_text(encoding="utf-8"))
    assert record["parameterFile"]["sha256"] == load_preset(preset).sha256
    assert record["inputs"]["lesions"]["sha256"] == sha256_file(folder / "P7.seg.nrrd")
    assert record["extraction"]["image"]["sha256"] == sha256_file(folder / "P7_ct.nrrd")
    assert record["extraction"]["image"]["geometry"]["spacing"] == list(ct.GetSpacing())
    assert [entry["status"] for entry in record["extraction"]["lesions"]] == table["Status"].tolist()
    assert record["versions"]["pyradiomics-bhklab"] == "3.1.4"


def test_cli_labelmap_with_names_and_patient_id(patient):
    folder, ct, masks = patient
    write_labelmap({k: masks[k] for k in ("first", "second")}, folder / "labels.nrrd")
    pd.DataFrame({"label": [1, 2], "name": ["L1", "L2"]}).to_csv(folder / "names.csv", index=False)
    out = folder / "l.csv"
    code = main(["extract", "--image", str(folder / "P7_ct.nrrd"), "--lesions", str(folder / "labels.nrrd"),
                 "--names", str(folder / "names.csv"), "--patient-id", "SARC-7", "--preset", str(light_preset(folder)),
                 "--out", str(out), "--no-progress"])
    assert code == 0
    table = pd.read_csv(out)
    assert table[["PatientID", "LesionID", "Status"]].values.tolist() == [["SARC-7", "L1", "ok"], ["SARC-7", "L2", "ok"]]


def test_cli_bad_paths_exit_with_a_named_error(patient, capsys):
    folder, _, _ = patient
    code = main(["extract", "--image", str(folder / "missing.nrrd"), "--lesions", str(folder / "x.seg.nrrd"),
                 "--out", str(folder / "o.csv"), "--no-progress"])
    assert code == 2
    assert "missing.nrrd" in capsys.readouterr().err
    assert not (folder / "o.csv").exists()


def test_extraction_path_does_not_import_pandas():
    """`mirv extract` and its worker processes skip pandas' ~0.2 s import; a stray import would undo that."""
    from MIRVLib.worker_processes import PRELOAD

    modules = ["MIRVLib.cli", "MIRVLib.commands.extract", "MIRVLib.lesions", "tqdm", *PRELOAD]
    code = f"import importlib\nfor m in {modules!r}: importlib.import_module(m)"
    assert modules_loaded_by(code, ["pandas"]) == []
