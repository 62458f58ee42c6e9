"""Cohort-level feature reduction, fit/transform style, with the two published variants as presets.

``paper`` follows the MIRV paper's Methods text. ``reference`` reproduces, bit for bit, what the authors'
published analysis code does — which is what produced the paper's numbers (Table S2: 16 features on the
SARC021 lung subset). It differs from the text in four deliberate-to-reproduce ways (docs/methods.md, Feature reduction):

* volume filter on the *signed* Spearman ρ ≤ threshold (strongly negative features pass);
* variance with ddof 1, kept when ≥ the 50th percentile;
* **column off-by-one**: the keep-mask is computed over the feature columns but applied by position to a
  column list that starts with the patient ID, so every kept column is the feature *immediately before*
  the one that passed (in the table's column order). A pass of the first feature would select the patient
  ID column; that slot is skipped, as it carries no feature;
* inter-feature redundancy with *Pearson* |r| (on those shifted columns).

The fitted state (features in order, mean, std) is saved as a MIRV model file so a single patient can be
scored later without its cohort; a cohort harmonised with ComBat first also keeps the ComBat parameters of the
selected features (``harmonisation``), so a new patient from a known batch is harmonised the same way.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from MIRVLib import __version__
from MIRVLib.harmonisation import ComBat
from MIRVLib.lesion_table import ID_COLUMNS, VOLUME_FEATURE, LesionTable
from MIRVLib.model_schema import model_problems
from MIRVLib.options import (
    DEFAULT_FEATURE_CORRELATION,
    DEFAULT_VARIANCE_QUANTILE,
    DEFAULT_VOLUME_CORRELATION,
    PRESETS,
    Preset,
)
from MIRVLib.provenance import atomic_write_json, library_versions

log = logging.getLogger(__name__)

MODEL_FORMAT = "mirv-model"
MODEL_FORMAT_VERSION = 1


class ModelError(ValueError):
    """A model file or a table that does not fit the model; the message says what is missing."""


@dataclass(frozen=True)
class ReductionSettings:
    """Thresholds of the reduction; defaults are the paper's."""

    preset: Preset = "paper"
    variance_quantile: float = DEFAULT_VARIANCE_QUANTILE
    volume_correlation: float = DEFAULT_VOLUME_CORRELATION
    feature_correlation: float = DEFAULT_FEATURE_CORRELATION
    volume_feature: str = VOLUME_FEATURE

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ValueError(f"unknown reduction preset {self.preset!r}; choose one of {PRESETS}")
        if not 0.0 <= self.variance_quantile <= 1.0:
            raise ValueError(f"variance_quantile must be in [0, 1], got {self.variance_quantile}")


