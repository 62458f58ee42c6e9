"""Fixtures for the stats tests: the SARC021 lung-subset patient table (reference preset) and clinical files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from MIRVLib.cohort import score_cohort
from MIRVLib.lesion_table import LesionTable
from MIRVLib.reduction import FeatureReduction, ReductionSettings
from MIRVLib.response import read_volumes

FIGURE_2A = ["BaselineVolumeRange", "BaselineVolumeStdDev", "BaselineVolumeTotal", "VolumeChangeRange",
             "CompleteTumorResponse", "MIRVMaxDissimilarity", "MIRVMaxDistance"]
CLINICAL = ("baseline-all.csv", "survival-all.csv", "recist-all.csv")


def sarc021_patients(sarc021_dir: Path, preset: str) -> pd.DataFrame:
    """Per-patient MIRV + volume metrics of the 135 lung-subset patients, through science's one code path."""
    table = LesionTable.read_csv(sarc021_dir / "lung_lesion_features.csv.gz")
    volumes = read_volumes(sarc021_dir / "lung_lesion_volumes.csv")
    return score_cohort(table, FeatureReduction(ReductionSettings(preset=preset)), volumes).patients


@pytest.fixture(scope="session")
def reference_patients(sarc021_dir: Path) -> pd.DataFrame:
    return sarc021_patients(sarc021_dir, "reference")


@pytest.fixture(scope="session")
def reference_patients_csv(reference_patients: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("stats") / "patients.csv"
    reference_patients.to_csv(path, index=False)
    return path
