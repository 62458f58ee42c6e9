"""Multivariable Cox proportional hazards (lifelines) on the user's covariates (MIRV paper, Table S3).

The design matrix is built here rather than by a formula engine so that any column name works (clinical
exports have spaces and parentheses), categorical reference levels are explicit, and interaction terms
(``CPCELL:MIRVMaxDissimilarity``) use exactly the dummies of their main effects. Column names follow the
formula convention ``VAR[T.level]`` so the table reads like R/statsmodels output.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter
from lifelines.exceptions import ConvergenceError, ConvergenceWarning
from lifelines.statistics import proportional_hazard_test

from MIRVLib.stats.join import complete_cases, numeric_columns, require_columns

log = logging.getLogger(__name__)


class CoxFitError(ValueError):
    """The data are usable but the Cox model cannot be estimated on them (no convergence, separation)."""


def _separated(fitter: CoxPHFitter) -> list[str]:
    """Covariates whose hazard-ratio confidence interval reaches 0 or infinity in floating point: the
    likelihood has no finite maximum along them ((quasi-)complete separation), so the fit only stopped
    somewhere on the way (HR 4e8, CI 0..inf) instead of estimating anything."""
    ci = fitter.summary[["exp(coef) lower 95%", "exp(coef) upper 95%"]]
    bad = ~np.isfinite(ci).all(axis=1) | (ci["exp(coef) lower 95%"] <= 0) | (ci["exp(coef) upper 95%"] == np.inf)
    return [str(c) for c in ci.index[bad]]


def parse_interactions(terms: Sequence[str]) -> list[tuple[str, ...]]:
    """``"A:B"`` → ``("A", "B")``; a term needs at least two distinct variables."""
    parsed = []
    for term in terms:
        parts = tuple(p.strip() for p in term.split(":"))
        if len(parts) < 2 or any(not p for p in parts) or len(set(parts)) != len(parts):
            raise ValueError(f"interaction '{term}' must name two or more different columns joined by ':'")
        parsed.append(parts)
    return parsed


def model_variables(covariates: Sequence[str], interactions: Sequence[str] = ()) -> list[str]:
    """Every column the model uses: the covariates, then the variables of the interaction terms, once each."""
    return list(dict.fromkeys([*covariates, *(v for t in parse_interactions(interactions) for v in t)]))


def survival_times(frame: pd.DataFrame, duration: str, event: str, purpose: str) -> pd.DataFrame:
    """Duration and event as floats; a negative time or an event other than 0/1 is an error."""
    times = numeric_columns(frame, [duration, event], purpose)
    if (times[duration] < 0).any():
        raise ValueError(f"{purpose}: negative survival times in '{duration}'")
    if not times[event].isin([0.0, 1.0]).all():
        raise ValueError(f"{purpose}: event column '{event}' must be 0/1 (found {sorted(times[event].unique())[:5]})")
    return times


def _sorted_levels(values: pd.Series) -> list:
    levels = values.dropna().unique().tolist()
    try:
        return sorted(levels)
    except TypeError:
        return sorted(levels, key=str)


def _level_key(value: object) -> str:
    """A level as text, numbers normalised: a column read as floats (0.0) must match the level '0'."""
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if number.is_integer() else repr(number)


def ordinal_codes(values: pd.Series, levels: Sequence[object], column: str) -> pd.Series:
    """0, 1, 2, ... by position in ``levels`` (matched as numbers where both are, so 1, 1.0 and '1' are the
    same level, else as text); a value not listed is an error naming it, since silently dropping patients
    would change the cohort."""
    position = {_level_key(level): i for i, level in enumerate(levels)}
    if len(position) != len(levels):
        raise ValueError(f"cox: --ordinal {column}: repeated level in {list(levels)}")
    text = values.map(_level_key)
    unknown = sorted(set(text) - set(position))
    if unknown:
        raise ValueError(f"cox: --ordinal {column}: value(s) {unknown} not among the given levels {list(levels)}")
    return text.map(position).astype(float)


@dataclass
class CoxDesign:
    """The numeric design matrix lifelines fits, with how each covariate was encoded."""

    frame: pd.DataFrame
    duration: str
    event: str
    columns: list[str]
    encoding: dict[str, dict] = field(default_factory=dict)
    dropped: int = 0


def build_design(
    frame: pd.DataFrame,
    duration: str,
    event: str,
    covariates: Sequence[str],
    interactions: Sequence[str] = (),
    categorical: Sequence[str] = (),
    reference: Mapping[str, object] | None = None,
    standardize: bool = False,
    ordinal: Mapping[str, Sequence[object]] | None = None,
) -> CoxDesign:
    """Listwise deletion, dummy coding (first sorted level = reference unless given) or, for ``ordinal``
    columns, 0, 1, 2, ... in the given level order (one HR per step, as the MIRV paper's Table S3 reports a
    single HR per histology or RECIST variable), optional z-scoring of continuous covariates (so hazard
    ratios are per standard deviation), then interaction products."""
    terms = parse_interactions(interactions)
    variables = model_variables(covariates, interactions)
    if not variables:
        raise ValueError("Cox model needs at least one covariate")
    require_columns(frame, [duration, event, *variables], "cox")
    used = complete_cases(frame, [duration, event, *variables])
    if used.empty:
        raise ValueError("cox: no patient has all of duration, event and covariates")
    times = survival_times(used, duration, event, "cox")
    reference = dict(reference or {})
    ordinal = {name: list(levels) for name, levels in (ordinal or {}).items()}
    unknown = [name for name in ordinal if name not in variables]
    if unknown:
        raise ValueError(f"cox: ordinal column(s) {unknown} are not covariates of the model")
    categorical = (set(categorical) | {v for v in variables if not pd.api.types.is_numeric_dtype(used[v])
                                       and not pd.api.types.is_bool_dtype(used[v])}) - set(ordinal)
    blocks: dict[str, pd.DataFrame] = {}
    encoding: dict[str, dict] = {}
    for variable in variables:
        if variable in ordinal:
            blocks[variable] = ordinal_codes(used[variable], ordinal[variable], variable).to_frame(variable)
            encoding[variable] = {"type": "ordinal", "levels": ordinal[variable]}
        elif variable in categorical:
            values = used[variable]
            levels = _sorted_levels(values)
            base = reference.get(variable, levels[0])
            if base not in levels:
                matches = [level for level in levels if str(level) == str(base)]
                if not matches:
                    raise ValueError(f"cox: reference level '{base}' not found in '{variable}' (levels {levels})")
                base = matches[0]
            others = [level for level in levels if level != base]
            if not others:
                raise ValueError(f"cox: categorical covariate '{variable}' has a single level ({base}) among the patients used")
            blocks[variable] = pd.DataFrame({f"{variable}[T.{level}]": (values == level).astype(float) for level in others},
                                            index=used.index)
            encoding[variable] = {"type": "categorical", "reference": base, "levels": levels}
        else:
            values = numeric_columns(used, [variable], "cox")[variable]
            if values.nunique() < 2:
                raise ValueError(f"cox: covariate '{variable}' is constant among the patients used")
            info: dict = {"type": "continuous"}
            if standardize and values.nunique() > 2:
                info.update(mean=float(values.mean()), sd=float(values.std(ddof=1)), standardized=True)
                values = (values - info["mean"]) / info["sd"]
            blocks[variable] = values.to_frame(variable)
            encoding[variable] = info
    design = pd.concat([blocks[v] for v in covariates], axis=1) if covariates else pd.DataFrame(index=used.index)
    for term in terms:
        product = blocks[term[0]]
        for variable in term[1:]:
            product = pd.DataFrame({f"{a}:{b}": product[a] * blocks[variable][b]
                                    for a in product.columns for b in blocks[variable].columns}, index=used.index)
        design = pd.concat([design, product], axis=1)
    constant = [c for c in design.columns if design[c].nunique() < 2]
    if constant:
        raise ValueError(f"cox: design column(s) {constant} are constant among the {len(used)} patients used")
    columns = list(design.columns)
    design[duration], design[event] = times[duration], times[event]
    return CoxDesign(design, duration, event, columns, encoding, dropped=len(frame) - len(used))


@dataclass
class CoxResult:
    """lifelines' summary (same column names), model-level statistics and the PH test per covariate."""

    summary: pd.DataFrame
    model: dict
    ph_test: pd.DataFrame
    design: CoxDesign
    fitter: CoxPHFitter


