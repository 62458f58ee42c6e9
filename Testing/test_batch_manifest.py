"""Manifest validation: every bad row is reported at once, before any work; relative paths resolve
against the manifest's folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from MIRVLib.batch.manifest import ManifestError, read_manifest
from MIRVLib.cli import main


@pytest.fixture()
def files(tmp_path: Path) -> Path:
    image = sitk.GetImageFromArray(np.zeros((4, 5, 6), np.int16))
    (tmp_path / "data").mkdir()
    sitk.WriteImage(image, str(tmp_path / "data" / "ct1.nrrd"))
    sitk.WriteImage(image, str(tmp_path / "data" / "ct2.nrrd"))
    (tmp_path / "data" / "seg1.nrrd").write_bytes((tmp_path / "data" / "ct1.nrrd").read_bytes())
    (tmp_path / "data" / "masks").mkdir()
    (tmp_path / "data" / "sites.csv").write_text("LesionID,Site\nlesion1,lung\n")
    (tmp_path / "data" / "not-an-image.nrrd").write_text("this is text, not NRRD\n")
    return tmp_path


def test_relative_paths_resolve_against_manifest_folder(files: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = files / "data" / "cohort.csv"
    manifest.write_text("PatientID,Image,Lesions,Sites\nA, ct1.nrrd ,seg1.nrrd,sites.csv\n"
                        f"B,{files / 'data' / 'ct2.nrrd'},masks,\n")
    monkeypatch.chdir(files)  # the working directory must not matter
    rows = read_manifest(manifest)
    assert [r.patient_id for r in rows] == ["A", "B"]
    assert rows[0].image == (files / "data" / "ct1.nrrd").resolve()
    assert rows[0].sites == (files / "data" / "sites.csv").resolve()
    assert rows[1].lesions == (files / "data" / "masks").resolve() and rows[1].sites is None
    assert rows[1].line == 3


def test_every_bad_row_is_reported_at_once(files: Path) -> None:
    manifest = files / "data" / "cohort.csv"
    manifest.write_text(
        "PatientID,Image,Lesions,FollowUpImage,FollowUpLesions\n"
        "A,ct1.nrrd,seg1.nrrd,,\n"             # fine
        "B,missing.nrrd,seg1.nrrd,,\n"         # missing image
        "A,ct2.nrrd,seg1.nrrd,,\n"             # duplicate id
        "C,not-an-image.nrrd,masks,,\n"        # unreadable image
        ",ct2.nrrd,nomasks,,\n"                # empty id and missing lesions
        "D,ct2.nrrd,masks,ct1.nrrd,\n"         # follow-up image without lesions
    )
    with pytest.raises(ManifestError) as caught:
        read_manifest(manifest)
    problems = caught.value.problems
    assert len(problems) == 6, problems
    assert problems[0].startswith("line 3, patient B: Image not found")
    assert problems[1] == "line 4, patient A: duplicate PatientID (first on line 2)"
    assert problems[2].startswith("line 5, patient C: Image unreadable") and "not-an-image.nrrd" in problems[2]
    assert problems[3] == "line 6, patient ?: empty PatientID"
    assert problems[4].startswith("line 6, patient ?: Lesions not found") and "nomasks" in problems[4]
    assert problems[5] == "line 7, patient D: FollowUpImage and FollowUpLesions must be given together"


@pytest.mark.parametrize("text, message", [
    ("PatientID,Image\nA,ct1.nrrd\n", "missing column(s) Lesions"),
    ("PatientID,Image,Lesions,Mask\nA,ct1.nrrd,seg1.nrrd,x\n", "unknown column(s) Mask"),
    ("PatientID,Image,Lesions\n", "no patients"),
])
def test_table_level_problems(files: Path, text: str, message: str) -> None:
    manifest = files / "data" / "cohort.csv"
    manifest.write_text(text)
    with pytest.raises(ManifestError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_manifest(manifest)


def test_cli_rejects_bad_manifest_before_any_work(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = files / "data" / "cohort.csv"
    manifest.write_text("PatientID,Image,Lesions\nB,missing.nrrd,seg1.nrrd\nC,ct1.nrrd,gone\n")
    code = main(["batch", "--manifest", str(manifest), "--out", str(files / "out"), "--preset", "Henry2022"])
    assert code == 2
    err = capsys.readouterr().err
    assert "2 problem(s)" in err and "patient B: Image not found" in err and "patient C: Lesions not found" in err
    assert not (files / "out").exists()
