"""The wheel installs with binary wheels only (no compiler) on Python 3.9 and 3.12 and extracts the same values.

Builds the project's wheel, creates a fresh venv per interpreter (pyenv's 3.9 = Slicer 5.8, 3.12 = Slicer
5.10+), installs the wheel with ``pip install --only-binary=:all:`` for every dependency, then runs
``mirv info`` (presets and models found inside the installed package) and ``mirv extract`` on the bundled
sample patient from outside the repository. The features must equal the main venv's within relative 1e-9.
Runs through ``make test-matrix`` (marker ``matrix``): it downloads and installs two full environments.
"""

from __future__ import annotations

import csv
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PYENV = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
SAMPLE = REPO / "Resources" / "SampleData"

pytestmark = pytest.mark.matrix


def _interpreter(version: str) -> Path | None:
    found = sorted(PYENV.glob(f"{version}.*/bin/python3"))
    return found[-1] if found else (Path(shutil.which(f"python{version}")) if shutil.which(f"python{version}") else None)


def _run(command: list[str], cwd: Path, timeout: float = 1800) -> subprocess.CompletedProcess:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, encoding="utf-8", timeout=timeout,
                          env={**os.environ, "PYTHONPATH": ""})
    assert done.returncode == 0, f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(REPO)],
         cwd=out)
    (built,) = out.glob("mirv-*.whl")
    return built


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def main_venv_rows(tmp_path_factory) -> list[dict[str, str]]:
    out = tmp_path_factory.mktemp("main") / "lesions.csv"
    _run([sys.executable, "-m", "MIRVLib", "extract", "--image", str(SAMPLE / "baseline_CT.nrrd"),
          "--lesions", str(SAMPLE / "baseline_lesions.seg.nrrd"), "--out", str(out), "--no-progress"], cwd=REPO)
    return _rows(out)


@pytest.mark.parametrize("version", ["3.9", "3.12"])
def test_wheel_installs_from_binary_wheels_and_extracts_the_same_values(version, wheel, main_venv_rows, tmp_path):
    interpreter = _interpreter(version)
    if interpreter is None:
        pytest.skip(f"no Python {version} interpreter (looked in {PYENV} and on PATH)")
    venv = tmp_path / "venv"
    _run([str(interpreter), "-m", "venv", str(venv)], cwd=tmp_path)
    python = venv / "bin" / "python"
    _run([str(python), "-m", "pip", "install", "-q", "--only-binary=:all:", str(wheel)], cwd=tmp_path)
    installed = _run([str(python), "-m", "pip", "list", "--format=freeze"], cwd=tmp_path).stdout.lower()
    assert "pyradiomics" not in installed  # the native engine needs no PyRadiomics

    info = _run([str(venv / "bin" / "mirv"), "info"], cwd=tmp_path).stdout
    assert "MIRV-CT" in info and "Henry2022" in info and "SARC021-lung-paper" in info
    where = _run([str(python), "-c", "from MIRVLib.resources import resources_dir; print(resources_dir())"],
                 cwd=tmp_path).stdout.strip()
    assert Path(where).is_relative_to(venv), f"resources found outside the installed wheel: {where}"

    sample = Path(where) / "SampleData"
    out = tmp_path / "lesions.csv"
    _run([str(venv / "bin" / "mirv"), "extract", "--image", str(sample / "baseline_CT.nrrd"),
          "--lesions", str(sample / "baseline_lesions.seg.nrrd"), "--out", str(out), "--no-progress"], cwd=tmp_path)
    rows = _rows(out)
    assert [r["LesionID"] for r in rows] == [r["LesionID"] for r in main_venv_rows]
    assert all(r["Status"] == "ok" for r in rows)
    features = [c for c in main_venv_rows[0] if "_" in c and c not in ("PatientID", "LesionID", "SegmentID")]
    assert len(features) == 1218 and list(rows[0]) == list(main_venv_rows[0])
    worst = 0.0
    for ours, reference in zip(rows, main_venv_rows):
        for name in features:
            a, b = float(ours[name]), float(reference[name])
            if math.isnan(a) and math.isnan(b):
                continue
            worst = max(worst, abs(a - b) / abs(b) if abs(b) >= 1e-12 else abs(a - b))
    assert worst <= 1e-9, f"Python {version} wheel differs from the main venv by up to {worst:.3g}"
