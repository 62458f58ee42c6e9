"""Slicer installs MIRVLib's dependencies from Resources/requirements.txt: it must match pyproject.toml."""

from __future__ import annotations

import re

import pytest

tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[ ;]", line.strip(), maxsplit=1)[0].lower() for line in requirements if line.strip()}


def test_slicer_requirements_equal_the_package_dependencies(repo_root):
    project = tomllib.loads((repo_root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    lines = [line for line in (repo_root / "Resources" / "requirements.txt").read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.startswith("#")]
    assert _names(lines) == _names(project["dependencies"])
    # nothing that compiles: PyRadiomics (no wheels for Python >= 3.10) is only an optional extra
    assert not {"pyradiomics", "pyradiomics-bhklab"} & _names(lines)
    assert _names(project["optional-dependencies"]["pyradiomics"]) == {"pyradiomics-bhklab"}


def test_constraints_pin_every_dependency(repo_root):
    project = tomllib.loads((repo_root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    constraints = (repo_root / "Resources" / "constraints.txt").read_text(encoding="utf-8").splitlines()
    pinned = {line.split("==")[0].lower() for line in constraints if "==" in line}
    extras = [req for group in project["optional-dependencies"].values() for req in group]
    assert _names(project["dependencies"] + extras) - {"dask"} <= {name.replace("_", "-") for name in pinned} | {"dask"}


def test_slicer_dicom_requirements_equal_the_dicom_extra(repo_root):
    """The MIRV module installs Resources/requirements-dicom.txt on the first DICOM export: the `mirv[dicom]` extra."""
    project = tomllib.loads((repo_root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    lines = [line for line in (repo_root / "Resources" / "requirements-dicom.txt").read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.startswith("#")]
    assert sorted(lines) == sorted(project["optional-dependencies"]["dicom"])
