"""Headless MIRV scripts (`MIRVDemo.py`, `MIRVBatch.py`) under plain Python + slicer-core, through the Logic."""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest
from html_outline import Outline
from slicer_env import REPO_ROOT, make_slicer_environment, slicer, write_node  # noqa: F401  (skips without slicer-core)

from MIRVLib.cli import main as mirv_main

pytestmark = pytest.mark.slicer
SCRIPTS = REPO_ROOT / "MIRV" / "Scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))

import MIRVBatch  # noqa: E402
import MIRVDemo  # noqa: E402


def test_demo_writes_every_output_and_matches_mirv_cohort(tmp_path, capsys):
    out = tmp_path / "demo"
    assert MIRVDemo.main(["--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "MIRV(max) cosine dissimilarity" in printed and "Spread of per-lesion volume changes" in printed
    for name in ("SAMPLE_lesions.csv", "SAMPLE_followup_lesions.csv", "patients.csv", "SAMPLE_dissimilarity.png",
                 "SAMPLE_distance.png", "SAMPLE_overlay3d.png", "SAMPLE_report.html", "SAMPLE_provenance.json",
                 "SAMPLE_dissimilarity.csv", "SAMPLE_volume_changes.csv"):
        assert (out / name).is_file() and (out / name).stat().st_size > 200, name
    patients = pd.read_csv(out / "patients.csv", dtype={"PatientID": str})
    assert patients["PatientID"].tolist() == ["SAMPLE"]
    # the lung-only model and the sample's liver, bone, node and soft-tissue lesions: a warning, row and readout
    site_warning = ("lesion site(s) bone, liver, lymph node, soft tissue not in the model's fitting cohort "
                    "(lung 362 lesions)")
    assert patients["Warnings"].iloc[0] == site_warning and f"Warning: {site_warning}" in printed
    # the same lesions through `mirv cohort` with the same (default) model give the same patient row
    assert mirv_main(["cohort", "--features", str(out / "SAMPLE_lesions.csv"), "--model", "SARC021-lung-paper",
                      "--out", str(tmp_path / "cohort")]) == 0
    cohort = pd.read_csv(tmp_path / "cohort" / "patients.csv", dtype={"PatientID": str})
    for column in ("NumLesions", "MIRVMaxDissimilarity", "MIRVMaxDistance", "MIRVMeanDissimilarity",
                   "MIRVMaxDissimilarityPercentile", "BaselineVolumeTotal"):
        assert patients[column].iloc[0] == pytest.approx(cohort[column].iloc[0], rel=1e-12), column
    assert patients["MostDivergentPairDissimilarity"].iloc[0] == cohort["MostDivergentPairDissimilarity"].iloc[0]
    changes = pd.read_csv(out / "SAMPLE_volume_changes.csv")
    assert patients["VolumeChangeRange"].iloc[0] == pytest.approx(np.ptp(changes["PercentChange"]), rel=1e-12)
    assert patients["NumSites"].iloc[0] == 5
    provenance = json.loads((out / "SAMPLE_provenance.json").read_text(encoding="utf-8"))
    assert set(provenance["inputs"]) == {"image", "lesions", "followUpImage", "followUpLesions"}
    assert len(provenance["inputs"]["image"]["sha256"]) == 64
    html = (out / "SAMPLE_report.html").read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") == 3 and "Liver met" in html
    # the page leads with the readout (as printed), the lesions open, the long patients.csv row folded
    outline = Outline(html)
    assert [kind for kind, _, _ in outline.parts[:4]] == ["h1", "section", "h2", "pre"]
    readout, folds = outline.find("pre")[0]
    assert folds == 0 and readout.startswith("Patient SAMPLE: 6 lesions") and readout in printed
    assert ("Lesions", 0) in outline.find("h3")
    assert outline.find("summary") == [(f"Patient row (patients.csv, {len(patients.columns)} columns)", 0)]


def _patient_with_an_empty_segment(folder):
    """A small CT with two textured lesions and one empty segment, written with Slicer's storage nodes."""
    env = make_slicer_environment()
    rng = np.random.default_rng(7)
    voxels = rng.normal(-700, 60, size=(24, 48, 48)).astype(np.int16)
    k, j, i = np.indices(voxels.shape)
    balls = [((k - 12) ** 2 * 4 + (j - 14) ** 2 + (i - 14) ** 2 < 49), ((k - 12) ** 2 * 4 + (j - 32) ** 2 + (i - 32) ** 2 < 64)]
    voxels[balls[0]] = rng.normal(40, 30, balls[0].sum())
    voxels[balls[1]] = rng.normal(300, 120, balls[1].sum())
    volume = slicer.util.addVolumeFromArray(voxels, name="ct")
    volume.SetSpacing(0.8, 0.8, 2.0)
    segmentation = env.scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    segmentation.SetReferenceImageGeometryParameterFromVolumeNode(volume)
    for name, mask in (("a", balls[0]), ("b", balls[1]), ("empty", None)):
        segment_id = segmentation.GetSegmentation().AddEmptySegment(name, name)
        if mask is not None:
            slicer.util.updateSegmentBinaryLabelmapFromArray(mask.astype(np.uint8), segmentation, segment_id, volume)
    return write_node(env.scene, volume, folder / "ct.nrrd"), write_node(env.scene, segmentation, folder / "lesions.seg.nrrd")


def test_a_failed_lesion_gives_exit_code_3_with_outputs(tmp_path, capsys):
    image, lesions = _patient_with_an_empty_segment(tmp_path)
    status = MIRVBatch.main(["--image", str(image), "--lesions", str(lesions), "--out", str(tmp_path / "out"),
                             "--no-render", "--patient-id", "P 1/x"])
    assert status == 3
    assert "lesion empty failed" in capsys.readouterr().err
    rows = pd.read_csv(tmp_path / "out" / "P_1_x-df357f1f_lesions.csv")  # df357f1f: sha256 of "P 1/x"
    assert rows["Status"].tolist()[:2] == ["ok", "ok"] and rows["Status"].iloc[2].startswith("error")
    patients = pd.read_csv(tmp_path / "out" / "patients.csv")
    assert patients["PatientID"].tolist() == ["P 1/x"] and patients["NumLesions"].iloc[0] == 2


def test_strict_stops_a_patient_the_model_does_not_fit(tmp_path, capsys):
    sample = REPO_ROOT / "Resources" / "SampleData"
    status = MIRVBatch.main(["--image", str(sample / "baseline_CT.nrrd"), "--lesions",
                             str(sample / "baseline_lesions.seg.nrrd"), "--out", str(tmp_path / "out"), "--no-render",
                             "--patient-id", "SAMPLE", "--strict"])
    assert status == 2
    assert "does not fit the input (--strict)" in capsys.readouterr().err
    assert not (tmp_path / "out" / "patients.csv").exists()


def test_bad_input_is_reported_with_exit_code_2(tmp_path, capsys):
    assert MIRVBatch.main(["--image", str(tmp_path / "missing.nrrd"), "--lesions", str(tmp_path / "x.seg.nrrd"),
                           "--out", str(tmp_path / "out")]) == 2
    assert "image not found" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        MIRVBatch.main(["--manifest", "m.csv", "--image", "ct.nrrd", "--out", str(tmp_path)])
    assert stop.value.code == 2
    with pytest.raises(SystemExit):
        MIRVBatch.main(["--out", str(tmp_path)])


def test_manifest_mode_is_mirv_batch_through_the_logic(tmp_path):
    """``MIRVBatch.py --manifest`` gives the same patients.csv and exit code as ``mirv batch`` (P03 unreadable)."""
    from batch_cohort import make_cohort, write_small_preset

    manifest = make_cohort(tmp_path, 4, empty_lesion=None)
    preset = write_small_preset(tmp_path)
    options = ["--preset", str(preset), "--feature-correlation", "0.9", "--volume-correlation", "0.2"]
    assert mirv_main(["batch", "--manifest", str(manifest), "--out", str(tmp_path / "cli"), *options]) == 3
    assert MIRVBatch.main(["--manifest", str(manifest), "--out", str(tmp_path / "slicer"), *options]) == 3
    failures = pd.read_csv(tmp_path / "slicer" / "failures.csv", dtype=str, keep_default_na=False)
    assert failures["PatientID"].tolist() == ["P03"]
    assert (tmp_path / "slicer" / "patients.csv").read_bytes() == (tmp_path / "cli" / "patients.csv").read_bytes()