def fit_cox(
    frame: pd.DataFrame,
    duration: str,
    event: str,
    covariates: Sequence[str],
    interactions: Sequence[str] = (),
    categorical: Sequence[str] = (),
    reference: Mapping[str, object] | None = None,
    standardize: bool = False,
    penalizer: float = 0.0,
    ph_test: bool = True,
    ordinal: Mapping[str, Sequence[object]] | None = None,
) -> CoxResult:
    """Fit ``CoxPHFitter`` on the encoded design; the PH test uses Schoenfeld residuals against rank(time)."""
    design = build_design(frame, duration, event, covariates, interactions, categorical, reference, standardize, ordinal)
    fitter = CoxPHFitter(penalizer=penalizer)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fitter.fit(design.frame, duration_col=duration, event_col=event)
        except ConvergenceError as error:
            sparse = [c for c in design.columns if (design.frame[c] != 0).sum() <= 2]
            hint = f"; design column(s) with ≤ 2 non-zero patients: {sparse}" if sparse else ""
            raise CoxFitError(f"cox: the model did not converge ({str(error).split('.')[0]}){hint}; "
                              "merge rare levels, drop terms or use a penalizer (e.g. 0.1)") from error
    convergence = sorted({str(w.message).strip() for w in caught if issubclass(w.category, ConvergenceWarning)})
    for message in convergence:
        log.warning("cox: lifelines: %s", message)
    separated = _separated(fitter)
    if separated and not penalizer:
        raise CoxFitError(
            f"cox: (quasi-)complete separation on {separated}: the hazard ratio estimate diverges "
            f"(HR {', '.join(f'{np.exp(fitter.params_[c]):.3g}' for c in separated)}) and its confidence "
            "interval is meaningless; drop or merge those terms, or give --penalizer (e.g. 0.1)"
        )
    summary = fitter.summary.reset_index()
    model = {
        "n": int(len(design.frame)),
        "events": int(design.frame[event].sum()),
        "excluded_missing": int(design.dropped),
        "concordance": float(fitter.concordance_index_),
        "log_likelihood": float(fitter.log_likelihood_),
        "AIC_partial": float(fitter.AIC_partial_),
        "log_likelihood_ratio_test_p": float(fitter.log_likelihood_ratio_test().p_value),
        "penalizer": penalizer,
        "standardize": standardize,
        "encoding": design.encoding,
        "warnings": sorted({str(w.message).splitlines()[0] for w in caught}),
    }
    ph = pd.DataFrame(columns=["covariate", "test_statistic", "p", "-log2(p)"])
    if ph_test:
        ph = proportional_hazard_test(fitter, design.frame, time_transform="rank").summary.reset_index()
        ph = ph.rename(columns={ph.columns[0]: "covariate"})
        model["ph_test_min_p"] = float(np.nanmin(ph["p"])) if len(ph) else np.nan
    return CoxResult(summary, model, ph, design, fitter)
