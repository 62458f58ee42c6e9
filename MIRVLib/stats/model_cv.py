"""Cross-validated prediction models that compare feature sets ("does MIRV add to clinical variables?").

Every set is fitted and scored on the *same* repeated stratified k-fold splits (stratified on the outcome, or
on the event indicator for survival), so the per-fold differences between two sets are paired. Fold scores of
repeated CV are correlated (training sets overlap), so intervals and tests use Nadeau & Bengio's (2003)
corrected resampled t: variance × (1/J + n_test/n_train) instead of 1/J, with J − 1 degrees of freedom.
Models: logistic regression (scikit-learn; unpenalised unless ``C`` is given) or Cox (lifelines; ``penalizer``).
Nothing is tuned, so no nested loop is needed; features are z-scored with the training fold's mean and SD.
Calibration slope and intercept are fitted on each repeat's out-of-fold predictions and averaged over repeats.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd
import statsmodels.api as sm
from lifelines import CoxPHFitter
from lifelines.exceptions import ConvergenceError
from scipy.stats import t as student_t
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import RepeatedStratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from MIRVLib.options import CATEGORICAL
from MIRVLib.stats.cox import survival_times
from MIRVLib.stats.discrimination import cumulative_dynamic_auc, harrell_c, ibs_grid, integrated_brier_score, uno_c
from MIRVLib.stats.fdr import bh_fdr
from MIRVLib.stats.join import complete_cases, numeric_columns, require_columns
from MIRVLib.stats.roc import binary_outcome, placements


def parse_sets(values: Sequence[str]) -> dict[str, list[str]]:
    """``["clinical=AGE,BECOG", "mirv=MIRVMaxDissimilarity"]`` → {name: columns}, in the order given."""
    sets: dict[str, list[str]] = {}
    for value in values:
        name, sep, columns = value.partition("=")
        names = [c.strip() for c in columns.split(",") if c.strip()]
        if not sep or not name.strip() or not names:
            raise ValueError(f"--set expects NAME=COL1,COL2,..., got '{value}'")
        if name.strip() in sets:
            raise ValueError(f"--set '{name.strip()}' is given twice")
        sets[name.strip()] = names
    if not sets:
        raise ValueError("model: at least one --set NAME=COLUMNS is needed")
    return sets


def design_matrix(frame: pd.DataFrame, columns: Sequence[str], types: Mapping[str, str]) -> pd.DataFrame:
    """Numeric columns as they are; categorical (typed or text) ones dummy-coded against their first sorted level."""
    blocks = []
    for column in columns:
        values = frame[column]
        if types.get(column) == CATEGORICAL or not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)):
            levels = sorted(values.unique().tolist(), key=str)
            blocks.append(pd.DataFrame({f"{column}[T.{level}]": (values == level).astype(float) for level in levels[1:]},
                                       index=frame.index))
        else:
            blocks.append(numeric_columns(frame, [column], "model"))
    design = pd.concat(blocks, axis=1)
    constant = [c for c in design.columns if design[c].nunique() < 2]
    if constant:
        raise ValueError(f"model: column(s) {constant} are constant among the {len(frame)} patients used")
    return design


def fold_splits(strata: np.ndarray, folds: int, repeats: int, seed: int) -> list[tuple[int, int, np.ndarray, np.ndarray]]:
    """(repeat, fold, train indices, test indices) of repeated stratified k-fold; the same seed gives the same folds."""
    smallest = int(np.bincount(strata.astype(int)).min())
    if folds < 2 or smallest < folds:
        raise ValueError(f"model: {folds}-fold CV needs ≥ {max(folds, 2)} patients in each class (smallest class has {smallest})")
    splitter = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    return [(k // folds + 1, k % folds + 1, train, test)
            for k, (train, test) in enumerate(splitter.split(np.zeros(len(strata)), strata))]


def corrected_t(values: np.ndarray, test_fraction: float, level: float = 0.95) -> tuple[float, float, float, float, float]:
    """Mean, CI, t and p of fold values by Nadeau–Bengio's corrected resampled t (``test_fraction`` = n_test/n_train)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) < 2:
        return float(np.mean(values)) if len(values) else np.nan, np.nan, np.nan, np.nan, np.nan
    mean = float(values.mean())
    se = np.sqrt((1 / len(values) + test_fraction) * values.var(ddof=1))
    half = student_t.ppf(0.5 + level / 2, len(values) - 1) * se
    t = mean / se if se > 0 else np.nan
    p = float(2 * student_t.sf(abs(t), len(values) - 1)) if se > 0 else np.nan
    return mean, mean - half, mean + half, float(t) if se > 0 else np.nan, p


