"""Discrimination and prediction error of survival models: Harrell's and Uno's C, time-dependent AUC, Brier score.

The definitions are scikit-survival's (``sksurv.metrics``), reimplemented here so MIRV does not depend on it:
censoring weights come from the Kaplan–Meier estimate of the censoring distribution G in the *training* data
(IPCW), risks are "higher = earlier event", and the tests check every function against scikit-survival on its
bundled data sets. Uno's C and the cumulative/dynamic AUC are what a study with heavy censoring should report
next to Harrell's C, whose value depends on the censoring pattern.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from MIRVLib.stats.summary import console_block, format_interval, format_number

TIED_TOL = 1e-8
CHUNK = 256  # events per block of the pairwise comparison
_trapezoid = getattr(np, "trapezoid", None) or np.trapz  # NumPy < 2 has only trapz


def _as_arrays(time: Sequence[float], event: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    time, event = np.asarray(time, dtype=float), np.asarray(event).astype(bool)
    if time.shape != event.shape or time.ndim != 1:
        raise ValueError("survival: time and event must be 1-D arrays of the same length")
    if not np.isfinite(time).all():
        raise ValueError("survival: times must be finite")
    return time, event


def kaplan_meier(time: Sequence[float], event: Sequence[float], reverse: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Unique times and the Kaplan–Meier survival at each; ``reverse`` estimates the censoring distribution G
    (censorings are the events, and subjects with an event at t are no longer at risk of censoring at t)."""
    time, event = _as_arrays(time, event)
    times, inverse = np.unique(time, return_inverse=True)
    total = np.bincount(inverse, minlength=len(times))
    events = np.bincount(inverse, weights=event.astype(float), minlength=len(times))
    at_risk = len(time) - np.r_[0, np.cumsum(total)[:-1]]
    if reverse:
        at_risk, events = at_risk - events, total - events
    ratio = np.divide(events, at_risk, out=np.zeros(len(times)), where=events != 0)
    return times, np.cumprod(1.0 - ratio)


@dataclass
class CensoringDistribution:
    """Kaplan–Meier estimate of the censoring survival G(t) = P(C > t), fitted on training data."""

    times: np.ndarray | None = None
    probability: np.ndarray | None = None

    def fit(self, time: Sequence[float], event: Sequence[float]) -> CensoringDistribution:
        self.times, self.probability = kaplan_meier(time, event, reverse=True)  # no censoring: G = 1 throughout
        return self

    def predict(self, t: Sequence[float]) -> np.ndarray:
        """G(t), right-continuous; 0 after the last time if G reached 0 there, an error if it did not."""
        if self.times is None or self.probability is None:
            raise RuntimeError("CensoringDistribution is not fitted")
        t = np.atleast_1d(np.asarray(t, dtype=float))
        beyond = t > self.times[-1]
        if beyond.any() and self.probability[-1] > 0:
            raise ValueError(f"time {t[beyond].max():g} is after the last training time {self.times[-1]:g}; "
                             "the censoring distribution is unknown there (truncate with tau)")
        grid, probability = np.r_[-np.inf, self.times], np.r_[1.0, self.probability]
        out = np.zeros(len(t))
        inside = ~beyond
        out[inside] = probability[np.searchsorted(grid, t[inside], side="right") - 1]
        return out

    def ipcw(self, time: Sequence[float], event: Sequence[float]) -> np.ndarray:
        """1 / G(T_i) for events, 0 for censored subjects."""
        time, event = _as_arrays(time, event)
        weights = np.zeros(len(time))
        g = self.predict(time[event])
        if (g == 0).any():
            raise ValueError("the censoring distribution is zero at an event time; truncate with tau")
        weights[event] = 1.0 / g
        return weights


