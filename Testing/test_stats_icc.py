"""ICC(2,1) and ICC(3,1) with their CIs equal pingouin's intraclass_corr; the robustness filter can use them."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from pyradiomics_data import ball_mask, light_preset, synthetic_ct, write_image_and_masks

from MIRVLib.cli import main
from MIRVLib.lesions import Lesion
from MIRVLib.robustness import concordance_table, lins_ccc, robust_features, run_robustness
from MIRVLib.stats.icc import icc_pair, icc_scores, icc_table


@pytest.fixture()
def pingouin(monkeypatch):
    """pingouin at full precision (it rounds the CI column to 2 decimals by default)."""
    pg = pytest.importorskip("pingouin")
    monkeypatch.delitem(pg.options, "round.column.CI95", raising=False)
    monkeypatch.setitem(pg.options, "round", None)
    return pg


def _reference(pg, long: pd.DataFrame, targets: str, raters: str, ratings: str) -> dict[str, pd.Series]:
    """pingouin's ICC(A,1) = ICC(2,1) and ICC(C,1) = ICC(3,1)."""
    table = pg.intraclass_corr(long, targets=targets, raters=raters, ratings=ratings, nan_policy="omit").set_index("Type")
    return {"ICC2": table.loc["ICC(A,1)"], "ICC3": table.loc["ICC(C,1)"]}


def test_pingouin_wine_example(pingouin):
    data = pingouin.read_dataset("icc")
    ours = icc_scores(data.pivot_table(index="Wine", columns="Judge", values="Scores").to_numpy())
    reference = _reference(pingouin, data, "Wine", "Judge", "Scores")
    for name, value, ci in (("ICC2", ours.icc2, ours.icc2_ci), ("ICC3", ours.icc3, ours.icc3_ci)):
        row = reference[name]
        assert value == pytest.approx(row["ICC"], rel=1e-12)
        np.testing.assert_allclose(ci, row["CI95"], rtol=1e-10)
        assert ours.f == pytest.approx(row["F"], rel=1e-12) and ours.p == pytest.approx(row["pval"], rel=1e-9)
        assert (ours.df1, ours.df2) == (row["df1"], row["df2"])
    assert ours.icc2 == pytest.approx(0.728, abs=5e-4) and ours.icc3 == pytest.approx(0.729, abs=5e-4)  # its docstring


def test_hand_computed_constant_offset():
    """Rater B = rater A + 1: perfect consistency, ICC(3,1) = 1; absolute agreement MSR/(MSR + k·MSC/n) = 8/9."""
    ratings = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = icc_scores(ratings)
    assert scores.icc3 == pytest.approx(1.0) and scores.icc2 == pytest.approx(8 / 9)
    assert icc_pair(ratings[:, 0], ratings[:, 0], "icc2") == 1.0  # no variation at all: identical measurements


def test_random_multi_feature_table_equals_pingouin(pingouin):
    rng = np.random.default_rng(7)
    n, raters = 25, ["r1", "r2", "r3"]
    truth = rng.normal(size=(n, 4)) * [1.0, 5.0, 0.2, 3.0]
    rows = []
    for j, rater in enumerate(raters):
        noisy = truth + rng.normal(scale=[0.2, 4.0, 0.5, 0.1], size=truth.shape) + 0.3 * j  # rater bias
        rows.append(pd.DataFrame({"PatientID": [f"P{i // 3}" for i in range(n)], "LesionID": [f"L{i % 3}" for i in range(n)],
                                  "Reader": rater, **{f"f{c}": noisy[:, c] for c in range(4)}}))
    long = pd.concat(rows, ignore_index=True)
    long.loc[(long["Reader"] == "r2") & (long["PatientID"] == "P0") & (long["LesionID"] == "L1"), "f3"] = np.nan
    table = icc_table(long, "Reader").set_index("Feature")
    long["target"] = long["PatientID"] + "/" + long["LesionID"]
    for feature in ["f0", "f1", "f2", "f3"]:
        reference = _reference(pingouin, long, "target", "Reader", feature)
        for name in ("ICC2", "ICC3"):
            row = reference[name]
            assert table.loc[feature, name] == pytest.approx(row["ICC"], rel=1e-10)
            np.testing.assert_allclose(table.loc[feature, [f"{name}_CILower", f"{name}_CIUpper"]].to_numpy(dtype=float),
                                       row["CI95"], rtol=1e-9)
            assert table.loc[feature, "p"] == pytest.approx(row["pval"], rel=1e-8)
    assert table.loc["f3", "N"] == n - 1 and table.loc["f0", "N"] == n  # a missing rating drops that target only
    assert table.loc["f1", "ICC2"] < 0.9 < table.loc["f3", "ICC3"]


def test_bad_long_tables_name_the_problem():
    frame = pd.DataFrame({"PatientID": ["a", "a", "b", "b"], "LesionID": "1", "R": ["x", "y", "x", "y"], "f": [1.0, 2, 3, 4]})
    with pytest.raises(ValueError, match="rater column 'Reader'"):
        icc_table(frame, "Reader")
    with pytest.raises(ValueError, match="duplicated target/rater row.*PatientID=a, LesionID=1, R=x"):
        icc_table(pd.concat([frame, frame.iloc[:1]]), "R")
    with pytest.raises(ValueError, match="single value"):
        icc_table(frame.assign(R="x", LesionID=["1", "2", "3", "4"]), "R")
    with pytest.raises(ValueError, match=r"feature column\(s\) \['g'\] not found"):
        icc_table(frame, "R", features=["g"])


