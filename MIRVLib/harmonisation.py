"""ComBat harmonisation of lesion features across batches (sites, scanners), fit/transform style.

Johnson, Li & Rabinovic (2007), parametric empirical Bayes, exactly as the reference implementations
(R ``sva::ComBat``, Python ``neuroCombat``) compute it, so the harmonised values agree with them: a per-feature
linear model on batch + covariates gives the grand mean, the covariate coefficients and the pooled variance;
per batch, the location (γ) and scale (δ) of the standardised data are shrunk towards priors shared by all
features. It runs on lesion features *before* the MIRV reduction.

The fitted state is what a new lesion needs: it can be transformed later (e.g. a patient scored with a saved
model), provided its batch was in the fitting data — a batch never seen has no γ*/δ*, so that is an error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from MIRVLib.lesion_table import ID_COLUMNS, LESION_ID, METADATA_COLUMNS, PATIENT_ID, LesionTable, read_lesion_frame
from MIRVLib.model_schema import harmonisation_problems

METHOD = "ComBat (Johnson et al. 2007), parametric empirical Bayes, as sva::ComBat / neuroCombat"
CONVERGENCE = 1e-4  # the reference implementations' stopping rule for the γ*/δ* iteration
MAX_ITERATIONS = 10_000


class HarmonisationError(ValueError):
    """Lesions, batches or covariates ComBat cannot use; the message names them."""


def _lesion_names(index: pd.Index, limit: int = 5) -> str:
    names = ["/".join(map(str, i)) if isinstance(i, tuple) else str(i) for i in index[:limit]]
    return ", ".join(names) + (" ..." if len(index) > limit else "")


@dataclass
class ComBat:
    """ComBat of the feature columns, across ``batch``, preserving the effects of ``covariates``.

    Covariates with text values, and those listed in ``categorical``, are dummy-coded (first sorted level is
    the reference, as neuroCombat codes them); the others are continuous.
    """

    batch: str
    covariates: Sequence[str] = ()
    categorical: Sequence[str] = ()
    features: list[str] = field(default_factory=list)
    batches: list[str] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    levels: dict[str, list[str]] = field(default_factory=dict)  # categorical covariate → levels, reference first
    grand_mean: np.ndarray = field(default_factory=lambda: np.zeros(0))
    pooled_variance: np.ndarray = field(default_factory=lambda: np.zeros(0))
    coefficients: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # design column × feature
    gamma: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # γ*: batch × feature
    delta: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # δ*: batch × feature

    def __post_init__(self) -> None:
        self.covariates = list(self.covariates)
        self.categorical = list(self.categorical)
        unknown = [c for c in self.categorical if c not in self.covariates]
        if unknown:
            raise HarmonisationError(f"categorical column(s) {unknown} are not among the covariates {self.covariates}")
        if self.batch in self.covariates:
            raise HarmonisationError(f"the batch column {self.batch!r} cannot also be a covariate")

    @property
    def is_fitted(self) -> bool:
        return bool(self.features)

    @property
    def design_columns(self) -> list[str]:
        """Names of the covariate design columns: ``COL=level`` per non-reference level, or ``COL``."""
        return [f"{c}={level}" for c in self.covariates if c in self.levels for level in self.levels[c][1:]] + \
            [c for c in self.covariates if c not in self.levels]

    # ----- fit / transform -----
    def fit(self, features: pd.DataFrame, meta: pd.DataFrame) -> ComBat:
        """Learn the model on lesions (rows of ``features``) whose batch and covariates are in ``meta``."""
        values = self._values(features, fitting=True)
        meta = self._meta(meta, features.index)
        batch = meta[self.batch]
        self.batches = sorted(batch.unique())
        if len(self.batches) < 2:
            raise HarmonisationError(f"ComBat needs at least 2 batches in column {self.batch!r}, found {self.batches}")
        counts = batch.value_counts()
        single = [b for b in self.batches if counts[b] < 2]
        if single:
            raise HarmonisationError(f"batch(es) {single} of column {self.batch!r} have a single lesion; ComBat needs at "
                                     "least 2 per batch to estimate its scale (merge or drop them)")
        self.counts = [int(counts[b]) for b in self.batches]
        self.levels = {c: _sorted_levels(meta[c]) for c in self.covariates
                       if c in self.categorical or not pd.api.types.is_numeric_dtype(meta[c])}
        onehot = (batch.to_numpy()[:, None] == np.array(self.batches)[None, :]).astype(float)
        covariates = self._covariate_design(meta)
        design = np.hstack([onehot, covariates])
        if np.linalg.matrix_rank(design) < design.shape[1]:
            raise HarmonisationError(f"the covariates {self.covariates} are confounded with the batch {self.batch!r} "
                                     "or with each other (design matrix not of full rank); ComBat would remove "
                                     "their effect with the batch's")
        coefficients = np.linalg.solve(design.T @ design, design.T @ values)
        k = len(self.batches)
        self.grand_mean = (np.array(self.counts) / len(values)) @ coefficients[:k]
        self.coefficients = coefficients[k:]
        self.pooled_variance = ((values - design @ coefficients) ** 2).mean(axis=0)
        # Constant, or constant once batch and covariates are fitted (a zero up to rounding): nothing to scale.
        explained = (np.ptp(values, axis=0) == 0) | (self.pooled_variance <= 1e-12 * values.var(axis=0))
        flat = [name for name, flag in zip(self.features, explained) if flag]
        if flat:
            raise HarmonisationError(f"{len(flat)} feature(s) are constant (or fully explained by batch and covariates), "
                                     f"ComBat cannot scale them: {flat[:5]}; drop them first")
        standardised = self._standardise(values, covariates)
        gamma, delta = [], []
        for b in self.batches:
            in_batch = (batch == b).to_numpy()
            constant = np.ptp(values[in_batch], axis=0) == 0
            gamma_b, delta_b = _shrunk_estimates(standardised[in_batch], constant, b)
            gamma.append(gamma_b)
            delta.append(delta_b)
        self.gamma, self.delta = np.array(gamma), np.array(delta)
        return self

    def transform(self, features: pd.DataFrame, meta: pd.DataFrame) -> pd.DataFrame:
        """Harmonised copy of ``features`` (its fitted columns; other columns unchanged), lesions of known batches."""
        if not self.is_fitted:
            raise HarmonisationError("the ComBat harmonisation is not fitted; fit it on a cohort or load its parameters")
        values = self._values(features, fitting=False)
        meta = self._meta(meta, features.index)
        known = meta[self.batch].isin(self.batches)
        if not known.all():
            unseen = sorted(meta.loc[~known, self.batch].unique())
            raise HarmonisationError(f"batch(es) {unseen} of column {self.batch!r} were not in the data ComBat was fitted "
                                     f"on (known: {self.batches}); lesions {_lesion_names(meta.index[~known])}")
        for column, levels in self.levels.items():
            new = ~meta[column].isin(levels)
            if new.any():
                raise HarmonisationError(f"covariate {column!r}: level(s) {sorted(meta.loc[new, column].unique())} were not "
                                         f"in the fitting data (known: {levels}); lesions {_lesion_names(meta.index[new])}")
        covariates = self._covariate_design(meta)
        rows = np.array([self.batches.index(b) for b in meta[self.batch]], dtype=int)
        standardised = self._standardise(values, covariates)
        adjusted = (standardised - self.gamma[rows]) / np.sqrt(self.delta[rows])
        out = features.copy()
        out[self.features] = adjusted * np.sqrt(self.pooled_variance) + self.grand_mean + covariates @ self.coefficients
        return out

    def fit_transform(self, features: pd.DataFrame, meta: pd.DataFrame) -> pd.DataFrame:
        return self.fit(features, meta).transform(features, meta)

    def subset(self, names: Sequence[str]) -> ComBat:
        """The fitted model restricted to some features (a MIRV model keeps only its selected ones).

        Once fitted, every feature's transform depends on its own parameters only, so nothing changes for them."""
        columns = [self.features.index(n) for n in names]
        return ComBat(self.batch, self.covariates, self.categorical, list(names), list(self.batches), list(self.counts),
                      {k: list(v) for k, v in self.levels.items()}, self.grand_mean[columns],
                      self.pooled_variance[columns], self.coefficients[:, columns], self.gamma[:, columns],
                      self.delta[:, columns])

    # ----- helpers -----
    def _values(self, features: pd.DataFrame, fitting: bool) -> np.ndarray:
        if fitting:
            self.features = list(features.columns)
            if len(self.features) < 2:
                raise HarmonisationError(f"ComBat pools its priors over features and needs at least 2, got {self.features}")
        missing = [n for n in self.features if n not in features.columns]
        if missing:
            raise HarmonisationError(f"{len(missing)} harmonised feature(s) missing from the table, e.g. {missing[:5]}")
        values = features[self.features].to_numpy(dtype=float)
        if not np.isfinite(values).all():
            rows, columns = np.nonzero(~np.isfinite(values))
            raise HarmonisationError(f"ComBat needs finite feature values; e.g. lesion {_lesion_names(features.index[rows[:1]])}"
                                     f" feature {self.features[columns[0]]} = {values[rows[0], columns[0]]}")
        return values

    def _meta(self, meta: pd.DataFrame, index: pd.Index) -> pd.DataFrame:
        """Batch and covariates per lesion, aligned to the feature rows; missing columns or values are errors."""
        needed = [self.batch, *self.covariates]
        absent = [c for c in needed if c not in meta.columns]
        if absent:
            raise HarmonisationError(f"column(s) {absent} not found; batch and covariate columns available: {list(meta.columns)}")
        if len(meta) != len(index) or not meta.index.equals(index):
            unmatched = index.difference(meta.index)
            if len(unmatched):
                raise HarmonisationError(f"{len(unmatched)} lesion(s) without a {self.batch!r} value: {_lesion_names(unmatched)}")
            meta = meta.loc[index]
        meta = meta[needed].copy()
        for column in needed:
            empty = meta[column].isna() | (meta[column].astype(str).str.strip() == "")
            if empty.any():
                raise HarmonisationError(f"column {column!r} is empty for {int(empty.sum())} lesion(s): "
                                         f"{_lesion_names(meta.index[empty])}")
        meta[self.batch] = _as_text(meta[self.batch])
        for column in self.categorical:
            meta[column] = _as_text(meta[column])
        for column in self.covariates:
            if column not in self.categorical and not pd.api.types.is_numeric_dtype(meta[column]):
                meta[column] = _as_text(meta[column])
        return meta

    def _covariate_design(self, meta: pd.DataFrame) -> np.ndarray:
        """Dummy columns of categorical covariates (reference level dropped), then continuous ones."""
        blocks = [(_as_text(meta[c]).to_numpy()[:, None] == np.array(self.levels[c][1:])[None, :]).astype(float)
                  for c in self.covariates if c in self.levels]
        blocks += [meta[[c]].to_numpy(dtype=float) for c in self.covariates if c not in self.levels]
        return np.hstack(blocks) if blocks else np.zeros((len(meta), 0))

    def _standardise(self, values: np.ndarray, covariates: np.ndarray) -> np.ndarray:
        return (values - self.grand_mean - covariates @ self.coefficients) / np.sqrt(self.pooled_variance)

    # ----- persistence -----
    def to_dict(self) -> dict[str, Any]:
        if not self.is_fitted:
            raise HarmonisationError("cannot save an unfitted ComBat harmonisation")
        return {
            "method": METHOD,
            "batchColumn": self.batch,
            "covariates": list(self.covariates),
            "categoricalLevels": {k: list(v) for k, v in self.levels.items()},
            "designColumns": self.design_columns,
            "features": list(self.features),
            "grandMean": self.grand_mean.tolist(),
            "pooledVariance": self.pooled_variance.tolist(),
            "coefficients": self.coefficients.tolist(),
            "batches": [{"name": b, "lesions": n, "gammaStar": g.tolist(), "deltaStar": d.tolist()}
                        for b, n, g, d in zip(self.batches, self.counts, self.gamma, self.delta)],
        }

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any], *, source: str = "<harmonisation>") -> ComBat:
        problems = harmonisation_problems(payload)
        if problems:
            raise HarmonisationError(f"{source}: not usable ComBat parameters: " + "; ".join(problems))
        levels = {k: [str(v) for v in values] for k, values in payload["categoricalLevels"].items()}
        features = list(payload["features"])
        batches = payload["batches"]
        return cls(
            payload["batchColumn"], list(payload["covariates"]), list(levels), features, [b["name"] for b in batches],
            [int(b["lesions"]) for b in batches], levels, np.array(payload["grandMean"], dtype=float),
            np.array(payload["pooledVariance"], dtype=float),
            np.array(payload["coefficients"], dtype=float).reshape(-1, len(features)),
            np.array([b["gammaStar"] for b in batches], dtype=float), np.array([b["deltaStar"] for b in batches], dtype=float),
        )


