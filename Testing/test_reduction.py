"""Feature reduction: the published SARC021 selections, the off-by-one, model files, shipped models."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from MIRVLib.lesion_table import LesionTable
from MIRVLib.reduction import FeatureReduction, ModelError, ReductionSettings
from MIRVLib.resources import model_path

# docs/methods.md, Feature reduction: the "Volumetric Response" column of the paper's Table S2, in order.
TABLE_S2 = [
    "wavelet-LLH_glcm_ClusterShade", "wavelet-LLH_glcm_Correlation", "wavelet-LHH_firstorder_Median",
    "wavelet-LHH_glcm_ClusterShade", "wavelet-HLL_glcm_ClusterShade", "wavelet-HLH_firstorder_Median",
    "wavelet-HLH_glcm_ClusterShade", "wavelet-HHL_firstorder_Median", "wavelet-HHL_glcm_ClusterShade",
    "wavelet-HHH_firstorder_Median", "wavelet-HHH_glszm_SmallAreaEmphasis", "square_glszm_SmallAreaEmphasis",
    "squareroot_glcm_ClusterShade", "logarithm_firstorder_InterquartileRange",
    "logarithm_gldm_LargeDependenceHighGrayLevelEmphasis", "gradient_glszm_SmallAreaEmphasis",
]


@pytest.fixture(scope="module")
def sarc021(sarc021_dir) -> LesionTable:
    return LesionTable.read_csv(sarc021_dir / "lung_lesion_features.csv.gz")


@pytest.fixture(scope="module")
def fitted(sarc021) -> dict[str, FeatureReduction]:
    return {p: FeatureReduction(ReductionSettings(preset=p)).fit(sarc021) for p in ("paper", "reference")}


def test_reference_preset_reproduces_table_s2(fitted):
    reduction = fitted["reference"]
    counts = reduction.step_counts
    assert (counts["input"], counts["varianceAndVolume"], counts["selected"]) == (1218, 248, 16)
    assert reduction.selected == TABLE_S2


def test_paper_preset_counts(fitted):
    counts = fitted["paper"].step_counts
    assert (counts["input"], counts["varianceAndVolume"], counts["selected"]) == (1218, 53, 5)
    assert "original_shape_VoxelVolume" not in fitted["paper"].selected


def _pandas_reference(frame: pd.DataFrame) -> list[str]:
    """The authors' published recipe restated with plain pandas (independent of MIRVLib's arrays)."""
    data = frame.drop(columns=["LesionID"])
    numeric = data.drop(columns=["PatientID"])
    var = numeric.var()
    rho = numeric.corr(method="spearman")["original_shape_VoxelVolume"]
    mask = (var >= np.percentile(var, 50)) & (rho <= 0.1)
    shifted = [c for c in data.columns[np.flatnonzero(mask.to_numpy())] if c != "PatientID"]
    corr = data[shifted].corr().abs().to_numpy()
    np.fill_diagonal(corr, 0)
    return [c for c, bad in zip(shifted, (corr > 0.7).any(axis=0)) if not bad and c != "original_shape_VoxelVolume"]


def test_reference_preset_matches_plain_pandas_on_a_reordered_table(sarc021):
    # A different column order changes the off-by-one neighbours; both implementations must agree.
    rng = np.random.default_rng(1)
    names = list(sarc021.feature_names)
    rng.shuffle(names)
    frame = sarc021.frame[["PatientID", "LesionID", *names]]
    table = LesionTable.from_frame(frame)
    ours = FeatureReduction(ReductionSettings(preset="reference")).fit(table).selected
    assert ours == _pandas_reference(frame)
    assert ours != TABLE_S2


def test_off_by_one_keeps_the_feature_before_the_one_that_passed():
    rng = np.random.default_rng(7)
    n = 40
    volume = np.linspace(100, 1000, n)
    frame = pd.DataFrame({
        "PatientID": [f"P{i // 2}" for i in range(n)], "LesionID": [f"L{i % 2}" for i in range(n)],
        "quiet_before": rng.normal(0, 0.01, n),        # tiny variance: fails on its own
        "noisy_independent": 100 * (np.arange(n) - (n - 1) / 2) ** 2,  # large variance, Spearman rho 0 with volume
        "original_shape_VoxelVolume": volume,           # rho = 1: fails
        "tiny_after": rng.normal(0, 0.001, n),        # fails
    })
    table = LesionTable.from_frame(frame)
    paper = FeatureReduction(ReductionSettings(preset="paper", variance_quantile=0.5)).fit(table)
    reference = FeatureReduction(ReductionSettings(preset="reference", variance_quantile=0.5)).fit(table)
    assert paper.selected == ["noisy_independent"]
    assert reference.selected == ["quiet_before"]


def test_zscores_use_population_std_of_the_fitting_cohort(fitted, sarc021):
    scaled = fitted["reference"].transform(sarc021)
    assert list(scaled.columns) == TABLE_S2
    np.testing.assert_allclose(scaled.mean().to_numpy(), 0, atol=1e-12)
    np.testing.assert_allclose(scaled.std(ddof=0).to_numpy(), 1, rtol=1e-12)
    raw = sarc021.frame[TABLE_S2]
    np.testing.assert_allclose(scaled.to_numpy(), ((raw - raw.mean()) / raw.std(ddof=0)).to_numpy(), rtol=1e-12)


def test_model_file_round_trip_is_exact(fitted, sarc021, tmp_path):
    original = fitted["reference"]
    original.extraction_preset = "MIRV-CT"
    path = original.save(tmp_path / "model.json")
    payload = json.loads(path.read_text(encoding="utf-8"))
    assert payload["cohort"]["lesions"] == 362 and payload["cohort"]["patients"] == 135
    assert payload["cohort"]["inputSha256"] == sarc021.content_hash()
    assert payload["versions"]["pyradiomics-bhklab"] == "3.1.4"
    loaded = FeatureReduction.load(path)
    assert loaded.selected == original.selected and loaded.settings == original.settings
    pd.testing.assert_frame_equal(loaded.transform(sarc021), original.transform(sarc021), check_exact=True)


@pytest.mark.parametrize("preset", ["paper", "reference"])
def test_shipped_models_equal_a_fresh_fit(fitted, preset):
    shipped = FeatureReduction.load(model_path(f"SARC021-lung-{preset}"))
    fresh = fitted[preset]
    assert shipped.selected == fresh.selected and shipped.extraction_preset == "MIRV-CT"
    np.testing.assert_array_equal(shipped.mean, fresh.mean)
    np.testing.assert_array_equal(shipped.std, fresh.std)
    assert shipped.cohort["inputSha256"] == fresh.cohort["inputSha256"]


def test_transform_names_missing_model_features(fitted):
    table = LesionTable.from_frame(pd.DataFrame({"PatientID": ["P"], "LesionID": ["L"], "x": [1.0]}), source="one.csv")
    with pytest.raises(ModelError, match=r"one\.csv: 16 feature\(s\) of the model are missing"):
        fitted["reference"].transform(table)


def test_unfitted_and_malformed_models_are_refused(tmp_path):
    with pytest.raises(ModelError, match="not fitted"):
        FeatureReduction().transform(LesionTable.from_frame(pd.DataFrame({"PatientID": ["P"], "LesionID": ["L"], "x": [1.0]})))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ModelError, match="not a MIRV model file"):
        FeatureReduction.load(bad)
    with pytest.raises(ValueError, match="unknown reduction preset"):
        ReductionSettings(preset="fancy")


def test_shipped_models_place_a_patient_in_the_reference_cohort():
    from scipy.stats import percentileofscore

    model = FeatureReduction.load(model_path("SARC021-lung-reference"))
    reference = model.reference["MIRVMaxDissimilarity"]
    assert len(reference) == 85 and reference == sorted(reference)
    for value in (0.0, reference[10], 0.77, reference[-1], 5.0):
        assert model.percentile("MIRVMaxDissimilarity", value) == pytest.approx(percentileofscore(reference, value, kind="weak"))
    assert np.isnan(model.percentile("MIRVMaxDissimilarity", np.nan))
    assert np.isnan(model.percentile("NotAMetric", 1.0))


def test_restricting_candidates_equals_fitting_on_the_restricted_table(sarc021, tmp_path):
    wavelet = [n for n in sarc021.feature_names if n.startswith("wavelet-")]
    listed = tmp_path / "robust.txt"
    listed.write_text("# robust features\n" + "\n".join(reversed(wavelet)) + "\n")
    from MIRVLib.reduction import read_feature_list

    candidates = read_feature_list(listed)
    subset = LesionTable.from_frame(sarc021.frame[["PatientID", "LesionID", "original_shape_VoxelVolume", *wavelet]])
    for preset in ("paper", "reference"):
        restricted = FeatureReduction(ReductionSettings(preset=preset)).fit(sarc021, candidates)
        on_subset = FeatureReduction(ReductionSettings(preset=preset)).fit(subset)
        # docs/methods.md, Lesion features: 8 × 86 wavelet features, plus the volume feature kept for the volume test.
        assert restricted.selected == on_subset.selected and restricted.step_counts["input"] == 8 * 86 + 1
        assert set(restricted.selected) <= set(wavelet) and restricted.candidates == wavelet
    with pytest.raises(ModelError, match="not in the table"):
        FeatureReduction().fit(sarc021, ["no_such_feature"])
