"""Shared fixtures: paths to the project's bundled data. Slicer fixtures live in `slicer_env.py`."""

from __future__ import annotations

from pathlib import Path

import pytest
from stats_data import reference_patients, reference_patients_csv  # noqa: F401  (SARC021 MIRV fixtures)

REPO_ROOT = Path(__file__).resolve().parent.parent
TEST_DATA = Path(__file__).resolve().parent / "Data"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def sarc021_dir() -> Path:
    """Real SARC021 lesion features and clinical tables (MIT, bhklab/MIRV; see Data/SARC021/LICENSE)."""
    return TEST_DATA / "SARC021"


@pytest.fixture()
def slicer_env():
    """A real headless Slicer (slicer-core): fresh scene, module logics, offscreen 3D rendering.

    Imported lazily so the rest of the suite runs where slicer-core is not installed (those tests skip).
    """
    from slicer_env import make_slicer_environment

    environment = make_slicer_environment()
    yield environment
    environment.scene.Clear(1)
