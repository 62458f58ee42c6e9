"""The measured effects of the deviations listed in docs/methods.md, Deviations, on the SARC021 lung subset.

Each number in that table is recomputed here, so the page cannot drift from the code.
"""

from __future__ import annotations

import pandas as pd
import pytest
from scipy.stats import spearmanr

from MIRVLib.cohort import score_cohort
from MIRVLib.lesion_table import LesionTable
from MIRVLib.metrics import cohort_mirv
from MIRVLib.reduction import FeatureReduction, ReductionSettings
from MIRVLib.response import read_volumes


@pytest.fixture(scope="module")
def sarc021(sarc021_dir) -> tuple[LesionTable, pd.DataFrame]:
    return (LesionTable.read_csv(sarc021_dir / "lung_lesion_features.csv.gz"),
            read_volumes(sarc021_dir / "lung_lesion_volumes.csv"))


def _rho(patients: pd.DataFrame, metric: str, other: str) -> float:
    scored = patients.dropna(subset=[metric])
    return float(spearmanr(scored[metric], scored[other]).statistic)


def test_without_z_scoring_the_published_correlation_drops_to_0_20(sarc021, reference_patients):
    table, _ = sarc021
    reduction = FeatureReduction(ReductionSettings(preset="reference")).fit(table)
    raw = table.frame.set_index(["PatientID", "LesionID"])[reduction.selected].astype(float)
    unscaled = {p.patient_id: p.summary()["MIRVMaxDissimilarity"] for p in cohort_mirv(raw)}
    patients = reference_patients.assign(Unscaled=reference_patients["PatientID"].map(unscaled))
    assert _rho(patients, "MIRVMaxDissimilarity", "VolumeChangeRange") == pytest.approx(0.513, abs=5e-4)
    assert _rho(patients, "Unscaled", "VolumeChangeRange") == pytest.approx(0.203, abs=5e-4)


def test_fitting_the_reference_reduction_on_the_312_lesion_subset(sarc021):
    table, volumes = sarc021
    counts = table.frame.groupby("PatientID").size()
    multi = table.subset([p for p in table.patient_ids if counts[p] >= 2])
    assert (multi.num_lesions, len(multi.patient_ids)) == (312, 85)
    reduction = FeatureReduction(ReductionSettings(preset="reference")).fit(multi)
    steps = reduction.step_counts
    assert (steps["input"], steps["varianceAndVolume"], steps["selected"]) == (1218, 246, 18)
    patients = score_cohort(table, reduction, volumes).patients
    assert _rho(patients, "MIRVMaxDissimilarity", "VolumeChangeRange") == pytest.approx(0.534, abs=5e-4)
    assert _rho(patients, "MIRVMaxDissimilarity", "CompleteTumorResponse") == pytest.approx(-0.363, abs=5e-4)


def test_tsrc_methods_reading_43_of_85_results_reading_6_of_85(sarc021_dir, reference_patients):
    """Restated from the volume CSV with pandas alone, independently of MIRVLib.response."""
    scored = reference_patients.dropna(subset=["MIRVMaxDissimilarity"])
    assert (len(scored), int(scored["CompleteTumorResponse"].sum())) == (85, 43)
    volumes = pd.read_csv(sarc021_dir / "lung_lesion_volumes.csv", dtype={"PatientID": str})
    volumes = volumes[volumes["PatientID"].isin(scored["PatientID"])]
    change = (volumes["VolumeFollowUp"] - volumes["VolumeBaseline"]) / volumes["VolumeBaseline"] * 100
    # An empty follow-up volume compares False either way: that patient is no complete responder.
    methods = (change < 33).groupby(volumes["PatientID"]).all()
    results = (change <= -33).groupby(volumes["PatientID"]).all()
    assert (len(methods), int(methods.sum()), int(results.sum())) == (85, 43, 6)
