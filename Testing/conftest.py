"""Shared fixtures: paths to the project's bundled data. Slicer fixtures live in `slicer_env.py`."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
TEST_DATA = Path(__file__).resolve().parent / "Data"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def sarc021_dir() -> Path:
    """Real SARC021 lesion features and clinical tables (MIT, bhklab/MIRV; see Data/SARC021/LICENSE)."""
    return TEST_DATA / "SARC021"