def _as_text(values: pd.Series) -> pd.Series:
    """Batch and level labels as text (a site coded 1/2 and '1'/'2' are the same batch; JSON keys are text)."""
    return values.map(lambda v: str(int(v)) if isinstance(v, float) and v.is_integer() else str(v).strip())


def _sorted_levels(values: pd.Series) -> list[str]:
    """Sorted text levels; the first is the reference (the choice does not change the harmonised values)."""
    return sorted(_as_text(values).unique())


def _shrunk_estimates(rows: np.ndarray, constant: np.ndarray, batch: str) -> tuple[np.ndarray, np.ndarray]:
    """γ*, δ* of one batch: per-feature location and scale shrunk towards the batch's priors over features.

    A feature constant within the batch gets the scale estimate 1, as in the references — which test for a zero
    variance *after* standardising, where rounding leaves ~1e-33 instead; ``constant`` is tested on the raw values.
    """
    gamma_hat = rows.mean(axis=0)
    delta_hat = rows.var(axis=0, ddof=1)
    delta_hat[constant | (delta_hat == 0)] = 1.0
    gamma_bar, tau2 = gamma_hat.mean(), gamma_hat.var(ddof=1)
    m, s2 = delta_hat.mean(), delta_hat.var(ddof=1)
    if not (tau2 > 0 and s2 > 0):
        raise HarmonisationError(f"batch {batch!r}: its features do not vary in location/scale, the priors are undefined")
    a_prior, b_prior = (2 * s2 + m**2) / s2, (m * s2 + m**3) / s2
    n = rows.shape[0]
    g_old, d_old = gamma_hat, delta_hat
    for _ in range(MAX_ITERATIONS):
        g_new = (tau2 * n * gamma_hat + d_old * gamma_bar) / (tau2 * n + d_old)
        sum2 = ((rows - g_new) ** 2).sum(axis=0)
        d_new = (0.5 * sum2 + b_prior) / (n / 2.0 + a_prior - 1.0)
        # The references' stopping rule, relative change divided by the signed old value, kept for agreement.
        change = max((np.abs(g_new - g_old) / g_old).max(), (np.abs(d_new - d_old) / d_old).max())
        g_old, d_old = g_new, d_new
        if change <= CONVERGENCE:
            return g_new, d_new
    raise HarmonisationError(f"batch {batch!r}: the empirical Bayes estimates did not converge in {MAX_ITERATIONS} steps")