@dataclass
class ModelCVResult:
    summary: pd.DataFrame
    folds: pd.DataFrame
    comparison: pd.DataFrame
    kind: str
    n: int
    cases: int
    metric: str
    predictions: pd.DataFrame  # per patient used: the target column(s) and each set's mean out-of-fold prediction


def _logistic(C: float | None):
    return make_pipeline(StandardScaler(), LogisticRegression(C=np.inf if C is None else C, max_iter=5000))


def _calibration_binary(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """Slope of logit(p) and calibration-in-the-large (intercept with logit(p) as offset), logistic GLMs."""
    lp = np.log(np.clip(p, 1e-12, 1 - 1e-12) / np.clip(1 - p, 1e-12, 1 - 1e-12))
    slope = sm.GLM(y, sm.add_constant(lp), family=sm.families.Binomial()).fit().params[1]
    intercept = sm.GLM(y, np.ones((len(y), 1)), family=sm.families.Binomial(), offset=lp).fit().params[0]
    return float(slope), float(intercept)


def _calibration_cox(time: np.ndarray, event: np.ndarray, lp: np.ndarray) -> float:
    """Cox regression of the outcome on the out-of-fold linear predictor: slope 1 = well calibrated spread
    (patients of a fold whose model could not be fitted have no prediction and are left out)."""
    frame = pd.DataFrame({"T": time, "E": event, "lp": lp}).dropna()
    try:
        return float(CoxPHFitter().fit(frame, "T", "E").params_["lp"])
    except ConvergenceError:
        return np.nan


def _cox_fold(x_train: pd.DataFrame, x_test: pd.DataFrame, time: np.ndarray, status: np.ndarray, train: np.ndarray,
              penalizer: float) -> tuple[CoxPHFitter, pd.DataFrame, np.ndarray] | None:
    """Fit on one training fold: (fitter, z-scored test features, test log partial hazards), or None when the
    fit does not converge. A column constant in the training fold (a rare category absent from it) carries
    no information there and is left out of that fold's model."""
    keep = [c for c in x_train.columns if x_train[c].nunique() > 1]
    mean, sd = x_train[keep].mean(), x_train[keep].std(ddof=0)
    try:
        fitter = CoxPHFitter(penalizer=penalizer).fit(
            ((x_train[keep] - mean) / sd).assign(_T=time[train], _E=status[train]), "_T", "_E")
    except ConvergenceError:
        return None
    z_test = (x_test[keep] - mean) / sd
    return fitter, z_test, fitter.predict_log_partial_hazard(z_test).to_numpy()


def cross_validate(frame: pd.DataFrame, sets: Mapping[str, Sequence[str]], types: Mapping[str, str], *,
                   outcome: str | None = None, duration: str | None = None, event: str | None = None,
                   folds: int = 5, repeats: int = 10, seed: int = 0, C: float | None = None, penalizer: float = 0.0,
                   times: Sequence[float] | None = None, level: float = 0.95, id_column: str | None = None) -> ModelCVResult:
    """Fit and score every feature set on the same folds; patients = complete cases over every set's columns.
    ``predictions`` holds each patient's out-of-fold prediction (probability, or Cox log partial hazard)
    averaged over the repeats, keyed by ``id_column``: ready for `mirv stats roc`."""
    survival = duration is not None or event is not None
    if survival == (outcome is not None) or (survival and (duration is None or event is None)):
        raise ValueError("model: give either --outcome (logistic) or both --duration and --event (Cox)")
    targets = [duration, event] if survival else [outcome]
    columns = list(dict.fromkeys(c for cols in sets.values() for c in cols))
    require_columns(frame, [*targets, *columns], "model")
    overlap = [c for c in columns if c in targets]
    if overlap:
        raise ValueError(f"model: outcome column(s) {overlap} are also used as features")
    used = complete_cases(frame, [*targets, *columns]).reset_index(drop=True)
    if used.empty:
        raise ValueError("model: no patient has the outcome and every feature of every set")
    designs = {name: design_matrix(used, cols, types) for name, cols in sets.items()}
    if survival:
        st = survival_times(used, duration, event, "model")
        time, status = st[duration].to_numpy(), st[event].to_numpy().astype(bool)
        strata, metric = status.astype(int), "HarrellC"
        times = None if times is None else np.unique(np.asarray(times, dtype=float))
    else:
        y = binary_outcome(used[outcome], outcome, "model")
        strata, metric = y, "AUC"
    splits = fold_splits(strata, folds, repeats, seed)
    rows, oof = [], {name: np.full((repeats, len(used)), np.nan) for name in sets}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lifelines/sklearn convergence chatter; failures show as NaN folds
        for repeat, fold, train, test in splits:
            for name, design in designs.items():
                x_train, x_test = design.iloc[train], design.iloc[test]
                row = {"Repeat": repeat, "Fold": fold, "Set": name, "NTrain": len(train), "NTest": len(test)}
                if survival:
                    fitted = _cox_fold(x_train, x_test, time, status, train, penalizer)
                    row["Fitted"] = fitted is not None
                    if fitted is not None:
                        fitter, z_test, risk = fitted
                        oof[name][repeat - 1, test] = risk
                        row.update(_survival_scores(time, status, train, test, risk, fitter, z_test, times))
                else:
                    model = _logistic(C).fit(x_train, y[train])
                    p = model.predict_proba(x_test)[:, 1]
                    oof[name][repeat - 1, test] = p
                    row["AUC"] = float(placements(p, y[test])[0].mean()) if 0 < y[test].sum() < len(test) else np.nan
                rows.append(row)
    fold_table = pd.DataFrame(rows)
    metrics = [m for m in ("AUC", "HarrellC", "UnoC", "MeanAUC", "IntegratedBrierScore") if m in fold_table.columns]
    test_fraction = 1 / (folds - 1)  # n_test / n_train of k-fold
    summary = []
    for name, cols in sets.items():
        scores = fold_table[fold_table["Set"] == name]
        base = {"Set": name, "Features": ",".join(cols), "DesignColumns": designs[name].shape[1], "N": len(used),
                "Cases": int(strata.sum())}
        for m in metrics:
            mean, lower, upper, _, _ = corrected_t(scores[m].to_numpy(), test_fraction, level)
            summary.append({**base, "Metric": m, "Mean": mean, "CILower": lower, "CIUpper": upper,
                            "Folds": int(scores[m].notna().sum())})
        calibration = [_calibration_cox(time, status, oof[name][r]) for r in range(repeats)] if survival else \
            [_calibration_binary(y, oof[name][r]) for r in range(repeats)]
        values = np.array(calibration, dtype=float).reshape(repeats, -1)
        for k, m in enumerate(["CalibrationSlope", "CalibrationIntercept"][:values.shape[1]]):
            lower, upper = np.quantile(values[:, k], [(1 - level) / 2, (1 + level) / 2])
            summary.append({**base, "Metric": m, "Mean": float(values[:, k].mean()), "CILower": lower, "CIUpper": upper,
                            "Folds": repeats})
    comparison = []
    for a, b in combinations(list(sets), 2):
        left = fold_table[fold_table["Set"] == a].reset_index(drop=True)
        right = fold_table[fold_table["Set"] == b].reset_index(drop=True)
        for m in metrics:
            mean, lower, upper, t, p = corrected_t((right[m] - left[m]).to_numpy(), test_fraction, level)
            comparison.append({"SetA": a, "SetB": b, "Metric": m, "MeanDifference": mean, "CILower": lower,
                               "CIUpper": upper, "T": t, "P": p})
    comparison_table = pd.DataFrame(comparison, columns=["SetA", "SetB", "Metric", "MeanDifference", "CILower", "CIUpper",
                                                         "T", "P"])
    comparison_table["FDR"] = bh_fdr(comparison_table["P"])
    predictions = used[([id_column] if id_column else []) + targets].copy()
    for name in sets:
        predictions[name] = np.nanmean(oof[name], axis=0)
    return ModelCVResult(pd.DataFrame(summary), fold_table, comparison_table, "cox" if survival else "logistic",
                         len(used), int(strata.sum()), metric, predictions)


def _survival_scores(time: np.ndarray, status: np.ndarray, train: np.ndarray, test: np.ndarray, risk: np.ndarray,
                     fitter: CoxPHFitter, z_test: pd.DataFrame, times: np.ndarray | None) -> dict[str, float]:
    """Harrell's and Uno's C on the test fold (Uno's truncated at the last training time, where the training
    censoring distribution ends); with ``times``, the mean AUC(t) and the integrated Brier score, NaN for a
    fold whose follow-up does not cover the times."""
    scores = {"HarrellC": np.nan, "UnoC": np.nan}
    try:
        scores["HarrellC"] = harrell_c(time[test], status[test], risk)
        scores["UnoC"] = uno_c(time[train], status[train], time[test], status[test], risk, tau=time[train].max())
    except ValueError:
        pass
    if times is not None:
        scores.update(MeanAUC=np.nan, IntegratedBrierScore=np.nan)
        try:
            _, mean_auc = cumulative_dynamic_auc(time[train], status[train], time[test], status[test], risk, times)
            scores["MeanAUC"] = mean_auc
            if len(times) > 1:
                grid = ibs_grid(time[test], times)
                survival = fitter.predict_survival_function(z_test, times=grid).to_numpy().T
                scores["IntegratedBrierScore"] = integrated_brier_score(time[train], status[train], time[test],
                                                                        status[test], survival, grid)
        except ValueError:
            pass
    return scores
