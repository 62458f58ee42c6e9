"""`mirv batch` end to end on a generated cohort of 8 patients: failures recorded not fatal, resume
recomputes nothing, kill -9 + resume equals an uninterrupted run, Dask equals in-process, MIRV-CT works."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from batch_cohort import make_cohort, write_small_preset

from MIRVLib.batch import runner
from MIRVLib.batch.pipeline import run_batch
from MIRVLib.cli import main
from MIRVLib.cohort import score_cohort
from MIRVLib.extraction import extract_patient
from MIRVLib.lesion_table import LesionTable
from MIRVLib.lesions import load_lesions
from MIRVLib.provenance import sha256_file
from MIRVLib.reduction import FeatureReduction, ReductionSettings
from MIRVLib.resources import model_path

# The paper reduction with relaxed thresholds: 24 small synthetic lesions are too few for the defaults.
REDUCTION = ["--feature-correlation", "0.9", "--volume-correlation", "0.2"]
SETTINGS = ReductionSettings(preset="paper", feature_correlation=0.9, volume_correlation=0.2)
OUTPUTS = ("patients.csv", "lesions.csv", "failures.csv", "selected_features.csv")


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cohort")
    return {"root": root, "manifest": make_cohort(root), "preset": write_small_preset(root)}


def batch_args(cohort: dict[str, Path], out: Path, *extra: str, manifest: Path | None = None) -> list[str]:
    return ["batch", "--manifest", str(manifest or cohort["manifest"]), "--out", str(out),
            "--preset", str(cohort["preset"]), *REDUCTION, *extra]


@pytest.fixture(scope="module")
def full_run(cohort: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    out = tmp_path_factory.mktemp("full") / "out"
    code = main(batch_args(cohort, out))
    return {"out": out, "code": code}


def subset_manifest(cohort: dict[str, Path], ids: list[str], name: str) -> Path:
    table = pd.read_csv(cohort["manifest"], dtype=str)
    path = cohort["root"] / name
    table[table["PatientID"].isin(ids)].to_csv(path, index=False)
    return path


def same_outputs(a: Path, b: Path, names: tuple[str, ...] = OUTPUTS) -> None:
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_failures_name_exactly_the_bad_patient_and_lesion(full_run: dict[str, object],
                                                          cohort: dict[str, Path]) -> None:
    out = full_run["out"]
    assert full_run["code"] == 3
    failures = pd.read_csv(out / "failures.csv", dtype=str, keep_default_na=False)
    assert failures[["PatientID", "LesionID", "Stage"]].values.tolist() == [
        ["P03", "", "image"], ["P05", "lesion5", "extraction"]]
    assert "P03/baseline/ct.nrrd" in failures["Reason"][0] and "empty segment" in failures["Reason"][1]
    patients = pd.read_csv(out / "patients.csv", dtype={"PatientID": str})
    assert patients["PatientID"].tolist() == ["P01", "P02", "P04", "P05", "P06", "P07", "P08"]
    # P05 is scored on its 4 good lesions; every patient with ≥ 2 lesions has a MIRV
    assert patients.set_index("PatientID").loc["P05", "NumLesions"] == 4
    assert patients["MIRVMaxDissimilarity"].notna().all()
    lesions = pd.read_csv(out / "lesions.csv", dtype={"PatientID": str, "LesionID": str})
    assert not lesions.duplicated(["PatientID", "LesionID"]).any()
    assert lesions.loc[lesions["Status"] != "ok", ["PatientID", "LesionID"]].values.tolist() == [["P05", "lesion5"]]
    assert len(list((out / "patients").glob("*.json"))) == 8  # the failed patient is stored (not retried)
    provenance = json.loads((out / "provenance.json").read_text(encoding="utf-8"))
    assert provenance["run"]["computed"] == ["P01", "P02", "P03", "P04", "P05", "P06", "P07", "P08"]
    assert provenance["parameterFile"]["sha256"] and provenance["patients"]["P01"]["baseline"]["image"]["sha256"]
    assert provenance["patients"]["P02"]["baseline"]["lesionsFile"]["sha256"] == \
        sha256_file(cohort["root"] / "P02" / "baseline" / "lesions")
    assert all(reads == [1] for reads in
               (p["imageReadsPerWorker"] for p in provenance["patients"].values()))  # one read per patient


def test_outputs_equal_per_patient_extraction_and_cohort_scoring(full_run: dict[str, object],
                                                                 cohort: dict[str, Path]) -> None:
    """Reference: the extraction engine's own per-patient entry point and `score_cohort`, called directly."""
    out = full_run["out"]
    manifest = pd.read_csv(cohort["manifest"], dtype=str)
    frames = []
    for row in manifest.itertuples(index=False):
        if row.PatientID == "P03":
            continue
        lesions = load_lesions(cohort["root"] / row.Lesions)
        frames.append(extract_patient(cohort["root"] / row.Image, lesions, cohort["preset"], row.PatientID).features)
    expected = pd.concat(frames, ignore_index=True)
    lesions = pd.read_csv(out / "lesions.csv", dtype={"PatientID": str, "LesionID": str, "SegmentID": str},
                          float_precision="round_trip", keep_default_na=False, na_values=[""])
    features = [c for c in expected.columns if c.startswith("original_")]
    assert len(features) == 88
    np.testing.assert_array_equal(lesions[features].to_numpy(float), expected[features].to_numpy(float))
    ok = expected[expected["Status"] == "ok"].drop(columns=["SegmentID", "Status"])
    scored = score_cohort(LesionTable.from_frame(ok), FeatureReduction(SETTINGS))
    assert (out / "patients.csv").read_text(encoding="utf-8") == scored.patients.to_csv(index=False, lineterminator="\n")
    assert json.loads((out / "model.json").read_text(encoding="utf-8"))["features"] == \
        [{"name": n, "mean": m, "std": s} for n, m, s in
         zip(scored.reduction.selected, scored.reduction.mean.tolist(), scored.reduction.std.tolist())]


