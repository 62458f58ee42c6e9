"""``--out`` is checked before any work starts, system faults end in one line naming the path and the cause,
and nothing is left half-written (issue 14 §2, §5). Real files; the full disk is a tiny tmpfs when the tests
run as root (else a write that fails with ENOSPC)."""

from __future__ import annotations

import errno
import os
import subprocess
import sys

import numpy as np
import pytest
import SimpleITK as sitk
from pyradiomics_data import light_preset, synthetic_ct

from MIRVLib.cli import main
from MIRVLib.output_checks import OutputError, check_output_file, check_output_folder, folder_lock

ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture
def patient(tmp_path):
    ct = synthetic_ct()
    labels = np.zeros(tuple(reversed(ct.GetSize())), np.uint8)
    labels[5:9, 10:20, 10:20] = 1
    labelmap = sitk.GetImageFromArray(labels)
    labelmap.CopyInformation(ct)
    image, lesions = tmp_path / "ct.nrrd", tmp_path / "labels.nrrd"
    sitk.WriteImage(ct, str(image))
    sitk.WriteImage(labelmap, str(lesions))
    return image, lesions, light_preset(tmp_path)


def _extract(patient, out) -> int:
    image, lesions, preset = patient
    return main(["extract", "--image", str(image), "--lesions", str(lesions), "--preset", str(preset),
                 "--out", str(out), "--no-progress"])


@pytest.mark.parametrize("which", [0, 1])
def test_out_equal_to_an_input_is_refused_before_anything_is_written(patient, capsys, which):
    target = patient[which]
    before = target.read_bytes()
    assert _extract(patient, target) == 2
    assert f"--out {target} is the input {target}; writing there would destroy it" in capsys.readouterr().err
    assert target.read_bytes() == before
    assert not target.with_name(target.name + ".provenance.json").exists()


def test_out_that_is_a_folder_or_under_a_file_is_refused(patient, tmp_path, capsys):
    assert _extract(patient, tmp_path) == 2
    assert f"--out {tmp_path} is a folder; give the path of a file to write" in capsys.readouterr().err
    under_file = patient[0] / "out.csv"
    assert _extract(patient, under_file) == 2
    assert f"cannot write {under_file}: its folder {patient[0]} is a file" in capsys.readouterr().err
    with pytest.raises(OutputError, match=f"--out {patient[0]} is a file; give a folder to write into"):
        check_output_folder(patient[0])


@pytest.fixture
def read_only_dir(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    if ROOT:  # root writes through permission bits: a read-only file system instead
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(folder)]).returncode:
            pytest.skip("cannot mount a read-only tmpfs")
        yield folder
        subprocess.run(["umount", str(folder)], check=True)
    else:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)


def test_read_only_out_fails_before_extraction_naming_the_path(patient, read_only_dir, capsys):
    out = read_only_dir / "t.csv"
    assert _extract(patient, out) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"mirv extract: cannot write into {read_only_dir}: ")
    assert "Read-only file system" in err or "Permission denied" in err
    assert "Traceback" not in err and len(err.splitlines()) == 1
    assert list(read_only_dir.iterdir()) == []


@pytest.fixture
def full_disk(tmp_path, monkeypatch):
    """A folder on a file system with (almost) no space left."""
    folder = tmp_path / "full"
    folder.mkdir()
    if ROOT and not subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)]).returncode:
        try:
            with open(folder / "filler", "wb") as filler:
                while True:
                    filler.write(b"\0" * 4096)
                    filler.flush()
        except OSError:
            pass
        yield folder
        subprocess.run(["umount", str(folder)], check=True)
        return
    import MIRVLib.provenance as provenance

    def no_space(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(provenance.os, "fsync", no_space)
    yield folder


def test_full_disk_is_one_line_and_leaves_nothing_half_written(patient, full_disk, capsys):
    out = full_disk / "t.csv"
    assert _extract(patient, out) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"mirv extract: cannot write {out}: No space left on device"
    assert sorted(p.name for p in full_disk.iterdir()) in ([], ["filler"])


def test_second_lock_holder_is_refused_until_the_first_releases(tmp_path):
    with folder_lock(tmp_path):
        child = subprocess.run(
            [sys.executable, "-c", "import sys; from MIRVLib.output_checks import folder_lock\n"
             "try:\n    folder_lock(sys.argv[1]).__enter__()\nexcept ValueError as e:\n    print(e); sys.exit(2)",
             str(tmp_path)], capture_output=True, text=True)
        assert child.returncode == 2
        assert child.stdout.startswith(f"another mirv batch run is writing into {tmp_path} (lock ")
    with folder_lock(tmp_path) as lock:  # released: the next run gets it
        assert lock.read_text() == f"{os.getpid()}\n"


def test_checks_return_the_path_when_all_is_well(tmp_path):
    assert check_output_file(tmp_path / "a.csv", [tmp_path / "b.nrrd"]) == tmp_path / "a.csv"
    assert check_output_folder(tmp_path / "new" / "dir").is_dir()
    assert [p.name for p in tmp_path.iterdir()] == ["new"]  # no probe file left behind


def test_robustness_out_equal_to_the_image_is_refused(patient, capsys):
    image, lesions, preset = patient
    before = image.read_bytes()
    assert main(["robustness", "--image", str(image), "--lesions", str(lesions), "--preset", str(preset),
                 "--out", str(image), "--no-progress"]) == 2
    assert f"--out {image} is the input {image}" in capsys.readouterr().err
    assert image.read_bytes() == before


def test_cohort_and_stats_refuse_a_read_only_out_before_reading(read_only_dir, tmp_path, capsys):
    features = tmp_path / "lesions.csv"
    features.write_text("PatientID,LesionID,a,original_shape_VoxelVolume\nP1,L1,1,10\nP1,L2,2,20\n")
    assert main(["cohort", "--features", str(features), "--out", str(read_only_dir / "c")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"mirv cohort: error: cannot create folder {read_only_dir / 'c'}: ")
    assert len(err.splitlines()) == 1
    assert main(["stats", "correlate", "--table", str(features), "--columns", "a,original_shape_VoxelVolume",
                 "--out", str(read_only_dir)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"mirv stats correlate: error: cannot write into {read_only_dir}: ")
    assert list(read_only_dir.iterdir()) == []


def test_cohort_on_a_full_disk_is_one_line_exit_1(full_disk, tmp_path, capsys):
    features = tmp_path / "lesions.csv"
    rows = ["PatientID,LesionID,a,original_shape_VoxelVolume,b"]
    values = [(1, 10, 5), (2, 20, 3), (3, 30, 9), (4, 15, 1)]
    rows += [f"P{i // 2},L{i % 2},{a},{v},{b}" for i, (a, v, b) in enumerate(values)]
    features.write_text("\n".join(rows) + "\n")
    assert main(["cohort", "--features", str(features), "--variance-quantile", "0", "--volume-correlation", "1",
                 "--out", str(full_disk)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("mirv cohort: error: cannot write ") and err[-1].endswith(": No space left on device")
    assert not any(p.name.endswith(".tmp") for p in full_disk.rglob("*"))