def _concordance(time: np.ndarray, event: np.ndarray, risk: np.ndarray, weights: np.ndarray,
                 tied_tol: float = TIED_TOL) -> float:
    """Σ_i w_i [#(r_j < r_i) + ½ #ties] / Σ_i w_i #comparable over events i; j is comparable to i when it
    left later, or at the same time without an event."""
    risk = np.asarray(risk, dtype=float)
    if risk.shape != time.shape:
        raise ValueError("survival: one risk score per subject is needed")
    numerator = denominator = 0.0
    for cases in np.array_split(np.flatnonzero(event), max(1, int(event.sum()) // CHUNK)):  # bounded memory
        comparable = (time[None, :] > time[cases, None]) | ((time[None, :] == time[cases, None]) & ~event[None, :])
        difference = risk[cases, None] - risk[None, :]
        score = np.where(np.abs(difference) <= tied_tol, 0.5, (difference > 0).astype(float)) * comparable
        numerator += float((weights[cases] * score.sum(axis=1)).sum())
        denominator += float((weights[cases] * comparable.sum(axis=1)).sum())
    if denominator == 0:
        raise ValueError("no comparable pairs: the C-index is undefined (no events, or every event last)")
    return numerator / denominator


def harrell_c(time: Sequence[float], event: Sequence[float], risk: Sequence[float]) -> float:
    """Harrell's C (``sksurv.metrics.concordance_index_censored``; lifelines' with the risk negated)."""
    time, event = _as_arrays(time, event)
    return _concordance(time, event, np.asarray(risk, dtype=float), np.ones(len(time)))


def uno_c(train_time: Sequence[float], train_event: Sequence[float], time: Sequence[float], event: Sequence[float],
          risk: Sequence[float], tau: float | None = None) -> float:
    """Uno's IPCW C up to ``tau`` (``sksurv.metrics.concordance_index_ipcw``): weights 1/G(T_i)² from the training data."""
    time, event = _as_arrays(time, event)
    censoring = CensoringDistribution().fit(train_time, train_event)
    weights = np.zeros(len(time))
    keep = np.ones(len(time), dtype=bool) if tau is None else time < tau
    weights[keep] = censoring.ipcw(time[keep], event[keep])
    return _concordance(time, event, np.asarray(risk, dtype=float), weights ** 2)


def _check_times(time: np.ndarray, times: Sequence[float]) -> np.ndarray:
    times = np.unique(np.atleast_1d(np.asarray(times, dtype=float)))
    if times.max() >= time.max() or times.min() < time.min():
        raise ValueError(f"evaluation times must lie within the follow-up of the test data [{time.min():g}, {time.max():g})")
    return times


def cumulative_dynamic_auc(train_time: Sequence[float], train_event: Sequence[float], time: Sequence[float],
                           event: Sequence[float], risk: np.ndarray, times: Sequence[float],
                           tied_tol: float = TIED_TOL) -> tuple[np.ndarray, float]:
    """AUC(t): cases = events by t (weighted 1/G(T_i)), controls = still event-free after t; and the mean AUC
    weighted by the Kaplan–Meier drop of the test data (``sksurv.metrics.cumulative_dynamic_auc``).
    ``risk`` is one score per subject or one column per time."""
    time, event = _as_arrays(time, event)
    times = _check_times(time, times)
    risk = np.asarray(risk, dtype=float)
    risk = np.broadcast_to(risk[:, None], (len(time), len(times))) if risk.ndim == 1 else risk
    if risk.shape != (len(time), len(times)):
        raise ValueError(f"expected risk of shape ({len(time)}, {len(times)}), got {risk.shape}")
    weights = CensoringDistribution().fit(train_time, train_event).ipcw(time, event)
    scores = np.empty(len(times))
    for k, t in enumerate(times):
        case = (time <= t) & event
        control = time > t
        if not case.any() or not control.any():
            raise ValueError(f"time {t:g}: needs at least one event by then and one subject event-free after it")
        difference = risk[case, k][:, None] - risk[control, k][None, :]
        score = np.where(np.abs(difference) <= tied_tol, 0.5, (difference > 0).astype(float))
        scores[k] = float((weights[case] * score.mean(axis=1)).sum() / weights[case].sum())
    if len(times) == 1:
        return scores, float(scores[0])
    km_times, km = kaplan_meier(time, event)
    survival = np.r_[1.0, km][np.searchsorted(km_times, times, side="right")]
    drop = -np.diff(np.r_[1.0, survival])
    return scores, float((scores * drop).sum() / (1.0 - survival[-1]))


def brier_score(train_time: Sequence[float], train_event: Sequence[float], time: Sequence[float], event: Sequence[float],
                survival: np.ndarray, times: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Graf's IPCW Brier score at each time (``sksurv.metrics.brier_score``); ``survival`` holds the
    predicted S(t | x) with one column per time."""
    time, event = _as_arrays(time, event)
    times = _check_times(time, times)
    survival = np.asarray(survival, dtype=float).reshape(len(time), -1)
    if survival.shape[1] != len(times):
        raise ValueError(f"expected {len(times)} columns of predicted survival, got {survival.shape[1]}")
    censoring = CensoringDistribution().fit(train_time, train_event)
    g_t, g_y = censoring.predict(times), censoring.predict(time)
    g_t[g_t == 0], g_y[g_y == 0] = np.inf, np.inf
    scores = np.empty(len(times))
    for k, t in enumerate(times):
        case, control = (time <= t) & event, time > t
        scores[k] = np.mean(survival[:, k] ** 2 * case / g_y + (1.0 - survival[:, k]) ** 2 * control / g_t[k])
    return times, scores


def integrated_brier_score(train_time: Sequence[float], train_event: Sequence[float], time: Sequence[float],
                           event: Sequence[float], survival: np.ndarray, times: Sequence[float]) -> float:
    """Trapezoidal mean of the Brier score over ``times`` (``sksurv.metrics.integrated_brier_score``)."""
    times, scores = brier_score(train_time, train_event, time, event, survival, times)
    if len(times) < 2:
        raise ValueError("the integrated Brier score needs at least two time points")
    return float(_trapezoid(scores, times) / (times[-1] - times[0]))


def default_times(time: Sequence[float], event: Sequence[float]) -> np.ndarray:
    """Quartiles of the event times: evaluation points every cohort has, when the user gives no ``--times``."""
    time, event = _as_arrays(time, event)
    return np.unique(np.quantile(time[event], [0.25, 0.5, 0.75]))


def ibs_grid(time: Sequence[float], times: Sequence[float], points: int = 50) -> np.ndarray:
    """The integration grid of the integrated Brier score: ``points`` even steps over the range of ``times``,
    kept inside the follow-up (a trapezoid over three times is too coarse to call an integral)."""
    time = np.asarray(time, dtype=float)
    lower, upper = float(np.min(times)), min(float(np.max(times)), float(np.nextafter(time.max(), -np.inf)))
    return np.linspace(lower, upper, points)


def bootstrap_interval(statistic: Callable[[np.ndarray], float], n: int, resamples: int, seed: int,
                       strata: np.ndarray | None = None, level: float = 0.95) -> tuple[float, float, int]:
    """Percentile interval of ``statistic(indices)`` over ``resamples`` resamples of the n subjects (within
    ``strata`` when given); resamples where the statistic is undefined are skipped and counted."""
    rng = np.random.default_rng(seed)
    groups = [np.arange(n)] if strata is None else [np.flatnonzero(strata == s) for s in np.unique(strata)]
    values, failed = [], 0
    for _ in range(resamples):
        indices = np.concatenate([rng.choice(g, size=len(g), replace=True) for g in groups])
        try:
            values.append(statistic(indices))
        except ValueError:
            failed += 1
    if not values:
        return np.nan, np.nan, failed
    alpha = (1 - level) / 2
    lower, upper = np.quantile(values, [alpha, 1 - alpha])
    return float(lower), float(upper), failed


def survival_discrimination(time: Sequence[float], event: Sequence[float], risk: Sequence[float],
                            survival_at: Callable[[np.ndarray], np.ndarray], times: Sequence[float], *,
                            resamples: int = 500, seed: int = 0) -> pd.DataFrame:
    """Apparent discrimination of one fitted model on its own data: Harrell's and Uno's C with bootstrap
    percentile CIs (the model is not refitted, so the interval is the metric's sampling error given the
    predictions), AUC(t) at each time, the mean AUC, and the integrated Brier score over :func:`ibs_grid`.
    ``survival_at(grid)`` returns the predicted S(t | x), one column per time of the grid."""
    time, event = _as_arrays(time, event)
    risk = np.asarray(risk, dtype=float)
    times = _check_times(time, times)
    rows = []
    for name, metric in (("HarrellC", lambda i: harrell_c(time[i], event[i], risk[i])),
                         ("UnoC", lambda i: uno_c(time, event, time[i], event[i], risk[i]))):
        lower, upper, failed = bootstrap_interval(metric, len(time), resamples, seed)
        rows.append({"Metric": name, "Time": np.nan, "Estimate": metric(np.arange(len(time))), "CILower": lower,
                     "CIUpper": upper, "Resamples": resamples - failed})
    auc, mean_auc = cumulative_dynamic_auc(time, event, time, event, risk, times)
    rows += [{"Metric": "AUC", "Time": t, "Estimate": a} for t, a in zip(times, auc)]
    if len(times) > 1:
        rows.append({"Metric": "MeanAUC", "Time": np.nan, "Estimate": mean_auc})
        grid = ibs_grid(time, times)
        rows.append({"Metric": "IntegratedBrierScore", "Time": np.nan,
                     "Estimate": integrated_brier_score(time, event, time, event, survival_at(grid), grid)})
    return pd.DataFrame(rows, columns=["Metric", "Time", "Estimate", "CILower", "CIUpper", "Resamples"])


def fitted_cox_discrimination(fitter, frame: pd.DataFrame, columns: Sequence[str], duration: str, event: str,
                              times: Sequence[float] | None = None, *, resamples: int = 500, seed: int = 0) -> pd.DataFrame:
    """:func:`survival_discrimination` of a fitted lifelines Cox model on the design it was fitted on; without
    ``times``, the quartiles of the event times."""
    time, status = frame[duration].to_numpy(dtype=float), frame[event].to_numpy(dtype=float)
    times = default_times(time, status) if times is None or not len(times) else np.asarray(times, dtype=float)
    covariates = frame[list(columns)]
    risk = fitter.predict_log_partial_hazard(covariates).to_numpy()
    return survival_discrimination(time, status, risk, lambda grid: fitter.predict_survival_function(covariates, times=grid)
                                   .to_numpy().T, times, resamples=resamples, seed=seed)


def discrimination_text(table: pd.DataFrame, resamples: int, seed: int) -> str:
    """The console block of :func:`survival_discrimination` (apparent, i.e. on the data the model was fitted on)."""
    label = [m if pd.isna(t) else f"{m} (t = {format_number(t)})" for m, t in zip(table["Metric"], table["Time"])]
    shown = pd.DataFrame({"estimate": table["Estimate"].to_numpy(),
                          "95% CI": [format_interval(lo, hi) for lo, hi in zip(table["CILower"], table["CIUpper"])]},
                         index=label)
    return console_block("Discrimination on the fitting data (apparent; bootstrap percentile CI)",
                         {"resamples": resamples, "seed": seed}, shown)
