"""Lesion-subsampling simulation on synthetic patients whose answers are known by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import pdist

from MIRVLib.stats.simulate import INDEXES, parse_strategy, simulate_sampling


def _cohort(spec: dict[str, list[str]], seed: int = 3, dims: int = 6) -> tuple[pd.DataFrame, pd.Series]:
    """Random lesion vectors for patients given as {patient: [site of each lesion]}."""
    rng = np.random.default_rng(seed)
    index = pd.MultiIndex.from_tuples([(p, f"L{i + 1:02d}") for p, sites in spec.items() for i in range(len(sites))],
                                      names=["PatientID", "LesionID"])
    vectors = pd.DataFrame(rng.normal(size=(len(index), dims)), index=index)
    sites = pd.Series([s for sites in spec.values() for s in sites], index=index)
    return vectors, sites


def _row(result, strategy: str, index: str) -> pd.Series:
    return result.summary.set_index(["strategy", "index"]).loc[(strategy, index)]


def test_exhaustive_is_100_and_fewer_than_two_lesions_is_0():
    vectors, sites = _cohort({"A": ["lung"] * 5 + ["liver"] * 3, "B": ["lung"] * 4})
    result = simulate_sampling(vectors, sites, ["all", "random:1", "per-site:1"], simulations=50, curve_k=[2])
    for index in INDEXES:
        assert _row(result, "all", index)[["mean", "lower_95", "upper_95"]].tolist() == [100.0, 100.0, 100.0]
        assert _row(result, "random:1", index)[["mean", "upper_95"]].tolist() == [0.0, 0.0]
    # B has one site: one lesion per site is a single lesion → 0 %; A gets two lesions (> 0 %)
    assert 0 < _row(result, "per-site:1", "MaximalDivergence")["mean"] < 100


def test_ground_truth_matches_scipy_pdist_and_excludes_single_lesion_patients():
    vectors, sites = _cohort({"A": ["lung"] * 7, "B": ["bone"], "C": ["lung", "liver", "liver"]})
    patients = simulate_sampling(vectors, sites, ["all"], simulations=5, curve_k=[2]).patients.set_index("PatientID")
    for patient in ("A", "C"):
        d = pdist(vectors.loc[patient].to_numpy(), metric="cosine")
        assert patients.loc[patient, "AverageHeterogeneity"] == pytest.approx(d.mean(), rel=1e-12)
        assert patients.loc[patient, "MaximalDivergence"] == pytest.approx(d.max(), rel=1e-12)
    assert not patients.loc["B", "included"] and patients.loc["B", "note"] == "fewer than two lesions"
    assert patients.loc["C", "NumSites"] == 2


def test_two_of_three_lesions_recovers_the_hand_computed_expectation():
    """With 3 lesions, 'random:2' draws each of the 3 pairs with probability 1/3."""
    vectors, sites = _cohort({"A": ["lung"] * 3})
    d = pdist(vectors.to_numpy(), metric="cosine")
    expected_max = np.mean(100 * d / d.max())
    expected_mean = np.mean(np.minimum(100 * d / d.mean(), 100))
    result = simulate_sampling(vectors, sites, ["random:2"], simulations=20000, curve_k=[2], seed=11)
    assert _row(result, "random:2", "MaximalDivergence")["mean"] == pytest.approx(expected_max, abs=1.0)
    assert _row(result, "random:2", "AverageHeterogeneity")["mean"] == pytest.approx(expected_mean, abs=1.0)
    uncapped = simulate_sampling(vectors, sites, ["random:2"], simulations=20000, curve_k=[2], seed=11, cap=False)
    assert _row(uncapped, "random:2", "AverageHeterogeneity")["mean"] == pytest.approx(100.0, abs=1.5)  # unbiased


def test_recovery_increases_with_k_and_reaches_100_when_all_lesions_are_drawn():
    vectors, sites = _cohort({f"P{i}": ["lung"] * 12 for i in range(4)})
    result = simulate_sampling(vectors, sites, ["random:2"], simulations=300, curve_k=range(2, 16), seed=5)
    for index in INDEXES:
        means = result.curve[result.curve["index"] == index]["mean"].to_numpy()
        assert np.all(np.diff(means[:11]) > 0), means  # k = 2..12
        assert np.all(means[10:] == 100.0)  # k ≥ 12 = every lesion
        reached = result.curve[(result.curve["index"] == index) & (result.curve["mean"] >= 75)]["k"].min()
        assert result.lesions_needed.set_index("index").loc[index, "lesions_needed"] == reached


def test_seeded_runs_are_reproducible_and_seeds_matter():
    vectors, sites = _cohort({"A": ["lung"] * 6 + ["liver"] * 4, "B": ["lung"] * 3 + ["bone"] * 3})
    run = lambda seed, strategies: simulate_sampling(vectors, sites, strategies, simulations=100, curve_k=[2, 3], seed=seed)  # noqa: E731
    first, again = run(1, ["random:2", "recist"]), run(1, ["random:2", "recist"])
    pd.testing.assert_frame_equal(first.summary, again.summary)
    pd.testing.assert_frame_equal(first.curve, again.curve)
    assert not first.summary.equals(run(2, ["random:2", "recist"]).summary)
    # each strategy has its own random stream: dropping one never changes another
    pd.testing.assert_frame_equal(first.summary.iloc[:2], run(1, ["random:2"]).summary)


def test_strategies_respect_site_caps_bone_exclusion_and_recist_total():
    sites = np.array(["lung"] * 4 + ["liver"] * 3 + ["bone"] * 3 + ["node"] * 2 + ["adrenal"] * 2)
    rng = np.random.default_rng(0)
    recist = parse_strategy("recist").sample(rng, sites, 200)
    assert recist.shape == (200, 5)
    assert not np.isin(recist, np.flatnonzero(sites == "bone")).any()
    for row in recist:
        _, counts = np.unique(sites[row], return_counts=True)
        assert counts.max() <= 2 and len(set(row)) == 5
    like = parse_strategy("recist-like").sample(rng, sites, 50)
    assert like.shape == (50, 8)  # 2 each from lung, liver, node, adrenal; none from bone
    per_site = parse_strategy("per-site:3").sample(rng, sites, 50)
    assert per_site.shape == (50, 3 + 3 + 3 + 2 + 2)
    assert parse_strategy("random:20").sample(rng, sites, 3).shape == (3, len(sites))
    with pytest.raises(ValueError, match="unknown sampling strategy 'top:2'"):
        parse_strategy("top:2")


def test_simulation_inputs_take_sites_from_a_sites_table(sarc021_dir):
    from MIRVLib.lesion_table import LesionTable
    from MIRVLib.reduction import FeatureReduction
    from MIRVLib.resources import model_path
    from MIRVLib.stats.analyses import simulation_inputs

    lesions = LesionTable.read_csv(sarc021_dir / "lung_lesion_features.csv.gz")
    reduction = FeatureReduction.load(model_path("SARC021-lung-reference"))
    first = lesions.frame.iloc[:2][["PatientID", "LesionID"]].assign(Site=["Bone", "liver"])
    vectors, sites = simulation_inputs(lesions, reduction, first)
    assert vectors.shape == (362, 16)
    assert sites.iloc[:2].tolist() == ["Bone", "liver"] and sites.iloc[2:].isna().all()
    unknown = first.assign(LesionID=["L99", "L01"])
    with pytest.raises(ValueError, match="not in the feature table, e.g. .*L99"):
        simulation_inputs(lesions, reduction, unknown)
