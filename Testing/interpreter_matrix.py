#!/usr/bin/env python
"""MIRVLib's tests and an import of every module script under the Python of each Slicer release line.

Slicer 5.8 ships Python 3.9, Slicer 5.10, 5.12 and main Python 3.12 (``Slicer_REQUIRED_PYTHON_VERSION`` in their
top-level CMakeLists.txt). For each version this finds the newest ``~/.pyenv/versions/X.Y.*`` interpreter (or
``pythonX.Y`` on PATH), makes a venv in ``.cache/matrix/pyX.Y`` (reused while pyproject.toml and the pins are
unchanged) with the project installed as ``make test`` installs it — extras ``dask``, ``test``, ``pyradiomics`` (the
parity tests' reference) and, where slicer-core has wheels (3.12), ``slicer``; elsewhere vtk alone — then it runs
MIRVLib's tests (``-m "not slicer and not matrix"``) and imports
``MIRV.py``, ``MIRVCohort.py``, ``MIRVLogic/*`` and ``Scripts/*`` — with the widget harness' stand-ins for Qt
(`slicer_gui`), and a name-only ``slicer`` stub where slicer-core has no wheel (3.9).

    python Testing/interpreter_matrix.py [3.9 3.12]    # exit 0: every interpreter found passed
    python Testing/interpreter_matrix.py --import-scripts   # (inside a matrix venv) the import check only

``make test-matrix`` runs it through ``Testing/test_interpreter_matrix.py``.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TESTING = REPO / "Testing"
CACHE = REPO / ".cache" / "matrix"
VERSIONS = ("3.9", "3.12")
# Pins that exist for each interpreter: the project's for 3.12, this folder's for 3.9 (numpy 2.4 needs ≥ 3.11).
CONSTRAINTS = {"3.9": TESTING / "constraints-py3.9.txt", "3.12": REPO / "Resources" / "constraints.txt"}
EXTRAS = {"3.9": "[dask,dicom,test,pyradiomics]", "3.12": "[slicer,dask,dicom,test,pyradiomics]"}
ALSO = {"3.9": ["vtk"]}  # the MRML-free import check needs vtk; slicer-core (extra "slicer") has no 3.9 wheels


def interpreter(version: str) -> Path | None:
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    found = sorted(pyenv.glob(f"{version}.*/bin/python"), key=lambda p: [int(x) for x in p.parent.parent.name.split(".")])
    on_path = shutil.which(f"python{version}")
    return found[-1] if found else Path(on_path) if on_path else None


def _run(command: list[str], **options) -> int:
    print("$", " ".join(map(str, command)), flush=True)
    return subprocess.run([str(c) for c in command], cwd=REPO, **options).returncode


def venv(version: str, python: Path) -> Path:
    """The matrix venv of ``version``, (re)installed when a requirement file changed."""
    folder = CACHE / f"py{version}"
    inputs = [REPO / "pyproject.toml", CONSTRAINTS[version]]
    key = hashlib.sha256(b"".join(p.read_bytes() for p in inputs) + EXTRAS[version].encode()).hexdigest()
    stamp = folder / ".installed"
    if stamp.is_file() and stamp.read_text() == key:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    pip = [folder / "bin" / "python", "-m", "pip", "install", "-q"]
    steps = [
        [python, "-m", "venv", folder],
        [*pip, "--upgrade", "pip"],
        [*pip, "-c", CONSTRAINTS[version], "-e", f"{REPO}{EXTRAS[version]}", *ALSO.get(version, [])],
    ]
    for step in steps:
        if _run(step) != 0:
            raise RuntimeError(f"Python {version}: installing the matrix venv failed")
    stamp.write_text(key)
    return folder


def run_version(version: str) -> str:
    """'passed', 'failed' or 'skipped: <reason>' for one interpreter."""
    python = interpreter(version)
    if python is None:
        return f"skipped: no Python {version} in ~/.pyenv/versions or on PATH"
    environment = {**os.environ, "PYTHONPATH": "", "VTK_DEFAULT_OPENGL_WINDOW": "vtkEGLRenderWindow"}
    folder_python = venv(version, python) / "bin" / "python"
    tests = _run([folder_python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--continue-on-collection-errors",
                  "-m", "not slicer and not matrix", TESTING], env=environment)
    imports = _run([folder_python, __file__, "--import-scripts"], env=environment)
    return "passed" if tests == 0 and imports == 0 else f"failed (tests exit {tests}, imports exit {imports})"


def _slicer_stub() -> types.ModuleType:
    """Names only, for importing where slicer-core has no wheel: the MRML node classes the module scripts annotate
    their parameters with and ``slicer.util.VTKObservationMixin``. Nothing is run with it."""
    slicer = types.ModuleType("slicer")
    slicer.__path__ = []
    slicer.vtkMRMLNode = type("vtkMRMLNode", (), {})
    for name in ("vtkMRMLScalarVolumeNode", "vtkMRMLSegmentationNode", "vtkMRMLTableNode"):
        setattr(slicer, name, type(name, (slicer.vtkMRMLNode,), {}))
    util = types.ModuleType("slicer.util")
    util.VTKObservationMixin = type("VTKObservationMixin", (), {})
    slicer.util = util
    sys.modules.update({"slicer": slicer, "slicer.util": util})
    return slicer


def import_scripts() -> int:
    """Import every module script as Slicer (module scripts) or PythonSlicer (Scripts/, MIRVLogic/) would."""
    try:
        import slicer
    except ImportError:
        slicer = _slicer_stub()
    sys.path[:0] = [str(TESTING), str(REPO / "MIRV"), str(REPO / "MIRV" / "Scripts")]
    from slicer_gui.harness import stand_in_modules
    from slicer_gui.mrml_widgets import CLASSES

    sys.modules.update(stand_in_modules())
    for name, cls in CLASSES.items():
        setattr(slicer, name, cls)
    names = [f"MIRVLogic.{p.stem}" for p in sorted((REPO / "MIRV" / "MIRVLogic").glob("*.py")) if p.stem != "__init__"]
    names += [p.stem for p in sorted((REPO / "MIRV" / "Scripts").glob("*.py"))] + ["MIRV", "MIRVCohort"]
    failed = 0
    for name in names:
        try:
            importlib.import_module(name)
            print(f"imported {name}")
        except Exception as error:  # noqa: BLE001 - every failure is listed
            print(f"FAILED to import {name}: {type(error).__name__}: {error}")
            failed += 1
    print(f"Python {sys.version.split()[0]}: {len(names) - failed}/{len(names)} module scripts import")
    return 1 if failed else 0


def main(arguments: list[str]) -> int:
    if arguments == ["--import-scripts"]:
        return import_scripts()
    results = {version: run_version(version) for version in arguments or VERSIONS}
    for version, result in results.items():
        print(f"Python {version}: {result}")
    return 1 if any(r.startswith("failed") for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
