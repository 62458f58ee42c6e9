"""`mirv batch` refuses an output it cannot use before any patient runs (issue 14 §2, §5): a folder another
run holds (its lock), a file where the folder should be, and --jobs above the CPUs is capped with a note."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from batch_cohort import make_cohort, write_small_preset

from MIRVLib.cli import main
from MIRVLib.output_checks import LOCK_NAME, folder_lock

REDUCTION = ["--feature-correlation", "0.9", "--volume-correlation", "0.2"]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cohort")
    return {"manifest": make_cohort(root, 3, corrupt=None, empty_lesion=None), "preset": write_small_preset(root)}


def _args(cohort: dict[str, Path], out: Path, *extra: str) -> list[str]:
    return ["batch", "--manifest", str(cohort["manifest"]), "--out", str(out), "--preset", str(cohort["preset"]),
            *REDUCTION, *extra]


def test_second_run_into_a_locked_folder_is_refused_and_touches_nothing(cohort, tmp_path, capsys):
    out = tmp_path / "out"
    (out / "patients").mkdir(parents=True)
    in_flight = out / "patients" / ".P01.json.123.tmp"  # what a run already writing there has open
    in_flight.write_text("partial")
    with folder_lock(out):
        assert main(_args(cohort, out)) == 2
        assert in_flight.read_text() == "partial"
        assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME, "patients"]
    err = capsys.readouterr().err
    assert f"mirv batch: error: another mirv batch run is writing into {out} (lock {out / LOCK_NAME})" in err
    assert main(_args(cohort, out)) == 0  # once the first run is done, the next one runs
    assert (out / "patients.csv").is_file() and not in_flight.exists()


def test_out_that_is_a_file_is_refused(cohort, tmp_path, capsys):
    out = tmp_path / "out.csv"
    out.write_text("x")
    assert main(_args(cohort, out)) == 2
    assert f"mirv batch: error: --out {out} is a file; give a folder to write into" in capsys.readouterr().err
    assert out.read_text() == "x"


def test_jobs_above_the_cpu_count_are_capped_with_a_note(cohort, tmp_path, capsys):
    cpus = len(os.sched_getaffinity(0))
    assert main(_args(cohort, tmp_path / "out", "--jobs", str(cpus + 5))) == 0
    assert f"mirv batch: --jobs {cpus + 5} capped at {cpus}, the number of CPUs available" in capsys.readouterr().err