def test_cli_icc(tmp_path, capsys, pingouin):
    rng = np.random.default_rng(3)
    base = pd.DataFrame({"PatientID": np.repeat(["A", "B", "C", "D"], 3), "LesionID": ["1", "2", "3"] * 4,
                         "Volume": rng.lognormal(3, 1, 12), "Texture": rng.normal(size=12), "Site": "lung"})
    second = base.assign(Volume=base["Volume"] * rng.normal(1, 0.05, 12), Texture=base["Texture"] + rng.normal(0, 0.5, 12))
    path = tmp_path / "readers.csv"
    pd.concat([base.assign(Reader="A"), second.assign(Reader="B")]).to_csv(path, index=False)
    out = tmp_path / "icc"
    assert main(["stats", "icc", "--features", str(path), "--rater", "Reader", "--threshold", "0.75", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    written = pd.read_csv(out / "icc_summary.csv").set_index("Feature")
    assert list(written.index) == ["Volume", "Texture"]  # numeric columns only (Site is text)
    long = pd.read_csv(path).assign(target=lambda f: f["PatientID"] + f["LesionID"].astype(str))
    assert written.loc["Volume", "ICC2"] == pytest.approx(_reference(pingouin, long, "target", "Reader", "Volume")["ICC2"]["ICC"])
    assert f"ICC(2,1) >= 0.75 = {int((written['ICC2'] >= 0.75).sum())}" in printed
    provenance = json.loads((out / "icc_provenance.json").read_text(encoding="utf-8"))
    assert provenance["parameters"]["rater"] == "Reader" and (out / "icc.png").is_file()
    assert main(["stats", "icc", "--features", str(path), "--rater", "Observer", "--out", str(out)]) == 2
    assert "rater column 'Observer'" in capsys.readouterr().err


def test_robustness_table_with_icc(pingouin):
    ids = {"PatientID": ["P"] * 5, "LesionID": list("abcde"), "SegmentID": "", "Site": "", "Status": "ok"}
    original = pd.DataFrame({**ids, "f": [1.0, 2.0, 3.0, 4.0, 5.0], "g": [1.0, 3.0, 2.0, 5.0, 4.0]})
    eroded = original.assign(f=[1.1, 2.0, 3.2, 3.9, 5.1], g=[2.0, 1.0, 4.0, 3.0, 5.0])
    dilated = original.assign(f=original["f"] + 0.5, g=original["g"])
    perturbed = {"erode": eroded, "dilate": dilated}
    for kind in ("icc2", "icc3"):
        table = concordance_table(original, perturbed, kind)
        name = kind.upper()
        long = pd.concat([original.assign(r="o"), eroded.assign(r="p")])
        expected = _reference(pingouin, long, "LesionID", "r", "f")[name]["ICC"]
        assert table.loc["f", f"{name}_erode"] == pytest.approx(expected, rel=1e-10)
        assert table.loc["g", f"{name}_dilate"] == pytest.approx(1.0)
        assert robust_features(table, 0.75, kind) == ["f"]
    ccc = concordance_table(original, perturbed)
    assert ccc.loc["f", "CCC_dilate"] == pytest.approx(lins_ccc(original["f"], dilated["f"]))
    consistency = concordance_table(original, perturbed, "icc3")
    assert ccc.loc["f", "CCC_dilate"] < 0.99 and consistency.loc["f", "ICC3_dilate"] == pytest.approx(1.0)  # offset only
    with pytest.raises(ValueError, match="agreement must be one of"):
        concordance_table(original, perturbed, "kappa")


def test_robustness_cli_with_icc(tmp_path):
    ct = synthetic_ct()
    lesions = [Lesion(f"L{i}", ball_mask(ct, centre, radius)) for i, (centre, radius) in
               enumerate([((30, 32, 10), 7), ((18, 40, 8), 4), ((44, 22, 12), 5), ((24, 24, 6), 6)])]
    preset = light_preset(tmp_path)
    result = run_robustness([("P1", ct, lesions)], preset, threshold=0.75, kind="icc2")
    volumes = {name: frame.set_index("LesionID")["original_shape_VoxelVolume"] for name, frame in result.extracted.items()}
    expected = icc_pair(volumes["original"], volumes["erode"], "icc2")
    assert result.table.loc["original_shape_VoxelVolume", "ICC2_erode"] == pytest.approx(expected)
    assert result.features == [f for f in result.table.index if result.table.loc[f, "ICC2_min"] >= 0.75]

    image, folder = write_image_and_masks(tmp_path, ct, {lesion.name: lesion.mask for lesion in lesions})
    out = tmp_path / "robust.txt"
    assert main(["robustness", "--image", str(image), "--lesions", str(folder), "--patient-id", "P1",
                 "--preset", str(preset), "--agreement", "icc2", "--out", str(out), "--no-progress"]) == 0
    text = out.read_text(encoding="utf-8")
    assert text.startswith(f"# {len(result.features)} of {len(result.table)} features with ICC(2,1) >= 0.75")
    written = pd.read_csv(tmp_path / "robust.icc2.csv", index_col="Feature")
    np.testing.assert_allclose(written["ICC2_min"], result.table["ICC2_min"], rtol=1e-9)
    provenance = json.loads((tmp_path / "robust.txt.provenance.json").read_text(encoding="utf-8"))
    assert provenance["agreement"] == "icc2" and provenance["threshold"] == 0.75