# ----- lesion tables with a batch column -----
def read_lesions_with_batch(
    path: str | Path, columns: Sequence[str], batch_table: str | Path | None = None, *, nonfinite: str = "fail"
) -> tuple[LesionTable, pd.DataFrame]:
    """The lesion table of ``path`` and, per lesion, the batch/covariate ``columns``.

    They come from the feature CSV itself (those columns are then not features) or from ``batch_table``: a CSV
    with PatientID, [LesionID,] and the columns — without LesionID it gives one value per patient (e.g. the site).
    """
    batches = pd.read_csv(batch_table, dtype={PATIENT_ID: str, LESION_ID: str}) if batch_table is not None else None
    return lesions_with_batch(read_lesion_frame(path), columns, batches, source=str(path),
                              batch_source=str(batch_table), nonfinite=nonfinite)


def lesions_with_batch(
    lesions: pd.DataFrame, columns: Sequence[str], batches: pd.DataFrame | None = None, *, source: str = "<lesions>",
    batch_source: str = "<batch table>", nonfinite: str = "fail",
) -> tuple[LesionTable, pd.DataFrame]:
    """:func:`read_lesions_with_batch` on tables already read (e.g. the Slicer module's table nodes)."""
    if batches is None:
        absent = [c for c in columns if c not in lesions.columns]
        if absent:
            raise HarmonisationError(f"{source}: column(s) {absent} not found (give them in the feature table or a "
                                     "batch table with PatientID, [LesionID,] and those columns)")
        meta, batch_source = lesions[[*ID_COLUMNS, *columns]].copy(), source
    else:
        meta = _joined_batches(batches, columns, lesions, batch_source)
    features = lesions.drop(columns=[c for c in columns if c in lesions.columns and c not in METADATA_COLUMNS])
    table = LesionTable.from_frame(features, source=source, nonfinite=nonfinite)
    return table, lesion_meta(table, meta, source=batch_source)