@dataclass
class FeatureReduction:
    """Select non-redundant, volume-independent features on a cohort and z-score lesions with them."""

    settings: ReductionSettings = field(default_factory=ReductionSettings)
    selected: list[str] = field(default_factory=list)
    mean: np.ndarray = field(default_factory=lambda: np.zeros(0))
    std: np.ndarray = field(default_factory=lambda: np.zeros(0))
    step_counts: dict[str, int] = field(default_factory=dict)
    cohort: dict[str, Any] = field(default_factory=dict)
    extraction_preset: str | None = None
    candidates: list[str] | None = None
    reference: dict[str, list[float]] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    created: str | None = None
    harmonisation: ComBat | None = None  # ComBat applied to the lesions before this reduction (selected features)

    @property
    def is_fitted(self) -> bool:
        return bool(self.selected)

    def fit(self, table: LesionTable, candidates: Sequence[str] | None = None) -> FeatureReduction:
        """Fit on all lesions of the cohort (one-lesion patients included, as in the paper).

        ``candidates`` restricts the reduction to a feature list (e.g. the segmentation-robust features of
        Henry et al.); the table's column order is kept, and the volume feature stays for the volume test.
        """
        s = self.settings
        names = table.feature_names
        self.candidates, self.reference = None, {}
        if candidates is not None:
            wanted = set(candidates)
            unknown = sorted(wanted - set(names))
            if unknown:
                raise ModelError(f"{table.source}: {len(unknown)} listed feature(s) not in the table, e.g. {unknown[:5]}")
            names = [n for n in names if n in wanted or n == s.volume_feature]
            self.candidates = [n for n in names if n in wanted]
        if s.volume_feature not in names:
            raise ModelError(f"{table.source}: volume feature {s.volume_feature!r} is needed to fit the reduction")
        if table.num_lesions < 3:
            raise ModelError(f"{table.source}: a reduction needs at least 3 lesions, got {table.num_lesions}")
        values = table.frame[names].to_numpy(dtype=float)
        ddof = 1 if s.preset == "reference" else 0
        variance = values.var(axis=0, ddof=ddof)
        passes_variance = variance >= np.quantile(variance, s.variance_quantile)
        ranks = _ranks(values)
        rho_volume = _correlation_with(ranks, ranks[:, names.index(s.volume_feature)])
        with np.errstate(invalid="ignore"):
            if s.preset == "reference":
                passes_volume = rho_volume <= s.volume_correlation
            else:
                passes_volume = np.abs(rho_volume) <= s.volume_correlation
        passed = np.flatnonzero(passes_variance & passes_volume)
        if s.preset == "reference":
            # Off-by-one of the published code: position i in the [PatientID, features...] list is feature i-1.
            candidates = [names[i - 1] for i in passed if i > 0]
        else:
            candidates = [names[i] for i in passed]
        self.step_counts = {
            "input": len(names),
            "variance": int(passes_variance.sum()),
            "varianceAndVolume": len(candidates),
        }
        cand_values = table.frame[candidates].to_numpy(dtype=float)
        basis = cand_values if s.preset == "reference" else _ranks(cand_values)
        correlated = _has_correlated_partner(basis, s.feature_correlation)
        kept = [name for name, drop in zip(candidates, correlated) if not drop]
        self.step_counts["intercorrelation"] = len(kept)
        kept = [name for name in kept if name != s.volume_feature]
        self.step_counts["selected"] = len(kept)
        if not kept:
            raise ModelError(f"{table.source}: no feature survived the {s.preset} reduction ({self.step_counts})")
        kept_values = table.frame[kept].to_numpy(dtype=float)
        self.selected = kept
        self.mean = kept_values.mean(axis=0)
        self.std = kept_values.std(axis=0, ddof=0)
        self.cohort = {
            "source": Path(table.source).name,
            "patients": len(table.patient_ids),
            "lesions": table.num_lesions,
            "inputSha256": table.content_hash(),
        }
        self.versions = library_versions()
        self.created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        log.info("feature reduction (%s): %s", s.preset, " -> ".join(f"{k} {v}" for k, v in self.step_counts.items()))
        return self

    def transform(self, table: LesionTable) -> pd.DataFrame:
        """Z-scored selected features indexed by (PatientID, LesionID), with the fitted cohort's mean/std."""
        if not self.is_fitted:
            raise ModelError("the feature reduction is not fitted; fit it on a cohort or load a model file")
        missing = [name for name in self.selected if name not in table.frame.columns]
        if missing:
            raise ModelError(
                f"{table.source}: {len(missing)} feature(s) of the model are missing, e.g. {missing[:5]}; "
                f"extract with the model's preset ({self.extraction_preset or 'see model file'})"
            )
        values = table.frame[self.selected].to_numpy(dtype=float)
        # A feature constant over the fitting cohort only centres (as scikit-learn's StandardScaler does).
        scale = np.where(self.std > 0, self.std, 1.0)
        index = pd.MultiIndex.from_frame(table.frame[list(ID_COLUMNS)])
        return pd.DataFrame((values - self.mean) / scale, index=index, columns=list(self.selected))

    def percentile(self, metric: str, values: float | Sequence[float] | np.ndarray) -> np.ndarray:
        """Where patients' MIRV falls in the fitting cohort: % of its patients with a value ≤ each value.

        NaN for undefined values or when the model carries no reference distribution for ``metric``.
        """
        values = np.asarray(values, dtype=float)
        reference = np.asarray(self.reference.get(metric, []), dtype=float)
        if reference.size == 0:
            return np.full(values.shape, np.nan)
        ranks = 100.0 * np.searchsorted(reference, values, side="right") / reference.size
        return np.where(np.isfinite(values), ranks, np.nan)

    def to_dict(self) -> dict[str, Any]:
        if not self.is_fitted:
            raise ModelError("cannot save an unfitted feature reduction")
        return {
            "format": MODEL_FORMAT,
            "formatVersion": MODEL_FORMAT_VERSION,
            "created": self.created,
            "mirvVersion": __version__,
            "preset": self.settings.preset,
            "settings": {k: v for k, v in asdict(self.settings).items() if k != "preset"},
            "extractionPreset": self.extraction_preset,
            "candidateFeatures": self.candidates,
            "stepCounts": self.step_counts,
            "cohort": self.cohort,
            "features": [
                {"name": n, "mean": float(m), "std": float(sd)} for n, m, sd in zip(self.selected, self.mean, self.std)
            ],
            "referenceCohort": self.reference,
            "versions": self.versions,
            **({"harmonisation": self.harmonisation.to_dict()} if self.harmonisation else {}),
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the MIRV model file (JSON; floats round-trip exactly)."""
        return atomic_write_json(path, self.to_dict())

    @classmethod
    def from_dict(cls, payload: dict[str, Any], *, source: str = "<model>") -> FeatureReduction:
        if isinstance(payload, dict) and payload.get("format") != MODEL_FORMAT:
            raise ModelError(f"{source}: not a MIRV model file (format={payload.get('format')!r})")
        problems = model_problems(payload)
        if problems:
            raise ModelError(f"{source}: not a usable MIRV model: " + "; ".join(problems))
        if int(payload.get("formatVersion", 0)) > MODEL_FORMAT_VERSION:
            raise ModelError(f"{source}: model format {payload['formatVersion']} is newer than this MIRV supports")
        try:
            settings = ReductionSettings(preset=payload["preset"], **payload.get("settings", {}))
            features = payload["features"]
            return cls(
                settings=settings,
                selected=[f["name"] for f in features],
                mean=np.array([f["mean"] for f in features], dtype=float),
                std=np.array([f["std"] for f in features], dtype=float),
                step_counts=dict(payload.get("stepCounts", {})),
                cohort=dict(payload.get("cohort", {})),
                extraction_preset=payload.get("extractionPreset"),
                candidates=payload.get("candidateFeatures"),
                reference={k: [float(v) for v in values] for k, values in payload.get("referenceCohort", {}).items()},
                versions=dict(payload.get("versions", {})),
                created=payload.get("created"),
                harmonisation=ComBat.from_dict(payload["harmonisation"]) if payload.get("harmonisation") else None,
            )
        except (KeyError, TypeError) as error:
            raise ModelError(f"{source}: malformed MIRV model file ({error!r})") from error

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> FeatureReduction:
        with open(path, encoding="utf-8") as handle:
            try:
                payload = json.load(handle)
            except json.JSONDecodeError as error:
                raise ModelError(f"{path}: not valid JSON ({error})") from error
        return cls.from_dict(payload, source=str(path))


def _ranks(values: np.ndarray) -> np.ndarray:
    """Column ranks with ties averaged — Spearman's ρ is Pearson's r on these."""
    return rankdata(values, axis=0, method="average")


def _standardised(values: np.ndarray) -> np.ndarray:
    """Columns centred and scaled to unit norm (in one new array: cohorts can hold 10⁸ values)."""
    centred = values - values.mean(axis=0)
    norm = np.sqrt(np.einsum("ij,ij->j", centred, centred))
    with np.errstate(invalid="ignore", divide="ignore"):
        centred /= norm
    return centred


def _correlation_with(columns: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """Pearson r of every column with one vector (NaN for constant columns)."""
    return _standardised(columns).T @ _standardised(vector[:, None])[:, 0]


def _has_correlated_partner(values: np.ndarray, threshold: float) -> np.ndarray:
    """True for every column with |r| > threshold to any other column (both members of a pair go)."""
    z = _standardised(values)
    corr = np.abs(z.T @ z)
    np.fill_diagonal(corr, 0.0)
    with np.errstate(invalid="ignore"):
        return (corr > threshold).any(axis=0)


def read_feature_list(path: str | os.PathLike[str]) -> list[str]:
    """Feature names from a text file (one per line, '#' comments) or a CSV with a ``Feature`` column."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"feature list not found: {path}")
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    lines = [line for line in lines if line and not line.startswith("#")]
    if lines and "," in lines[0]:
        frame = pd.read_csv(path, comment="#")
        if "Feature" not in frame.columns:
            raise ValueError(f"{path}: a CSV feature list needs a 'Feature' column, found {list(frame.columns)}")
        lines = frame["Feature"].dropna().astype(str).str.strip().tolist()
    if not lines:
        raise ValueError(f"{path}: the feature list is empty")
    return lines
