"""The headless scripts in the layout an extension build installs (``MIRV/CMakeLists.txt``): the module scripts,
``MIRVLogic/``, ``Scripts/``, the ``MIRVLib`` package and ``Resources/`` side by side in one folder
(``lib/Slicer-5.x/qt-scripted-modules``). The layout is built from the CMake lists themselves, and the scripts must
use the copies there — not the repository they were copied from."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from slicer_env import REPO_ROOT  # noqa: F401  (skips without slicer-core)

pytestmark = [pytest.mark.slicer, pytest.mark.slow]

# Runs a script as `python SCRIPT ARGS...` would, then reports where MIRVLib, MIRVLogic and Resources came from.
PROBE = """
import runpy, sys
sys.argv = sys.argv[1:]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
    code = 0
except SystemExit as stop:
    code = stop.code
import MIRVLib, MIRVLogic
from MIRVLib.resources import resources_dir
print("FROM", MIRVLib.__file__, MIRVLogic.__file__, resources_dir())
sys.exit(code)
"""


def _cmake_block(cmake: str, command: str, variable: str) -> list[str]:
    body = re.search(rf"{command}\({variable}\b(.*?)\)", cmake, flags=re.S).group(1)
    return [line.strip() for line in body.splitlines() if line.strip() and not line.strip().startswith("RELATIVE")]


def installed_layout(folder: Path) -> Path:
    """Copy what MIRV/CMakeLists.txt installs into qt-scripted-modules, as it installs it."""
    cmake = (REPO_ROOT / "MIRV" / "CMakeLists.txt").read_text(encoding="utf-8")
    scripts = [s.replace("${MODULE_NAME}", "MIRV") for s in _cmake_block(cmake, "set", "MODULE_PYTHON_SCRIPTS")]
    globs = [g.replace("${MIRV_REPOSITORY_DIR}/", "") for g in
             _cmake_block(cmake, "file", "GLOB_RECURSE MIRVLIB_PYTHON_SCRIPTS") +
             _cmake_block(cmake, "file", "GLOB_RECURSE MIRV_SHARED_RESOURCES")]
    files = {REPO_ROOT / "MIRV" / script: folder / script for script in scripts}
    for pattern in globs:  # GLOB_RECURSE: the pattern's file name part in its folder and every subfolder
        base, name = pattern.rsplit("/", 1)
        files.update({path: folder / path.relative_to(REPO_ROOT) for path in (REPO_ROOT / base).rglob(name)
                      if path.is_file() and "__pycache__" not in path.parts})
    for source, target in files.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    assert (folder / "MIRVLib" / "batch" / "pipeline.py").is_file() and (folder / "Resources" / "Presets").is_dir()
    assert not (folder / "MIRV").exists() and not (folder / "Resources" / "Icons" / "make_icons.py").exists()
    return folder


def run(script: Path, *arguments: str, cwd: Path) -> tuple[int, str, str]:
    environment = {k: v for k, v in os.environ.items() if k not in ("MIRV_RESOURCES", "PYTHONPATH")}
    done = subprocess.run([sys.executable, "-c", PROBE, str(script), *arguments], cwd=cwd, env=environment,
                          capture_output=True, text=True, encoding="utf-8", timeout=600)
    return done.returncode, done.stdout, done.stderr


@pytest.fixture(scope="module")
def layout(tmp_path_factory) -> Path:
    return installed_layout(tmp_path_factory.mktemp("qt-scripted-modules"))


def _sources(stdout: str) -> list[Path]:
    return [Path(p) for p in stdout.strip().splitlines()[-1].split()[1:]]


def test_demo_runs_from_the_installed_layout(layout, tmp_path):
    code, stdout, stderr = run(layout / "Scripts" / "MIRVDemo.py", "--out", str(tmp_path / "demo"), cwd=tmp_path)
    assert code == 0, stderr[-3000:]
    library, logic, resources = _sources(stdout)
    assert library.is_relative_to(layout) and logic.is_relative_to(layout) and resources == layout / "Resources"
    patients = pd.read_csv(tmp_path / "demo" / "patients.csv", dtype={"PatientID": str})
    assert patients["PatientID"].tolist() == ["SAMPLE"] and patients["NumLesions"].iloc[0] == 6
    assert (tmp_path / "demo" / "SAMPLE_report.html").stat().st_size > 10_000


def test_batch_runs_from_the_installed_layout(layout, tmp_path):
    sample = layout / "Resources" / "SampleData"
    code, stdout, stderr = run(layout / "Scripts" / "MIRVBatch.py", "--image", str(sample / "baseline_CT.nrrd"),
                               "--lesions", str(sample / "baseline_lesions.seg.nrrd"), "--patient-id", "P1",
                               "--model", "SARC021-lung-reference", "--no-render", "--out", str(tmp_path / "out"),
                               cwd=tmp_path)
    assert code == 0, stderr[-3000:]
    assert all(path.is_relative_to(layout) for path in _sources(stdout))
    provenance = (tmp_path / "out" / "P1_provenance.json").read_text(encoding="utf-8")
    assert str(layout / "Resources" / "Models" / "SARC021-lung-reference.json") in provenance