def test_resume_recomputes_nothing_and_is_byte_identical(full_run: dict[str, object], tmp_path: Path,
                                                         cohort: dict[str, Path],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    shutil.copytree(full_run["out"], out)
    stored = {p.name: p.read_bytes() for p in (out / "patients").glob("*.json")}
    calls: list[str] = []
    for name in ("inventory_task", "lesion_task"):
        original = getattr(runner, name)
        monkeypatch.setattr(runner, name, lambda *a, _f=original, _n=name: calls.append(_n) or _f(*a))
    assert main(batch_args(cohort, out, "--resume")) == 3
    assert calls == []
    same_outputs(full_run["out"], out)
    assert {p.name: p.read_bytes() for p in (out / "patients").glob("*.json")} == stored
    run = json.loads((out / "provenance.json").read_text(encoding="utf-8"))["run"]
    assert run["computed"] == [] and len(run["reused"]) == 8

    # A changed input recomputes exactly that patient; --retry-failed also the failed ones.
    image = cohort["root"] / "P02" / "baseline" / "ct.nrrd"
    os.utime(image, ns=(image.stat().st_atime_ns, image.stat().st_mtime_ns + 10**9))
    assert main(batch_args(cohort, out, "--resume", "--retry-failed")) == 3
    assert json.loads((out / "provenance.json").read_text(encoding="utf-8"))["run"]["computed"] == ["P02", "P03", "P05"]
    assert calls.count("inventory_task") == 3
    same_outputs(full_run["out"], out)


def test_run_killed_mid_way_then_resumed_equals_uninterrupted_run(full_run: dict[str, object], tmp_path: Path,
                                                                  cohort: dict[str, Path]) -> None:
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-m", "MIRVLib", *batch_args(cohort, out)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while len(list((out / "patients").glob("*.json"))) < 2 and time.monotonic() < deadline:
            assert process.poll() is None, "the run ended before it could be killed"
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    assert process.returncode == -signal.SIGKILL
    survived = sorted(p.name for p in (out / "patients").glob("*.json"))
    assert 2 <= len(survived) < 8
    events: list[tuple[str, str]] = []
    outcome = run_batch(cohort["manifest"], out, preset=str(cohort["preset"]), fit=SETTINGS, resume=True,
                        progress=lambda event, patient, detail: events.append((event, patient)))
    assert len(outcome.reused) == len(survived) and len(outcome.computed) == 8 - len(survived)
    assert [p for e, p in events if e == "patient"] == outcome.computed
    assert sum(e == "lesion" for e, _ in events) > 0 and events[-1][0] == "score"
    same_outputs(full_run["out"], out)
    assert len(list((out / "patients").glob("*.json"))) == 8
    assert not list((out / "patients").glob(".*.tmp"))


def test_local_dask_cluster_equals_in_process_run(full_run: dict[str, object], tmp_path: Path,
                                                  cohort: dict[str, Path]) -> None:
    out = tmp_path / "out"
    assert main(batch_args(cohort, out, "--jobs", "2")) == 3
    same_outputs(full_run["out"], out)
    run = json.loads((out / "provenance.json").read_text(encoding="utf-8"))
    assert run["run"]["engine"]["engine"] == "dask" and run["run"]["engine"]["workers"] == 2
    assert run["run"]["engine"]["featureEngine"] == "native"
    assert len(run["run"]["engine"]["workerPeakRssMiB"]) == 2
    # the image of a patient is read at most once by each worker
    assert all(max(p["imageReadsPerWorker"]) == 1 for p in run["patients"].values())


def test_existing_dask_scheduler(full_run: dict[str, object], tmp_path: Path, cohort: dict[str, Path]) -> None:
    from distributed import LocalCluster

    manifest = subset_manifest(cohort, ["P01", "P02", "P03", "P04"], "four.csv")
    reference = tmp_path / "in-process"
    assert main(batch_args(cohort, reference, manifest=manifest)) == 3
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster:
        assert main(batch_args(cohort, tmp_path / "dask", "--scheduler", cluster.scheduler_address,
                               manifest=manifest)) == 3
    same_outputs(reference, tmp_path / "dask")


def test_mirv_ct_preset_with_shipped_model(cohort: dict[str, Path], tmp_path: Path) -> None:
    """The paper's 1218-feature preset on two patients, scored with the shipped SARC021 model."""
    manifest = subset_manifest(cohort, ["P01", "P02"], "two.csv")
    out = tmp_path / "out"
    assert main(["batch", "--manifest", str(manifest), "--out", str(out), "--preset", "MIRV-CT",
                 "--model", "SARC021-lung-paper"]) == 0
    lesions = pd.read_csv(out / "lesions.csv", dtype={"PatientID": str, "LesionID": str},
                          float_precision="round_trip")
    assert len(lesions.columns) == 5 + 1218 and (lesions["Status"] == "ok").all() and len(lesions) == 7
    expected = pd.concat([
        extract_patient(cohort["root"] / pid / "baseline" / "ct.nrrd",
                        load_lesions(cohort["root"] / pid / "baseline" / "lesions"), "MIRV-CT", pid).features
        for pid in ("P01", "P02")], ignore_index=True)
    pd.testing.assert_frame_equal(lesions.drop(columns=["SegmentID", "Site"]),
                                  expected.drop(columns=["SegmentID", "Site"]), check_exact=True)
    scored = score_cohort(LesionTable.from_frame(expected.drop(columns=["SegmentID", "Status"])),
                          FeatureReduction.load(model_path("SARC021-lung-paper")))
    assert (out / "patients.csv").read_text(encoding="utf-8") == scored.patients.to_csv(index=False, lineterminator="\n")
    assert pd.read_csv(out / "failures.csv").empty


def test_follow_up_volumes_and_sites(tmp_path: Path) -> None:
    manifest = make_cohort(tmp_path, 3, corrupt=None, empty_lesion=None, follow_up=True)
    (tmp_path / "sites.csv").write_text("LesionID,Site\nlesion1,lung\nlesion2,liver\n")
    table = pd.read_csv(manifest, dtype=str)
    table["Sites"] = ["sites.csv", "", "sites.csv"]
    table.to_csv(manifest, index=False)
    preset = write_small_preset(tmp_path)
    out = tmp_path / "out"
    assert main(["batch", "--manifest", str(manifest), "--out", str(out), "--preset", str(preset), *REDUCTION]) == 0
    lesions = pd.read_csv(out / "lesions.csv", dtype=str, keep_default_na=False)
    assert lesions[["PatientID", "LesionID", "Site"]].values.tolist() == [
        ["P01", "lesion1", "lung"], ["P01", "lesion2", "liver"], ["P01", "lesion3", ""],
        ["P02", "lesion1", ""], ["P02", "lesion2", ""], ["P02", "lesion3", ""], ["P02", "lesion4", ""],
        ["P03", "lesion1", "lung"], ["P03", "lesion2", "liver"]]
    patients = pd.read_csv(out / "patients.csv", dtype={"PatientID": str}).set_index("PatientID")
    changes = pd.read_csv(out / "lesion_volume_changes.csv", dtype={"PatientID": str, "LesionID": str})
    for pid in ("P01", "P02", "P03"):
        def volumes(timepoint: str, pid: str = pid) -> dict[str, float]:  # voxels × voxel volume (no resampling)
            folder = tmp_path / pid / timepoint / "lesions"
            result = {}
            for mask in sorted(folder.glob("*.nrrd")):
                image = sitk.ReadImage(str(mask))
                result[mask.name.removesuffix(".nrrd")] = (
                    sitk.GetArrayViewFromImage(image).sum() * float(np.prod(image.GetSpacing())))
            return result
        base, follow = volumes("baseline"), volumes("followup")
        mine = changes[changes["PatientID"] == pid].set_index("LesionID")
        assert mine["VolumeBaseline"].to_dict() == base and mine["VolumeFollowUp"].to_dict() == follow
        percent = {k: (follow[k] - base[k]) / base[k] * 100 for k in base}
        assert patients.loc[pid, "VolumeChangeRange"] == pytest.approx(max(percent.values()) - min(percent.values()))
        assert patients.loc[pid, "CompleteTumorResponse"] == int(all(v < 33 for v in percent.values()))


def test_patients_sharing_input_files_keep_their_own_ids(cohort: dict[str, Path], full_run: dict[str, object],
                                                        tmp_path: Path) -> None:
    """Two manifest rows on the same files (e.g. a test–retest pair) must not share a worker cache entry;
    scored with the model fitted by the full run (a model file instead of fitting)."""
    table = pd.read_csv(cohort["manifest"], dtype=str)
    first = table[table["PatientID"] == "P01"]
    manifest = cohort["root"] / "twins.csv"
    pd.concat([first, first.assign(PatientID="P01-retest")]).to_csv(manifest, index=False)
    out = tmp_path / "out"
    model = full_run["out"] / "model.json"
    assert main(["batch", "--manifest", str(manifest), "--out", str(out), "--preset", str(cohort["preset"]),
                 "--model", str(model)]) == 0
    assert (out / "model.json").read_bytes() == model.read_bytes()
    assert not runner._worker_cache  # finished patients are released from the (in-process) worker cache
    patients = pd.read_csv(out / "patients.csv", dtype={"PatientID": str}).set_index("PatientID")
    full = pd.read_csv(full_run["out"] / "patients.csv", dtype={"PatientID": str}).set_index("PatientID")
    assert patients.loc["P01-retest", "MIRVMaxDistance"] == patients.loc["P01", "MIRVMaxDistance"] \
        == full.loc["P01", "MIRVMaxDistance"]
    lesions = pd.read_csv(out / "lesions.csv", dtype={"PatientID": str}, float_precision="round_trip")
    assert lesions["PatientID"].tolist() == ["P01"] * 3 + ["P01-retest"] * 3
    features = [c for c in lesions.columns if c.startswith("original_")]
    np.testing.assert_array_equal(lesions[features][:3].to_numpy(), lesions[features][3:].to_numpy())


def test_lost_worker_fails_the_patient_transiently(full_run: dict[str, object], cohort: dict[str, Path],
                                                   tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A task that dies (as with a killed Dask worker) fails only its patient, which is not stored, so the
    next --resume computes exactly that patient."""
    original = runner.lesion_task

    def dying(task: runner.PatientTask, index: int) -> dict[str, object]:
        if task.patient_id == "P02" and index == 1:
            raise RuntimeError("worker tcp://10.0.0.7:4321 lost")
        return original(task, index)

    monkeypatch.setattr(runner, "lesion_task", dying)
    out = tmp_path / "out"
    assert main(batch_args(cohort, out)) == 3
    failures = pd.read_csv(out / "failures.csv", dtype=str, keep_default_na=False)
    assert ["P02", "lesion2", "worker"] in failures[["PatientID", "LesionID", "Stage"]].values.tolist()
    assert "P02" not in pd.read_csv(out / "patients.csv", dtype={"PatientID": str})["PatientID"].tolist()
    monkeypatch.setattr(runner, "lesion_task", original)
    assert main(batch_args(cohort, out, "--resume")) == 3
    assert json.loads((out / "provenance.json").read_text(encoding="utf-8"))["run"]["computed"] == ["P02"]
    same_outputs(full_run["out"], out)


def test_progress_bar_shows_patients_lesions_and_failures() -> None:
    import io

    from MIRVLib.commands.batch import ProgressBar

    stream = io.StringIO()
    bar = ProgressBar(file=stream, disable=False)
    bar("start", "", {"patients": 3, "todo": 2, "reused": 1})
    for status in ("ok", "ok", "error: empty segment (no voxels)"):
        bar("lesion", "P1", {"Status": status})
    bar("patient", "P1", {"failed": True, "lesions": 3})
    bar("lesion", "P2", {"Status": "ok"})
    bar("patient", "P2", {"failed": False, "lesions": 1})
    bar("score", "", {})
    text = stream.getvalue()
    assert "reusing 1 stored patient(s)" in text
    assert "2/2" in text and "lesions=4 failed patients=1 failed lesions=1" in text


def test_scheduler_without_workers_is_a_clear_error(cohort: dict[str, Path], tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from distributed import LocalCluster

    monkeypatch.setattr(runner, "WORKER_WAIT_SECONDS", 1)
    with LocalCluster(n_workers=0, dashboard_address=None) as cluster:
        code = main(batch_args(cohort, tmp_path / "out", "--scheduler", cluster.scheduler_address))
    assert code == 1
    assert f"no Dask worker connected to {cluster.scheduler_address} within 1 s" in capsys.readouterr().err
    assert not list((tmp_path / "out" / "patients").glob("*.json"))


def test_a_model_fitted_with_another_preset_warns_in_patients_csv(cohort: dict[str, Path],
                                                                  full_run: dict[str, object], tmp_path: Path) -> None:
    """mirv batch checks the model's recorded extraction preset (its hash) against the preset it extracted with."""
    model = json.loads((full_run["out"] / "model.json").read_text(encoding="utf-8"))
    assert model["cohort"]["extractionPreset"]["sha256"] == sha256_file(cohort["preset"])  # recorded when fitting
    other = tmp_path / "binwidth-20.yaml"
    other.write_text(cohort["preset"].read_text(encoding="utf-8").replace("binWidth: 25", "binWidth: 20"))
    manifest = subset_manifest(cohort, ["P01"], "p01.csv")
    out = tmp_path / "out"
    assert main(["batch", "--manifest", str(manifest), "--out", str(out), "--preset", str(other),
                 "--model", str(full_run["out"] / "model.json")]) == 0
    warnings = pd.read_csv(out / "patients.csv", dtype=str)["Warnings"].iloc[0]
    assert "binwidth-20" in warnings and "small-preset" in warnings


def test_strict_stops_a_batch_whose_preset_does_not_fit_the_model_and_resume_reuses_its_patients(
        cohort: dict[str, Path], full_run: dict[str, object], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    other = tmp_path / "binwidth-20.yaml"
    other.write_text(cohort["preset"].read_text(encoding="utf-8").replace("binWidth: 25", "binWidth: 20"))
    manifest = subset_manifest(cohort, ["P01"], "p01-strict.csv")
    out = tmp_path / "out"
    args = ["batch", "--manifest", str(manifest), "--out", str(out), "--preset", str(other),
            "--model", str(full_run["out"] / "model.json")]
    assert main([*args, "--strict"]) == 2
    assert "binwidth-20" in capsys.readouterr().err
    assert not (out / "patients.csv").exists() and list((out / "patients").iterdir())  # extracted, stored
    assert main([*args, "--resume"]) == 0
    assert "reusing 1 stored patient" in capsys.readouterr().err
    assert "binwidth-20" in pd.read_csv(out / "patients.csv", dtype=str)["Warnings"].iloc[0]