def _joined_batches(frame: pd.DataFrame, columns: Sequence[str], lesions: pd.DataFrame, source: str) -> pd.DataFrame:
    absent = [c for c in (PATIENT_ID, *columns) if c not in frame.columns]
    if absent:
        raise HarmonisationError(f"{source}: column(s) {absent} not found; it needs PatientID, [LesionID,] {list(columns)}")
    keys = [c for c in ID_COLUMNS if c in frame.columns]
    frame = frame[[*keys, *columns]].copy()
    for key in keys:
        frame[key] = frame[key].astype(str).str.strip()
    duplicated = frame.duplicated(keys, keep=False)
    if duplicated.any():
        twice = frame.loc[duplicated, keys].drop_duplicates().head().to_numpy().tolist()
        raise HarmonisationError(f"{source}: {'/'.join(keys)} listed twice: {twice}")
    ids = lesions[list(ID_COLUMNS)].astype(str).apply(lambda c: c.str.strip())
    return ids.merge(frame, on=keys, how="left")


def lesion_meta(table: LesionTable, meta: pd.DataFrame, *, source: str = "<batch table>") -> pd.DataFrame:
    """``meta`` (PatientID, LesionID, columns) indexed like ``table.features``; a lesion without a row is an error."""
    keyed = meta.assign(**{c: meta[c].astype(str).str.strip() for c in ID_COLUMNS}).set_index(list(ID_COLUMNS))
    index = pd.MultiIndex.from_frame(table.frame[list(ID_COLUMNS)])
    missing = index.difference(keyed.index)
    if len(missing):
        raise HarmonisationError(f"{source}: {len(missing)} lesion(s) of {table.source} not listed: {_lesion_names(missing)}")
    return keyed.loc[index]


def harmonise_table(table: LesionTable, combat: ComBat, meta: pd.DataFrame, *, fit: bool = False) -> LesionTable:
    """The lesion table with its features harmonised (``fit``: first fit ``combat`` on all of its features)."""
    features = table.features
    harmonised = combat.fit_transform(features, meta) if fit else combat.transform(features, meta)
    frame = table.frame.copy()
    frame[harmonised.columns] = harmonised.to_numpy()
    return LesionTable(frame, table.source, table.nonfinite, table.dropped_features, table.dropped_lesions,
                       table.failed_lesions)


def batch_variance_share(features: pd.DataFrame, batch: pd.Series) -> pd.Series:
    """Per feature, the share of its variance explained by batch (one-way ANOVA R² = between / total SS)."""
    values = features.to_numpy(dtype=float)
    labels = batch.to_numpy()
    centred = values - values.mean(axis=0)
    between = sum((labels == b).sum() * (values[labels == b].mean(axis=0) - values.mean(axis=0)) ** 2
                  for b in np.unique(labels))
    with np.errstate(invalid="ignore", divide="ignore"):
        return pd.Series(between / (centred**2).sum(axis=0), index=features.columns)
